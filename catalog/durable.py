"""Durability helpers with no Arrow behind them: ingest workers import these at start-up."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Callable, Sequence


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_path(path: Path) -> None:
    """Make a file's data (or a folder's entries) durable, whoever wrote it: fsync on a descriptor
    of its own syncs what every writer of the inode left in the page cache."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_together(paths: Sequence[Path], meanwhile: Callable[[], None] | None = None) -> None:
    """``fsync_path`` every one of ``paths`` and run ``meanwhile`` (which may sync a file of its own),
    all at once, and return when every one is done; the first error is raised, once all are.

    Syncs waiting together are committed together (ext4 joins them into one journal commit), where
    one after the other each waits for a commit of its own: five part files and a journal take
    about the time of one. Nothing is durable sooner or later than with one sync after the other:
    the caller goes on only once all are.
    """
    jobs: list[Callable[[], None]] = [lambda p=p: fsync_path(p) for p in paths]
    if meanwhile is not None:
        jobs.append(meanwhile)
    if len(jobs) <= 1:
        for job in jobs:
            job()
        return
    errors: list[BaseException] = []

    def run(job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as exc:            # noqa: BLE001 - raised by the caller's thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,), name="fieldrec-sync", daemon=True) for job in jobs[:-1]]
    for thread in threads:
        thread.start()
    run(jobs[-1])                               # ``meanwhile`` (or the last path) in this thread
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
