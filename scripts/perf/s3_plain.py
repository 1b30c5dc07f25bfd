#!/usr/bin/env python3
"""Plain S3 PUT then GET of SIZE bytes as BLOCK-sized objects with THREADS requests at once:
the ceiling a filesystem over the same S3 server is compared with. Prints JSON (MB/s), or with
--tsv as a last argument the rows of fio.sh's table it stands for."""
import concurrent.futures as cf
import json
import os
import sys
import time

import boto3


def main():
    endpoint, bucket, size, block, threads = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    payload = os.urandom(block)
    count = size // block
    with cf.ThreadPoolExecutor(threads) as pool:
        began = time.perf_counter()
        list(pool.map(lambda i: s3.put_object(Bucket=bucket, Key=f"plain/{i}", Body=payload), range(count)))
        put = time.perf_counter() - began
        began = time.perf_counter()
        list(pool.map(lambda i: s3.get_object(Bucket=bucket, Key=f"plain/{i}")["Body"].read(), range(count)))
        get = time.perf_counter() - began
    mb = size / 1e6
    if sys.argv[6:] == ["--tsv"]:
        # The rows of fio.sh's table this measures: sequential write and read, THREADS jobs.
        print("workload\tbs\tjobs\tiops\tMB/s\tmean_us\tp99_us")
        bs = f"{block >> 20}m" if block % (1 << 20) == 0 else f"{block >> 10}k"
        for name, took in (("seqwrite", put), ("seqread", get)):
            print(f"{name}\t{bs}\t{threads}\t{count / took:.0f}\t{mb / took:.1f}\t\t")
    else:
        print(json.dumps({"put": round(mb / put, 1), "get": round(mb / get, 1)}))


if __name__ == "__main__":
    main()
