# Sourced by the benchmark scripts after they set WORK (a scratch directory) and BIN (the
# datenlord binary): free ports, a cleanup on exit that unmounts every mount in `mounts` and
# stops every process in `pids` before removing WORK, and a real S3 server (s3s-fs, installed
# with cargo when missing).

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

pids=()
mounts=()
cleanup() {
    for m in "${mounts[@]}"; do
        if mountpoint -q "$m"; then "$BIN" umount "$m" 2>/dev/null || umount -l "$m"; fi
    done
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    if ! grep -q "$WORK" /proc/mounts; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

# S3S_FS: the s3s-fs binary, found on PATH or in cargo's bin directory (not always on PATH,
# e.g. under sudo), else installed there by ensure_s3s_fs (a few minutes).
S3S_FS_VERSION=0.14.1
find_s3s_fs() {
    S3S_FS=$(command -v s3s-fs || true)
    # Where `cargo install` puts binaries.
    local cargo_bin=${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/bin
    if [ -z "$S3S_FS" ] && [ -x "$cargo_bin/s3s-fs" ]; then S3S_FS=$cargo_bin/s3s-fs; fi
    [ -n "$S3S_FS" ]
}
ensure_s3s_fs() {
    find_s3s_fs && return 0
    local cargo
    cargo=$(command -v cargo || echo "${CARGO_HOME:-$HOME/.cargo}/bin/cargo")
    echo "installing s3s-fs $S3S_FS_VERSION (cargo install, a few minutes)" >&2
    "$cargo" install "s3s-fs@$S3S_FS_VERSION" --features binary --locked >&2 || {
        echo "could not install s3s-fs ($cargo install s3s-fs@$S3S_FS_VERSION --features binary --locked)" >&2
        return 1
    }
    find_s3s_fs
}

# start_s3: s3s-fs on a free port (s3_port, its process s3_pid) with a bucket "bench" under
# WORK, and the AWS keys for it in the environment; returns once it accepts connections
# (fails after 10 s).
start_s3() {
    ensure_s3s_fs || { echo "the S3 server did not start: no s3s-fs" >&2; return 1; }
    s3_port=$(free_port)
    mkdir -p "$WORK/s3/bench"
    "$S3S_FS" --host 127.0.0.1 --port "$s3_port" --access-key bench --secret-key bench-secret \
        "$WORK/s3" >"$WORK/s3s-fs.log" 2>&1 &
    s3_pid=$!
    pids+=("$s3_pid")
    export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret
    for _ in $(seq 100); do
        python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' \
            "$s3_port" 2>/dev/null && return 0
        kill -0 "$s3_pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "the S3 server did not start (see $WORK/s3s-fs.log: $(tail -1 "$WORK/s3s-fs.log" 2>/dev/null))" >&2
    return 1
}

# start_etcd: one etcd member on free ports (etcd_port), data under WORK; returns once it is
# healthy (fails after 10 s). Does nothing when already started.
etcd_port=
start_etcd() {
    [ -n "$etcd_port" ] && return 0
    etcd_port=$(free_port)
    local peer
    peer=$(free_port)
    etcd --name bench --data-dir "$WORK/etcd" --listen-client-urls "http://127.0.0.1:$etcd_port" \
        --advertise-client-urls "http://127.0.0.1:$etcd_port" --listen-peer-urls "http://127.0.0.1:$peer" \
        --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
        --initial-cluster "bench=http://127.0.0.1:$peer" >"$WORK/etcd.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do
        etcdctl --endpoints "127.0.0.1:$etcd_port" endpoint health >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "etcd did not start (see $WORK/etcd.log)" >&2
    return 1
}

# start_redis: one redis-server on a free port (redis_port), as an operator runs it for
# metadata (keys never evicted, the append-only file synced every second), data under WORK;
# returns once it answers (fails after 10 s). Does nothing when already started.
redis_port=
start_redis() {
    [ -n "$redis_port" ] && return 0
    redis_port=$(free_port)
    mkdir -p "$WORK/redis"
    redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$WORK/redis" --save '' \
        --appendonly yes --appendfsync everysec --maxmemory-policy noeviction >"$WORK/redis.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do
        redis-cli -p "$redis_port" ping >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "redis-server did not start (see $WORK/redis.log)" >&2
    return 1
}
