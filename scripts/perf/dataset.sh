#!/usr/bin/env bash
# Dataset epochs on one target directory (issue 8, workload 4): FILES files of 128 KiB (10 000;
# --quick: 100) written, then read whole in a shuffled order by 4 readers, three times:
#   epoch 1 cold: page cache dropped and, when set, PERF_BEFORE_READ run on the dataset (for a
#           DatenLord or JuiceFS target an eviction of its own cache);
#   epoch 2: page cache dropped again — what the filesystem's own caches give;
#   epoch 3: warm, nothing dropped.
# Prints TSV rows: phase, files, MB, seconds, files/s, MB/s.
#
#   scripts/perf/dataset.sh TARGET_DIR [--quick]
#   scripts/perf/dataset.sh --s3 ENDPOINT BUCKET [--quick]    the plain S3 client, same pattern
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
usage() {
    echo "usage: $0 TARGET_DIR [--quick] | $0 --s3 ENDPOINT BUCKET [--quick]" >&2
    exit 2
}
if [ "${1:-}" = "--s3" ]; then
    [ $# -ge 3 ] || usage
    where=(s3 "$2" "$3")
    quick=${4:-}
else
    [ $# -ge 1 ] && [ -d "$1" ] || usage
    WORK="$1/.dataset-$$"
    mkdir -p "$WORK"
    trap 'rm -rf "$WORK"' EXIT
    where=(fs "$WORK")
    quick=${2:-}
fi
FILES=10000
[ "$quick" = "--quick" ] && FILES=100
drop() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }

printf 'phase\tfiles\tMB\tseconds\tfiles/s\tMB/s\n'
python3 "$HERE/dataset.py" write "${where[@]}" "$FILES"
drop
if [ -n "${PERF_BEFORE_READ:-}" ] && [ "${where[0]}" = fs ]; then $PERF_BEFORE_READ "$WORK" >/dev/null; fi
python3 "$HERE/dataset.py" read "${where[@]}" "$FILES" 1
drop
python3 "$HERE/dataset.py" read "${where[@]}" "$FILES" 2
python3 "$HERE/dataset.py" read "${where[@]}" "$FILES" 3
