"""On a real two-node cluster, proxies go only to the node that offers the `transcode` resource."""

from __future__ import annotations

import json
import subprocess

import pytest

from pipeline.sample.encode import write_clip
from tests.helpers import table
from tests.raycluster import BIN, two_nodes
from tests.test_transcode import Clip

pytestmark = pytest.mark.slow


def test_proxies_run_only_where_the_transcode_resource_is(tmp_path):
    drop = tmp_path / "drop"
    for i in range(6):
        clip = Clip(width=160, height=120, duration_s=1.0 + i / 10)
        write_clip(drop / f"BWC{i:04d}_OF1_20260301100000.MP4", clip.spec)
    config = tmp_path / "cluster.toml"
    config.write_text("[ingest]\nfsync = false\n[transcode]\ncpus_per_task = 1.0\nresources = { transcode = 1 }\n")
    archive = tmp_path / "archive"
    with two_nodes(('--resources={"transcode": 1}',)) as cluster:
        node_of = cluster.nodes()
        done = subprocess.run([str(BIN / "fieldrec"), "ingest", str(drop), "--archive", str(archive), "--proxies",
                               "--address", cluster.address, "--config", str(config), "--json"],
                              env=cluster.env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["proxies_by_status"] == {"ok": 6}
    proxies_ran_on = {r["processed_on"] for r in table(archive, "derivatives")}
    assert proxies_ran_on == {node_of[cluster.second_ip]}
