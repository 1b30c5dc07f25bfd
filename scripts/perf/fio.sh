#!/usr/bin/env bash
# fio on one target directory (issue 8, workload 1): the four histograms of the original
# DatenLord plus sequential throughput, as one table of figures.
#   1. random read IOPS with mean and p99 latency at 4K, 16K, 64K, 256K and 1M blocks
#   2. random write, the same
#   3. random read at 1, 2, 4, 8 and 16 jobs with 4 KiB blocks
#   4. random write, the same
#   5. sequential read and write of 1 MiB blocks with 1 and 4 jobs
# Each job group works on SIZE bytes in all (FIO_SIZE, default 1G; --quick: 16M), split
# between its jobs, for RUNTIME seconds (FIO_RUNTIME, default 20; --quick: 1), direct I/O
# where the target allows it (else buffered, said in the output). --quick runs a subset of
# the points (4K blocks, 1 and 4 jobs): enough to prove the script on a target.
# Read jobs lay their files out first; then the page cache is dropped and, when set,
# PERF_BEFORE_READ (a command, given the directory) runs: e.g. `datenlord warmup --evict` for
# a cold read. Prints TSV rows as they finish: workload, block size, jobs, IOPS, MB/s, mean
# latency us, p99 latency us.
#
#   scripts/perf/fio.sh TARGET_DIR [--quick]
set -euo pipefail
if [ $# -lt 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 TARGET_DIR [--quick]   (TARGET_DIR must be an existing directory)" >&2
    exit 2
fi
TARGET=$1
QUICK=0
[ "${2:-}" = "--quick" ] && QUICK=1
if [ "$QUICK" = 1 ]; then
    SIZE=${FIO_SIZE:-16M}
    RUNTIME=${FIO_RUNTIME:-1}
else
    SIZE=${FIO_SIZE:-1G}
    RUNTIME=${FIO_RUNTIME:-20}
fi
SIZE_BYTES=$(numfmt --from=iec "$SIZE")
command -v fio >/dev/null || apt-get install -y -qq fio >/dev/null
WORK="$TARGET/.fio-$$"
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT

# Direct I/O if the target takes it (a FUSE mount may not).
DIRECT=1
if ! fio --name=probe --directory="$WORK" --size=1M --rw=read --bs=4k --direct=1 \
    --output-format=terse >/dev/null 2>&1; then
    DIRECT=0
    echo "# $TARGET refuses O_DIRECT: buffered I/O (page cache dropped before each job)" >&2
fi
rm -f "$WORK"/probe*

# run NAME RW BS JOBS: one fio job group on fresh files; prints a TSV row.
run() {
    local name=$1 rw=$2 bs=$3 jobs=$4 json
    local args=(--name="$name" --directory="$WORK" --rw="$rw" --bs="$bs" --numjobs="$jobs"
        --size="$((SIZE_BYTES / jobs))" --ioengine=psync --direct="$DIRECT" --group_reporting)
    rm -f "$WORK"/*
    if [[ $rw == *read ]]; then
        fio "${args[@]}" --create_only=1 --output-format=terse >/dev/null
        sync
        echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
        if [ -n "${PERF_BEFORE_READ:-}" ]; then $PERF_BEFORE_READ "$WORK" >/dev/null; fi
    fi
    sync
    echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
    json=$(fio "${args[@]}" --time_based --runtime="$RUNTIME" --output-format=json 2>/dev/null)
    python3 - "$name" "$bs" "$jobs" "$json" <<'PY'
import json, sys
name, bs, jobs, raw = sys.argv[1:5]
job = json.loads(raw)["jobs"][0]
side = job["read"] if job["read"]["io_bytes"] > 0 else job["write"]
lat = side["clat_ns"]
p99 = lat.get("percentile", {}).get("99.000000", 0)
print(f"{name}\t{bs}\t{jobs}\t{side['iops']:.0f}\t{side['bw_bytes'] / 1e6:.1f}\t{lat['mean'] / 1e3:.1f}\t{p99 / 1e3:.1f}", flush=True)
PY
}

if [ "$QUICK" = 1 ]; then
    sizes=(4k)
    counts=(4)
    seq_counts=(1)
else
    sizes=(4k 16k 64k 256k 1m)
    counts=(1 2 4 8 16)
    seq_counts=(1 4)
fi
printf 'workload\tbs\tjobs\tiops\tMB/s\tmean_us\tp99_us\n'
for bs in "${sizes[@]}"; do run randread randread "$bs" 1; done
for bs in "${sizes[@]}"; do run randwrite randwrite "$bs" 1; done
for jobs in "${counts[@]}"; do run randread-jobs randread 4k "$jobs"; done
for jobs in "${counts[@]}"; do run randwrite-jobs randwrite 4k "$jobs"; done
for jobs in "${seq_counts[@]}"; do run seqread read 1m "$jobs"; done
for jobs in "${seq_counts[@]}"; do run seqwrite write 1m "$jobs"; done
