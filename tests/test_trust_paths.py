"""Finding 1: no command writes a user-named path inside an archive, however the path is spelled.

Each attack names a file or folder inside a real archive (an original, a manifest, the lock, a
catalog part; directly, through `..`, through a symlink) as a command's output, or the archive's
own catalog as a drop to ingest. The command must refuse with exit 2 and say why, and every file
of the archive must keep its bytes and its mode.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import trustkit
from tests.trustkit import archive, built  # noqa: F401  (fixtures: one ingested archive per module, a copy per test)
from tests.helpers import table


def _an_object(archive: Path) -> str:
    return table(archive, "recordings")[0]["archive_path"]


def _a_manifest(archive: Path) -> str:
    return next(p for p in os.listdir(archive / "manifests") if p.endswith(".json"))


def _a_part(archive: Path) -> str:
    return "catalog/recordings/" + next(p for p in os.listdir(archive / "catalog" / "recordings"))


TARGETS = {
    "an-original": lambda a: a / _an_object(a),
    "an-original-through-dotdot": lambda a: a / "catalog" / ".." / _an_object(a),
    "the-first-manifest": lambda a: a / "manifests" / _a_manifest(a),
    "the-lock": lambda a: a / "fieldrec.lock",
    "a-catalog-part": lambda a: a / _a_part(a),
    "the-settings": lambda a: a / "fieldrec.toml",
}


def _symlink_into(archive: Path, tmp_path: Path) -> Path:
    link = tmp_path / "innocent.html"
    link.symlink_to(archive / _an_object(archive))
    return link


@pytest.mark.parametrize("target", list(TARGETS))
def test_report_refuses_to_overwrite_files_of_the_archive(archive, capsys, target):
    before = trustkit.fingerprint(archive)
    code, _, err = trustkit.run(capsys, "report", "--archive", archive, "-o", TARGETS[target](archive))
    assert code == 2 and "is inside the archive" in err, err
    assert trustkit.fingerprint(archive) == before


def test_report_refuses_a_symlink_that_points_into_the_archive(archive, capsys, tmp_path):
    before = trustkit.fingerprint(archive)
    code, _, err = trustkit.run(capsys, "report", "--archive", archive, "-o", _symlink_into(archive, tmp_path))
    assert code == 2 and "is inside the archive" in err
    assert trustkit.fingerprint(archive) == before
    # A folder that is a symlink to the archive, too.
    (tmp_path / "reports").symlink_to(archive / "objects")
    code, _, err = trustkit.run(capsys, "report", "--archive", archive, "-o", tmp_path / "reports" / "r.html")
    assert code == 2 and "is inside the archive" in err
    assert trustkit.fingerprint(archive) == before


def test_writing_commands_refuse_outputs_inside_the_archive(archive, capsys, tmp_path):
    sha = table(archive, "recordings")[0]["sha256"]
    before = trustkit.fingerprint(archive)
    attacks = [
        ["thumbs", "--archive", archive, sha, "--out", archive / "objects"],
        ["disc", "plan", "--archive", archive, "--sha", sha, "--capacity-bytes", 10**9, "--out",
         archive / "plan.json"],
        ["export", "--archive", archive, sha, "--to", archive / "catalog" / "x", "--approval", "R1", "--by", "C"],
        ["keygen", "--out", archive / "manifests" / "evil.key"],
        ["report", "--archive", archive, "-o", archive / "other" / ".." / "report.html"],
    ]
    plan = tmp_path / "plan.json"
    assert trustkit.run(capsys, "disc", "plan", "--archive", archive, "--sha", sha, "--capacity-bytes", 10**9,
                        "--out", plan)[0] == 0
    attacks.append(["disc", "stage", plan, "--archive", archive, "--out", archive / "staging"])
    for argv in attacks:
        code, _, err = trustkit.run(capsys, *argv)
        assert code == 2 and "is inside the archive" in err, (argv, err)
        assert trustkit.fingerprint(archive) == before, argv


def test_outputs_inside_another_archive_are_refused_too(archive, built, capsys, tmp_path):
    """keygen names no archive; a report of one archive must not land in another either."""
    other = trustkit.copy(built, tmp_path / "other")
    before = trustkit.fingerprint(other)
    assert trustkit.run(capsys, "keygen", "--out", other / "objects" / "k")[0] == 2
    assert trustkit.run(capsys, "report", "--archive", archive, "-o", other / "catalog" / "r.html")[0] == 2
    assert trustkit.fingerprint(other) == before


@pytest.mark.parametrize("source", ["catalog", "catalog/recordings", "objects", "."])
def test_ingest_refuses_a_source_inside_its_archive(archive, capsys, source):
    before = trustkit.fingerprint(archive)
    code, _, err = trustkit.run(capsys, "ingest", archive / source, "--archive", archive)
    assert code == 2 and "inside the archive it would be ingested into" in err
    assert trustkit.fingerprint(archive) == before


def test_outputs_outside_the_archive_still_work(archive, capsys, tmp_path):
    code, _, err = trustkit.run(capsys, "report", "--archive", archive, "-o", tmp_path / "r.html")
    assert code == 0, err
    assert (tmp_path / "r.html").read_bytes().startswith(b"<!DOCTYPE html>")
