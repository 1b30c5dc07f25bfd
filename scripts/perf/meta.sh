#!/usr/bin/env bash
# mdtest-style metadata rates on one target directory (issue 8, workload 2): create, stat,
# open/close, rename and unlink of META_FILES files (2 000 per worker; --quick: 200) in one shared
# directory and in per-worker trees, with 1 and 4 worker processes; then the time to list a
# directory of 10 000 entries (--quick: 200), cold (page cache dropped) and again. TSV out.
# On a DatenLord mount each row also gives the transactions that lost a race and ran again,
# per metadata operation (the mount's counters, read before and after).
#
#   scripts/perf/meta.sh TARGET_DIR [--quick]
set -euo pipefail
if [ $# -lt 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 TARGET_DIR [--quick]   (TARGET_DIR must be an existing directory)" >&2
    exit 2
fi
HERE=$(cd "$(dirname "$0")" && pwd)
FILES=${META_FILES:-2000}
ENTRIES=10000
if [ "${2:-}" = "--quick" ]; then
    FILES=${META_FILES:-200}
    ENTRIES=200
fi
WORK="$1/.meta-$$"
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT

counters() {
    python3 "$HERE/meta_requests.py" "$1" --counters 2>/dev/null || echo '{}'
}

printf 'shape\tworkers\tcreate\tstat\topen\trename\tunlink\t(ops/s)\tretries/op\n'
for shape in flat tree; do
    for workers in 1 4; do
        dir="$WORK/$shape-$workers"
        mkdir -p "$dir"
        before=$(counters "$1")
        rates=$(python3 "$HERE/mdtest.py" "$dir" "$workers" "$FILES" "$shape")
        after=$(counters "$1")
        python3 -c '
import json, sys
r, before, after = (json.loads(a) for a in sys.argv[3:6])
ops = after.get("ops", 0) - before.get("ops", 0)
lost = after.get("retries", 0) - before.get("retries", 0)
retries = "%.3f" % (lost / ops) if ops > 0 else "-"
print("\t".join([sys.argv[1], sys.argv[2]] + [str(r[p]) for p in ("create", "stat", "open", "rename", "unlink")] + ["", retries]))
' "$shape" "$workers" "$rates" "$before" "$after"
        rm -rf "$dir"
    done
done

dir="$WORK/listing"
mkdir -p "$dir"
python3 - "$dir" "$ENTRIES" <<'PY'
import os, sys
for i in range(int(sys.argv[2])):
    os.close(os.open(os.path.join(sys.argv[1], f"entry-{i:06}"), os.O_CREAT | os.O_WRONLY, 0o644))
PY
sync
echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
for pass in cold warm; do
    python3 - "$dir" "$pass" "$ENTRIES" <<'PY'
import os, sys, time
began = time.perf_counter()
names = os.listdir(sys.argv[1])
took = time.perf_counter() - began
assert len(names) == int(sys.argv[3]), len(names)
print(f"readdir\t{sys.argv[2]}\t{len(names)} entries\t{took * 1000:.1f} ms\t{len(names) / took:.0f} entries/s")
PY
done
