#!/usr/bin/env python3
"""Reads FILE and prints JSON {"mb_s": ..., "iops": ...}:
  seq  FILE          the whole file in 1 MiB reads
  rand FILE SECONDS  4 KiB reads at random 4 KiB-aligned offsets (seeded; no read-ahead asked)
"""
import json
import os
import random
import sys
import time


def main():
    mode, path = sys.argv[1], sys.argv[2]
    fd = os.open(path, os.O_RDONLY)
    size = os.fstat(fd).st_size
    reads = done = 0
    began = time.perf_counter()
    if mode == "seq":
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            done += len(chunk)
            reads += 1
    else:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        seconds = float(sys.argv[3])
        rng = random.Random(42)
        pages = size // 4096
        while time.perf_counter() - began < seconds:
            done += len(os.pread(fd, 4096, rng.randrange(pages) * 4096))
            reads += 1
    took = time.perf_counter() - began
    os.close(fd)
    print(json.dumps({"mb_s": round(done / took / 1e6, 1), "iops": round(reads / took)}))


if __name__ == "__main__":
    main()
