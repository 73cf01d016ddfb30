"""An export package: originals copied out byte-identical into a BagIt folder, each copy re-hashed.

One writer for `fieldrec export` and for exports made in the review service: both give the same
bag (``pipeline.archive.bagit``: ``data/<file>``, ``manifest-sha256.txt``, ``bagit.txt``,
``bag-info.txt``) and the same ``access_log`` rows; the caller decides where the rows go. The
written statements explaining the recordings' interruptions go with them, under
``data/statements/<statement id>_<file name>``.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path

from catalog.store import Catalog
from pipeline.archive.bagit import Bag, BagMismatch
from pipeline.common.clock import new_id
from pipeline.records import statements
from pipeline.common.times import Zones, iso, local_day

SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class ObjectChanged(Exception):
    """An archived object no longer matches its SHA-256; nothing of it was exported."""


@dataclass(frozen=True)
class Export:
    approval_ref: str
    by: str
    reason: str | None
    at: datetime
    request_id: str | None = None        # the access request, when approved in the archive
    client: str | None = None
    zone: tzinfo | None = None           # the site's zone: bag-info dates are read by people


def file_names(rows: list[dict]) -> list[str]:
    """Readable, unique names under data/: the original file name, prefixed by the hash if needed."""
    names, used = [], set()
    for r in rows:
        base = SAFE.sub("_", r["source_name"] or "") or r["sha256"]
        name = base if base not in used else f"{r['sha256'][:12]}_{base}"
        used.add(name)
        names.append(name)
    return names


def write_bag(archive: Path, rows: list[dict], dest: Path, export: Export, chunk_bytes: int,
              copied: list[dict], *, fsync: bool = True) -> None:
    """Copy each recording (``sha256``, ``source_name``, ``archive_path``) into the bag at ``dest``.

    Appends to ``copied`` the ``access_log`` row of each file as it is copied, so that when a
    later file fails (the exception carries on after the tag files are written) the caller still
    logs what left the archive.
    """
    bag = Bag(dest, chunk_bytes=chunk_bytes, fsync=fsync)
    try:
        for r, name in zip(rows, file_names(rows)):
            try:
                digest = bag.add_payload(archive / r["archive_path"], name, r["sha256"])
            except BagMismatch as exc:
                raise ObjectChanged(f"{r['sha256'][:12]} {r['source_name']}: the archived object no longer matches "
                                    f"its SHA-256 (read {exc.actual[:12]}); it was not exported. "
                                    "Run `fieldrec verify` and report this") from None
            copied.append(_logged(export, r["sha256"], digest.size, dest / "data" / name, "original"))
        for s in statements.for_recordings(Catalog(archive), {r["sha256"] for r in rows}):
            name = f"statements/{s['statement_id']}_{s['file_name']}"
            try:
                if s["archive_path"]:
                    digest = bag.add_payload(archive / s["archive_path"], name, s["sha256"])
                else:                                   # written before statements became objects
                    digest = bag.add_bytes(s["content"] or b"", name, s["sha256"])
            except BagMismatch as exc:
                raise ObjectChanged(f"statement {s['statement_id']}: the archived statement no longer matches its "
                                    f"SHA-256 (read {exc.actual[:12]}); it was not exported. Run `fieldrec verify` "
                                    "and report this") from None
            copied.append(_logged(export, s["sha256"], digest.size, dest / "data" / name, "statement"))
    finally:
        bag.close(_info(export), tagmanifest=False)


def _logged(export: Export, sha256: str, size: int, destination: Path, content: str) -> dict:
    """The ``access_log`` row of one file that left the archive."""
    return {"access_id": new_id("access"), "action": "export", "sha256": sha256, "size": size,
            "destination": str(destination), "approval_ref": export.approval_ref, "by": export.by,
            "reason": export.reason, "at": export.at, "host": socket.gethostname(), "request_id": export.request_id,
            "content": content, "client": export.client}


def _info(export: Export) -> list[tuple[str, str]]:
    zone = export.zone or Zones().site_zone
    info = [("Source-Organization", "fieldrec export"), ("Bagging-Date", local_day(export.at, zone).isoformat()),
            ("Export-Time", iso(export.at, zone)), ("Approval-Reference", export.approval_ref),
            ("Exported-By", export.by)]
    if export.reason:
        info.append(("Export-Reason", export.reason))
    return info
