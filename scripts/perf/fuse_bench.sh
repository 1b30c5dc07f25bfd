#!/usr/bin/env bash
# fuse_bench.sh -- compare the datenlord-fuse example filesystem (memfs) with
# tmpfs, in the same run, on the same machine.
#
# Workloads (each one is run on tmpfs and on memfs):
#   1. getattr rate with zero attribute and entry timeouts: memfs is mounted with
#      `--attr-timeout 0 --entry-timeout 0` and a bounded Python loop calls
#      os.stat(path) (LOOKUP + GETATTR per call on FUSE) and os.fstat(fd)
#      (GETATTR per call on FUSE) on one file.  Reported as ops/s.
#   2. 4 KiB random reads: fio, psync, bs=4k, rw=randread on one pre-written
#      file of SIZE bytes, numjobs=1 and numjobs=4 (group_reporting),
#      time_based for RUNTIME seconds.  Reported as IOPS.
#   3. 1 MiB sequential write and read throughput: fio, psync, bs=1M,
#      rw=write / rw=read, numjobs=1 and numjobs=4 (one SIZE file per job),
#      time_based for RUNTIME seconds.  Reported as MiB/s.
#   Workloads 2 and 3 run on a fresh memfs mount with memfs's default
#   timeouts (plus MEMFS_ARGS), so that the zero timeouts of workload 1 do not
#   add a GETATTR round trip to every read.
#
# Page-cache effects ARE included: all fio jobs use --direct=0 and no cache is
# dropped.  tmpfs lives in the page cache; memfs is accessed through FUSE with
# its default (non-direct) I/O, so the kernel caches its file data too.  Read
# tests run with --invalidate=1, which makes fio call
# posix_fadvise(POSIX_FADV_DONTNEED) on the file before the job starts (a
# no-op for tmpfs, for FUSE it drops the cached pages, so the first pass goes
# to the daemon).  Numbers are therefore "what an application sees", not raw
# daemon throughput.
#
# Requirements: root, /dev/fuse, cargo, python3; fio is installed with apt-get
# if it is missing.  Results go to $OUT/results.json and $OUT/results.md, raw
# fio JSON and logs to $OUT/raw/.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/perf/fuse_bench.sh [--help]

Benchmark the datenlord-fuse example filesystem (memfs) against tmpfs:
getattr rate (zero attr/entry timeout), 4 KiB random reads (1 and 4 jobs),
1 MiB sequential write/read (1 and 4 jobs).  Must run as root.  Builds
`cargo build --release -p datenlord-fuse --example memfs` itself, mounts a
tmpfs and memfs on fresh temporary directories, and always unmounts and
removes them on exit.  Page-cache effects are included (--direct=0).

Options:
  -h, --help     show this help and exit

Environment variables:
  RUNTIME    seconds per fio job (time_based) and upper bound for each stat
             loop                                     (default: 10)
  SIZE       file size per fio job, e.g. 64M, 256M, 1G (binary units)
                                                      (default: 256M)
  OUT        output directory for results.json, results.md and raw/
                                 (default: target/perf/fuse_bench-<timestamp>)
  STAT_OPS   maximum stat()/fstat() calls per loop    (default: 200000)
  MEMFS_ARGS extra arguments for memfs on both mounts, e.g.
             "--workers 4" or "--writeback-cache"     (default: none)

Example:
  sudo RUNTIME=3 SIZE=64M scripts/perf/fuse_bench.sh
EOF
}

for arg in "$@"; do
    case "$arg" in
        -h | --help)
            usage
            exit 0
            ;;
        *)
            echo "fuse_bench: unknown argument: $arg (see --help)" >&2
            exit 2
            ;;
    esac
done

