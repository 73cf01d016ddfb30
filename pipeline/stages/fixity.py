"""Re-hash one archived file and compare it with what the ledger says it should be."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from pipeline.common import i18n
from pipeline.common.i18n import _
from pipeline.native.hashing import hash_path


@dataclass(frozen=True)
class FixityItem:
    path: str                  # relative to the archive
    expected_sha256: str
    size: int                  # as recorded: the task planner's weight
    manifest: str | None       # the manifest that recorded the expected hash; None: the file's name
    kind: str = "object"       # object | proxy (its hash is in the derivatives table)


@dataclass(frozen=True)
class FixityContext:
    archive: str
    chunk_bytes: int
    language: str = field(default_factory=i18n.current_language)    # the run's: a worker writes its findings in it


@dataclass(frozen=True)
class FixityResult:
    item: FixityItem
    status: str                # ok | changed | missing | unreadable
    actual_sha256: str | None
    actual_size: int | None
    message: str | None = None


def check(item: FixityItem, ctx: FixityContext, node: str | None = None, note=None) -> FixityResult:
    """Read every byte of ``item`` once; never raises for a file that is gone or unreadable."""
    if i18n.current_language() != ctx.language:
        i18n.use_language(ctx.language)
    path = os.path.join(ctx.archive, item.path)
    try:
        digest = hash_path(path, ctx.chunk_bytes)
    except FileNotFoundError:
        return FixityResult(item, "missing", None, None, _("listed in the ledger but not in the archive"))
    except OSError as exc:
        why = _("cannot read: {err} (errno {n})").format(err=exc.strerror, n=exc.errno)
        return FixityResult(item, "unreadable", None, None, why)
    if digest.sha256 != item.expected_sha256:
        return FixityResult(item, "changed", digest.sha256, digest.size,
                            _("content changed: sha256 {actual}… ({size} bytes), {where} says {expected}… "
                              "({expected_size} bytes)").format(
                                actual=digest.sha256[:16], size=digest.size, where=_where(item),
                                expected=item.expected_sha256[:16], expected_size=item.size))
    return FixityResult(item, "ok", digest.sha256, digest.size)


def _where(item: FixityItem) -> str:
    if item.kind == "proxy":
        return _("its derivatives row")
    return item.manifest or _("its name")
