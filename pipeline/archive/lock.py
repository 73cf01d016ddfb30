"""One writer at a time per archive: an advisory lock file that names its holder."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path


class ArchiveBusy(RuntimeError):
    """Another fieldrec process is writing to this archive."""


class ArchiveLock:
    def __init__(self, archive: Path, purpose: str):
        self.path = Path(archive) / "fieldrec.lock"
        self.purpose = purpose
        self.fh = None

    def __enter__(self) -> "ArchiveLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.path, "a+")
        try:
            fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.fh.seek(0)
            holder = self.fh.read().strip() or "unknown"
            self.fh.close()
            raise ArchiveBusy(
                f"archive {self.path.parent} is in use by another fieldrec process ({holder}); "
                "wait for it to finish, then run this command again") from None
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                  "purpose": self.purpose, "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}))
        self.fh.flush()
        return self

    def __exit__(self, *exc) -> None:
        if self.fh:
            fcntl.flock(self.fh.fileno(), fcntl.LOCK_UN)
            self.fh.close()
            self.fh = None
