"""The content-addressed object store: originals under ``objects/`` by SHA-256, read-only."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from pipeline.archive.publish import publish

OBJECTS = "objects"
TMP = ".tmp"
# Originals are read-only, and readable by the archive's owner and group only: a file that reached
# the archive (by mistake, or through a link) is not handed to every local user.
FILE_MODE = 0o440


def files_below(archive: Path, top: str, hidden: str = TMP) -> list[str]:
    """Every file under ``ARCHIVE/top``, relative to the archive, sorted by folder; the run's
    temporaries (``top/hidden``) excluded. For the object store and the proxies alike."""
    root = Path(archive) / top
    out = []
    if root.is_dir():
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not (dirpath == str(root) and d == hidden))
            rel = Path(dirpath).relative_to(archive).as_posix()
            out += [f"{rel}/{f}" for f in sorted(filenames)]
    return out


class ObjectStore:
    """``ARCHIVE/objects/ab/cd/<sha256>``; new objects appear only by rename of a synced copy."""

    def __init__(self, archive: Path, *, fsync: bool = True, mode: int = FILE_MODE, direct: bool = True):
        self.archive = Path(archive)
        self.root = self.archive / OBJECTS
        self.tmp = self.root / TMP
        self.fsync = fsync
        self.mode = mode
        self.direct = direct            # synced copies written with direct I/O (``ingest.direct_io``)

    def create(self) -> "ObjectStore":
        self.tmp.mkdir(parents=True, exist_ok=True)
        return self

    @staticmethod
    def relpath(sha256: str) -> str:
        return f"{OBJECTS}/{sha256[:2]}/{sha256[2:4]}/{sha256}"

    def path(self, sha256: str) -> Path:
        return self.archive / self.relpath(sha256)

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def temp_path(self) -> Path:
        """A fresh hidden path for an object being written (removed by ``sweep`` if abandoned)."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        return self.tmp / f"{os.getpid()}-{uuid.uuid4().hex}"

    def commit(self, tmp: Path, sha256: str) -> bool:
        """Move a fully written and synced copy into place. False if the object already existed."""
        final = self.path(sha256)
        if final.exists():
            tmp.unlink()
            return False
        publish(tmp, final, fsync=self.fsync, mode=self.mode)   # same content, same name: a race is harmless
        return True

    def sweep(self) -> int:
        """Delete abandoned temporary copies (a crashed run's). Only the driver calls this."""
        removed = 0
        if self.tmp.exists():
            for stray in self.tmp.iterdir():
                stray.unlink(missing_ok=True)
                removed += 1
        return removed
