"""Getting a new file's bytes to the disk with the least CPU: direct I/O, or an early start of writeback.

A copy written through the page cache costs the CPU a second copy of every byte (and, on the
virtual disks servers often have, more than hashing it); with O_DIRECT the disk takes the bytes
from the writer's own (page-aligned) buffer. The copy still ends with an fsync before it is
published: direct I/O makes nothing durable by itself (file size and block allocation are metadata).
Where O_DIRECT is refused (tmpfs, some network file systems) or a chunk is not aligned, the file
goes on through the page cache, and each chunk's writeback is started as it is written
(``start``), so the disk works from the first chunk instead of idling until the fsync.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import sys

SYNC_FILE_RANGE_WRITE = 2           # start writeback of dirty pages in the range; do not wait
ALIGN = 4096                        # offsets and lengths of direct writes: any disk's logical block
O_DIRECT = getattr(os, "O_DIRECT", 0)


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


def create(path: str | os.PathLike, mode: int, *, direct: bool) -> tuple[int, bool]:
    """A new file (it must not exist) opened for writing: ``(fd, direct)``, direct I/O when asked
    for and the file system allows it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    if direct and O_DIRECT:
        try:
            return os.open(path, flags | O_DIRECT, mode), True
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
    return os.open(path, flags, mode), False


def aligned(offset: int, length: int, address: int | None = None) -> bool:
    """Whether a write of ``length`` bytes at ``offset`` (from ``address``) may go direct."""
    return offset % ALIGN == 0 and length % ALIGN == 0 and length > 0 and (address is None or address % ALIGN == 0)


def through_cache(fd: int) -> None:
    """From now on ``fd`` writes through the page cache (an unaligned chunk, the last one)."""
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~O_DIRECT)


def address_of(view: memoryview) -> int | None:
    """The address of a buffer's first byte (None when it cannot be had, e.g. a read-only one)."""
    try:
        return ctypes.addressof(ctypes.c_char.from_buffer(view))
    except (TypeError, ValueError):
        return None
