#!/usr/bin/env bash
# Issue 4's benchmark, in one run on this machine:
#  1. metadata operations per second (create, stat, rename, unlink; 1 and 4 worker processes)
#     on the embedded engine (SQLite) and on a real etcd (one member, loopback);
#  2. 1 GiB sequential write (+fsync) and cold read through a mount with blocks in a real S3
#     server (s3s-fs, loopback) against plain S3 PUT/GET of the same bytes, 4 MiB objects,
#     16 requests at once (the concurrency of one flush of the mount).
# Prints each figure and the ratios. Numbers, not a pass/fail test.
#
#   scripts/perf/many_nodes.sh            (FILES=2000 per worker, SIZE_MB=1024)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FILES=${FILES:-2000}
SIZE_MB=${SIZE_MB:-1024}
WORK=$(mktemp -d /var/tmp/dl-many.XXXXXX)
cargo build --release --locked -p datenlord --manifest-path "$ROOT/Cargo.toml" >/dev/null
BIN=$ROOT/target/release/datenlord
python3 -c 'import boto3' 2>/dev/null || pip install -q boto3
# shellcheck source=servers.sh
source "$ROOT/scripts/perf/servers.sh"

start_etcd
start_s3

# mount_volume NAME META STORAGE: formats and mounts on $WORK/mnt-NAME (not in a subshell, so
# that cleanup knows the mount).
mount_volume() {
    local name=$1 meta=$2 storage=$3 mnt="$WORK/mnt-$1"
    mkdir -p "$mnt" "$WORK/home-$name"
    DATENLORD_HOME="$WORK/home-$name" "$BIN" format --meta "$meta" --storage "$storage" "$name" >/dev/null
    DATENLORD_HOME="$WORK/home-$name" "$BIN" mount -d "$mnt" --meta "$meta" >/dev/null
    mounts+=("$mnt")
}

echo "== metadata operations per second ($FILES files per worker)"
mount_volume embedded "sqlite://$WORK/meta.db" "file://$WORK/blocks-embedded"
mount_volume etcd "etcd://127.0.0.1:$etcd_port/bench" "file://$WORK/blocks-etcd"
sqlite_mnt=$WORK/mnt-embedded
etcd_mnt=$WORK/mnt-etcd
printf '%-8s %-8s %12s %12s %8s\n' op workers embedded etcd ratio
for workers in 1 4; do
    mkdir -p "$sqlite_mnt/m$workers" "$etcd_mnt/m$workers"
    a=$(python3 "$ROOT/scripts/perf/meta_ops.py" "$sqlite_mnt/m$workers" "$workers" "$FILES")
    b=$(python3 "$ROOT/scripts/perf/meta_ops.py" "$etcd_mnt/m$workers" "$workers" "$FILES")
    for op in create stat rename unlink; do
        python3 - "$op" "$workers" "$a" "$b" <<'PY'
import json, sys
op, workers, a, b = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
print(f"{op:<8} {workers:<8} {a[op]:>12} {b[op]:>12} {b[op] / a[op]:>7.2f}x")
PY
    done
done

echo "== 1 GiB through a mount on S3 vs plain S3 ($SIZE_MB MiB, 4 MiB objects, 16 at once)"
mount_volume s3 "etcd://127.0.0.1:$etcd_port/s3bench" \
    "s3://bench/volume?endpoint=http://127.0.0.1:$s3_port&region=us-east-1"
s3_mnt=$WORK/mnt-s3
plain=$(python3 "$ROOT/scripts/perf/s3_plain.py" "http://127.0.0.1:$s3_port" bench $((SIZE_MB << 20)) $((4 << 20)) 16)
dd if=/dev/urandom of="$WORK/payload" bs=1M count="$SIZE_MB" status=none
TIMEFORMAT=%R
write_s=$( { time dd if="$WORK/payload" of="$s3_mnt/big" bs=1M conv=fsync status=none; } 2>&1 )
sync; echo 3 > /proc/sys/vm/drop_caches
read_s=$( { time dd if="$s3_mnt/big" of=/dev/null bs=1M status=none; } 2>&1 )
python3 - "$plain" "$SIZE_MB" "$write_s" "$read_s" <<'PY'
import json, sys
plain, mb, w, r = json.loads(sys.argv[1]), int(sys.argv[2]) * 1.048576, float(sys.argv[3]), float(sys.argv[4])
print(f"{'':<22} {'mount MB/s':>12} {'plain S3 MB/s':>14} {'ratio':>7}")
print(f"{'sequential write':<22} {mb / w:>12.1f} {plain['put']:>14} {mb / w / plain['put']:>6.2f}x")
print(f"{'cold sequential read':<22} {mb / r:>12.1f} {plain['get']:>14} {mb / r / plain['get']:>6.2f}x")
PY
