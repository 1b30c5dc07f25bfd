#!/usr/bin/env bash
# A DatenLord mount against the local disk it stores on, side by side in one run:
#   1 GiB sequential write and read (1 MiB blocks), 4 KiB random read and write,
#   create/stat/unlink of 10 000 small files, cp -a of a source tree in and back out.
# Prints each figure and the ratio DatenLord / disk. Numbers, not a pass/fail test.
#
#   scripts/perf/datenlord_vs_disk.sh            (SIZE=1G RUNTIME=20 FILES=10000 TREE=/usr/lib/python3.11)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIZE=${SIZE:-1G}
RUNTIME=${RUNTIME:-20}
FILES=${FILES:-10000}
TREE=${TREE:-$(python3 -c 'import os; print(os.path.dirname(os.__file__))')}
WORK=${WORK:-/var/tmp/dl-bench}
OUT=${OUT:-$WORK/results.json}

command -v fio >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fio; }
cargo build --release --locked -p datenlord --manifest-path "$ROOT/Cargo.toml" >/dev/null
BIN=$ROOT/target/release/datenlord

rm -rf "$WORK"
mkdir -p "$WORK/disk" "$WORK/mnt" "$WORK/home"
export DATENLORD_HOME=$WORK/home
"$BIN" mount -d "$WORK/mnt" >/dev/null
cleanup() {
    if mountpoint -q "$WORK/mnt"; then "$BIN" umount "$WORK/mnt" || umount -l "$WORK/mnt"; fi
}
trap cleanup EXIT
echo "disk: $(df -T "$WORK/disk" | awk 'NR==2 {print $1, $2}'); datenlord blocks and metadata on the same disk"

drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }

# fio_job NAME DIR ARGS... → prints one number (MB/s for bandwidth jobs, IOPS for random ones).
fio_job() {
    local name=$1 dir=$2; shift 2
    fio --name="$name" --directory="$dir" --ioengine=psync --output-format=json "$@" \
        > "$WORK/fio-$name-$(basename "$dir").json"
    python3 - "$WORK/fio-$name-$(basename "$dir").json" <<'PY'
import json, sys
job = json.load(open(sys.argv[1]))["jobs"][0]
side = job["write"] if job["write"]["io_bytes"] > 0 else job["read"]
print(f'{side["bw_bytes"] / 1e6:.1f} {side["iops"]:.0f}')
PY
}

declare -A R
measure() {
    local target=$1 dir=$2
    read -r mbps _ < <(fio_job seqwrite "$dir" --rw=write --bs=1M --size="$SIZE" --end_fsync=1)
    R[$target.seqwrite]=$mbps
    drop_caches
    read -r mbps _ < <(fio_job seqread "$dir" --rw=read --bs=1M --size="$SIZE")
    R[$target.seqread]=$mbps
    read -r _ iops < <(fio_job randread "$dir" --rw=randread --bs=4k --size=256M --time_based --runtime="$RUNTIME")
    R[$target.randread]=$iops
    read -r _ iops < <(fio_job randwrite "$dir" --rw=randwrite --bs=4k --size=256M --time_based --runtime="$RUNTIME" --end_fsync=1)
    R[$target.randwrite]=$iops
    rm -f "$dir"/seq* "$dir"/rand*
    read -r create stat unlink < <(python3 - "$dir/meta" "$FILES" <<'PY'
import os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(d)
t = time.perf_counter()
for i in range(n):
    os.close(os.open(f"{d}/f{i}", os.O_CREAT | os.O_WRONLY, 0o644))
c = n / (time.perf_counter() - t)
t = time.perf_counter()
for i in range(n):
    os.stat(f"{d}/f{i}")
s = n / (time.perf_counter() - t)
t = time.perf_counter()
for i in range(n):
    os.unlink(f"{d}/f{i}")
u = n / (time.perf_counter() - t)
print(f"{c:.0f} {s:.0f} {u:.0f}")
PY
)
    R[$target.create]=$create; R[$target.stat]=$stat; R[$target.unlink]=$unlink
    rmdir "$dir/meta"
    local start end
    start=$(date +%s.%N); cp -a "$TREE" "$dir/tree"; sync; end=$(date +%s.%N)
    R[$target.cp_in]=$(echo "$end - $start" | bc)
    drop_caches
    start=$(date +%s.%N); cp -a "$dir/tree" "$WORK/back-$target"; sync; end=$(date +%s.%N)
    R[$target.cp_out]=$(echo "$end - $start" | bc)
    diff -r --no-dereference "$TREE" "$WORK/back-$target" >/dev/null || echo "warning: $target copy differs" >&2
    rm -rf "$dir/tree" "$WORK/back-$target"
}

echo "measuring the local disk..."
measure disk "$WORK/disk"
echo "measuring datenlord..."
measure datenlord "$WORK/mnt"

printf '\n%-34s %14s %14s %8s\n' workload disk datenlord ratio
row() {
    local key=$1 label=$2 unit=$3 lower_is_better=${4:-0} a b ratio
    a=${R[disk.$key]}; b=${R[datenlord.$key]}
    if [ "$lower_is_better" = 1 ]; then ratio=$(echo "scale=2; $a / $b" | bc); else ratio=$(echo "scale=2; $b / $a" | bc); fi
    printf '%-34s %14s %14s %7sx\n' "$label ($unit)" "$a" "$b" "$ratio"
}
row seqwrite "seq write $SIZE, 1M" "MB/s"
row seqread "seq read $SIZE, 1M, cold" "MB/s"
row randread "rand read 4K, ${RUNTIME}s" "IOPS"
row randwrite "rand write 4K, ${RUNTIME}s" "IOPS"
row create "create $FILES files" "ops/s"
row stat "stat $FILES files" "ops/s"
row unlink "unlink $FILES files" "ops/s"
row cp_in "cp -a $(basename "$TREE") in" "s" 1
row cp_out "cp -a $(basename "$TREE") out" "s" 1
echo "(ratio: DatenLord relative to the disk; above 1 is faster)"
{
    echo "{"
    first=1
    for k in "${!R[@]}"; do
        [ $first = 1 ] || echo ","
        first=0
        printf '  "%s": %s' "$k" "${R[$k]}"
    done
    echo; echo "}"
} > "$OUT"
echo "results: $OUT"