log() { printf '[fuse_bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TS=$(date +%Y%m%d-%H%M%S)
RUNTIME=${RUNTIME:-10}
SIZE=${SIZE:-256M}
STAT_OPS=${STAT_OPS:-200000}
MEMFS_ARGS=${MEMFS_ARGS:-}
OUT=${OUT:-$ROOT/target/perf/fuse_bench-$TS}

[[ "$RUNTIME" =~ ^[1-9][0-9]*$ ]] || die "RUNTIME must be a positive integer number of seconds, got '$RUNTIME'"
[[ "$STAT_OPS" =~ ^[1-9][0-9]*$ ]] || die "STAT_OPS must be a positive integer, got '$STAT_OPS'"
[[ $EUID -eq 0 ]] || die "must run as root (mounts tmpfs and FUSE)"
[[ -c /dev/fuse ]] || die "/dev/fuse is missing"
command -v python3 >/dev/null || die "python3 is required"
command -v cargo >/dev/null || die "cargo is required"

# SIZE -> bytes (binary suffixes K/M/G/T, optional "i"/"iB"/"B").
SIZE_BYTES=$(python3 - "$SIZE" <<'EOF'
import re, sys
m = re.fullmatch(r"\s*(\d+)\s*([kKmMgGtT]?)(i?[bB]?)\s*", sys.argv[1])
if not m:
    sys.exit(1)
mult = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[m.group(2).lower()]
n = int(m.group(1)) * mult
if n < (1 << 20):
    sys.exit(1)
print(n)
EOF
) || die "SIZE must be a size of at least 1M such as 64M, 256M or 1G, got '$SIZE'"
# Peak usage is 4 sequential files of SIZE each; keep the brief's 2G minimum.
TMPFS_BYTES=$((4 * SIZE_BYTES + (256 << 20)))
((TMPFS_BYTES > (2 << 30))) || TMPFS_BYTES=$((2 << 30))
# Hard upper bound for any single fio / python invocation (a hung FUSE daemon
# must not hang the benchmark forever).
STEP_TIMEOUT=$((RUNTIME * 3 + 300))

# ---------------------------------------------------------------- state -----
WORK=""
MNT_TMPFS=""
MNT_MEMFS=""
MEMFS_PID=""
MEMFS_CONN=""
MEMFS_LOG=""

# Is DIR a mount point according to /proc/mounts?  (Never stat()s DIR, so it
# cannot hang on an unresponsive FUSE daemon.)
is_mounted() {
    awk -v d="$1" '$2 == d { found = 1 } END { exit !found }' /proc/mounts
}
is_fuse_mounted() {
    awk -v d="$1" '$2 == d && ($3 == "fuse" || $3 ~ /^fuse\./) { found = 1 } END { exit !found }' /proc/mounts
}
# Alive and not a zombie.
proc_alive() {
    local st
    [[ -n "$1" && -r /proc/$1/stat ]] || return 1
    st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [[ -n "$st" && "$st" != Z ]]
}

diagnostics() {
    local status=0
    if [[ -n "$MEMFS_PID" ]] && ! proc_alive "$MEMFS_PID"; then
        wait "$MEMFS_PID" 2>/dev/null || status=$?
        if ((status > 128)); then
            log "memfs (pid $MEMFS_PID) is gone: killed by signal $((status - 128)) (exit status $status)"
        else
            log "memfs (pid $MEMFS_PID) is gone: exit status $status"
        fi
        echo "memfs (pid $MEMFS_PID) exited with status $status" >>"$OUT/failure.txt"
        MEMFS_PID=""
    fi
    {
        echo "---- memfs log tail ($MEMFS_LOG) ----"
        [[ -n "$MEMFS_LOG" && -f "$MEMFS_LOG" ]] && tail -n 40 "$MEMFS_LOG"
        if [[ -n "$MEMFS_PID" && -r /proc/$MEMFS_PID/stat ]]; then
            echo "---- memfs process $MEMFS_PID ----"
            ps -L -o pid,lwp,stat,wchan:32,comm -p "$MEMFS_PID" 2>/dev/null
        fi
        echo "---- fuse mounts ----"
        grep -E ' fuse(\.[^ ]*)? ' /proc/mounts
        echo "---- dmesg tail ----"
        dmesg 2>/dev/null | tail -n 30
    } 2>&1 | tee -a "$OUT/failure.txt" >&2 || true
}

# Abort the memfs FUSE connection through fusectl (mounted temporarily if
# needed), so that a daemon stuck on its own mount can be killed.
abort_fuse_conn() {
    local ctl=/sys/fs/fuse/connections mounted_ctl=0
    [[ -n "$MEMFS_CONN" && -d $ctl ]] || return 0
    if [[ ! -e $ctl/$MEMFS_CONN ]] && ! is_mounted $ctl; then
        mount -t fusectl fusectl $ctl 2>/dev/null && mounted_ctl=1
    fi
    if [[ -w $ctl/$MEMFS_CONN/abort ]]; then
        log "aborting FUSE connection $MEMFS_CONN"
        echo 1 >"$ctl/$MEMFS_CONN/abort" || true
    fi
    ((mounted_ctl == 0)) || umount $ctl 2>/dev/null || true
}

# Stop the current memfs: SIGTERM, wait (bounded), escalate if needed.
# $1 = "strict" -> fail the benchmark if memfs does not exit cleanly.
stop_memfs() {
    local mode=${1:-force} pid=$MEMFS_PID status=0 i
    [[ -n "$pid" ]] || return 0
    if proc_alive "$pid"; then
        log "stopping memfs (pid $pid) with SIGTERM"
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 150; i++)); do
            proc_alive "$pid" || break
            sleep 0.1
        done
        if proc_alive "$pid"; then
            if [[ "$mode" == strict ]]; then
                log "memfs did not exit within 15 s of SIGTERM"
                diagnostics
            fi
            abort_fuse_conn
            kill -KILL "$pid" 2>/dev/null || true
            for ((i = 0; i < 100; i++)); do
                proc_alive "$pid" || break
                sleep 0.1
            done
        fi
    fi
    if ! proc_alive "$pid"; then
        wait "$pid" 2>/dev/null || status=$?
    fi
    MEMFS_PID=""
    if [[ "$mode" == strict ]]; then
        ((status == 0)) || {
            log "memfs exited with status $status after SIGTERM"
            diagnostics
            die "memfs did not shut down cleanly"
        }
        # memfs unmounts by itself on SIGTERM; give it a moment.
        for ((i = 0; i < 50; i++)); do
            is_mounted "$MNT_MEMFS" || break
            sleep 0.1
        done
        if is_mounted "$MNT_MEMFS"; then
            log "WARNING: memfs exited but $MNT_MEMFS is still mounted; lazy-unmounting"
            umount -l "$MNT_MEMFS" || true
        fi
    fi
}

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    stop_memfs force
    for d in "$MNT_MEMFS" "$MNT_TMPFS"; do
        [[ -n "$d" ]] || continue
        if is_mounted "$d"; then
            umount -l "$d" || log "WARNING: umount -l $d failed"
        fi
        rmdir "$d" 2>/dev/null || log "WARNING: could not remove $d"
    done
    [[ -n "$WORK" ]] && { rmdir "$WORK" 2>/dev/null || log "WARNING: could not remove $WORK"; }
    if ((rc != 0)); then
        log "failed (exit status $rc); partial output in $OUT"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- setup -----
