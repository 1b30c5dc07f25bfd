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
# Read jobs lay their files out first, in a pass of their own; then the page cache is dropped
# and, when set, PERF_BEFORE_READ (a command, given the directory) runs: e.g. cold.sh, which
# evicts a mount's caches and checks that nothing of the files is left in them.
# PERF_COLD=1 makes the read jobs cold: they read nothing that was cached when they began, nor
# anything an earlier read of the same run brought in. (A time-based run loops over its files,
# and a mount that fetches whole blocks serves most of a short run from the blocks its first
# reads fetched: a cache, not the object store.) So each cold read job lays out COLD_SIZE
# bytes (FIO_COLD_SIZE, default 1G; --quick: SIZE) and reads them once, not time-based
# (RUNTIME only caps it): the sequential jobs from start to end, the random ones BS at a
# random offset of each 4 MiB piece (FIO_COLD_STRIDE: the block size of DatenLord and of
# JuiceFS), the pieces in a random order (fio_iolog.py: an fio iolog per job, replayed
# without waits).
# PERF_STORE_IO, when set, is the /proc/PID/io of the object store's server: each row then
# gives the MB it read during the job (rchar: what it served, from its disk or page cache).
# PERF_READS_ONLY=1 runs the read jobs only.
# Prints TSV rows as they finish: workload, block size, jobs, IOPS, MB/s, mean latency us, p99
# latency us, MB the job read or wrote, MB the object store's server read ("-" if unknown).
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
COLD=${PERF_COLD:-0}
if [ "$QUICK" = 1 ]; then COLD_SIZE=${FIO_COLD_SIZE:-$SIZE}; else COLD_SIZE=${FIO_COLD_SIZE:-1G}; fi
COLD_BYTES=$(numfmt --from=iec "$COLD_SIZE")
STRIDE=$(numfmt --from=iec "${FIO_COLD_STRIDE:-4M}")
HERE=$(cd "$(dirname "$0")" && pwd)
command -v fio >/dev/null || apt-get install -y -qq fio >/dev/null
WORK="$TARGET/.fio-$$"
LOGS=$(mktemp -d)
mkdir -p "$WORK"
trap 'rm -rf "$WORK" "$LOGS"' EXIT

# Direct I/O if the target takes it (a FUSE mount may not).
DIRECT=1
if ! fio --name=probe --directory="$WORK" --size=1M --rw=read --bs=4k --direct=1 \
    --output-format=terse >/dev/null 2>&1; then
    DIRECT=0
    echo "# $TARGET refuses O_DIRECT: buffered I/O (page cache dropped before each job)" >&2
fi
rm -f "$WORK"/probe*

# served: bytes the object store's server has read so far (nothing without PERF_STORE_IO).
served() { if [ -n "${PERF_STORE_IO:-}" ]; then awk '/^rchar/ {print $2}' "$PERF_STORE_IO"; fi; }

# run NAME RW BS JOBS: one fio job group on fresh files; prints a TSV row.
run() {
    local name=$1 rw=$2 bs=$3 jobs=$4 size=$SIZE_BYTES cold=0 json before after served
    if [[ $rw == *read ]] && [ "$COLD" = 1 ]; then cold=1 size=$COLD_BYTES; fi
    local args=(--name="$name" --directory="$WORK" --rw="$rw" --bs="$bs" --numjobs="$jobs"
        --size="$((size / jobs))" --ioengine=psync --direct="$DIRECT" --group_reporting)
    rm -f "$WORK"/* "$LOGS"/*
    if [[ $rw == *read ]]; then
        fio "${args[@]}" --create_only=1 --output-format=terse >/dev/null
        sync
        echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
        if [ -n "${PERF_BEFORE_READ:-}" ]; then $PERF_BEFORE_READ "$WORK" >/dev/null; fi
    fi
    local measure=("${args[@]}" --time_based)
    if [ "$cold" = 1 ] && [ "$rw" = randread ]; then
        mapfile -t measure < <(python3 "$HERE/fio_iolog.py" "$WORK" "$LOGS" "$name" "$jobs" \
            "$((size / jobs))" "$(numfmt --from=iec "${bs^^}")" "$STRIDE")
        measure=(--ioengine=psync --direct="$DIRECT" --group_reporting "${measure[@]}")
    elif [ "$cold" = 1 ]; then
        measure=("${args[@]}")
    fi
    sync
    echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
    before=$(served)
    json=$(fio "${measure[@]}" --runtime="$RUNTIME" --output-format=json 2>"$LOGS/err") ||
        { echo "fio failed: $(tail -3 "$LOGS/err")" >&2; return 1; }
    after=$(served)
    served=-
    if [ -n "$before" ] && [ -n "$after" ]; then served=$(((after - before) / 1000000)); fi
    python3 - "$name" "$bs" "$jobs" "$json" "$served" <<'PY'
import json, sys
name, bs, jobs, raw, served = sys.argv[1:6]
job = json.loads(raw[raw.find("{"):])["jobs"][0]  # past any warning fio prints first
side = job["read"] if job["read"]["io_bytes"] > 0 else job["write"]
lat = side["clat_ns"]
p99 = lat.get("percentile", {}).get("99.000000", 0)
print(f"{name}\t{bs}\t{jobs}\t{side['iops']:.0f}\t{side['bw_bytes'] / 1e6:.1f}\t{lat['mean'] / 1e3:.1f}\t{p99 / 1e3:.1f}"
      f"\t{side['io_bytes'] / 1e6:.2f}\t{served}", flush=True)
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
printf 'workload\tbs\tjobs\tiops\tMB/s\tmean_us\tp99_us\tMB\tstore_MB\n'
writes=1
[ "${PERF_READS_ONLY:-0}" = 1 ] && writes=0
for bs in "${sizes[@]}"; do run randread randread "$bs" 1; done
if [ "$writes" = 1 ]; then for bs in "${sizes[@]}"; do run randwrite randwrite "$bs" 1; done; fi
for jobs in "${counts[@]}"; do run randread-jobs randread 4k "$jobs"; done
if [ "$writes" = 1 ]; then for jobs in "${counts[@]}"; do run randwrite-jobs randwrite 4k "$jobs"; done; fi
for jobs in "${seq_counts[@]}"; do run seqread read 1m "$jobs"; done
if [ "$writes" = 1 ]; then for jobs in "${seq_counts[@]}"; do run seqwrite write 1m "$jobs"; done; fi
