"""What the Python benchmarks share: the binary to measure and free local ports."""

import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def datenlord_binary(given):
    """`given` (a path), else a release build made here."""
    if given:
        return given
    subprocess.run(["cargo", "build", "--release", "--locked", "-p", "datenlord",
                    "--manifest-path", str(ROOT / "Cargo.toml")], check=True)
    return str(ROOT / "target" / "release" / "datenlord")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
