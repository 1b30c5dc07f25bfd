#!/usr/bin/env bash
# Writers in one directory from several mounts of one etcd volume (issue 18, step 4): 1, 2
# and 4 mounts of the volume, one writer process on each, every writer creating and then
# unlinking FILES files, all in one shared directory ("one"), each in its own ("own"), or each
# in its own under one directory quota they all charge ("quota").
# A mount's creates in one directory are serialised by the kernel (it holds the directory's
# lock), so writers on different mounts are where a shared directory can scale, or meet on
# its keys. Prints ops/s for each phase (all writers, from a common start to the slowest)
# and the transactions that lost a race and ran again, per metadata operation, summed over
# the mounts. Numbers, not a pass/fail test.
#
#   scripts/perf/one_dir.sh            (FILES=300 per writer; BIN=... to time another build)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FILES=${FILES:-300}
if [ -z "${BIN:-}" ]; then
    cargo build --release --locked -p datenlord --manifest-path "$ROOT/Cargo.toml" >/dev/null
    BIN=$ROOT/target/release/datenlord
fi
WORK=$(mktemp -d /var/tmp/dl-one-dir.XXXXXX)
# shellcheck source=servers.sh
source "$ROOT/scripts/perf/servers.sh"

start_etcd
meta="etcd://127.0.0.1:$etcd_port/onedir"
DATENLORD_HOME="$WORK/home-0" "$BIN" format --meta "$meta" --storage "file://$WORK/blocks" \
    onedir >/dev/null
for m in 0 1 2 3; do
    mkdir -p "$WORK/mnt-$m" "$WORK/home-$m"
    DATENLORD_HOME="$WORK/home-$m" "$BIN" mount -d "$WORK/mnt-$m" --meta "$meta" >/dev/null
    mounts+=("$WORK/mnt-$m")
done

printf 'dirs\tmounts\tcreate\tunlink\t(ops/s)\tretries/op\n'
for shape in one own quota; do
    for writers in 1 2 4; do
        python3 - "$WORK" "$shape" "$writers" "$FILES" "$ROOT/scripts/perf/meta_requests.py" \
            "$BIN" "$meta" <<'PY'
import json, multiprocessing as mp, os, subprocess, sys, time

work, shape, writers, files, stats_tool = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
binary, meta = sys.argv[6], sys.argv[7]
mounts = [os.path.join(work, f"mnt-{m}") for m in range(writers)]
run = f"{shape}-{writers}"

def where(m):
    return os.path.join(mounts[m], run, "shared" if shape == "one" else f"own{m}")

def counters():
    total = {}
    for mount in mounts:
        out = subprocess.run([sys.executable, stats_tool, mount, "--counters"],
                             capture_output=True, text=True, check=True).stdout
        for k, v in json.loads(out).items():
            total[k] = total.get(k, 0) + v
    return total

def writer(args):
    m, phase, start = args
    d = where(m)
    while time.time() < start:
        time.sleep(0.001)
    began = time.perf_counter()
    for i in range(files):
        path = os.path.join(d, f"m{m}-f{i}")
        if phase == "create":
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        else:
            os.unlink(path)
    return time.perf_counter() - began

os.makedirs(os.path.join(mounts[0], run), exist_ok=True)
if shape == "quota":
    subprocess.run([binary, "quota", "set", "--meta", meta, f"/{run}", "--capacity", "1T",
                    "--inodes", "100000000"], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "DATENLORD_HOME": os.path.join(work, "home-0")})
for m in range(writers):
    os.makedirs(where(m), exist_ok=True)
# Every mount has seen the directories before the clock starts.
for m in range(writers):
    for n in range(writers):
        deadline = time.time() + 10
        while not os.path.isdir(os.path.join(mounts[m], run, "shared" if shape == "one" else f"own{n}")):
            assert time.time() < deadline, "a mount does not see the directory"
            time.sleep(0.01)
rates = []
before = counters()
with mp.Pool(writers) as pool:
    for phase in ("create", "unlink"):
        start = time.time() + 0.3
        times = pool.map(writer, [(m, phase, start) for m in range(writers)])
        rates.append(round(writers * files / max(times), 1))
after = counters()
ops = after["ops"] - before["ops"]
retries = (after["retries"] - before["retries"]) / ops if ops else 0
print(f"{shape}\t{writers}\t{rates[0]}\t{rates[1]}\t\t{retries:.3f}")
PY
    done
done
