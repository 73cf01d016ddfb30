"""Attacks on a real archive: a small archive ingested once per module, and its fingerprint.

``fingerprint`` is the SHA-256 and mode of every file in an archive (the lock holder's note and
the seal's index, a cache every seal rewrites, aside): a command that refuses must leave it exactly as it was, and a command that writes must
leave every file that was there as it was.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.sample.clips import ClipSpec
from pipeline.sample.encode import write_clip

CLIP = ClipSpec(fps=10, duration_s=1.0, audio_codec=None, preset="ultrafast")
# Two recordings of CAM1 five minutes apart (a between_files gap to explain) and one of CAM2.
NAMES = ("CAM1_O1_20260301100000.mp4", "CAM1_O1_20260301100500.mp4", "CAM2_O2_20260301100000.mp4")


def fast_config():
    from pipeline.config import load_config

    config = load_config()
    return dataclasses.replace(config, ingest=dataclasses.replace(config.ingest, fsync=False))


def make_clips(root: Path, names=NAMES, seed: int = 0) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        write_clip(root / name, replace(CLIP, seed=seed * 10 + i))
    return root


def build(root: Path) -> Path:
    """An archive of one ingest of the three clips (and its settings, manifest and gaps)."""
    from tests.helpers import ingest

    archive = root / "archive"
    ingest([make_clips(root / "drop")], archive, fast_config())
    return archive


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The module's pristine archive (a module may define its own ``built``)."""
    return build(tmp_path_factory.mktemp("trust"))


@pytest.fixture
def archive(built, tmp_path) -> Path:
    """A copy of ``built`` for one test to attack."""
    return copy(built, tmp_path / "archive")


def copy(archive: Path, to: Path) -> Path:
    shutil.copytree(archive, to, ignore=shutil.ignore_patterns("fieldrec.lock"))
    return to


def fingerprint(archive: Path) -> dict[str, tuple[str, int]]:
    out = {}
    for dirpath, _, files in os.walk(archive):
        for name in files:
            path = Path(dirpath) / name
            rel = path.relative_to(archive).as_posix()
            if rel not in ("fieldrec.lock", "manifests/_seal-index"):
                out[rel] = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mode & 0o7777)
    return out


def run(capsys, *argv) -> tuple[int, str, str]:
    """``fieldrec ARGV`` in-process: exit code, stdout, stderr (argparse refusals included)."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err
