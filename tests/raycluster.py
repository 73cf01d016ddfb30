"""A real multi-node Ray cluster on this machine's loopback, for tests; stopped whatever happens."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psutil

BIN = Path(sys.executable).parent
# Ray rewrites 127.0.0.1 to the outward address; other loopback addresses are kept as given.
HEAD_IP, SECOND_IP = "127.0.0.2", "127.0.0.3"


@dataclass(frozen=True)
class Cluster:
    address: str
    env: dict
    head_ip: str
    second_ip: str
    temp_dir: str

    def nodes(self) -> dict[str, str]:
        """Alive nodes as {address: node id}, asked from Ray by a separate driver."""
        probe = subprocess.run(
            [sys.executable, "-c",
             "import ray, json; ray.init(address=%r, _node_ip_address=%r, logging_level='ERROR');"
             "print(json.dumps({n['NodeManagerAddress']: n['NodeID'] for n in ray.nodes() if n['Alive']}))"
             % (self.address, self.head_ip)],
            env=self.env, capture_output=True, text=True, timeout=120, check=True)
        return json.loads(probe.stdout.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kill(temp_dir: str) -> None:
    """Stop only this cluster's processes (never `ray stop`, which would stop every cluster)."""
    for _ in range(20):
        procs = []
        for p in psutil.process_iter(["cmdline"]):
            try:
                if any(temp_dir in part for part in (p.info["cmdline"] or [])):
                    procs.append(p)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        if not procs:
            return
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        psutil.wait_procs(procs, timeout=5)


@contextlib.contextmanager
def two_nodes(second_node_args: tuple[str, ...] = ()):
    """A head and a second node with one CPU each; extra `ray start` arguments for the second."""
    temp_dir = tempfile.mkdtemp(prefix="rayfr-", dir="/tmp")       # short: Ray's socket paths
    port = _free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    common = ["--num-cpus=1", "--disable-usage-stats"]
    try:
        subprocess.run([str(BIN / "ray"), "start", "--head", f"--node-ip-address={HEAD_IP}", f"--port={port}",
                        f"--temp-dir={temp_dir}", "--include-dashboard=false", *common],
                       env=env, check=True, capture_output=True, timeout=120)
        subprocess.run([str(BIN / "ray"), "start", f"--address={HEAD_IP}:{port}", f"--node-ip-address={SECOND_IP}",
                        *second_node_args, *common], env=env, check=True, capture_output=True, timeout=120)
        yield Cluster(f"{HEAD_IP}:{port}", env, HEAD_IP, SECOND_IP, temp_dir)
    finally:
        _kill(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


# Root reads any file whatever its mode; without these two capabilities it obeys modes like any
# user, so a `chmod 000` is a real "Permission denied" for the processes started under them.
DROP_DAC = ("setpriv", "--bounding-set=-dac_override,-dac_read_search",
            "--inh-caps=-dac_override,-dac_read_search", "--")


def permissions_bite() -> str | None:
    """Why a chmod cannot make a file unreadable to processes started here, or None if it can."""
    if os.geteuid() != 0:
        return None
    if not shutil.which("setpriv"):
        return "runs as root and setpriv is not installed: modes cannot be made to bite"
    with tempfile.NamedTemporaryFile() as f:
        os.chmod(f.name, 0)
        probe = subprocess.run([*DROP_DAC, "cat", f.name], capture_output=True)
    return None if probe.returncode != 0 else "setpriv could not drop the capability to read any file"


@contextlib.contextmanager
def head_without_root_powers(cpus: int = 2):
    """A one-node Ray cluster whose workers obey file modes (no DAC capabilities), with ``cpus`` CPUs."""
    temp_dir = tempfile.mkdtemp(prefix="rayfr-", dir="/tmp")
    port = _free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    prefix = DROP_DAC if os.geteuid() == 0 else ()
    try:
        subprocess.run([*prefix, str(BIN / "ray"), "start", "--head", f"--node-ip-address={HEAD_IP}", f"--port={port}",
                        f"--temp-dir={temp_dir}", "--include-dashboard=false", f"--num-cpus={cpus}",
                        "--disable-usage-stats"], env=env, check=True, capture_output=True, timeout=120)
        yield Cluster(f"{HEAD_IP}:{port}", env, HEAD_IP, SECOND_IP, temp_dir)
    finally:
        _kill(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)
