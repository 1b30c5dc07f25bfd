#!/usr/bin/env python3
"""The scheduler extender's latency at 100 and 5 000 candidate nodes (numbers, not
pass/fail): `datenlord scheduler-extender` over a fresh volume with CSI volumes whose claims
a pod mounts, asked as kube-scheduler asks — POST /filter with whole nodes (about 2 KB of
JSON each, as a real NodeList carries), POST /prioritize with whole nodes and with names only
(nodeCacheCapable) — each call timed from the first byte sent to the last byte read.

Usage: scripts/perf/extender.py [--nodes 100,5000] [--calls 200] [--bin PATH]
       (default binary: a release build made here)
"""

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from perf_common import datenlord_binary, free_port



def node(i):
    labels = {f"topology.kubernetes.io/zone": f"z{i % 3}", "kubernetes.io/hostname": f"node-{i}",
              "datenlord.io/node": "true", "node.kubernetes.io/instance-type": "m5.2xlarge"}
    return {
        "metadata": {"name": f"node-{i}", "uid": f"{i:08x}-0000-0000-0000-000000000000",
                     "labels": labels, "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
        "spec": {"podCIDR": f"10.{i // 250}.{i % 250}.0/24", "providerID": f"aws:///z/i-{i:012x}"},
        "status": {
            "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"},
            "allocatable": {"cpu": "7900m", "memory": "31Gi", "pods": "110"},
            "conditions": [{"type": t, "status": "False", "reason": "KubeletHasNo" + t,
                            "lastHeartbeatTime": "2026-12-01T00:00:00Z"}
                           for t in ("MemoryPressure", "DiskPressure", "PIDPressure")],
            "addresses": [{"type": "InternalIP", "address": f"10.0.{i // 250}.{i % 250}"},
                          {"type": "Hostname", "address": f"node-{i}"}],
            "nodeInfo": {"kubeletVersion": "v1.31.0", "osImage": "Debian GNU/Linux 12",
                         "containerRuntimeVersion": "containerd://1.7.0"},
        },
    }


def args_json(n, whole):
    pod = {"metadata": {"name": "trainer", "namespace": "ns", "labels": {"datenlord.io/job": "a"}},
           "spec": {"volumes": [{"name": f"v{k}", "persistentVolumeClaim": {"claimName": f"claim-{k}"}}
                                for k in range(4)]}}
    if whole:
        return json.dumps({"Pod": pod, "Nodes": {"kind": "NodeList", "apiVersion": "v1",
                                                 "items": [node(i) for i in range(n)]}})
    return json.dumps({"Pod": pod, "NodeNames": [f"node-{i}" for i in range(n)]})


def time_calls(port, path, body, calls):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    took = []
    for _ in range(calls):
        start = time.perf_counter()
        conn.request("POST", path, body, {"Content-Type": "application/json"})
        answer = conn.getresponse()
        answer.read()
        took.append((time.perf_counter() - start) * 1000)
        if answer.status != 200:
            sys.exit(f"{path}: HTTP {answer.status}")
    conn.close()
    took.sort()
    return statistics.median(took), took[int(len(took) * 0.99) - 1]


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", default="100,5000")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--bin", default=os.environ.get("DATENLORD_BIN"))
    opts = parser.parse_args()
    binary = datenlord_binary(opts.bin)
    with tempfile.TemporaryDirectory(prefix="dl-extender-") as home:
        env = dict(os.environ, DATENLORD_HOME=home)
        env.pop("DATENLORD_META", None)
        subprocess.run([binary, "format", "bench"], env=env, check=True, stdout=subprocess.DEVNULL)
        port = free_port()
        server = subprocess.Popen([binary, "scheduler-extender", "--listen", f"127.0.0.1:{port}",
                                   "--node-selector", "datenlord.io/node=true",
                                   "--label-prefix", "datenlord.io/"],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.time() > deadline or server.poll() is not None:
                        sys.exit("the extender did not start")
                    time.sleep(0.05)
            print(f"{'nodes':>6} {'call':<24} {'request':>9} {'p50 ms':>8} {'p99 ms':>8}")
            for n in [int(x) for x in opts.nodes.split(",")]:
                for path, whole in (("/filter", True), ("/prioritize", True), ("/prioritize", False)):
                    body = args_json(n, whole)
                    calls = max(10, opts.calls if n <= 1000 else opts.calls // 4)
                    p50, p99 = time_calls(port, path, body, calls)
                    shape = "whole nodes" if whole else "node names"
                    print(f"{n:>6} {path + ' (' + shape + ')':<24} {len(body) / 1e6:>7.2f}MB "
                          f"{p50:>8.2f} {p99:>8.2f}")
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
