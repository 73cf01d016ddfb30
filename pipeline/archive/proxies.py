"""Review proxies as the archive holds them: the files under ``proxies/`` against the ``derivatives`` rows.

A proxy is not listed by a manifest: its ``derivatives`` row (path, SHA-256, size) is, inside a
sealed catalog part. So the row is what vouches for the file. A proxy file no ``ok`` row names was
published by a run that died before committing the row (the next ``fieldrec transcode`` for that
recording makes it again, replacing the file) or was put there by hand; ``verify`` reports it as
untracked and ``fieldrec quarantine`` moves it aside.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from pipeline.archive.objects import TMP, files_below

if TYPE_CHECKING:                # the transcode stage imports the names below in workers: no Arrow here
    from catalog.store import Catalog

PROXIES = "proxies"            # ``proxies/.tmp``: a run's temporaries (swept by the transcode run)


@dataclass(frozen=True)
class Tracked:
    sha256: str
    size: int
    run_id: str | None          # the run that made it (its catalog part is sealed with that run)


def stored(archive: Path) -> list[str]:
    """Every file under ``proxies/``, relative to the archive (temporaries excluded), sorted."""
    return files_below(archive, PROXIES)


def tracked(catalog: Catalog) -> dict[str, Tracked]:
    """Proxy path -> what its newest ``ok`` row says (a proxy made again replaces the file). A row
    whose path does not lie under ``proxies/`` names no proxy: nothing acts on it."""
    import pyarrow.compute as pc

    rows = catalog.read("derivatives", ["archive_path", "sha256", "size", "status", "run_id", "created_at"])
    rows = rows.filter(pc.equal(rows["status"], "ok")).sort_by([("created_at", "ascending")])
    return {path: Tracked(sha, size or 0, run_id)               # in time order: the newest row wins
            for path, sha, size, run_id in zip(*(rows[c].to_pylist() for c in ("archive_path", "sha256", "size",
                                                                                "run_id")))
            if sha and is_proxy_path(path)}


def is_proxy_path(path: str | None) -> bool:
    """A plain relative path under ``proxies/`` (not a temporary): no ``..``, no absolute path."""
    if not path or "\\" in path:
        return False
    parts = PurePosixPath(path).parts
    return len(parts) >= 2 and parts[0] == PROXIES and parts[1] != TMP and not any(p in ("..", ".", "") for p in parts)


def untracked(archive: Path, catalog: Catalog) -> list[str]:
    """Proxy files no ``ok`` derivatives row names."""
    known = tracked(catalog)
    return [p for p in stored(archive) if p not in known]
