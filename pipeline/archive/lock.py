"""One writer at a time per archive: a lock held on the archive folder itself.

The lock is an ``flock`` on an open descriptor of the archive folder: it cannot be deleted or
renamed out from under its holder (deleting ``fieldrec.lock`` used to let a second writer in), and
the kernel releases it when the holder dies, however it dies. ``fieldrec.lock`` remains, as the
human-readable note of who holds the archive (process, host, purpose, since), and is locked too,
so an older fieldrec that knows only that file still waits.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from pathlib import Path

from pipeline.common.errors import ArchiveWriteError
from pipeline.common.i18n import _

NOTE = "fieldrec.lock"


class ArchiveBusy(RuntimeError):
    """Another fieldrec process is writing to this archive."""


class ArchiveLock:
    def __init__(self, archive: Path, purpose: str):
        self.archive = Path(archive)
        self.path = self.archive / NOTE
        self.purpose = purpose
        self.fh = None
        self._dir_fd: int | None = None

    def __enter__(self) -> "ArchiveLock":
        try:
            self.archive.mkdir(parents=True, exist_ok=True)
            self._dir_fd = os.open(self.archive, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            raise ArchiveWriteError(exc.errno, _("cannot open the archive folder: {why}").format(why=exc.strerror),
                                    str(self.archive)) from None
        try:
            fcntl.flock(self._dir_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._release()
            raise ArchiveBusy(_("archive {archive} is in use by another fieldrec process ({holder}); wait for "
                                 "it to finish, then run this command again").format(
                                  archive=self.archive, holder=self._holder())) from None
        try:
            self.fh = open(self.path, "a+")
            fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.fh.seek(0)
            self.fh.truncate()
            self.fh.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "purpose": self.purpose,
                                      "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}))
            self.fh.flush()
        except BlockingIOError:         # an older fieldrec holds only the note
            holder = self._holder()
            self._release()
            raise ArchiveBusy(_("archive {archive} is in use by another fieldrec process ({holder}); wait "
                                 "for it to finish, then run this command again").format(
                                  archive=self.archive, holder=holder)) from None
        except OSError as exc:
            self._release()
            what = _("the archive is on a read-only file system") if exc.errno == errno.EROFS else \
                _("the archive is not writable by this user") if exc.errno in (errno.EACCES, errno.EPERM) else \
                _("the archive cannot be written ({why})").format(why=exc.strerror)
            raise ArchiveWriteError(exc.errno, _("{what}; nothing was changed").format(what=what),
                                    str(self.path)) from None
        return self

    def _holder(self, wait_s: float = 1.0) -> str:
        """The holder's note. It writes the note just after taking the lock: a process that finds the
        lock taken in between reads an empty (or half-written) note, so it reads again for a moment."""
        deadline = time.monotonic() + wait_s
        text = ""
        while True:
            try:
                text = self.path.read_text().strip()
                json.loads(text)
                return text
            except (OSError, ValueError):
                if time.monotonic() >= deadline:
                    return text or "unknown"
            time.sleep(0.01)

    def _release(self) -> None:
        if self.fh:
            self.fh.close()
            self.fh = None
        if self._dir_fd is not None:
            os.close(self._dir_fd)        # closing the descriptor releases its flock
            self._dir_fd = None

    def __exit__(self, *exc) -> None:
        self._release()