mkdir -p "$OUT/raw"
OUT=$(cd "$OUT" && pwd)
RESULTS_TSV="$OUT/raw/results.tsv"
: >"$RESULTS_TSV"

if ! command -v fio >/dev/null; then
    command -v apt-get >/dev/null || die "fio is missing and apt-get is not available"
    log "installing fio"
    export DEBIAN_FRONTEND=noninteractive
    timeout 900 apt-get install -y fio >&2 ||
        { timeout 900 apt-get update >&2 && timeout 900 apt-get install -y fio >&2; } ||
        die "could not install fio"
fi

log "building memfs (cargo build --release -p datenlord-fuse --example memfs)"
MEMFS_BIN=$(
    cd "$ROOT" &&
        cargo build --release -p datenlord-fuse --example memfs --message-format=json-render-diagnostics |
        python3 -c '
import json, sys
exe = ""
for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    t = msg.get("target") or {}
    if msg.get("reason") == "compiler-artifact" and t.get("name") == "memfs" \
            and "example" in t.get("kind", []) and msg.get("executable"):
        exe = msg["executable"]
print(exe)
'
) || die "cargo build of the memfs example failed"
[[ -n "$MEMFS_BIN" && -x "$MEMFS_BIN" ]] || die "could not locate the built memfs binary"
log "memfs binary: $MEMFS_BIN"

WORK=$(mktemp -d /tmp/fuse_bench.XXXXXX)
MNT_TMPFS=$(mktemp -d "$WORK/tmpfs.XXXXXX")
MNT_MEMFS=$(mktemp -d "$WORK/memfs.XXXXXX")

mount -t tmpfs -o "size=$TMPFS_BYTES" tmpfs "$MNT_TMPFS" || die "mounting tmpfs on $MNT_TMPFS failed"
log "tmpfs mounted on $MNT_TMPFS (size=$TMPFS_BYTES)"

