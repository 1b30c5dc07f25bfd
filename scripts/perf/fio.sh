#!/usr/bin/env bash
# fio on one target directory (issue 8, workload 1): the four histograms of the original
# DatenLord plus sequential throughput, as one table of figures.
#   1. random read IOPS with mean and p99 latency at 4K, 16K, 64K, 256K and 1M blocks
#   2. random write, the same
#   3. random read at 1, 2, 4, 8 and 16 jobs with 4 KiB blocks
#   4. random write, the same
#   5. sequential read and write of 1 MiB blocks with 1 and 4 jobs
# Each job works on its own file of SIZE (1G; --quick: 64M) for RUNTIME seconds (20; --quick:
# 2), direct I/O where the target allows it (else buffered, said in the output). Prints TSV:
# workload, block size, jobs, IOPS, MB/s, mean latency us, p99 latency us.
#
#   scripts/perf/fio.sh TARGET_DIR [--quick]
set -euo pipefail
if [ $# -lt 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 TARGET_DIR [--quick]   (TARGET_DIR must be an existing directory)" >&2
    exit 2
fi
TARGET=$1
SIZE=1G
RUNTIME=20
if [ "${2:-}" = "--quick" ]; then
    SIZE=64M
    RUNTIME=2
fi
command -v fio >/dev/null || apt-get install -y fio >/dev/null
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

# run NAME RW BS JOBS: one fio job group; prints a TSV row.
run() {
    local name=$1 rw=$2 bs=$3 jobs=$4 json
    sync
    echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
    json=$(fio --name="$name" --directory="$WORK" --rw="$rw" --bs="$bs" --numjobs="$jobs" \
        --size="$SIZE" --time_based --runtime="$RUNTIME" --ioengine=psync --direct="$DIRECT" \
        --group_reporting --output-format=json 2>/dev/null)
    python3 - "$name" "$bs" "$jobs" "$json" <<'PY'
import json, sys
name, bs, jobs, raw = sys.argv[1:5]
job = json.loads(raw)["jobs"][0]
side = job["read"] if job["read"]["io_bytes"] > 0 else job["write"]
lat = side["clat_ns"]
p99 = lat.get("percentile", {}).get("99.000000", 0)
print(f"{name}\t{bs}\t{jobs}\t{side['iops']:.0f}\t{side['bw_bytes'] / 1e6:.1f}\t{lat['mean'] / 1e3:.1f}\t{p99 / 1e3:.1f}")
PY
}

printf 'workload\tbs\tjobs\tiops\tMB/s\tmean_us\tp99_us\n'
for bs in 4k 16k 64k 256k 1m; do run randread randread "$bs" 1; done
for bs in 4k 16k 64k 256k 1m; do run randwrite randwrite "$bs" 1; done
for jobs in 1 2 4 8 16; do run randread-jobs randread 4k "$jobs"; done
for jobs in 1 2 4 8 16; do run randwrite-jobs randwrite 4k "$jobs"; done
for jobs in 1 4; do run seqread read 1m "$jobs"; done
for jobs in 1 4; do run seqwrite write 1m "$jobs"; done
