#!/usr/bin/env bash
# CPython's own regression tests for files and directories, run on the local disk and on a
# DatenLord mount (working directory and TMPDIR on it). Prints both counts; fails unless the
# mount passes everything the local disk passes.
#
#   scripts/cpython-suite.sh [DATENLORD_BINARY]
set -euo pipefail

# CPYTHON_TESTS="test_os test_io" runs a part of the list.
read -r -a TESTS <<< "${CPYTHON_TESTS:-test_os test_shutil test_tempfile test_posix test_fileio test_io test_glob test_pathlib test_zipfile test_tarfile test_mmap}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$ROOT/target/debug/datenlord}
[ -x "$BIN" ] || { echo "cpython-suite: $BIN is missing; build it with cargo build -p datenlord" >&2; exit 2; }
PY=${PYTHON:-python3}

WORK=$(mktemp -d /var/tmp/dl-cpython.XXXXXX)
MNT="$WORK/mnt"
export DATENLORD_HOME="$WORK/home"
mkdir -p "$MNT" "$WORK/local/tmp" "$WORK/local/cwd"

cleanup() {
    if mountpoint -q "$MNT"; then "$BIN" umount "$MNT" 2>/dev/null || umount -l "$MNT"; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# Runs the tests in $1 (cwd) with TMPDIR=$2; prints "run skipped result" and keeps the log.
suite() {
    local cwd=$1 tmp=$2 log=$3
    (cd "$cwd" && TMPDIR="$tmp" timeout 1200 "$PY" -m test "${TESTS[@]}" >"$log" 2>&1) || true
    local totals result
    totals=$(grep -E '^Total tests: ' "$log" | tail -1)
    result=$(grep -E '^Result: ' "$log" | tail -1 | awk '{print $2}')
    echo "$(echo "$totals" | sed -E 's/.*run=([0-9,]+).*/\1/') $(echo "$totals" | sed -E 's/.*skipped=([0-9,]+).*/\1/') ${result:-NONE}"
}

read -r local_run local_skipped local_result < <(suite "$WORK/local/cwd" "$WORK/local/tmp" "$WORK/local.log")
echo "local disk: run=$local_run skipped=$local_skipped result=$local_result"

# With DATENLORD_META set (etcd://...), the mount's volume lives there: format it first.
if [ -n "${DATENLORD_META:-}" ]; then
    "$BIN" format --storage "file://$WORK/blocks" default >/dev/null
fi
"$BIN" mount -d "$MNT"
mkdir -p "$MNT/tmp" "$MNT/cwd"
read -r mount_run mount_skipped mount_result < <(suite "$MNT/cwd" "$MNT/tmp" "$WORK/mount.log")
echo "datenlord:  run=$mount_run skipped=$mount_skipped result=$mount_result"
"$BIN" umount "$MNT"

status=0
if [ "$mount_result" != SUCCESS ] && [ "$local_result" = SUCCESS ]; then
    echo "cpython-suite: tests fail on the mount that pass on the local disk:" >&2
    grep -E 'FAIL|ERROR|failed' "$WORK/mount.log" | head -40 >&2
    status=1
elif [ "$mount_run" != "$local_run" ] || [ "$mount_skipped" != "$local_skipped" ]; then
    echo "cpython-suite: the mount ran or skipped a different number of tests" >&2
    grep -E 'skipped|Skip' "$WORK/mount.log" | head -20 >&2
    status=1
fi
for _ in $(seq 50); do
    if "$BIN" fsck >"$WORK/fsck.out" 2>&1 && ! grep -q mounted "$WORK/fsck.out"; then break; fi
    sleep 0.2
done
if ! grep -q '^clean' "$WORK/fsck.out"; then
    echo "cpython-suite: fsck after the suite is not clean:" >&2
    cat "$WORK/fsck.out" >&2
    status=1
fi
exit $status
