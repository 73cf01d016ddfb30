"""Copy a source file into the object store while hashing it: one read of every byte."""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from pipeline.common import paths
from pipeline.common.i18n import _
from pipeline.native.hashing import Digest, advise_sequential, copy_and_hash
from pipeline.archive.objects import ObjectStore
from pipeline.common.errors import ArchiveWriteError
from pipeline.stages.contract import FileContext, Problem, StageOutput

# Opening never waits: a FIFO put where a file was (or a device) would block the open itself.
# O_NOFOLLOW: a file swapped for a link after discovery is not followed out of the drop.
OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0)


class NotAFile(OSError):
    """The source is no longer a regular file (replaced by a FIFO, a device or a link after discovery)."""


def open_source(path: str | Path):
    """``path`` opened for reading without blocking, checked to be a regular file once open.

    Raises ``NotAFile`` (an ``OSError``) for anything else, ``OSError`` when it cannot be opened.
    """
    try:
        fd = paths.open_fd(os.fspath(path), OPEN_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:          # O_NOFOLLOW met a link
            raise NotAFile(exc.errno, _("replaced by a symbolic link after it was found: not followed"),
                           os.fspath(path)) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "not a regular file"
            raise NotAFile(errno.EINVAL, _("{what} now, not a regular file (replaced after it was found): "
                                           "not read").format(what=kind), os.fspath(path))
        # Reads of a regular file never block on O_NONBLOCK, but some network file systems
        # return EAGAIN for it: clear the flag now that the file is known to be one.
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


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


def store_source(source: str | Path, store: ObjectStore, *, chunk_bytes: int, retries: int) -> Stored:
    """Copy ``source`` byte for byte into ``store`` and return its hashes.

    The file's size and mtime are compared before and after the read; a file that changed is read
    again up to ``retries`` times, then kept as read and flagged. Raises ``OSError`` when the source
    cannot be read at all.
    """
    for attempt in range(retries + 1):
        tmp = store.temp_path()
        try:
            with open_source(source) as src:
                advise_sequential(src.fileno())
                before = _signature(os.fstat(src.fileno()))
                dst = _Sink(tmp, store.fsync)
                try:
                    digest = copy_and_hash(src, dst, chunk_bytes)
                finally:
                    dst.close()
                after = _signature(paths.stat(os.fspath(source)))
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


class Checksum:
    """Stage: the source copied into the object store while hashed; nothing later runs without it."""
    name, needs = "checksum", ()

    def run(self, file: FileContext, found: Mapping) -> StageOutput:
        cfg = file.config.ingest
        try:
            stored = store_source(file.read_path, file.store, chunk_bytes=cfg.chunk_bytes, retries=cfg.change_retries)
        except ArchiveWriteError:
            raise
        except NotAFile as exc:
            return StageOutput(problem=Problem("unreadable", exc.strerror, "not_a_file"))
        except OSError as exc:
            return StageOutput(problem=Problem("unreadable", _("cannot read: {err} (errno {n})").format(
                err=exc.strerror or exc, n=exc.errno), "read_error"))
        d = stored.digest
        return StageOutput(stored, {"sha256": d.sha256, "xxh3_128": d.xxh3_128, "size": d.size,
                                    "archive_path": stored.archive_path},
                           problem=Problem("damaged", stored.changed_while_read) if stored.changed_while_read else None)
