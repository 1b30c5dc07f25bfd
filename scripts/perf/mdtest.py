#!/usr/bin/env python3
"""mdtest-style metadata rates in DIR (issue 8, workload 2). Usage:
    mdtest.py DIR WORKERS FILES {flat|tree}
WORKERS processes each handle FILES files: in one directory shared by all ("flat") or in a
tree of their own, 10 directories of FILES/10 ("tree"). Phases, each timed from a common
start to the slowest worker: create (open O_CREAT + close), stat, open/close, rename, unlink.
Prints JSON: operations per second per phase."""
import json
import multiprocessing as mp
import os
import sys
import time

PHASES = ("create", "stat", "open", "rename", "unlink")


def paths(root, worker, count, shape):
    for i in range(count):
        if shape == "flat":
            yield os.path.join(root, "flat", f"w{worker}-f{i}")
        else:
            yield os.path.join(root, f"tree{worker}", f"d{i % 10}", f"f{i}")


def work(args):
    root, worker, count, shape, phase, start = args
    if phase == "create" and shape == "tree":
        for d in range(10):
            os.makedirs(os.path.join(root, f"tree{worker}", f"d{d}"), exist_ok=True)
    while time.time() < start:
        time.sleep(0.001)
    began = time.perf_counter()
    for path in paths(root, worker, count, shape):
        if phase == "create":
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
        elif phase == "stat":
            os.stat(path)
        elif phase == "open":
            os.close(os.open(path, os.O_RDONLY))
        elif phase == "rename":
            os.rename(path, path + ".r")
        elif phase == "unlink":
            os.unlink(path + ".r")
    return time.perf_counter() - began


def main():
    root, workers, count, shape = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    os.makedirs(os.path.join(root, "flat"), exist_ok=True)
    results = {}
    with mp.Pool(workers) as pool:
        for phase in PHASES:
            start = time.time() + 0.2
            times = pool.map(work, [(root, w, count, shape, phase, start) for w in range(workers)])
            results[phase] = round(workers * count / max(times), 1)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
