"""Copy a source file into the object store while hashing it: one read of every byte."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pipeline.native.hashing import Digest, advise_sequential, copy_and_hash
from pipeline.archive.objects import ObjectStore
from pipeline.common.errors import ArchiveWriteError


class _Sink:
    """The archive side of a copy: any OSError here is the archive's fault, not the source's."""

    def __init__(self, path: Path, fsync: bool):
        self.path, self.fsync = path, fsync
        try:
            self.fh = open(path, "wb")
        except OSError as exc:
            raise ArchiveWriteError(exc.errno, f"cannot write to the archive: {exc.strerror}", str(path)) from exc

    def write(self, data) -> None:
        try:
            self.fh.write(data)
        except OSError as exc:
            raise ArchiveWriteError(exc.errno, f"cannot write to the archive: {exc.strerror}", str(self.path)) from exc

    def close(self) -> None:
        try:
            self.fh.flush()
            if self.fsync:
                os.fsync(self.fh.fileno())
            self.fh.close()
        except OSError as exc:
            raise ArchiveWriteError(exc.errno, f"cannot write to the archive: {exc.strerror}", str(self.path)) from exc


@dataclass(frozen=True)
class Stored:
    digest: Digest
    archive_path: str
    newly_stored: bool
    changed_while_read: str | None = None   # why the copy may not be a stable snapshot


def _signature(st: os.stat_result) -> tuple[int, int]:
    return st.st_size, st.st_mtime_ns


def store_source(source: Path, store: ObjectStore, *, chunk_bytes: int, retries: int) -> Stored:
    """Copy ``source`` byte for byte into ``store`` and return its hashes.

    The file's size and mtime are compared before and after the read; a file that changed is read
    again up to ``retries`` times, then kept as read and flagged. Raises ``OSError`` when the source
    cannot be read at all.
    """
    for attempt in range(retries + 1):
        tmp = store.temp_path()
        try:
            with open(source, "rb", buffering=0) as src:
                advise_sequential(src.fileno())
                before = _signature(os.fstat(src.fileno()))
                dst = _Sink(tmp, store.fsync)
                try:
                    digest = copy_and_hash(src, dst, chunk_bytes)
                finally:
                    dst.close()
                after = _signature(os.stat(source))
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        problem = None
        if before != after or digest.size != after[0]:
            problem = (f"source changed while being read (size {before[0]} -> {after[0]} bytes, "
                       f"{digest.size} read; mtime changed: {before[1] != after[1]})")
        if problem is None or attempt == retries:
            break                  # stable, or out of retries: keep the last read, flagged
        tmp.unlink()
    try:
        new = store.commit(tmp, digest.sha256)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ArchiveWriteError(exc.errno, f"cannot store object: {exc.strerror}", str(tmp)) from exc
    return Stored(digest, store.relpath(digest.sha256), new, problem)
