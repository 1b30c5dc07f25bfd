#!/usr/bin/env bash
# Makes the files under DIR cold on a DatenLord or JuiceFS mount, for the cold targets of
# compare.sh (their PERF_BEFORE_READ): evicts them from the mount's caches (memory and disk:
# `datenlord warmup --evict`, `juicefs warmup --evict`), drops the kernel's page cache (so the
# S3 server's files are cold too), then asks the mount how much of them it still caches
# (`warmup --check`) and fails unless that is nothing. Prints one line saying so; appends it to
# PERF_COLD_LOG when that is set (compare.sh puts it in the report).
#
#   scripts/perf/cold.sh datenlord|juicefs DIR       (DATENLORD_BIN: the datenlord binary)
set -euo pipefail
if [ $# -ne 2 ] || [ ! -e "$2" ]; then
    echo "usage: $0 datenlord|juicefs DIR" >&2
    exit 2
fi
system=$1 dir=$2
case $system in
datenlord)
    bin=${DATENLORD_BIN:-datenlord}
    "$bin" warmup --evict "$dir" >/dev/null
    sync
    echo 3 >/proc/sys/vm/drop_caches
    # "cached: 0 B (0.0%)"
    check=$("$bin" warmup --check "$dir" | tail -1)
    cached=$(sed -n 's/^cached: \([0-9.]* [A-Za-z]*\).*/\1/p' <<<"$check")
    ;;
juicefs)
    juicefs warmup --evict "$dir" >/dev/null 2>&1
    sync
    echo 3 >/proc/sys/vm/drop_caches
    # "... check cache: 1 files checked, 0 B of 64 MiB (0.0%) cached [warmup@...]"
    check=$(juicefs warmup --check "$dir" 2>&1 | grep -o 'check cache: .* cached' | tail -1)
    cached=$(sed -n 's/.* checked, \([0-9.]* [A-Za-z]*\) of .*/\1/p' <<<"$check")
    ;;
*)
    echo "$0: unknown system $system (datenlord or juicefs)" >&2
    exit 2
    ;;
esac
line="$(date -u +%H:%M:%S) $system $dir: evicted; page cache dropped; check: ${check:-no answer}"
if [ -n "${PERF_COLD_LOG:-}" ]; then echo "$line" >>"$PERF_COLD_LOG"; fi
echo "$line"
if [ "$cached" != "0 B" ]; then
    echo "cold.sh: $dir is not cold: the mount still caches ${cached:-an unknown amount} of it" >&2
    exit 1
fi
