#!/usr/bin/env python3
"""Metadata operations per second in DIR: create (open O_CREAT + close), stat, rename, unlink
of N files per worker, each worker (a process) in its own directory. Prints JSON."""
import json
import multiprocessing as mp
import os
import sys
import time


def work(args):
    root, worker, count, phase, start = args
    d = os.path.join(root, f"w{worker}")
    while time.time() < start:
        time.sleep(0.001)
    began = time.perf_counter()
    if phase == "create":
        os.makedirs(d, exist_ok=True)
        for i in range(count):
            os.close(os.open(os.path.join(d, f"f{i}"), os.O_CREAT | os.O_WRONLY, 0o644))
    elif phase == "stat":
        for i in range(count):
            os.stat(os.path.join(d, f"f{i}"))
    elif phase == "rename":
        for i in range(count):
            os.rename(os.path.join(d, f"f{i}"), os.path.join(d, f"g{i}"))
    elif phase == "unlink":
        for i in range(count):
            os.unlink(os.path.join(d, f"g{i}"))
    return time.perf_counter() - began


def main():
    root, workers, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    results = {}
    with mp.Pool(workers) as pool:
        for phase in ("create", "stat", "rename", "unlink"):
            start = time.time() + 0.2
            times = pool.map(work, [(root, w, count, phase, start) for w in range(workers)])
            results[phase] = round(workers * count / max(times), 1)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
