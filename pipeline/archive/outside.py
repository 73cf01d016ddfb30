"""Where a command may write: never inside an archive, however the path is spelled.

A path is resolved first (symlinks and ``..`` of every part that exists), then it and each folder
above it are checked: the archive a command names, and any other folder that looks like a
fieldrec archive, are off limits. Only the archive's own writers (objects, catalog commits,
manifests, settings) write inside one.
"""

from __future__ import annotations

from pathlib import Path


class InsideArchive(ValueError):
    """A path a command would write to (or read as a drop) is inside an archive."""

    def __init__(self, path: Path, archive: Path):
        super().__init__(f"{path} is inside the archive {archive}")
        self.path, self.archive = path, archive


def looks_like_archive(folder: Path) -> bool:
    """A catalog beside an object store or a manifest chain: a fieldrec archive."""
    return (folder / "catalog").is_dir() and any((folder / name).exists()
                                                 for name in ("objects", "manifests", "fieldrec.toml"))


def enclosing_archive(path: Path, archive: Path | None = None, *, any_archive: bool = True) -> Path | None:
    """The archive ``path`` is in (or is): ``archive`` if given and it holds it, else (with
    ``any_archive``) any folder above it that looks like an archive; None when outside them."""
    resolved = Path(path).expanduser().resolve()
    named = Path(archive).expanduser().resolve() if archive is not None else None
    for folder in (resolved, *resolved.parents):
        if folder == named or (any_archive and looks_like_archive(folder)):
            return folder
    return None


def check_outside(path: Path, archive: Path | None = None) -> Path:
    """``path`` resolved, or ``InsideArchive`` if it lies inside an archive."""
    found = enclosing_archive(path, archive)
    if found is not None:
        raise InsideArchive(Path(path), found)
    return Path(path).expanduser().resolve()
