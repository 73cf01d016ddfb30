"""Written statements attached to explanations: one mechanism for `fieldrec explain --attach` and
the review service.

A statement is stored as an object of the archive (``objects/ab/cd/<sha256>``: hashed, read-only,
sealed by the manifest chain like an original, listed by ``fieldrec verify``), and its
``statements`` row names it (``archive_path``, ``sha256``). Rows written before statements became
objects carry their bytes in ``content``; they stay readable. The service spools an upload with
its bytes (it does not hold the archive lock) and ``settle`` turns it into an object when the spool
is committed, under the lock, just before the row that names it.

A statement leaves the archive only in an export under a granted request, with the recordings whose
interruption it explains (``for_recordings``).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds

from catalog.store import Catalog
from pipeline.archive.objects import FILE_MODE, ObjectStore
from pipeline.archive.publish import write_new
from pipeline.common.clock import new_id
from pipeline.common.i18n import _

SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")     # ASCII: the name goes into a Content-Disposition header
MEDIA_TYPES = ("application/pdf", "image/jpeg", "image/png", "text/plain")


class StatementProblem(ValueError):
    """A statement file cannot be taken: empty, too large, not a regular file, or of a refused type."""


def sniff(data: bytes) -> str | None:
    """The media type of a statement by its content (never by its name), or None when not accepted."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return "text/plain" if not any(ord(c) < 32 and c not in "\n\r\t" for c in text) else None


def clean_name(name: str) -> str:
    """A file name safe to show, to write and to send in a header: its last path part, ASCII
    letters, digits, ``.``, ``_`` and ``-`` only, at most 120 characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return SAFE_NAME.sub("_", base)[-120:].strip("._") or "statement"


def checked(data: bytes, limit: int) -> str:
    """The statement's media type, or StatementProblem saying why it is refused."""
    if not data:
        raise StatementProblem(_("the statement file is empty"))
    if len(data) > limit:
        raise StatementProblem(_("the statement is larger than {n} bytes").format(n=limit))
    media = sniff(data)
    if media is None:
        raise StatementProblem(_("a statement must be a PDF, a JPEG or PNG picture, or plain text"))
    return media


def read_file(path: Path, limit: int) -> bytes:
    """At most ``limit`` bytes of a regular file (never a FIFO, device or folder: opening one could
    hang or read forever); StatementProblem when it is something else or larger."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise StatementProblem(_("cannot open {path}: {why}").format(path=path, why=exc.strerror)) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise StatementProblem(_("{path} is not a regular file").format(path=path))
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise StatementProblem(_("the statement is larger than {n} bytes").format(n=limit))
    return data


def row(*, explanation_id: str, gap_id: str, file_name: str, data: bytes, media_type: str, by: str, at,
        archive_path: str | None = None) -> dict:
    """A ``statements`` row. Without ``archive_path`` it carries its bytes (the service's spool);
    ``settle`` stores them as an object before the row is committed."""
    return {"statement_id": new_id("STM"), "explanation_id": explanation_id, "gap_id": gap_id,
            "file_name": clean_name(file_name), "media_type": media_type, "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(), "content": None if archive_path else data,
            "uploaded_by": by, "uploaded_at": at, "archive_path": archive_path}


def store(archive: Path, data: bytes, *, fsync: bool = True, mode: int = FILE_MODE) -> str:
    """Put ``data`` into the object store (the caller holds the archive lock), read-only with
    ``mode`` like an original (``ingest.file_mode``); its archive path. The same bytes twice keep
    one object."""
    objects = ObjectStore(Path(archive), fsync=fsync, mode=mode).create()
    sha = hashlib.sha256(data).hexdigest()
    if not objects.exists(sha):
        objects.commit(write_new(objects.temp_path(), data, fsync=fsync), sha)
    return objects.relpath(sha)


def settle(archive: Path, rows: list[dict], *, fsync: bool = True, mode: int = FILE_MODE) -> list[dict]:
    """Rows whose bytes are still inside them, stored as objects and naming them instead."""
    out = []
    for r in rows:
        if r.get("archive_path") is None and r.get("content") is not None:
            r = {**r, "archive_path": store(archive, r["content"], fsync=fsync, mode=mode), "content": None}
        out.append(r)
    return out


def content(archive: Path, r: dict) -> bytes | None:
    """A statement's bytes: its object's (checked against its SHA-256), or the bytes an older row
    (or a spooled one) carries; None when they cannot be had."""
    if r.get("content") is not None:
        return r["content"]
    if not r.get("archive_path"):
        return None
    try:
        data = (Path(archive) / r["archive_path"]).read_bytes()
    except OSError:
        return None
    return data if hashlib.sha256(data).hexdigest() == r["sha256"] else None


def for_recordings(catalog: Catalog, shas: set[str]) -> list[dict]:
    """The statements explaining gaps of these recordings (a file's own gaps and the pauses either
    side of it), oldest first (older rows with their bytes)."""
    gaps = catalog.rows("gaps", ["gap_id", "sha256", "before_sha256", "after_sha256"])
    wanted = sorted({g["gap_id"] for g in gaps if {g["sha256"], g["before_sha256"], g["after_sha256"]} & shas})
    if not wanted:
        return []
    found = catalog.rows("statements", filter=ds.field("gap_id").isin(pa.array(wanted, pa.string())))
    return sorted(found, key=lambda s: (s["uploaded_at"], s["statement_id"]))
