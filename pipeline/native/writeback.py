"""Start writing a file's fresh bytes to the disk now, without waiting for them (Linux's sync_file_range).

A copy's pages would otherwise sit in the page cache until its fsync, and the disk would idle
while the copy is hashed and written and wait for the fsync afterwards. Asking for their
writeback as each chunk is written keeps the disk busy from the first chunk, so the final fsync
(which alone makes the copy durable, and still runs before it is published) finds little left.
"""

from __future__ import annotations

import ctypes
import sys

SYNC_FILE_RANGE_WRITE = 2           # start writeback of dirty pages in the range; do not wait


def _load():
    if not sys.platform.startswith("linux"):
        return None
    try:
        call = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    call.restype = ctypes.c_int
    return call


_sync_file_range = _load()


def start(fd: int, offset: int, length: int) -> bool:
    """Ask the kernel to start writing ``length`` bytes of ``fd`` from ``offset``; True if it took
    the request. A hint only: it never makes anything durable, and failing it changes nothing."""
    if _sync_file_range is None or length <= 0 or offset < 0:
        return False
    return _sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE) == 0
