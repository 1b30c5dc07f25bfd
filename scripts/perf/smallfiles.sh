#!/usr/bin/env bash
# The small-file tree on one target directory (issue 8, workload 3): a seeded source-tree shape
# (tree.py: FILES files, 10 000; --quick: 200) copied in with `cp -a` and synced, copied back
# out to the local disk after the page cache is dropped (and PERF_BEFORE_READ, when set, has
# run on the copy: e.g. an eviction of the target's own cache), compared with the source
# (contents, modes, symlinks, mtimes), then removed. The source is made once under
# SMALLFILES_SRC (default: a scratch directory) and reused when it is already there. Prints
# TSV rows: phase, files, MB, seconds, files/s, MB/s; then a row "check" that says whether
# the copy came back identical and, if not, what differed.
#
#   scripts/perf/smallfiles.sh TARGET_DIR [--quick]
set -euo pipefail
if [ $# -lt 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 TARGET_DIR [--quick]   (TARGET_DIR must be an existing directory)" >&2
    exit 2
fi
HERE=$(cd "$(dirname "$0")" && pwd)
FILES=10000
[ "${2:-}" = "--quick" ] && FILES=200
WORK="$1/.smallfiles-$$"
OUT=$(mktemp -d "${TMPDIR:-/var/tmp}/dl-smallfiles-out.XXXXXX")
OWN_SRC=
SRC=${SMALLFILES_SRC:-}
if [ -z "$SRC" ]; then
    SRC=$(mktemp -d /var/tmp/dl-smallfiles-src.XXXXXX)/tree
    OWN_SRC=$(dirname "$SRC")
fi
trap 'rm -rf "$WORK" "$OUT" ${OWN_SRC:+"$OWN_SRC"}' EXIT
mkdir -p "$(dirname "$SRC")"
if [ ! -f "$SRC.json" ] || ! grep -q "\"files\": $FILES," "$SRC.json"; then
    rm -rf "$SRC"
    python3 "$HERE/tree.py" make "$SRC" "$FILES" >"$SRC.json"
fi
bytes=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["bytes"])' "$SRC.json")

drop() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }
# timed PHASE COMMAND...: runs it, prints the row.
timed() {
    local phase=$1 began took
    shift
    began=$(date +%s.%N)
    "$@"
    took=$(echo "$(date +%s.%N) - $began" | bc -l)
    python3 -c 'import sys
phase, files, size, took = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
print(f"{phase}\t{files}\t{size / 1e6:.1f}\t{took:.2f}\t{files / took:.0f}\t{size / 1e6 / took:.1f}", flush=True)' \
        "$phase" "$FILES" "$bytes" "$took"
}
# cp goes on past what a target cannot keep (e.g. symlinks) and says so; the check counts it.
copy_in() {
    cp -a "$SRC" "$WORK/tree" || echo "# cp -a into the target reported errors" >&2
    sync
}
copy_out() { cp -a "$WORK/tree" "$OUT/tree" || echo "# cp -a out of the target reported errors" >&2; }

printf 'phase\tfiles\tMB\tseconds\tfiles/s\tMB/s\n'
mkdir -p "$WORK"
drop
timed copy-in copy_in
drop
if [ -n "${PERF_BEFORE_READ:-}" ]; then $PERF_BEFORE_READ "$WORK/tree" >/dev/null; fi
timed copy-out copy_out
drop
timed remove rm -rf "$WORK/tree"
python3 "$HERE/tree.py" compare "$SRC" "$OUT/tree"
