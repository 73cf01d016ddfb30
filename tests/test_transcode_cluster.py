"""On a real two-node cluster, proxies go only to the node that offers the `transcode` resource."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from tests.helpers import table
from tests.test_cluster import BIN, _free_port, _kill_cluster
from tests.test_transcode import Clip, write_clip

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster_with_a_transcode_node():
    temp_dir = tempfile.mkdtemp(prefix="rayfr-", dir="/tmp")       # short: Ray's socket paths
    port = _free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    head, second = "127.0.0.2", "127.0.0.3"
    common = ["--num-cpus=1", "--disable-usage-stats"]
    try:
        subprocess.run([str(BIN / "ray"), "start", "--head", f"--node-ip-address={head}", f"--port={port}",
                        f"--temp-dir={temp_dir}", "--include-dashboard=false", *common],
                       env=env, check=True, capture_output=True, timeout=120)
        subprocess.run([str(BIN / "ray"), "start", f"--address={head}:{port}", f"--node-ip-address={second}",
                        '--resources={"transcode": 1}', *common], env=env, check=True, capture_output=True, timeout=120)
        yield f"{head}:{port}", env, second
    finally:
        _kill_cluster(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_proxies_run_only_where_the_transcode_resource_is(tmp_path, cluster_with_a_transcode_node):
    address, env, transcode_ip = cluster_with_a_transcode_node
    drop = tmp_path / "drop"
    for i in range(6):
        write_clip(drop / f"BWC{i:04d}_OF1_20260301100000.MP4", Clip(width=160, height=120, duration_s=1.0 + i / 10))
    config = tmp_path / "cluster.toml"
    config.write_text("[ingest]\nfsync = false\n[transcode]\ncpus_per_task = 1.0\nresources = { transcode = 1 }\n")
    probe = subprocess.run(
        [sys.executable, "-c",
         "import ray, json; ray.init(address=%r, _node_ip_address=%r, logging_level='ERROR');"
         "print(json.dumps({n['NodeManagerAddress']: n['NodeID'] for n in ray.nodes() if n['Alive']}))"
         % (address, address.split(":")[0])],
        env=env, capture_output=True, text=True, timeout=120, check=True)
    node_of = json.loads(probe.stdout.strip().splitlines()[-1])

    archive = tmp_path / "archive"
    done = subprocess.run([str(BIN / "fieldrec"), "ingest", str(drop), "--archive", str(archive), "--proxies",
                           "--address", address, "--config", str(config), "--json"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["proxies_by_status"] == {"ok": 6}
    proxies_ran_on = {r["processed_on"] for r in table(archive, "derivatives")}
    assert proxies_ran_on == {node_of[transcode_ip]}
