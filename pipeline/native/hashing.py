"""SHA-256 and XXH3-128 in one read of each byte, fed from the buffer that is also written out."""

from __future__ import annotations

import hashlib
import itertools
import mmap
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

import xxhash


@dataclass(frozen=True)
class Digest:
    sha256: str
    xxh3_128: str
    size: int
    head: bytes          # the first bytes of the file, for content sniffing


HEAD_BYTES = 4096


def copy_and_hash(src: BinaryIO, dst: BinaryIO | None, chunk_bytes: int) -> Digest:
    """Read ``src`` to its end once; hash every chunk and write it to ``dst`` (if given).

    Chunks are read into page-aligned buffers (``dst`` may write them with O_DIRECT). With a
    ``dst``, each chunk is written by a helper thread while the next one is read and hashed (the
    write releases the GIL): two buffers take turns, and a buffer is read into again only once its
    last write has returned. A write error is raised here, as it would be inline.
    """
    sha = hashlib.sha256()
    xxh = xxhash.xxh3_128()
    buffers = _buffers(chunk_bytes, 2 if dst is not None else 1)
    size = 0
    head = b""
    writing: Future | None = None
    writer = _writer() if dst is not None else None
    try:
        for turn in itertools.count():
            view = buffers[turn % len(buffers)]
            n = src.readinto(view)
            if not n:
                break
            chunk = view[:n]
            sha.update(chunk)           # OpenSSL; releases the GIL for large buffers
            xxh.update(chunk)
            if writer is not None:
                if writing is not None:
                    writing.result()    # the other buffer is written: this one may go
                writing = writer.submit(dst.write, chunk)
            if size < HEAD_BYTES:
                head += bytes(chunk[: HEAD_BYTES - size])
            size += n
        if writing is not None:
            writing.result()
            writing = None
    finally:
        if writing is not None:         # an error on this side: never leave a write running
            writing.exception()
    return Digest(sha.hexdigest(), xxh.hexdigest(), size, head)


_local = threading.local()


def _buffers(chunk_bytes: int, count: int) -> list[memoryview]:
    """``count`` page-aligned buffers of ``chunk_bytes``, kept by this thread for its next copies."""
    kept = getattr(_local, "buffers", None)
    if kept is None or kept[0] != chunk_bytes or len(kept[1]) < count:
        kept = (chunk_bytes, [memoryview(mmap.mmap(-1, max(1, chunk_bytes))) for _ in range(count)])
        _local.buffers = kept
    return kept[1][:count]


def _writer() -> ThreadPoolExecutor:
    """This thread's helper that writes chunks (one at a time) while the next one is hashed."""
    writer = getattr(_local, "writer", None)
    if writer is None:
        writer = _local.writer = ThreadPoolExecutor(1, thread_name_prefix="fieldrec-write")
    return writer


def hash_path(path: str | os.PathLike, chunk_bytes: int = 4 * 1024 * 1024) -> Digest:
    """Hash a file without copying it (fixity audits, verification)."""
    with open(path, "rb", buffering=0) as fh:
        advise_sequential(fh.fileno())
        return copy_and_hash(fh, None, chunk_bytes)


def sha256_path(path: str | os.PathLike, chunk_bytes: int = 4 * 1024 * 1024) -> str:
    sha = hashlib.sha256()
    buf = bytearray(chunk_bytes)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            sha.update(view[:n])
    return sha.hexdigest()


def advise_sequential(fd: int) -> None:
    if hasattr(os, "posix_fadvise"):
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        except OSError:
            pass


def sha256_stream(fh: BinaryIO, chunk_bytes: int = 4 * 1024 * 1024) -> tuple[str, int]:
    """SHA-256 and length of what is left to read in an open binary file (or file-like)."""
    sha = hashlib.sha256()
    size = 0
    while chunk := fh.read(chunk_bytes):
        sha.update(chunk)
        size += len(chunk)
    return sha.hexdigest(), size
