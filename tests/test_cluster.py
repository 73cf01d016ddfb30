"""A real two-node Ray cluster on this machine: `fieldrec ingest --address` uses both nodes."""

from __future__ import annotations

import ipaddress
import json
import subprocess

import pytest

from tests.helpers import table
from tests.raycluster import BIN, two_nodes

pytestmark = pytest.mark.slow


def test_ingest_runs_on_both_nodes_of_a_cluster(tmp_path):
    from pipeline.sample.clips import ClipSpec
    from pipeline.sample.encode import write_clip

    drop = tmp_path / "drop"
    # Every node registered when the run starts gets tasks from the first one on (the driver pins
    # each task to the least-loaded node), however fast one node could drain the queue alone.
    for i in range(12):
        write_clip(drop / f"BWC{i:04d}_OF1_20260301100000_0001.MP4",
                         ClipSpec(duration_s=2.0, start_pts_s=i * 0.001, width=320, height=240, gop_s=0.5))
    with two_nodes() as cluster:            # both registered, each with a live worker
        # Ask Ray where its nodes bound: the cluster must live on the loopback address only.
        nodes = cluster.nodes()
        assert len(nodes) == 2
        assert all(ipaddress.ip_address(addr).is_loopback for addr in nodes), nodes

        archive = tmp_path / "archive"
        done = subprocess.run([str(BIN / "fieldrec"), "ingest", str(drop), "--archive", str(archive),
                               "--address", cluster.address, "--json"],
                              env=cluster.env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["cluster_nodes"] == 2
    assert summary["files_by_status"] == {"ok": 12}
    nodes_used = {r["processed_on"] for r in table(archive, "recordings")}
    assert nodes_used == set(nodes.values()), f"files ran on {nodes_used} of {nodes}"
