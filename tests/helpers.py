"""Small helpers for tests: run an ingest in-process and read the catalog back."""

from __future__ import annotations

import json
from pathlib import Path

from catalog.store import Catalog


def ingest(sources, archive: Path, config, **kwargs):
    from pipeline.runs.ingest import ingest as run

    return run([Path(s) for s in sources], archive, config, progress=False, **kwargs)


def table(archive: Path, name: str) -> list[dict]:
    return Catalog(archive).rows(name)


def by_name(archive: Path) -> dict[str, dict]:
    """Recordings keyed by the file name they were first seen under."""
    return {r["source_name"]: r for r in table(archive, "recordings")}


def cli(capsys, *argv) -> tuple[int, str, str]:
    """Run ``fieldrec ARGV`` in-process: (exit code, stdout, stderr)."""
    from pipeline.cli import main

    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def listed(capsys, *argv) -> list[dict]:
    """The JSON rows a listing command prints."""
    code, out, err = cli(capsys, *argv, "--format", "json")
    assert code == 0, err
    return json.loads(out)
