#!/usr/bin/env bash
# The S3 gateway through real clients: starts `datenlord gateway` on a fresh volume and a FUSE
# mount of the same volume, then runs the boto3 suite (crates/gateway/tests/clients), awscli
# (`aws s3 mb/cp/sync/ls/rm/rb`) and rclone's S3 backend (`rclone sync` both ways, `rclone
# check`) against it; stops both and checks the volume with fsck. Installs what it uses.
#
#   scripts/s3-suite.sh [DATENLORD_BINARY]
#
# With DATENLORD_META=etcd://... the volume lives there (formatted here, blocks under
# $S3_STORAGE or a local directory); GATEWAY_TESTS="Buckets Objects" runs part of the suite.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$ROOT/target/debug/datenlord}
[ -x "$BIN" ] || { echo "s3-suite: $BIN is missing; build it with cargo build -p datenlord" >&2; exit 2; }
PY=${PYTHON:-python3}

"$PY" -c 'import boto3' 2>/dev/null || "$PY" -m pip install --quiet boto3
command -v aws >/dev/null || "$PY" -m pip install --quiet awscli
if ! command -v rclone >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rclone >/dev/null
fi

# The credentials of the block store (S3_STORAGE), before this script sets the gateway's.
store_key=${AWS_ACCESS_KEY_ID:-}
store_secret=${AWS_SECRET_ACCESS_KEY:-}
WORK=$(mktemp -d /var/tmp/dl-s3gw.XXXXXX)
MNT="$WORK/mnt"
export DATENLORD_HOME="$WORK/home"
mkdir -p "$MNT" "$DATENLORD_HOME"
gateway_pid=
cleanup() {
    if [ -n "$gateway_pid" ]; then kill "$gateway_pid" 2>/dev/null || true; wait "$gateway_pid" 2>/dev/null || true; fi
    if mountpoint -q "$MNT"; then "$BIN" umount "$MNT" 2>/dev/null || umount -l "$MNT"; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

KEY=suite-admin
SECRET=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
OTHER_KEY=suite-other
OTHER_SECRET=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
printf '# the suite'"'"'s users\n%s %s\n%s %s\nlimited limited-secret-1 only-this\n' \
    "$KEY" "$SECRET" "$OTHER_KEY" "$OTHER_SECRET" >"$WORK/users"
chmod 600 "$WORK/users"
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"

if [ -n "${DATENLORD_META:-}" ]; then
    "$BIN" format --storage "${S3_STORAGE:-file://$WORK/blocks}" default >/dev/null
fi
"$BIN" gateway --listen "127.0.0.1:$PORT" --credentials "$WORK/users" --domain s3.test \
    --memory-cache-size 64M --cache-size 0 >"$WORK/gateway.log" 2>&1 &
gateway_pid=$!
for _ in $(seq 100); do
    if "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)" 2>/dev/null; then break; fi
    if ! kill -0 "$gateway_pid" 2>/dev/null; then
        echo "s3-suite: the gateway did not start:" >&2; cat "$WORK/gateway.log" >&2; exit 1
    fi
    sleep 0.1
done
"$BIN" mount -d "$MNT"

status=0
report() { echo "s3-suite: $*" >&2; status=1; }

export GATEWAY_URL=$URL GATEWAY_KEY=$KEY GATEWAY_SECRET=$SECRET MOUNT_DIR=$MNT
export GATEWAY_DOMAIN=s3.test GATEWAY_OTHER_KEY=$OTHER_KEY GATEWAY_OTHER_SECRET=$OTHER_SECRET GATEWAY_PID=$gateway_pid
export DATENLORD_BIN=$(realpath "$BIN")
read -r -a picked <<< "${GATEWAY_TESTS:-}"
tests=(test_boto3)
[ "${#picked[@]}" -eq 0 ] || tests=("${picked[@]/#/test_boto3.}")
(cd "$ROOT/crates/gateway/tests/clients" && "$PY" -m unittest -v "${tests[@]}") \
    >"$WORK/boto3.log" 2>&1 || {
        report "boto3 tests failed:"
        tail -60 "$WORK/boto3.log" >&2
        echo "s3-suite: the gateway's warnings:" >&2
        grep -E 'WARN|ERROR' "$WORK/gateway.log" | tail -20 >&2
    }
grep -E '^(Ran|OK|FAILED)|gateway memory' "$WORK/boto3.log" | sed 's/^/boto3: /'

# awscli: the high-level commands most scripts use.
export AWS_ACCESS_KEY_ID=$KEY AWS_SECRET_ACCESS_KEY=$SECRET AWS_DEFAULT_REGION=us-east-1
aws_() { aws --endpoint-url "$URL" "$@"; }
tree="$WORK/tree"
mkdir -p "$tree/sub/deeper" "$WORK/back"
for i in $(seq 20); do head -c $((i * 1000)) /dev/urandom >"$tree/sub/f$i"; done
head -c $((9 << 20)) /dev/urandom >"$tree/sub/deeper/big"   # multipart at awscli's 8 MiB
echo small >"$tree/top.txt"
{
    aws_ s3 mb s3://cli-bucket >/dev/null &&
    aws_ s3 sync "$tree" s3://cli-bucket/tree --only-show-errors &&
    [ "$(aws_ s3 ls s3://cli-bucket/tree/ --recursive | wc -l)" -eq 22 ] &&
    aws_ s3 sync s3://cli-bucket/tree "$WORK/back" --only-show-errors &&
    diff -r "$tree" "$WORK/back" &&
    aws_ s3 cp s3://cli-bucket/tree/top.txt - | grep -qx small &&
    aws_ s3 rm s3://cli-bucket/tree --recursive --only-show-errors &&
    aws_ s3 rb s3://cli-bucket >/dev/null
} || report "awscli round trip failed"
echo "awscli: sync up and down, ls, cp, rm --recursive, mb/rb done"

# rclone's S3 backend, both ways, then its own check of sizes and hashes.
export RCLONE_CONFIG_DL_TYPE=s3 RCLONE_CONFIG_DL_PROVIDER=Other RCLONE_CONFIG_DL_ENDPOINT=$URL \
    RCLONE_CONFIG_DL_ACCESS_KEY_ID=$KEY RCLONE_CONFIG_DL_SECRET_ACCESS_KEY=$SECRET \
    RCLONE_CONFIG_DL_FORCE_PATH_STYLE=true
rm -rf "$WORK/back2"
{
    # rclone cannot use a CA bundle with its HTTP transport (and needs none for http://).
    unset AWS_CA_BUNDLE
    rclone mkdir dl:rclone-bucket &&
    rclone sync "$tree" dl:rclone-bucket/tree &&
    rclone check "$tree" dl:rclone-bucket/tree &&
    rclone sync dl:rclone-bucket/tree "$WORK/back2" &&
    diff -r "$tree" "$WORK/back2" &&
    rclone purge dl:rclone-bucket
} >"$WORK/rclone.log" 2>&1 || { report "rclone round trip failed:"; tail -20 "$WORK/rclone.log" >&2; }
echo "rclone: sync up, check, sync down, purge done"

# HTTPS: a second gateway on the same volume with a self-signed certificate, checked by
# boto3 against that certificate; on etcd it stands for another node, on 127.0.0.2. Both
# gateways see each other's objects and bucket settings.
TLS_HOST=127.0.0.1
[ -z "${DATENLORD_META:-}" ] || TLS_HOST=127.0.0.2
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=$TLS_HOST" \
    -addext "subjectAltName=IP:$TLS_HOST" -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
TLS_PORT=$("$PY" -c "import socket; s=socket.socket(); s.bind(('$TLS_HOST',0)); print(s.getsockname()[1])")
AWS_ACCESS_KEY_ID=$store_key AWS_SECRET_ACCESS_KEY=$store_secret "$BIN" gateway \
    --listen "$TLS_HOST:$TLS_PORT" --credentials "$WORK/users" --tls-cert "$WORK/cert.pem" \
    --tls-key "$WORK/key.pem" --memory-cache-size 64M --cache-size 0 >"$WORK/tls.log" 2>&1 &
tls_pid=$!
"$PY" - "$TLS_HOST" "$TLS_PORT" "$WORK/cert.pem" "$URL" <<'PY' || report "the HTTPS gateway failed a round trip"
import sys, time, urllib.error, urllib.request, boto3
from botocore.config import Config
host, port, cert, first_url = sys.argv[1:]
config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1})
s3 = boto3.client("s3", endpoint_url=f"https://{host}:{port}", verify=cert, config=config)
first = boto3.client("s3", endpoint_url=first_url, config=config)
for _ in range(100):
    try:
        s3.list_buckets()
        break
    except Exception:
        time.sleep(0.1)
