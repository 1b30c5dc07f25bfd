#!/usr/bin/env python3
"""Dataset epochs (issue 8, workload 4), the read pattern of AI training: FILES files of 128 KiB
read whole, in a shuffled order (a new seeded shuffle each epoch) split between 4 readers.
    dataset.py write fs DIR FILES            write the files (100 per directory)
    dataset.py write s3 ENDPOINT BUCKET FILES put them as objects (the plain S3 client)
    dataset.py read  fs DIR FILES EPOCH      read them all once
    dataset.py read  s3 ENDPOINT BUCKET FILES EPOCH
Each prints one TSV row: phase, files, MB, seconds, files/s, MB/s. Writing uses the 4
workers too. Every read checks the file's length and its first bytes (they name the file)."""
import concurrent.futures as cf
import os
import random
import sys
import time

SIZE = 128 * 1024
WORKERS = 4


def name(i):
    return f"d{i // 100:03}/sample-{i:06}.bin"


def payload(i):
    head = f"sample-{i:06}".encode()
    return head + random.Random(i).randbytes(SIZE - len(head))


class Files:
    def __init__(self, root):
        self.root = root

    def put(self, i):
        path = os.path.join(self.root, name(i))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(payload(i))

    def get(self, i):
        with open(os.path.join(self.root, name(i)), "rb") as f:
            return f.read()


class Objects:
    def __init__(self, endpoint, bucket):
        import boto3

        self.s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        self.bucket = bucket

    def put(self, i):
        self.s3.put_object(Bucket=self.bucket, Key=f"dataset/{name(i)}", Body=payload(i))

    def get(self, i):
        return self.s3.get_object(Bucket=self.bucket, Key=f"dataset/{name(i)}")["Body"].read()


def read_one(store, i):
    data = store.get(i)
    if len(data) != SIZE or not data.startswith(f"sample-{i:06}".encode()):
        raise SystemExit(f"dataset: {name(i)} came back wrong ({len(data)} bytes)")
    return len(data)


def row(phase, files, took):
    mb = files * SIZE / 1e6
    print(f"{phase}\t{files}\t{mb:.1f}\t{took:.2f}\t{files / took:.0f}\t{mb / took:.1f}", flush=True)


def main():
    args = sys.argv[1:]
    if len(args) < 4 or args[0] not in ("write", "read") or args[1] not in ("fs", "s3"):
        sys.exit(__doc__)
    action, kind = args[0], args[1]
    if kind == "fs":
        store, rest = Files(args[2]), args[3:]
    else:
        store, rest = Objects(args[2], args[3]), args[4:]
    files = int(rest[0])
    began = time.perf_counter()
    # Threads, not processes: each file is one open/read/close, released from the GIL while
    # the kernel works, so 4 threads keep 4 requests in flight like 4 reader processes.
    with cf.ThreadPoolExecutor(WORKERS) as pool:
        if action == "write":
            list(pool.map(store.put, range(files)))
            if kind == "fs":
                os.sync()
            row("write", files, time.perf_counter() - began)
        else:
            epoch = int(rest[1])
            order = list(range(files))
            random.Random(epoch).shuffle(order)
            list(pool.map(lambda i: read_one(store, i), order))
            row(f"epoch-{epoch}", files, time.perf_counter() - began)


if __name__ == "__main__":
    main()
