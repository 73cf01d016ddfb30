"""Review proxies as the archive holds them: the files under ``proxies/`` against the ``derivatives`` rows.

A proxy is not listed by a manifest: its ``derivatives`` row (path, SHA-256, size) is, inside a
sealed catalog part. So the row is what vouches for the file. A proxy file no ``ok`` row names was
published by a run that died before committing the row (the next ``fieldrec transcode`` for that
recording makes it again, replacing the file) or was put there by hand; ``verify`` reports it as
untracked and ``fieldrec quarantine`` moves it aside.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.archive.objects import files_below

if TYPE_CHECKING:                # the transcode stage imports the names below in workers: no Arrow here
    from catalog.store import Catalog

PROXIES = "proxies"
TMP = ".tmp"                    # a run's temporaries (swept by the transcode run, never published)


@dataclass(frozen=True)
class Tracked:
    sha256: str
    size: int
    run_id: str | None          # the run that made it (its catalog part is sealed with that run)


def stored(archive: Path) -> list[str]:
    """Every file under ``proxies/``, relative to the archive (temporaries excluded), sorted."""
    return files_below(archive, PROXIES, TMP)


def tracked(catalog: Catalog) -> dict[str, Tracked]:
    """Proxy path -> what its newest ``ok`` row says (a proxy made again replaces the file)."""
    rows = catalog.read("derivatives", ["archive_path", "sha256", "size", "status", "run_id", "created_at"])
    out: dict[str, tuple] = {}
    for path, sha, size, status, run_id, at in zip(*(rows[c].to_pylist() for c in rows.column_names)):
        if status != "ok" or not path or not sha:
            continue
        if path not in out or (at is not None and (out[path][1] is None or at >= out[path][1])):
            out[path] = (Tracked(sha, size or 0, run_id), at)
    return {path: t for path, (t, _at) in out.items()}


def untracked(archive: Path, catalog: Catalog) -> list[str]:
    """Proxy files no ``ok`` derivatives row names."""
    known = tracked(catalog)
    return [p for p in stored(archive) if p not in known]
