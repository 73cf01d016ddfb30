"""An export package: originals copied out byte-identical into a BagIt folder, each copy re-hashed.

One writer for `fieldrec export` and for exports made in the review service: both give the same
bag (``data/<file>``, ``manifest-sha256.txt``, ``bagit.txt``, ``bag-info.txt``) and the same
``access_log`` rows; the caller decides where the rows are committed.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pipeline.common.clock import new_id
from pipeline.native.hashing import copy_and_hash

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
              copied: list[dict]) -> None:
    """Copy each recording (``sha256``, ``source_name``, ``archive_path``) into the bag at ``dest``.

    Appends to ``copied`` the ``access_log`` row of each file as it is copied, so that when a
    later file fails (the exception carries on after the tag files are written) the caller still
    logs what left the archive.
    """
    data = dest / "data"
    data.mkdir(parents=True, exist_ok=True)
    manifest = []
    try:
        for r, name in zip(rows, file_names(rows)):
            target = data / name
            with open(archive / r["archive_path"], "rb") as src, open(target, "xb") as out:
                digest = copy_and_hash(src, out, chunk_bytes)
                out.flush()
                os.fsync(out.fileno())
            if digest.sha256 != r["sha256"]:
                target.unlink()
                raise ObjectChanged(f"{r['sha256'][:12]} {r['source_name']}: the archived object no longer matches "
                                    f"its SHA-256 (read {digest.sha256[:12]}); it was not exported. "
                                    "Run `fieldrec verify` and report this")
            manifest.append(f"{r['sha256']}  data/{name}\n")
            copied.append({"access_id": new_id("access"), "action": "export", "sha256": r["sha256"],
                           "size": digest.size, "destination": str(target), "approval_ref": export.approval_ref,
                           "by": export.by, "reason": export.reason, "at": export.at, "host": socket.gethostname(),
                           "request_id": export.request_id, "content": "original", "client": export.client})
    finally:
        _write_tags(dest, manifest, copied, export)


def _write_tags(dest: Path, manifest: list[str], copied: list[dict], export: Export) -> None:
    (dest / "manifest-sha256.txt").write_text("".join(manifest))
    (dest / "bagit.txt").write_text("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    total = sum(c["size"] for c in copied)
    info = ["Source-Organization: fieldrec export", f"Bagging-Date: {export.at:%Y-%m-%d}",
            f"Export-Time: {export.at:%Y-%m-%dT%H:%M:%SZ}", f"Approval-Reference: {export.approval_ref}",
            f"Exported-By: {export.by}", f"Payload-Oxum: {total}.{len(copied)}"]
    if export.reason:
        info.append(f"Export-Reason: {' '.join(export.reason.split())}")
    (dest / "bag-info.txt").write_text("\n".join(info) + "\n")
