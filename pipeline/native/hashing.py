"""SHA-256 and XXH3-128 in one read of each byte, fed from the buffer that is also written out."""

from __future__ import annotations

import hashlib
import os
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
    """Read ``src`` to its end once; hash every chunk and write it to ``dst`` (if given)."""
    sha = hashlib.sha256()
    xxh = xxhash.xxh3_128()
    buf = bytearray(chunk_bytes)
    view = memoryview(buf)
    size = 0
    head = b""
    while True:
        n = src.readinto(buf)
        if not n:
            break
        chunk = view[:n]
        sha.update(chunk)           # OpenSSL; releases the GIL for large buffers
        xxh.update(chunk)
        if dst is not None:
            dst.write(chunk)
        if size < HEAD_BYTES:
            head += bytes(chunk[: HEAD_BYTES - size])
        size += n
    return Digest(sha.hexdigest(), xxh.hexdigest(), size, head)


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
