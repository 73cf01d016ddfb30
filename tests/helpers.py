"""Small helpers for tests: run an ingest in-process and read the catalog back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from catalog.store import Catalog


def python_prints(script: str, timeout: float = 60) -> str:
    """What a fresh interpreter prints running ``script`` in the repository (which must succeed):
    for what a worker's first file imports, untouched by what this test session has imported."""
    done = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[1],
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return done.stdout


def ingest(sources, archive: Path, config, **kwargs):
    from pipeline.runs.ingest import ingest as run

    return run([Path(s) for s in sources], archive, config, progress=False, **kwargs)


def lean_config(path=None):
    """The configuration (``path`` over the defaults) without fsync or thumbnails: tests of rules over
    small drops need neither durability against power loss nor pictures."""
    import dataclasses

    from pipeline.config import load_config

    config = load_config(path)
    return dataclasses.replace(config, ingest=dataclasses.replace(config.ingest, fsync=False),
                               thumbnails=dataclasses.replace(config.thumbnails, enabled=False))


def copy_of(archive: Path, folder: Path) -> Path:
    """A copy of a module's archive for one test to write to."""
    import shutil

    copy = Path(folder) / "archive"
    shutil.copytree(archive, copy)
    return copy


def table(archive: Path, name: str) -> list[dict]:
    return Catalog(archive).rows(name)


def by_name(archive: Path) -> dict[str, dict]:
    """Recordings keyed by the file name they were first seen under."""
    return {r["source_name"]: r for r in table(archive, "recordings")}


def cli(capsys, *argv) -> tuple[int, str, str]:
    """Run ``fieldrec ARGV`` in-process: (exit code, stdout, stderr)."""
    from pipeline.cli import main

    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:               # argparse refuses a value: the process would exit so
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def listed(capsys, *argv) -> list[dict]:
    """The JSON rows a listing command prints."""
    code, out, err = cli(capsys, *argv, "--format", "json")
    assert code == 0, err
    return json.loads(out)


# Test-only fault injection (FIELDREC_TEST_CRASH, read by pipeline.runs.perfile): a file with one
# of these names misbehaves, as it enters the stage, in every worker of the test session (set
# before the session's Ray starts, so its workers inherit it: no per-task runtime environment).
# Only tests/test_bad_inputs.py names files so.
FAULTY_FILES = {
    ("thumbnails", "raise"): "BWC7701_OF0001_20260301100000.MP4",
    ("demux", "raise"): "BWC7702_OF0001_20260301100000.MP4",
    ("thumbnails", "abort"): "BWC7703_OF0001_20260301100000.MP4",
    ("checksum", "kill"): "BWC7704_OF0001_20260301100000.MP4",
    ("demux", "hang"): "BWC7705_OF0001_20260301100000.MP4",
    ("checksum", "hang"): "BWC7706_OF0001_20260301100000.MP4",
}
FAULT_SPEC = ";".join(f"{name}:{stage}:{action}" for (stage, action), name in FAULTY_FILES.items())


def faulty(path: Path, stage: str, action: str) -> Path:
    """Rename ``path`` (a good clip) so that it misbehaves in ``stage``; its new path."""
    target = path.with_name(FAULTY_FILES[(stage, action)])
    path.rename(target)
    return target