# start_memfs NAME ARGS... : start memfs in the background and wait for the mount.
start_memfs() {
    local name=$1 i
    shift
    MEMFS_LOG="$OUT/raw/memfs-$name.log"
    # shellcheck disable=SC2206 # MEMFS_ARGS is deliberately word-split
    local extra=($MEMFS_ARGS)
    local cmd=("$MEMFS_BIN" "$MNT_MEMFS" "$@" "${extra[@]}")
    echo "${cmd[*]}" >"$OUT/raw/memfs-$name.cmd"
    log "starting: ${cmd[*]}"
    "${cmd[@]}" >"$MEMFS_LOG" 2>&1 &
    MEMFS_PID=$!
    for ((i = 0; i < 300; i++)); do
        if is_fuse_mounted "$MNT_MEMFS"; then
            break
        fi
        if ! proc_alive "$MEMFS_PID"; then
            local status=0
            wait "$MEMFS_PID" || status=$?
            MEMFS_PID=""
            diagnostics
            die "memfs exited (status $status) before mounting $MNT_MEMFS"
        fi
        sleep 0.1
    done
    if ! is_fuse_mounted "$MNT_MEMFS"; then
        diagnostics
        die "memfs did not mount $MNT_MEMFS within 30 s (no fuse entry in /proc/mounts)"
    fi
    MEMFS_CONN=$(awk -v d="$MNT_MEMFS" '$5 == d { split($3, a, ":"); print a[1] * 1048576 + a[2]; exit }' /proc/self/mountinfo)
    log "memfs mounted on $MNT_MEMFS (pid $MEMFS_PID, fuse connection ${MEMFS_CONN:-?})"
}

# Fail loudly if memfs died or lost its mount during a workload.
check_memfs() {
    local what=$1
    if ! proc_alive "$MEMFS_PID" || ! is_fuse_mounted "$MNT_MEMFS"; then
        log "memfs died or was unmounted during: $what"
        diagnostics
        die "memfs failure during $what"
    fi
}

# record KEY WORKLOAD UNIT FS VALUE
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS_TSV"; }

# run_step FS WHAT CMD... : run a bounded command; on memfs check health after.
run_step() {
    local fs=$1 what=$2 rc=0
    shift 2
    if [[ -n "${STEP_ERR:-}" ]]; then
        timeout -k 10 "$STEP_TIMEOUT" "$@" 2>"$STEP_ERR" || rc=$?
    else
        timeout -k 10 "$STEP_TIMEOUT" "$@" || rc=$?
    fi
    if ((rc != 0)); then
        [[ -n "${STEP_ERR:-}" && -s "$STEP_ERR" ]] && tail -n 20 "$STEP_ERR" >&2
        if ((rc == 124 || rc == 137)); then
            log "'$what' on $fs timed out after ${STEP_TIMEOUT}s: $*"
        else
            log "'$what' on $fs failed with status $rc: $*"
        fi
        [[ "$fs" == memfs ]] && diagnostics
        die "$what on $fs failed"
    fi
    [[ "$fs" == memfs ]] && check_memfs "$what"
    return 0
}

# fio_job FS DIR NAME FIO-ARGS... -> writes $OUT/raw/NAME-FS.json
fio_job() {
    local fs=$1 dir=$2 name=$3
    shift 3
    local json="$OUT/raw/$name-$fs.json"
    local cmd=(fio --output-format=json "--output=$json" "--name=$name" "--directory=$dir"
        --ioengine=psync --direct=0 --fallocate=none "$@")
    echo "${cmd[*]}" >"$OUT/raw/$name-$fs.cmd"
    log "fio $name on $fs"
    STEP_ERR="$OUT/raw/$name-$fs.stderr" run_step "$fs" "fio $name" "${cmd[@]}"
}

# fio_metric JSON rw iops|mibs
fio_metric() {
    python3 - "$@" <<'EOF'
import json, sys
path, rw, kind = sys.argv[1:4]
with open(path) as f:
    text = f.read()
data = json.loads(text[text.index("{"):])  # skip any non-JSON preamble
job = data["jobs"][0]
if job.get("error"):
    sys.exit(f"fio job in {path} reported error {job['error']}")
side = job[rw]
print(f"{side['iops']:.1f}" if kind == "iops" else f"{side['bw_bytes'] / 1048576:.2f}")
EOF
}

STAT_PY=$(cat <<'EOF'
import json, os, sys, time
path, max_ops, duration = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])

