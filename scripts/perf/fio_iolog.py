#!/usr/bin/env python3
"""The reads of a cold random-read job for fio.sh, as fio iologs (version 2) to replay:
    fio_iolog.py WORK LOGS NAME JOBS BYTES BS STRIDE
For each job J, its file WORK/NAME.J.0 (as fio names the files it lays out) of BYTES bytes
is cut into pieces of STRIDE bytes, and the log reads BS bytes at a random BS-aligned offset
of each piece, the pieces in a random order: no read can be served by a block that an
earlier read of the run brought into a cache, whatever the cache fetches along (STRIDE is the
block size of the filesystems measured). Writes LOGS/NAME.J.iolog; prints fio's options for
the jobs, one a line."""
import os
import random
import sys


def main():
    if len(sys.argv) != 8:
        sys.exit(__doc__)
    work, logs, name = sys.argv[1:4]
    jobs, size, bs, stride = map(int, sys.argv[4:8])
    for j in range(jobs):
        path = os.path.join(work, f"{name}.{j}.0")
        pieces = list(range(max(1, size // stride)))
        random.shuffle(pieces)
        log = os.path.join(logs, f"{name}.{j}.iolog")
        with open(log, "w") as f:
            f.write(f"fio version 2 iolog\n{path} add\n{path} open\n")
            for p in pieces:
                span = min(stride, size - p * stride)
                f.write(f"{path} read {p * stride + random.randrange(max(1, span // bs)) * bs} {bs}\n")
            f.write(f"{path} close\n")
        print(f"--name={name}.{j}\n--read_iolog={log}\n--replay_no_stall=1")


if __name__ == "__main__":
    main()
