#!/usr/bin/env python3
"""What each POSIX operation costs the metadata server (numbers, not pass/fail): every
operation N times on fresh names in a mounted DatenLord volume, and the mount's counters
(`datenlord bench`'s stats ioctl) read before and after — metadata operations, server reads,
commits, comparisons, retries and keys read from the mount's metadata cache per call. On an embedded (SQLite) volume the server columns
are 0; mount the volume on etcd to count round trips.

Usage: scripts/perf/meta_requests.py MOUNTPOINT [--calls 200] [--json]
       scripts/perf/meta_requests.py MOUNTPOINT --counters   (the counters now, as JSON)
"""

import argparse
import fcntl
import json
import os
import struct
import sys

STATS_CMD = 0xC1004402
STATS_SIZE = 256
STATS_VERSION = 3


def stats(fd):
    request = bytearray(STATS_SIZE)
    request[:8] = b"DLS1" + struct.pack("<HH", STATS_VERSION, 0)
    answer = fcntl.ioctl(fd, STATS_CMD, bytes(request))
    if answer[:4] != b"DLS1" or struct.unpack_from("<H", answer, 4)[0] != STATS_VERSION:
        sys.exit("the mount does not answer stats of version 3 (an older datenlord?)")
    fields = struct.unpack_from("<21Q", answer, 8)
    return {"ops": fields[0], "retries": fields[16], "reads": fields[17],
            "commits": fields[18], "compares": fields[19], "cached": fields[20]}


def phases(root, n):
    """(name, prepare, operation) — prepare runs uncounted, operation(i) is counted."""
    d = os.path.join(root, "ops")
    p = lambda *parts: os.path.join(d, *parts)  # noqa: E731

    def make_files(prefix, count=n):
        for i in range(count):
            os.close(os.open(p(f"{prefix}{i}"), os.O_CREAT | os.O_WRONLY, 0o644))

    return [
        ("mkdir", lambda: os.makedirs(d, exist_ok=True), lambda i: os.mkdir(p(f"dir{i}"))),
        ("create+close", None,
         lambda i: os.close(os.open(p(f"f{i}"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))),
        ("stat (new name)", lambda: make_files("s"), lambda i: os.stat(p(f"s{i}"))),
        ("lookup missing", None, lambda i: os.path.exists(p(f"missing{i}"))),
        ("open+close", None, lambda i: os.close(os.open(p(f"f{i}"), os.O_RDONLY))),
        ("write 4K+close", None, lambda i: write_file(p(f"f{i}"))),
        ("read 4K", None, lambda i: read_file(p(f"f{i}"))),
        ("chmod", None, lambda i: os.chmod(p(f"f{i}"), 0o600)),
        ("utimens", None, lambda i: os.utime(p(f"f{i}"), (1, 2))),
        ("setxattr", None, lambda i: os.setxattr(p(f"f{i}"), "user.k", b"v")),
        ("getxattr", None, lambda i: os.getxattr(p(f"f{i}"), "user.k")),
        ("symlink", None, lambda i: os.symlink("target", p(f"l{i}"))),
        ("readlink", None, lambda i: os.readlink(p(f"l{i}"))),
        ("link", None, lambda i: os.link(p(f"f{i}"), p(f"h{i}"))),
        ("readdir (100)", lambda: os.makedirs(p("list"), exist_ok=True) or
         [open(p("list", f"e{k}"), "w").close() for k in range(100)],
         lambda i: os.listdir(p("list"))),
        ("rename", None, lambda i: os.rename(p(f"f{i}"), p(f"g{i}"))),
        ("unlink", None, lambda i: os.unlink(p(f"g{i}"))),
        ("rmdir", None, lambda i: os.rmdir(p(f"dir{i}"))),
    ]


def write_file(path):
    fd = os.open(path, os.O_WRONLY)
    os.write(fd, b"x" * 4096)
    os.close(fd)


def read_file(path):
    with open(path, "rb") as f:
        f.read()


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mountpoint")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--counters", action="store_true",
                        help="print the mount's counters now, as JSON, and run nothing")
    opts = parser.parse_args()
    fd = os.open(opts.mountpoint, os.O_RDONLY | os.O_DIRECTORY)
    if opts.counters:
        try:
            print(json.dumps(stats(fd)))
        finally:
            os.close(fd)
        return
    rows = {}
    try:
        for name, prepare, operation in phases(opts.mountpoint, opts.calls):
            if prepare:
                prepare()
            before = stats(fd)
            for i in range(opts.calls):
                operation(i)
            after = stats(fd)
            rows[name] = {k: round((after[k] - before[k]) / opts.calls, 2) for k in before}
    finally:
        os.close(fd)
    if opts.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"{'per call':<18} {'meta ops':>9} {'reads':>7} {'commits':>8} {'compares':>9} "
          f"{'retries':>8} {'cached':>7}")
    for name, r in rows.items():
        print(f"{name:<18} {r['ops']:>9} {r['reads']:>7} {r['commits']:>8} {r['compares']:>9} "
              f"{r['retries']:>8} {r['cached']:>7}")


if __name__ == "__main__":
    main()
