"""Publishing files whole: write under a hidden temporary name, sync, rename into place.

Readers see a complete file or none. Every writer of a file that must survive a crash (manifests,
proxies, objects, plans, reports, bags) goes through these helpers.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

# catalog.durable, not catalog.store: ingest workers publish objects and never read the catalog,
# and the store's Arrow datasets would cost each worker ~70 ms of start-up.
from catalog.durable import fsync_dir
from pipeline.native.hashing import Digest, copy_and_hash


def temp_beside(final: Path) -> Path:
    """A hidden, unique temporary name in ``final``'s folder (same file system: rename is atomic)."""
    return final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.tmp")


def publish(tmp: Path, final: Path, *, fsync: bool = True, sync_file: bool = False, mode: int | None = None) -> None:
    """Rename a fully written ``tmp`` to ``final``; ``sync_file`` when the writer did not sync it."""
    if fsync and sync_file:
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
    final.parent.mkdir(parents=True, exist_ok=True)
    if mode is not None:
        os.chmod(tmp, mode)
    os.replace(tmp, final)
    if fsync:
        fsync_dir(final.parent)


def write_atomic(final: Path, data: bytes | str, *, fsync: bool = True, mode: int | None = None) -> Path:
    """Write ``data`` to ``final`` whole or not at all."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_beside(final)
    try:
        with open(tmp, "xb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        publish(tmp, final, fsync=fsync, mode=mode)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final


def write_new(path: Path, data: bytes | str, *, fsync: bool = True) -> Path:
    """Create ``path`` (it must not exist) with ``data``, synced: for files inside a folder that is
    itself published by rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb") as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        fh.flush()
        if fsync:
            os.fsync(fh.fileno())
    return path


def copy_hashed(src: Path, dst: Path, *, chunk_bytes: int, fsync: bool = True) -> Digest:
    """Copy ``src`` to the new file ``dst`` while hashing it: one read of every byte.

    ``dst`` must not exist. Raises ``OSError`` (``FileNotFoundError`` for a missing source).
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb", buffering=0) as fin, open(dst, "xb") as fout:
        digest = copy_and_hash(fin, fout, chunk_bytes)
        fout.flush()
        if fsync:
            os.fsync(fout.fileno())
    return digest
