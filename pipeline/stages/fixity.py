"""Re-hash one archived file and compare it with what the ledger says it should be."""

from __future__ import annotations

import os
from dataclasses import dataclass

from pipeline.native.hashing import hash_path


@dataclass(frozen=True)
class FixityItem:
    path: str                  # relative to the archive
    expected_sha256: str
    size: int                  # as recorded: the task planner's weight
    manifest: str | None       # the manifest that recorded the expected hash; None: the file's name


@dataclass(frozen=True)
class FixityContext:
    archive: str
    chunk_bytes: int


@dataclass(frozen=True)
class FixityResult:
    item: FixityItem
    status: str                # ok | changed | missing | unreadable
    actual_sha256: str | None
    actual_size: int | None
    message: str | None = None


def check(item: FixityItem, ctx: FixityContext, node: str | None = None, note=None) -> FixityResult:
    """Read every byte of ``item`` once; never raises for a file that is gone or unreadable."""
    path = os.path.join(ctx.archive, item.path)
    try:
        digest = hash_path(path, ctx.chunk_bytes)
    except FileNotFoundError:
        return FixityResult(item, "missing", None, None, "listed in the ledger but not in the archive")
    except OSError as exc:
        return FixityResult(item, "unreadable", None, None, f"cannot read: {exc.strerror} (errno {exc.errno})")
    if digest.sha256 != item.expected_sha256:
        return FixityResult(item, "changed", digest.sha256, digest.size,
                            f"content changed: sha256 {digest.sha256[:16]}… ({digest.size} bytes), "
                            f"{item.manifest or 'its name'} says {item.expected_sha256[:16]}… ({item.size} bytes)")
    return FixityResult(item, "ok", digest.sha256, digest.size)
