"""Moving untracked files aside: out of the object store and the catalog, never deleted.

A part or object that no manifest lists and no run recorded writing (``chain.untracked``) is
moved to ``ARCHIVE/quarantine/<id>/<its path>``; one row per file (where it was, where it is, its
SHA-256, who, why) goes to the ``quarantine`` table first, so a crash between the record and the
move is finished by running the command again, and a move is never unrecorded.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from catalog.store import Catalog, fsync_dir
from pipeline.archive.chain import Stray
from pipeline.common.clock import new_id, now_utc
from pipeline.native.hashing import sha256_path

QUARANTINE = "quarantine"


def move_aside(archive: Path, strays: list[Stray], catalog: Catalog, *, run_id: str, by: str, reason: str) -> list[dict]:
    """Record, then move, every stray; the rows written (a stray an earlier, interrupted call
    already recorded goes where that row says, without a second row)."""
    archive = Path(archive)
    recorded = {(r["path"], r["sha256"]): r for r in catalog.rows("quarantine")}
    qid, now, rows, moves = new_id("quarantine"), now_utc(), [], []
    for stray in strays:
        source = archive / stray.path
        sha = sha256_path(source)
        earlier = recorded.get((stray.path, sha))
        if earlier is not None and not (archive / earlier["moved_to"]).exists():
            moves.append((source, archive / earlier["moved_to"]))
            continue
        target = f"{QUARANTINE}/{qid}/{stray.path}"
        rows.append({"quarantine_id": qid, "path": stray.path, "moved_to": target, "kind": stray.kind,
                     "sha256": sha, "size": source.stat().st_size, "by": by, "reason": reason, "at": now,
                     "host": socket.gethostname()})
        moves.append((source, archive / target))
    if rows:
        catalog.commit({"quarantine": rows}, tag=run_id)
    for source, target in moves:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(source, target)             # same file system: the bytes are not touched
        if catalog.fsync:
            fsync_dir(target.parent)
            fsync_dir(source.parent)
    return rows
