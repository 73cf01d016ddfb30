"""The seal's index: a seal reads the newest manifest only; a stale, deleted or forged index is rebuilt."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.archive import chain, sealindex
from pipeline.archive.writer import writing_run
from tests.helpers import cli
from tests.test_compaction import fast_config, sealed_commits

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def archive(tmp_path) -> Path:
    archive = tmp_path / "archive"
    sealed_commits(archive, fast_config(), 6)
    return archive


def _full(archive: Path) -> dict:
    rebuilt = sealindex.SealIndex()
    for m in chain.read_manifests(archive):
        rebuilt.fold(m)
    return rebuilt.catalog


def test_a_writing_command_never_opens_an_older_manifest(archive):
    """Older manifests replaced by FIFOs: opening one would block; the seal finishes all the same."""
    older = sorted((archive / "manifests").glob("*.json"))[1:-1]
    saved = {m: m.read_bytes() for m in older}
    for m in older:
        m.unlink()
        os.mkfifo(m)
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "device", "handover", "CAM1", "--to", "O1",
                           "--at", "2026-03-01", "--by", "Desk", "--archive", str(archive)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for m, data in saved.items():
        m.unlink()
        m.write_bytes(data)
        m.chmod(0o444)
    newest = chain.read_manifests(archive)[-1]
    assert newest.seq == 7 and "handover" in newest.doc["command"]
    code, out, _ = _verify(archive)
    assert code == 0, out


def _verify(archive: Path):
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "verify", "--archive", str(archive)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout + done.stderr, done.stderr


@pytest.mark.parametrize("damage", ["deleted", "garbage", "other-chain", "behind"])
def test_an_index_that_does_not_match_the_chain_is_rebuilt(archive, damage):
    path = archive / "manifests" / sealindex.INDEX
    if damage == "deleted":
        path.unlink()
    elif damage == "garbage":
        path.write_text("{not json")
    elif damage == "other-chain":
        doc = json.loads(path.read_text())
        doc["chain"] = "f" * 64
        doc["catalog"] = {}                          # would make the next seal list nothing it should
        path.write_text(json.dumps(doc))
    else:                                            # a crash between a manifest and the index: one behind
        newest = sorted((archive / "manifests").glob("*.json"))[-1]
        data = newest.read_bytes()
        newest.unlink()
        with writing_run(archive, fast_config(), "one more") as run:
            run.catalog.commit({"handovers": [{"device_id": "CAM9", "officer_id": "O9"}]}, tag=run.run_id)
        # put the newest manifest back under its name and drop the one just written: the index is behind
        written = sorted((archive / "manifests").glob("*.json"))[-1]
        written.unlink()
        newest.write_bytes(data)
        stale = sealindex.load(archive)
        assert stale.name == newest.name
    index = sealindex.load(archive)
    assert index.catalog == _full(archive)
    assert index.seq == chain.read_manifests(archive)[-1].seq
    assert index.chain == chain.read_manifests(archive)[-1].stored_chain


def test_each_manifest_carries_the_sealed_settings_and_a_changed_file_is_refused(archive, capsys, tmp_path):
    code, _, err = cli(capsys, "config", "set", "retention.routine_months", "6", "--archive", archive,
                       "--by", "Desk", "--reason", "longer")
    assert code == 0, err
    set_by = chain.read_manifests(archive)[-1]
    assert cli(capsys, "device", "handover", "CAM1", "--to", "O1", "--at", "2026-03-01", "--archive", archive)[0] == 0
    newest = chain.read_manifests(archive)[-1]
    assert newest.doc["settings_sealed"] == {"sha256": set_by.doc["settings"][0]["sha256"], "manifest": set_by.name}
    settings = archive / "fieldrec.toml"
    settings.chmod(0o644)
    settings.write_text(settings.read_text().replace("routine_months = 6", "routine_months = 3"))
    code, _, err = cli(capsys, "device", "handover", "CAM1", "--to", "O2", "--at", "2026-03-02", "--archive", archive)
    assert code == 1 and f"last sealed in {set_by.name}" in err


def test_the_index_lists_the_manifests_manifest_paths_lists(tmp_path):
    """``manifests.manifest_names`` (what the index folds): the manifests' names in sequence order,
    no hidden file, no other suffix; ``manifest_paths`` the same files."""
    from pipeline.archive.manifests import MANIFESTS, manifest_names, manifest_paths

    root = tmp_path / MANIFESTS
    assert manifest_names(tmp_path) == [] == manifest_paths(tmp_path)
    root.mkdir()
    for name in ("000010-b.json", "000002-a.json", "000002-A.json", ".000003-x.json", "000004-y.json.tmp",
                 "_seal-index", ".json", "000005-z.JSON", "000011-c.d.json"):
        (root / name).write_text("{}")
    (root / "000012-dir.json").mkdir()
    assert manifest_names(tmp_path) == ["000002-A.json", "000002-a.json", "000010-b.json", "000011-c.d.json",
                                        "000012-dir.json"]
    assert [p.name for p in manifest_paths(tmp_path)] == manifest_names(tmp_path)