def bench(fn, arg):
    for _ in range(1000):  # warm-up
        fn(arg)
    n = 0
    t0 = time.perf_counter()
    deadline = t0 + duration
    while n < max_ops:
        for _ in range(1000):
            fn(arg)
        n += 1000
        if time.perf_counter() >= deadline:
            break
    el = time.perf_counter() - t0
    return {"ops": n, "seconds": el, "ops_per_sec": n / el}

res = {"stat": bench(os.stat, path)}
fd = os.open(path, os.O_RDONLY)
try:
    res["fstat"] = bench(os.fstat, fd)
finally:
    os.close(fd)
print(json.dumps(res))
EOF
)

stat_bench() {
    local fs=$1 dir=$2 out="$OUT/raw/getattr-$1.json"
    log "stat/fstat loop on $fs (max $STAT_OPS ops or ${RUNTIME}s each)"
    run_step "$fs" "getattr write file" sh -c 'echo hello >"$1"' sh "$dir/statfile"
    run_step "$fs" "getattr loop" python3 -c "$STAT_PY" "$dir/statfile" "$STAT_OPS" "$RUNTIME" >"$out"
    run_step "$fs" "getattr cleanup" rm -f "$dir/statfile"
    local v
    v=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.1f %.1f" % (d["stat"]["ops_per_sec"], d["fstat"]["ops_per_sec"]))' "$out")
    record getattr_stat "stat(path), attr/entry timeout 0" "ops/s" "$fs" "${v% *}"
    record getattr_fstat "fstat(fd), attr timeout 0" "ops/s" "$fs" "${v#* }"
}

# ------------------------------------------------------------ workloads -----
log "RUNTIME=${RUNTIME}s SIZE=$SIZE ($SIZE_BYTES bytes) OUT=$OUT"

# 1. getattr with zero timeouts.
start_memfs getattr --attr-timeout 0 --entry-timeout 0
for fs in tmpfs memfs; do
    [[ $fs == tmpfs ]] && dir=$MNT_TMPFS || dir=$MNT_MEMFS
    stat_bench "$fs" "$dir"
done
stop_memfs strict

# 2 + 3. fio workloads on a fresh memfs with default timeouts.
start_memfs io
COMMON_TIMED=(--time_based "--runtime=$RUNTIME" --group_reporting)
for fs in tmpfs memfs; do
    [[ $fs == tmpfs ]] && dir=$MNT_TMPFS || dir=$MNT_MEMFS

    # 4 KiB random reads on one pre-written file shared by all jobs.
    fio_job "$fs" "$dir" prewrite --rw=write --bs=1M "--size=$SIZE_BYTES" --filename=randread.dat
    for nj in 1 4; do
        fio_job "$fs" "$dir" "randread-4k-${nj}j" --rw=randread --bs=4k "--size=$SIZE_BYTES" \
            --filename=randread.dat "--numjobs=$nj" --invalidate=1 "${COMMON_TIMED[@]}"
        record "randread_4k_${nj}j" "4 KiB randread, $nj job(s)" "IOPS" "$fs" \
            "$(fio_metric "$OUT/raw/randread-4k-${nj}j-$fs.json" read iops)"
    done
    run_step "$fs" "remove randread file" rm -f "$dir/randread.dat"

    # 1 MiB sequential write, then read of the same per-job files.
    for nj in 1 4; do
        fio_job "$fs" "$dir" "seqwrite-1m-${nj}j" --rw=write --bs=1M "--size=$SIZE_BYTES" \
            '--filename_format=seq.$jobnum' "--numjobs=$nj" "${COMMON_TIMED[@]}"
        record "seqwrite_1m_${nj}j" "1 MiB seq write, $nj job(s)" "MiB/s" "$fs" \
            "$(fio_metric "$OUT/raw/seqwrite-1m-${nj}j-$fs.json" write mibs)"
    done
    for nj in 1 4; do
        fio_job "$fs" "$dir" "seqread-1m-${nj}j" --rw=read --bs=1M "--size=$SIZE_BYTES" \
            '--filename_format=seq.$jobnum' "--numjobs=$nj" --invalidate=1 "${COMMON_TIMED[@]}"
        record "seqread_1m_${nj}j" "1 MiB seq read, $nj job(s)" "MiB/s" "$fs" \
            "$(fio_metric "$OUT/raw/seqread-1m-${nj}j-$fs.json" read mibs)"
    done
    run_step "$fs" "remove sequential files" sh -c 'rm -f "$1"/seq.*' sh "$dir"