s3.create_bucket(Bucket="over-tls")
s3.put_object(Bucket="over-tls", Key="k", Body=b"secret bytes")
assert s3.get_object(Bucket="over-tls", Key="k")["Body"].read() == b"secret bytes"
assert first.get_object(Bucket="over-tls", Key="k")["Body"].read() == b"secret bytes"
first.put_object(Bucket="over-tls", Key="from-first", Body=b"the other way")
assert s3.get_object(Bucket="over-tls", Key="from-first")["Body"].read() == b"the other way"
first.put_object_acl(Bucket="over-tls", Key="from-first", ACL="public-read")
public = f"{first_url}/over-tls/from-first"
assert urllib.request.urlopen(public).read() == b"the other way"
s3.put_object_acl(Bucket="over-tls", Key="from-first", ACL="private")
try:
    urllib.request.urlopen(public)
    raise AssertionError("an object made private through one gateway stayed public on another")
except urllib.error.HTTPError as err:
    assert err.code == 403
for key in ["k", "from-first"]:
    first.delete_object(Bucket="over-tls", Key=key)
s3.delete_bucket(Bucket="over-tls")
PY
kill "$tls_pid"; wait "$tls_pid" || report "the HTTPS gateway did not stop cleanly"
echo "https: a round trip through a second gateway ($TLS_HOST, with a certificate) done"

# A user limited to one bucket sees only it.
AWS_ACCESS_KEY_ID=limited AWS_SECRET_ACCESS_KEY=limited-secret-1 aws_ s3 ls s3://cli-other >/dev/null 2>&1 &&
    report "a key limited to one bucket listed another"

kill "$gateway_pid"
wait "$gateway_pid" || report "the gateway did not stop cleanly (exit $?)"
gateway_pid=
"$BIN" umount "$MNT"
for _ in $(seq 50); do
    if AWS_ACCESS_KEY_ID=$store_key AWS_SECRET_ACCESS_KEY=$store_secret "$BIN" fsck >"$WORK/fsck.out" 2>&1 &&
        ! grep -q mounted "$WORK/fsck.out"; then
        break
    fi
    sleep 0.2
done
grep -q '^clean' "$WORK/fsck.out" || { report "fsck after the suite is not clean:"; cat "$WORK/fsck.out" >&2; }
if grep -qE 'panicked|RUST_BACKTRACE' "$WORK/gateway.log"; then
    report "the gateway panicked:"; grep -E -A5 'panicked' "$WORK/gateway.log" >&2
fi
[ "$status" -eq 0 ] && echo "s3-suite: all passed"
exit $status
