"""Small helpers for tests: run an ingest in-process and read the catalog back."""

from __future__ import annotations

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
