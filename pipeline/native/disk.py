"""Start writing a file's pages to the disk now (Linux ``sync_file_range``), without waiting.

A copy into the archive is written to the page cache; the kernel writes it out later, and the
copy's fsync then waits for all of it. Asking for the writeback as each chunk is written keeps the
disk busy during the copy itself, so the fsync at the end has little left to wait for. Advice
only: where the call does not exist (not Linux) or fails, nothing changes but the timing.
"""

from __future__ import annotations

import ctypes

SYNC_FILE_RANGE_WRITE = 2        # start writeback of the range's dirty pages; do not wait for it


def _sync_file_range():
    try:
        fn = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    fn.restype = ctypes.c_int
    return fn


_START = _sync_file_range()


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Have the kernel start writing ``length`` bytes of ``fd`` from ``offset`` (no wait, no error)."""
    if _START is not None and length > 0:
        _START(fd, offset, length, SYNC_FILE_RANGE_WRITE)
