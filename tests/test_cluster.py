"""A real two-node Ray cluster on this machine: `fieldrec ingest --address` uses both nodes."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from tests.helpers import table

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kill_cluster(temp_dir: str) -> None:
    """Stop only this test's Ray processes (never `ray stop`, which would stop every cluster)."""
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
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(procs, timeout=5)


@pytest.fixture
def two_node_cluster():
    temp_dir = tempfile.mkdtemp(prefix="rayfr-", dir="/tmp")       # short: Ray's socket paths
    port = _free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    # Ray rewrites 127.0.0.1 to the outward address; other loopback addresses are kept.
    head, second = "127.0.0.2", "127.0.0.3"
    common = ["--num-cpus=1", "--disable-usage-stats"]
    try:
        subprocess.run([str(BIN / "ray"), "start", "--head", f"--node-ip-address={head}", f"--port={port}",
                        f"--temp-dir={temp_dir}", "--include-dashboard=false", *common],
                       env=env, check=True, capture_output=True, timeout=120)
        subprocess.run([str(BIN / "ray"), "start", f"--address={head}:{port}", f"--node-ip-address={second}",
                        *common], env=env, check=True, capture_output=True, timeout=120)
        yield f"{head}:{port}", env, temp_dir
    finally:
        _kill_cluster(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_ingest_runs_on_both_nodes_of_a_cluster(tmp_path, two_node_cluster):
    from pipeline.native import synth

    address, env, temp_dir = two_node_cluster
    drop = tmp_path / "drop"
    for i in range(12):
        synth.write_clip(drop / f"BWC{i:04d}_OF1_20260301100000_0001.MP4",
                         synth.ClipSpec(duration_s=1.0, start_pts_s=i * 0.001, width=64, height=48))
    # Ask Ray where its nodes bound: the cluster must live on the loopback address only.
    probe = subprocess.run(
        [sys.executable, "-c",
         "import ray, json; ray.init(address=%r, _node_ip_address=%r, logging_level='ERROR');"
         "print(json.dumps([(n['NodeManagerAddress'], n['Alive']) for n in ray.nodes()]))"
         % (address, address.split(":")[0])],
        env=env, capture_output=True, text=True, timeout=120, check=True)
    nodes = json.loads(probe.stdout.strip().splitlines()[-1])
    assert len([n for n in nodes if n[1]]) == 2
    assert all(ipaddress.ip_address(addr).is_loopback for addr, _ in nodes), nodes

    archive = tmp_path / "archive"
    done = subprocess.run([str(BIN / "fieldrec"), "ingest", str(drop), "--archive", str(archive),
                           "--address", address, "--json"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["cluster_nodes"] == 2
    assert summary["files_by_status"] == {"ok": 12}
    nodes_used = {r["processed_on"] for r in table(archive, "recordings")}
    assert len(nodes_used) == 2, f"all files ran on {nodes_used}"
