"""Copy a source file into the object store while hashing it: one read of every byte.

The copy is written under the store's temporary folder; its sync to the disk runs in a thread
while the later stages (demux, thumbnails) read the copy and use the CPU, so that the CPU and the
disk work at the same time. The per-file pass publishes the copy (``Copy.publish``) once they are
done; a worker that dies before that leaves a finished copy the driver publishes (``adopt``).
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from pipeline.common import paths
from pipeline.common.i18n import _
from pipeline.native import writeback
from pipeline.native.hashing import Digest, advise_sequential, copy_and_hash, hash_path
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
            kind = _("a FIFO") if stat.S_ISFIFO(st.st_mode) else _("not a regular file")
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
    """The archive side of a copy: any OSError here is the archive's fault, not the source's.

    A copy that will be synced is written with direct I/O where the file system allows it and
    ``direct`` (``ingest.direct_io``) is on (the CPU then never copies its bytes into the page
    cache; ``native.writeback``), through the page cache otherwise, its writeback started chunk by
    chunk."""

    def __init__(self, path: Path, fsync: bool, direct: bool = True):
        self.path, self.fsync = path, fsync
        self.written = 0
        try:
            # The owner's alone until published (then ``ingest.file_mode``): the copy waits here
            # while demux and thumbnails read it.
            fd, self.direct = writeback.create(path, 0o600, direct=fsync and direct)
            self.fh = os.fdopen(fd, "wb", buffering=0)
        except OSError as exc:
            raise ArchiveWriteError(exc.errno, _("cannot write to the archive: {why}").format(why=exc.strerror),
                                    str(path)) from exc

    def write(self, data) -> None:
        view = memoryview(data)
        try:
            if self.direct and not writeback.aligned(self.written, len(view), writeback.address_of(view)):
                self._through_cache()
            while view:
                try:
                    done = self.fh.write(view)
                except OSError as exc:
                    if not (self.direct and exc.errno == errno.EINVAL):
                        raise
                    self._through_cache()        # the file system wants other alignment: the cache then
                    continue
                if self.direct and done % writeback.ALIGN:
                    self._through_cache()        # a short direct write leaves the rest unaligned
                if not self.direct and self.fsync:
                    writeback.start(self.fh.fileno(), self.written, done)   # the fsync finds it done
                self.written += done
                view = view[done:]
        except OSError as exc:
            raise ArchiveWriteError(exc.errno, _("cannot write to the archive: {why}").format(why=exc.strerror),
                                    str(self.path)) from exc

    def _through_cache(self) -> None:
        writeback.through_cache(self.fh.fileno())
        self.direct = False

    def close(self) -> None:
        try:
            if self.fsync:
                os.fsync(self.fh.fileno())
            self.fh.close()
        except OSError as exc:
            raise ArchiveWriteError(exc.errno, _("cannot write to the archive: {why}").format(why=exc.strerror),
                                    str(self.path)) from exc

    def abandon(self) -> None:
        try:
            self.fh.close()
        except OSError:
            pass


class _Syncing:
    """A finished copy's fsync, in a thread (it releases the GIL): the disk writes while the pass
    goes on with the stages that read the copy."""

    def __init__(self, sink: _Sink):
        self.sink, self.error = sink, None
        self.thread = threading.Thread(target=self._run, name="fieldrec-fsync", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.sink.close()
        except ArchiveWriteError as exc:
            self.error = exc

    def wait(self) -> None:
        self.thread.join()
        if self.error is not None:
            raise self.error


@dataclass(frozen=True)
class Stored:
    digest: Digest
    archive_path: str
    newly_stored: bool
    changed_while_read: str | None = None   # why the copy may not be a stable snapshot


@dataclass
class Copy:
    """A source copied and hashed into the store's temporary folder, its sync to disk under way.
    ``path`` is what the later stages read; ``publish`` makes it the archive's object."""
    digest: Digest
    path: Path
    store: ObjectStore
    changed_while_read: str | None = None
    syncing: _Syncing | None = field(default=None, repr=False)

    def publish(self) -> Stored:
        """Wait for the copy to be on the disk, then move it into place (once)."""
        if self.syncing is not None:
            self.syncing.wait()
            self.syncing = None
        new = _commit(self.store, self.path, self.digest.sha256)
        return Stored(self.digest, self.store.relpath(self.digest.sha256), new, self.changed_while_read)


def _signature(st: os.stat_result) -> tuple[int, int]:
    return st.st_size, st.st_mtime_ns


