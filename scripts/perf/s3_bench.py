"""S3 workloads against one endpoint, as TSV rows (workload, metric, value, unit).

    s3_bench.py URL ACCESS_KEY SECRET_KEY BUCKET [--small N] [--big-mib M] [--clients C]

- put-small / get-small: N objects of 4 KiB written, then read, by C clients at once
  (ops/s, mean and p99 latency);
- list-flat: every key of one prefix of N keys, in pages of 1 000;
- list-delimiter: the same keys spread over 100 prefixes, listed with delimiter '/' at the top
  and then inside each prefix;
- put-big / get-big: one object of M MiB by multipart (64 MiB parts, 8 at once), MB/s;
- delete-small: the N objects in DeleteObjects batches of 1 000.
"""

import argparse
import concurrent.futures
import io
import os
import statistics
import sys
import time

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError


def client(args):
    return boto3.client(
        "s3",
        endpoint_url=args.url,
        aws_access_key_id=args.key,
        aws_secret_access_key=args.secret,
        region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 3},
            max_pool_connections=args.clients,
        ),
    )


def row(workload, metric, value, unit):
    print(f"{workload}\t{metric}\t{value:.2f}\t{unit}", flush=True)


def timed_calls(args, call, items):
    """Runs call(item) for every item on `clients` threads; returns (seconds, latencies)."""
    latencies = []

    def one(item):
        started = time.perf_counter()
        call(item)
        return time.perf_counter() - started

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
        latencies = list(pool.map(one, items))
    return time.perf_counter() - started, latencies


def report_calls(workload, seconds, latencies):
    latencies.sort()
    row(workload, "ops", len(latencies) / seconds, "ops/s")
    row(workload, "mean", statistics.fmean(latencies) * 1000, "ms")
    row(workload, "p99", latencies[int(len(latencies) * 0.99) - 1] * 1000, "ms")


class Pattern(io.RawIOBase):
    """`size` bytes of a repeating random pattern, read like a file (no disk involved)."""

    def __init__(self, size):
        self.left = size
        self.block = os.urandom(1 << 20)

    def readable(self):
        return True

    def readinto(self, buffer):
        n = min(len(buffer), self.left)
        done = 0
        while done < n:
            take = min(n - done, len(self.block))
            buffer[done : done + take] = self.block[:take]
            done += take
        self.left -= n
        return n


class Sink(io.RawIOBase):
    def __init__(self):
        self.size = 0

    def writable(self):
        return True

    def write(self, data):
        self.size += len(data)
        return len(data)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("key")
    parser.add_argument("secret")
    parser.add_argument("bucket")
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--big-mib", type=int, default=4096)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    s3 = client(args)
    bucket = args.bucket
    body = os.urandom(4096)

    keys = [f"flat/obj-{i:06d}" for i in range(args.small)]
    seconds, lat = timed_calls(args, lambda k: s3.put_object(Bucket=bucket, Key=k, Body=body), keys)
    report_calls("put-small", seconds, lat)
    seconds, lat = timed_calls(args, lambda k: s3.get_object(Bucket=bucket, Key=k)["Body"].read(), keys)
    report_calls("get-small", seconds, lat)

    started = time.perf_counter()
    listed = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="flat/"):
        listed += len(page.get("Contents", []))
    seconds = time.perf_counter() - started
    if listed != args.small:
        sys.exit(f"list-flat: listed {listed} keys, wrote {args.small}")
    row("list-flat", "keys", listed / seconds, "keys/s")
    row("list-flat", "time", seconds * 1000, "ms")

    tree = [f"tree/p{i % 100:03d}/obj-{i:06d}" for i in range(args.small)]
    timed_calls(args, lambda k: s3.put_object(Bucket=bucket, Key=k, Body=b"x"), tree)
    started = time.perf_counter()
    top = s3.list_objects_v2(Bucket=bucket, Prefix="tree/", Delimiter="/")
    prefixes = [p["Prefix"] for p in top.get("CommonPrefixes", [])]
    listed = 0
    for prefix in prefixes:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
            listed += len(page.get("Contents", []))
    seconds = time.perf_counter() - started
    if listed != args.small:
        sys.exit(f"list-delimiter: listed {listed} keys, wrote {args.small}")
    row("list-delimiter", "keys", listed / seconds, "keys/s")
    row("list-delimiter", "time", seconds * 1000, "ms")

    size = args.big_mib << 20
    transfer = TransferConfig(multipart_threshold=64 << 20, multipart_chunksize=64 << 20, max_concurrency=8)
    started = time.perf_counter()
    s3.upload_fileobj(Pattern(size), bucket, "big/object", Config=transfer)
    row("put-big", "throughput", size / (time.perf_counter() - started) / 1e6, "MB/s")
    sink = Sink()
    started = time.perf_counter()
    s3.download_fileobj(bucket, "big/object", sink, Config=transfer)
    if sink.size != size:
        sys.exit(f"get-big: read {sink.size} bytes, wrote {size}")
    row("get-big", "throughput", size / (time.perf_counter() - started) / 1e6, "MB/s")
    s3.delete_object(Bucket=bucket, Key="big/object")

    started = time.perf_counter()
    try:
        for i in range(0, len(keys), 1000):
            batch = {"Objects": [{"Key": k} for k in keys[i : i + 1000]], "Quiet": True}
            s3.delete_objects(Bucket=bucket, Delete=batch)
    except ClientError as err:
        # JuiceFS's gateway wants Content-MD5, which current SDKs no longer send.
        sys.exit(f"delete-small: DeleteObjects refused: {err}")
    seconds = time.perf_counter() - started
    row("delete-small", "ops", len(keys) / seconds, "ops/s")


if __name__ == "__main__":
    main()
