# Sourced by the benchmark scripts after they set WORK (a scratch directory) and BIN (the
# datenlord binary): free ports, a cleanup on exit that unmounts every mount in `mounts` and
# stops every process in `pids` before removing WORK, and a real S3 server (s3s-fs).

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

# start_s3: s3s-fs on a free port (s3_port) with a bucket "bench" under WORK, and the AWS
# keys for it in the environment; returns once it accepts connections (fails after 10 s).
start_s3() {
    s3_port=$(free_port)
    mkdir -p "$WORK/s3/bench"
    local server
    server=$(command -v s3s-fs || echo "${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs")
    "$server" --host 127.0.0.1 --port "$s3_port" --access-key bench --secret-key bench-secret \
        "$WORK/s3" >/dev/null 2>&1 &
    pids+=($!)
    export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret
    for _ in $(seq 100); do
        python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' \
            "$s3_port" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "the S3 server did not start" >&2
    return 1
}
