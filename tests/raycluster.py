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
from dataclasses import dataclass, field
from pathlib import Path

import psutil

BIN = Path(sys.executable).parent
# Ray rewrites 127.0.0.1 to the outward address; other loopback addresses are kept as given.
HEAD_IP, SECOND_IP = "127.0.0.2", "127.0.0.3"


# A separate driver waits until ``want`` nodes are registered, then runs one task pinned to each
# node (so each has started a worker and run it), and prints the nodes as {address: node id}.
_READY = """
import json, sys, time
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

address, own_ip, want = sys.argv[1], sys.argv[2], int(sys.argv[3])
ray.init(address=address, _node_ip_address=own_ip, logging_level="ERROR")
end = time.monotonic() + 120
while True:
    alive = {n["NodeManagerAddress"]: n["NodeID"] for n in ray.nodes() if n["Alive"]}
    if len(alive) >= want or time.monotonic() > end:
        break
    time.sleep(0.05)

@ray.remote(num_cpus=0)
def where():
    return ray.get_runtime_context().get_node_id()

pinned = [where.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n, soft=False)).remote()
          for n in alive.values()]
assert sorted(ray.get(pinned, timeout=120)) == sorted(alive.values())
print(json.dumps(alive))
"""


@dataclass(frozen=True)
class Cluster:
    address: str
    env: dict
    head_ip: str
    second_ip: str
    temp_dir: str
    found: dict = field(default_factory=dict, compare=False)     # {address: node id}, once ready

    def ready(self, want: int) -> dict[str, str]:
        """Wait until ``want`` nodes are registered and each has run a task (a live worker);
        the alive nodes as {address: node id}. Polls Ray, never sleeps a fixed time."""
        probe = subprocess.run([sys.executable, "-c", _READY, self.address, self.head_ip, str(want)],
                               env=self.env, capture_output=True, text=True, timeout=300)
        assert probe.returncode == 0, probe.stderr[-3000:]
        nodes = json.loads(probe.stdout.strip().splitlines()[-1])
        assert len(nodes) >= want, f"only {len(nodes)} of {want} Ray nodes registered: {nodes}"
        self.found.clear()
        self.found.update(nodes)
        return nodes

    def nodes(self) -> dict[str, str]:
        """Alive nodes as {address: node id}, once every node started here is ready."""
        return dict(self.found) or self.ready(2 if self.second_ip else 1)


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
        cluster = Cluster(f"{HEAD_IP}:{port}", env, HEAD_IP, SECOND_IP, temp_dir)
        cluster.ready(2)
        yield cluster
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
        yield Cluster(f"{HEAD_IP}:{port}", env, HEAD_IP, "", temp_dir)
    finally:
        _kill(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)
