"""Task functions for the local pool's tests: module-level, so a spawned worker can import them."""

from __future__ import annotations

import errno
import os
import signal
import time
from pathlib import Path

from pipeline.common.errors import ArchiveWriteError


def stamp(item: tuple[str, float], folder: str, node, note) -> str:
    """Sleep, and write when this item started and ended (driver-comparable monotonic clock)."""
    name, seconds = item
    start = time.monotonic()
    time.sleep(seconds)
    Path(folder, name).write_text(f"{start} {time.monotonic()}")
    return name


def kill_myself(item, ctx, node, note):
    os.kill(os.getpid(), signal.SIGKILL)


def archive_full(item, ctx, node, note):
    raise ArchiveWriteError(errno.ENOSPC, "cannot write to the archive: No space left on device",
                            "/archive/objects/.tmp/x")


def env_of(name: str, ctx, node, note) -> str | None:
    return os.environ.get(name)


def open_gate(item, ctx, node, note) -> bool:
    """Open the gate ``tests.gated_import`` waits on; whether the worker had finished importing it."""
    import sys

    done = "tests.gated_import" in sys.modules and hasattr(sys.modules["tests.gated_import"], "OPENED")
    Path(os.environ["FIELDREC_TEST_GATE"]).touch()
    return done
