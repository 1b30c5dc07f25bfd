#!/usr/bin/env bash
# Issue 5's benchmark, in one run on this machine: one file of SIZE_MB (1 GiB) read
# sequentially (1 MiB reads) and at random (4 KiB reads for RAND_SECONDS) when served from
#   - the local disk (the same bytes in a local file, page cache dropped): the reference;
#   - the object store (s3s-fs on loopback): sequential through a fresh mount with empty
#     caches (read-ahead fetches whole blocks), random through a mount without caches (each
#     read one ranged GET) — with caches, random misses fill whole blocks behind the reader
#     and the pass would soon measure the caches;
#   - the disk tier: fresh mounts whose disk cache holds the file (memory tier empty);
#   - the memory tier: a mount reading again after a sequential pass (LRU, 2 GiB: it fits);
#   - a neighbour: a `datenlord cache-node` on 127.0.0.2 holding the file, read by mounts in
#     its group with no disk cache (random: no memory tier either; sequential: an empty one,
#     which read-ahead fills from the neighbour);
# each as a ratio to the local disk. Then the hit ratio of a hot set under a concurrent scan,
# per policy. The kernel's page cache is dropped before every read, and DatenLord opens files
# without keeping the kernel's cache, so each read reaches the tier named. Numbers, not a
# pass/fail test.
#
#   scripts/perf/cache.sh            (SIZE_MB=1024 RAND_SECONDS=10)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIZE_MB=${SIZE_MB:-1024}
RAND_SECONDS=${RAND_SECONDS:-10}
WORK=$(mktemp -d /var/tmp/dl-cache.XXXXXX)
cargo build --release --locked -p datenlord --manifest-path "$ROOT/Cargo.toml" >/dev/null
BIN=$ROOT/target/release/datenlord
# shellcheck source=servers.sh
source "$ROOT/scripts/perf/servers.sh"
start_s3
export DATENLORD_HOME=$WORK/home DATENLORD_META=sqlite://$WORK/meta.db
sleep 1
"$BIN" format --storage "s3://bench/v?endpoint=http://127.0.0.1:$s3_port&region=us-east-1" bench >/dev/null

# mount NAME ARGS...: a fresh mount on $WORK/mnt-NAME (not in a subshell: cleanup must know it).
mount_at() {
    local mnt="$WORK/mnt-$1"
    shift
    mkdir -p "$mnt"
    "$BIN" mount -d "$mnt" "$@" >/dev/null
    mounts+=("$mnt")
}
umount_at() { "$BIN" umount "$WORK/mnt-$1"; }
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
declare -A seq_of rand_of
labels=()
# read_as LABEL seq|rand FILE: one pass, the page cache dropped first.
read_as() {
    drop
    local got
    got=$(python3 "$ROOT/scripts/perf/read_file.py" "$2" "$3" "$RAND_SECONDS")
    [[ " ${labels[*]} " == *" $1 "* ]] || labels+=("$1")
    if [ "$2" = seq ]; then seq_of[$1]=$got; else rand_of[$1]=$got; fi
    echo "  $1, $2: $got" >&2
}
node_args=(--cache-size 4G --memory-cache-size 2G --cache-policy lru)

echo "== writing $SIZE_MB MiB" >&2
dd if=/dev/urandom of="$WORK/local" bs=1M count="$SIZE_MB" status=none
mount_at writer --cache-size 0 --memory-cache-size 0
cp "$WORK/local" "$WORK/mnt-writer/file"
umount_at writer
read_as local-disk seq "$WORK/local"
read_as local-disk rand "$WORK/local"

echo "== the object store: cold caches (sequential), no caches (random)" >&2
mount_at cold --cache-dir "$WORK/cache-local" "${node_args[@]}"
read_as object-store seq "$WORK/mnt-cold/file"
umount_at cold
mount_at direct --cache-size 0 --memory-cache-size 0
read_as object-store rand "$WORK/mnt-direct/file"
umount_at direct

echo "== the disk tier (memory empty; random reads do not fill it)" >&2
mount_at warming --cache-dir "$WORK/cache-local" "${node_args[@]}"
"$BIN" warmup "$WORK/mnt-warming/file" >/dev/null
umount_at warming
mount_at disk-rand --cache-dir "$WORK/cache-local" "${node_args[@]}"
read_as disk-tier rand "$WORK/mnt-disk-rand/file"
umount_at disk-rand
mount_at disk --cache-dir "$WORK/cache-local" "${node_args[@]}"
read_as disk-tier seq "$WORK/mnt-disk/file"

echo "== the memory tier (the sequential pass above filled it)" >&2
read_as memory-tier seq "$WORK/mnt-disk/file"
read_as memory-tier rand "$WORK/mnt-disk/file"
umount_at disk

echo "== a neighbour (a cache node on 127.0.0.2, loopback)" >&2
node_port=$(free_port)
"$BIN" cache-node --group bench --listen "127.0.0.2:$node_port" --cache-dir "$WORK/cache-node" \
    "${node_args[@]}" >"$WORK/node.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "serving volume" "$WORK/node.log" && break; sleep 0.1; done
mount_at warm --cache-group bench --cache-size 0 --memory-cache-size 0
"$BIN" warmup "$WORK/mnt-warm/file" >/dev/null
read_as neighbour rand "$WORK/mnt-warm/file"
umount_at warm
mount_at neighbour --cache-group bench --cache-size 0 --memory-cache-size 2G
read_as neighbour seq "$WORK/mnt-neighbour/file"
umount_at neighbour

echo
printf '%-14s %10s %8s %14s %8s\n' "served from" "seq MB/s" ratio "rand 4K IOPS" ratio
rows=()
for l in "${labels[@]}"; do rows+=("$l|${seq_of[$l]}|${rand_of[$l]}"); done
python3 - "${rows[@]}" <<'PY'
import json, sys
rows = [r.split("|") for r in sys.argv[1:]]
base_seq, base_rand = json.loads(rows[0][1])["mb_s"], json.loads(rows[0][2])["iops"]
for label, seq, rand in rows:
    s, r = json.loads(seq)["mb_s"], json.loads(rand)["iops"]
    print(f"{label:<14} {s:>10} {s / base_seq:>7.2f}x {r:>14} {r / base_rand:>7.2f}x")
PY
echo
cargo bench --locked -p datenlord-store --bench scan_resistance --manifest-path "$ROOT/Cargo.toml" 2>/dev/null
