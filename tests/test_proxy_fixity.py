"""Review proxies are audited too: verify re-hashes them against their derivatives rows, finds a
proxy changed, gone or planted, and quarantine moves a planted one aside."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest

from catalog.store import Catalog
from pipeline.archive import proxies
from pipeline.cli import main as cli
from pipeline.runs import verify
from pipeline.sample.clips import ClipSpec
from pipeline.sample.encode import write_clip
from pipeline.stages import transcode as stage
from tests.helpers import ingest, lean_config, table

CLIP = ClipSpec(container="mp4", video_codec="libx264", audio_codec="aac", width=160, height=120, fps=15,
                duration_s=1.0, preset="ultrafast")


@pytest.fixture(scope="module")
def proxied(tmp_path_factory) -> Path:
    """An archive of three short videos, each with its proxy; tests copy it before changing it."""
    root = tmp_path_factory.mktemp("proxied")
    for i in range(3):
        write_clip(root / "drop" / f"BWC7_OF1_2026030110000{i}.MP4", dataclasses.replace(CLIP, seed=i))
    summary = ingest([root / "drop"], root / "archive", lean_config(), proxies=True)
    assert summary.proxies == {"ok": 3}
    return root / "archive"


@pytest.fixture
def archive(proxied, tmp_path) -> Path:
    copy = tmp_path / "archive"
    shutil.copytree(proxied, copy)
    return copy


def _proxy_paths(archive: Path) -> list[str]:
    return sorted(r["archive_path"] for r in table(archive, "derivatives") if r["status"] == "ok")


def _problems(report: verify.AuditReport) -> set[tuple[str, str, str]]:
    return {(f.status, f.kind, f.path) for f in report.findings}


def test_a_clean_archive_re_hashes_every_proxy(archive):
    report = verify.verify(archive, lean_config())
    assert report.ok, report.render()
    assert (report.proxies_tracked, report.proxies_hashed) == (3, 3)
    assert {r["item"] for r in table(archive, "fixity") if r["kind"] == "proxy" and r["status"] == "ok"} \
        == set(_proxy_paths(archive))
    assert "proxies    3 tracked, 3 re-hashed" in report.render()
    assert report.to_dict()["proxies_hashed"] == 3


def _edit(archive: Path) -> str:
    rel = _proxy_paths(archive)[0]
    os.chmod(archive / rel, 0o644)
    with open(archive / rel, "r+b") as fh:
        fh.seek(-10, os.SEEK_END)
        byte = fh.read(1)
        fh.seek(-10, os.SEEK_END)
        fh.write(bytes([byte[0] ^ 0x01]))
    return rel


def _delete(archive: Path) -> str:
    rel = _proxy_paths(archive)[1]
    (archive / rel).unlink()
    return rel


def _plant(archive: Path) -> str:
    rel = _proxy_paths(archive)[0]
    fake = Path(rel).with_name("0" * 64 + ".000000000000.mp4").as_posix()
    shutil.copyfile(archive / rel, archive / fake)       # a plausible proxy no row vouches for
    return fake


@pytest.mark.parametrize("tamper, status", [(_edit, "changed"), (_delete, "missing"), (_plant, "untracked")],
                         ids=["byte-edited", "deleted", "planted"])
def test_verify_finds_a_proxy_changed_gone_or_planted(archive, tamper, status, capsys):
    rel = tamper(archive)
    report = verify.verify(archive, lean_config())
    assert _problems(report) == {(status, "proxy", rel)}, report.render()
    code = cli(["verify", "--archive", str(archive), "--lang", "en"])
    out = capsys.readouterr().out
    assert code == 3 and rel in out                                    # 3: problems found
    row = next(r for r in table(archive, "fixity") if r["item"] == rel and r["status"] == status)
    assert row["kind"] == "proxy" and row["message"]


def test_a_proxy_left_without_its_row_is_untracked_then_made_again(tmp_path):
    """A run killed after publishing a proxy and before committing its row leaves a file no row
    names: verify says so and why, and the next transcode makes it again and records it."""
    from pipeline.runs.transcode import RECORDING_COLUMNS, transcode

    write_clip(tmp_path / "drop" / "BWC7_OF1_20260301100000.MP4", CLIP)
    archive, config = tmp_path / "archive", lean_config()
    ingest([tmp_path / "drop"], archive, config)
    (rec,) = Catalog(archive).rows("recordings", RECORDING_COLUMNS)
    orphan = stage.make(stage.job_for(rec), archive, config.transcode, "dead-run", fsync=False)   # no commit
    report = verify.verify(archive, config)
    (finding,) = report.findings
    assert (finding.status, finding.kind, finding.path) == ("untracked", "proxy", orphan["archive_path"])
    assert "fieldrec transcode" in finding.message

    made = transcode(archive, config, progress=False)
    assert made.by_status == {"ok": 1}
    assert _proxy_paths(archive) == [orphan["archive_path"]]
    assert verify.verify(archive, config).ok


def test_quarantine_moves_a_planted_proxy_aside(archive, capsys):
    fake = _plant(archive)
    assert proxies.untracked(archive, Catalog(archive)) == [fake]
    assert cli(["quarantine", "--archive", str(archive), "--format", "csv", "--lang", "en"]) == 0
    assert f"proxy,{fake}" in capsys.readouterr().out
    assert (archive / fake).exists()                                   # a dry run moves nothing
    assert cli(["quarantine", "--archive", str(archive), "--by", "J. Clerk", "--reason", "planted proxy"]) == 0
    (row,) = table(archive, "quarantine")
    assert (row["kind"], row["path"]) == ("proxy", fake) and (archive / row["moved_to"]).is_file()
    assert not (archive / fake).exists()
    assert verify.verify(archive, lean_config()).ok


def test_a_sample_re_hashes_part_of_the_proxies(archive):
    report = verify.verify(archive, lean_config(), sample_pct=34, seed=1)
    assert report.ok and report.proxies_tracked == 3 and report.proxies_hashed == 2


@pytest.mark.parametrize("path", ["../objects/ab/cd/x", "proxies/../fieldrec.toml", "/etc/passwd", "proxies/.tmp/x.mp4",
                                  "proxies\\..\\x", "proxies", "", None])
def test_a_derivatives_row_naming_a_path_outside_the_proxies_names_no_proxy(path):
    assert not proxies.is_proxy_path(path)


def test_only_rows_naming_a_proxy_are_tracked(archive):
    """A row whose path leaves proxies/ (a bug, or a forged part) is never hashed, counted or purged."""
    catalog = Catalog(archive)
    good = table(archive, "derivatives")[0]
    bad = dict(good, archive_path="objects/../fieldrec.toml", parent_sha256="f" * 64)
    catalog.commit({"derivatives": [bad]}, tag="test")
    assert set(proxies.tracked(catalog)) == set(_proxy_paths(archive)) - {"objects/../fieldrec.toml"}
    assert proxies.is_proxy_path(good["archive_path"])