def _commit(store: ObjectStore, tmp: Path, sha256: str) -> bool:
    try:
        return store.commit(tmp, sha256)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ArchiveWriteError(exc.errno, _("cannot store object: {why}").format(why=exc.strerror), str(tmp)) from exc


def copy_source(source: str | Path, store: ObjectStore, *, chunk_bytes: int, retries: int) -> Copy:
    """Copy ``source`` byte for byte into ``store``'s temporary folder and return its hashes; the
    copy's fsync goes on in a thread until ``Copy.publish``.

    The file's size and mtime are compared before and after the read; a file that changed is read
    again up to ``retries`` times, then kept as read and flagged. Raises ``OSError`` when the source
    cannot be read at all.
    """
    for attempt in range(retries + 1):
        tmp = store.temp_path()
        dst = None
        try:
            with open_source(source) as src:
                advise_sequential(src.fileno())
                before = _signature(os.fstat(src.fileno()))
                dst = _Sink(tmp, store.fsync, direct=store.direct)
                digest = copy_and_hash(src, dst, chunk_bytes)
                after = _signature(paths.stat(os.fspath(source)))
        except BaseException:
            if dst is not None:
                dst.abandon()
            tmp.unlink(missing_ok=True)
            raise
        problem = None
        if before != after or digest.size != after[0]:
            problem = _("source changed while being read (size {before} -> {after} bytes, {read} read; "
                        "mtime changed: {changed})").format(before=before[0], after=after[0], read=digest.size,
                                                            changed=_("yes") if before[1] != after[1] else _("no"))
        if problem is None or attempt == retries:
            break                  # stable, or out of retries: keep the last read, flagged
        dst.abandon()
        tmp.unlink()
    if not store.fsync:
        dst.close()
        return Copy(digest, tmp, store, problem)
    return Copy(digest, tmp, store, problem, _Syncing(dst))


def store_source(source: str | Path, store: ObjectStore, *, chunk_bytes: int, retries: int) -> Stored:
    """``copy_source``, published at once: the source is the archive's object when this returns."""
    return copy_source(source, store, chunk_bytes=chunk_bytes, retries=retries).publish()


def adopt(store: ObjectStore, copy_path: str | Path, sha256: str, size: int) -> Stored | None:
    """The copy a worker finished before it died (or was stopped), published by the driver: only if
    it is one of the store's temporary files and its bytes still have the SHA-256 and size the
    worker noted. An object already in place (the worker published it just before it died) is
    taken as it is. None when there is nothing to publish."""
    path = Path(copy_path)
    if store.path(sha256).exists() and not path.exists():
        return _already_stored(store, sha256)
    if path.parent != store.tmp or not path.is_file() or path.is_symlink():
        return None
    digest = hash_path(path)
    if digest.sha256 != sha256 or digest.size != size:
        return None
    try:
        if store.fsync:
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
        return Stored(digest, store.relpath(sha256), store.commit(path, sha256))
    except FileNotFoundError:
        # A worker stopped too late published it itself while this hashed it: the object is there.
        return _already_stored(store, sha256)
    except OSError as exc:
        raise ArchiveWriteError(exc.errno, _("cannot store object: {why}").format(why=exc.strerror),
                                str(path)) from exc


def _already_stored(store: ObjectStore, sha256: str) -> Stored | None:
    """The object in place, if its bytes are what its name says."""
    try:
        digest = hash_path(store.path(sha256))
    except FileNotFoundError:
        return None
    return Stored(digest, store.relpath(sha256), False) if digest.sha256 == sha256 else None


class Checksum:
    """Stage: the source copied into the object store while hashed; nothing later runs without it."""
    name, needs = "checksum", ()

    def run(self, file: FileContext, found: Mapping) -> StageOutput:
        """The copy, not yet published: its ``archive_path`` comes when the pass publishes it."""
        cfg = file.config.ingest
        try:
            copied = copy_source(file.read_path, file.store, chunk_bytes=cfg.chunk_bytes, retries=cfg.change_retries)
        except ArchiveWriteError:
            raise
        except NotAFile as exc:
            return StageOutput(problem=Problem("unreadable", exc.strerror, "not_a_file"))
        except OSError as exc:
            return StageOutput(problem=Problem("unreadable", _("cannot read: {err} (errno {n})").format(
                err=exc.strerror or exc, n=exc.errno), "read_error"))
        d = copied.digest
        return StageOutput(copied, {"sha256": d.sha256, "xxh3_128": d.xxh3_128, "size": d.size},
                           problem=Problem("damaged", copied.changed_while_read) if copied.changed_while_read else None)
