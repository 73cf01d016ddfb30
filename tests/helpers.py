"""Small helpers for tests: run an ingest in-process and read the catalog back."""

from __future__ import annotations

import json
from pathlib import Path

from catalog.store import Catalog


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