done
stop_memfs strict

# -------------------------------------------------------------- report ------
BENCH_TS=$TS BENCH_RUNTIME=$RUNTIME BENCH_SIZE=$SIZE BENCH_SIZE_BYTES=$SIZE_BYTES \
    BENCH_STAT_OPS=$STAT_OPS BENCH_MEMFS_ARGS=$MEMFS_ARGS BENCH_KERNEL=$(uname -r) \
    BENCH_CPUS=$(nproc) BENCH_FIO=$(fio --version) \
    BENCH_GIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown) \
    python3 - "$RESULTS_TSV" "$OUT" <<'EOF'
import json, os, sys
tsv, out = sys.argv[1], sys.argv[2]
env = os.environ
rows = {}
for line in open(tsv):
    key, workload, unit, fs, value = line.rstrip("\n").split("\t")
    r = rows.setdefault(key, {"key": key, "workload": workload, "unit": unit})
    r[fs] = float(value)
order = ["getattr_stat", "getattr_fstat", "randread_4k_1j", "randread_4k_4j",
         "seqwrite_1m_1j", "seqwrite_1m_4j", "seqread_1m_1j", "seqread_1m_4j"]
results = []
for k in order + [k for k in rows if k not in order]:
    if k not in rows:
        continue
    r = rows[k]
    t, m = r.get("tmpfs"), r.get("memfs")
    r["ratio"] = (m / t) if (t and m is not None) else None
    results.append(r)

def fmt(v, unit):
    if v is None:
        return "n/a"
    return f"{v:,.1f}" if unit == "MiB/s" else f"{v:,.0f}"

head = ["Workload", "Unit", "tmpfs", "memfs", "memfs/tmpfs"]
table = [[r["workload"], r["unit"], fmt(r.get("tmpfs"), r["unit"]), fmt(r.get("memfs"), r["unit"]),
          "n/a" if r["ratio"] is None else f"{r['ratio']:.3f}"] for r in results]
w = [max(len(x[i]) for x in [head] + table) for i in range(len(head))]

def line(cells):
    return "  ".join(c.ljust(w[i]) if i < 2 else c.rjust(w[i]) for i, c in enumerate(cells)).rstrip()

print(line(head))
print("  ".join("-" * x for x in w))
for row in table:
    print(line(row))

def cmd(name):
    with open(f"{out}/raw/memfs-{name}.cmd") as f:
        return f.read().strip()

meta = {
    "timestamp": env["BENCH_TS"],
    "runtime_s": int(env["BENCH_RUNTIME"]),
    "size": env["BENCH_SIZE"],
    "size_bytes": int(env["BENCH_SIZE_BYTES"]),
    "stat_ops_max": int(env["BENCH_STAT_OPS"]),
    "memfs_args": env["BENCH_MEMFS_ARGS"],
    "memfs_cmd_getattr": cmd("getattr"),
    "memfs_cmd_io": cmd("io"),
    "kernel": env["BENCH_KERNEL"],
    "cpus": int(env["BENCH_CPUS"]),
    "fio": env["BENCH_FIO"],
    "git_rev": env["BENCH_GIT"],
    "page_cache": "included (--direct=0, nothing dropped, reads with --invalidate=1)",
}
with open(f"{out}/results.json", "w") as f:
    json.dump({"meta": meta, "results": results}, f, indent=2)
    f.write("\n")
with open(f"{out}/results.md", "w") as f:
    f.write(f"# FUSE memfs vs tmpfs ({meta['timestamp']})\n\n")
    f.write(f"RUNTIME={meta['runtime_s']}s SIZE={meta['size']}, kernel {meta['kernel']}, "
            f"{meta['cpus']} CPUs, {meta['fio']}, git {meta['git_rev']}; page cache included "
            "(--direct=0, reads with --invalidate=1).\n\n")
    f.write(f"- getattr mount: `{meta['memfs_cmd_getattr']}`\n- I/O mount: `{meta['memfs_cmd_io']}`\n\n")
    f.write("| " + " | ".join(head) + " |\n|" + "|".join(["---"] * 2 + ["---:"] * 3) + "|\n")
    for row in table:
        f.write("| " + " | ".join(row) + " |\n")
EOF
log "results written to $OUT/results.json and $OUT/results.md"
