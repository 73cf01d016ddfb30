"""The review service's write-ahead spool: every record is durable at once, committed and sealed in batches.

Serving a thumbnail or a range of a proxy must be logged before a byte leaves, but a catalog
commit plus a sealed manifest per request would bury the archive in parts, and the archive lock
may be held for an hour by an ingest. So the service appends each record (access-log rows,
sign-ins, requests, decisions, explanations, case events) as one JSON line to its own spool file
under ``ARCHIVE/service/spool/`` and fsyncs it before answering. A flusher then takes the archive
lock (waiting briefly; when an ingest holds it, it tries again later), commits everything spooled
as one multi-table catalog commit, seals it into the manifest chain, and deletes the spooled
files. Until then the rows are read from the spool (``rows``), so a grant counts at once. A
written statement is spooled with its bytes and stored as an archive object when it is committed
(``pipeline.records.statements.settle``).

Crash safety: a spool file is renamed ``ready-*`` before it is committed; its rows carry their
table's id, and a flush skips ids the catalog already holds, so a crash between commit and
delete commits nothing twice. A process holds a shared ``flock`` on its live spool file; a file
nobody holds belongs to a process that died and is adopted by the next flush. A torn last line
(a crash mid-write) was never acknowledged and is skipped.
"""

from __future__ import annotations

import base64
import fcntl
import json
import logging
import os
import threading
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds

from catalog.store import Catalog, fsync_dir
from pipeline.common.clock import new_id
from pipeline.records import statements

log = logging.getLogger(__name__)

SPOOL = Path("service") / "spool"

# The columns that identify a row of each table the service writes (checked before a commit).
KEYS: dict[str, tuple[str, ...]] = {
    "access_log": ("access_id",), "auth_events": ("event_id",), "access_requests": ("request_id",),
    "access_decisions": ("decision_id",), "explanations": ("explanation_id",), "statements": ("statement_id",),
    "cases": ("case_id", "event", "recorded_at"), "assignments": ("assignment_id",), "users": ("event_id",),
    "credentials": ("event_id",),
}


def _encode(value):
    if isinstance(value, datetime):
        return {"$t": value.isoformat()}
    if isinstance(value, (bytes, bytearray)):
        return {"$b": base64.b64encode(value).decode()}
    return value


def _decode(value):
    if isinstance(value, dict) and len(value) == 1:
        if "$t" in value:
            return datetime.fromisoformat(value["$t"])
        if "$b" in value:
            return base64.b64decode(value["$b"])
    return value


def _key(table: str, row: dict) -> tuple:
    return tuple(row.get(c) for c in KEYS[table])


def read_file(path: Path) -> list[tuple[str, dict]]:
    """(table, row) for every whole line of a spool file; a torn last line is skipped."""
    out = []
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return out
    for line in data.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        table = entry.get("table")
        if table in KEYS:
            out.append((table, {k: _decode(v) for k, v in entry["row"].items()}))
    return out


def spooled_rows(archive: Path, table: str) -> list[dict]:
    """Rows of ``table`` spooled but not yet committed, by any service process (read-only)."""
    folder = Path(archive) / SPOOL
    rows = []
    if folder.is_dir():
        for path in sorted(folder.glob("*.jsonl")):
            rows += [row for t, row in read_file(path) if t == table]
    return rows


class Outbox:
    """One service process's spool. Thread-safe; ``append`` returns once the rows are on disk."""

    def __init__(self, archive: Path, *, fsync: bool = True):
        self.archive = Path(archive)
        self.folder = self.archive / SPOOL
        self.folder.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self._lock = threading.Lock()          # appends, rotation and the pending rows
        self._flushing = threading.Lock()      # one flush at a time
        self._pending: dict[str, dict[tuple, dict]] = {t: {} for t in KEYS}
        self._open()
        for path in sorted(self.folder.glob("*.jsonl")):     # what a dead process left, visible at once
            if path != self.path and self._orphaned(path):
                for table, row in read_file(path):
                    self._pending[table][_key(table, row)] = row

    def _open(self) -> None:
        self.path = self.folder / f"spool-{new_id()}.jsonl"
        self._fh = open(self.path, "ab")
        fcntl.flock(self._fh.fileno(), fcntl.LOCK_SH)     # "alive": no other flusher adopts this file
        if self.fsync:
            fsync_dir(self.folder)

    def _orphaned(self, path: Path) -> bool:
        if path.name.startswith("ready-"):
            return True
        try:
            with open(path, "rb") as fh:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            return True
        except BlockingIOError:
            return False
        except FileNotFoundError:
            return False

    # -- writing ---------------------------------------------------------------------------------
    def append(self, batch: dict[str, list[dict]]) -> None:
        """Make ``batch`` durable (one line per row, fsynced) and visible to ``rows``."""
        lines = b"".join(json.dumps({"table": table, "row": {k: _encode(v) for k, v in row.items()}},
                                    ensure_ascii=False).encode() + b"\n"
                         for table, rows in batch.items() for row in rows)
        with self._lock:
            self._fh.write(lines)
            self._fh.flush()
            if self.fsync:
                os.fsync(self._fh.fileno())
            for table, rows in batch.items():
                for row in rows:
                    self._pending[table][_key(table, row)] = row

    def rows(self, table: str) -> list[dict]:
        """Rows of ``table`` this outbox holds that the catalog may not have yet."""
        with self._lock:
            return list(self._pending[table].values())

    def pending_count(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._pending.values())

    # -- committing ------------------------------------------------------------------------------
    def _rotate(self) -> None:
        """Hand the live file to the flusher (renamed ``ready-*``) and start a new one."""
        with self._lock:
            if self._fh.tell() == 0:
                return
            self._fh.close()
            os.replace(self.path, self.folder / self.path.name.replace("spool-", "ready-", 1))
            self._open()

    def flush(self, config, *, wait_s: float | None = None) -> int:
        """Commit and seal everything spooled; the rows committed. ArchiveBusy when the lock stays taken."""
        from pipeline.archive.writer import writing_run

        wait_s = config.service.lock_wait_s if wait_s is None else wait_s
        with self._flushing:
            self._rotate()
            files = [p for p in sorted(self.folder.glob("*.jsonl")) if p != self.path and self._orphaned(p)]
            if not files:
                return 0
            with writing_run(self.archive, config, "serve records", wait_s=wait_s) as run:
                entries = [e for path in files for e in read_file(path)]
                batch = _new_rows(run.catalog, entries)
                if batch.get("statements"):            # a statement is kept as an object, its row names it
                    batch["statements"] = statements.settle(self.archive, batch["statements"], fsync=self.fsync,
                                                            mode=run.config.ingest.file_mode)
                if batch:
                    run.catalog.commit(batch, tag=run.run_id)
                for path in files:
                    path.unlink(missing_ok=True)
                if self.fsync:
                    fsync_dir(self.folder)
            with self._lock:
                for table, row in entries:
                    self._pending[table].pop(_key(table, row), None)
            return sum(len(rows) for rows in batch.values())

    def close(self) -> None:
        with self._lock:
            self._fh.close()
            if self.path.exists() and self.path.stat().st_size == 0:
                self.path.unlink()


def _new_rows(catalog: Catalog, entries: list[tuple[str, dict]]) -> dict[str, list[dict]]:
    """The spooled rows whose ids the catalog does not hold yet (each once)."""
    by_table: dict[str, dict[tuple, dict]] = {}
    for table, row in entries:
        by_table.setdefault(table, {})[_key(table, row)] = row
    out = {}
    for table, rows in by_table.items():
        cols = list(KEYS[table])
        if len(cols) == 1:
            wanted = pa.array([k[0] for k in rows], pa.string())
            have = catalog.read(table, cols, filter=ds.field(cols[0]).isin(wanted))
        else:
            have = catalog.read(table, cols)
        known = set(zip(*(have[c].to_pylist() for c in cols))) if have.num_rows else set()
        fresh = [row for key, row in rows.items() if key not in known]
        if fresh:
            out[table] = fresh
    return out


class Flusher(threading.Thread):
    """Flushes an outbox every ``every_s`` seconds, or at once when ``soon`` is called."""

    def __init__(self, outbox: Outbox, config):
        super().__init__(name="fieldrec-outbox", daemon=True)
        self.outbox, self.config = outbox, config
        self._wake = threading.Event()
        self._halt = threading.Event()

    def soon(self) -> None:
        self._wake.set()

    def run(self) -> None:
        while not self._halt.is_set():
            self._wake.wait(self.config.service.flush_every_s)
            self._wake.clear()
            self.flush_once()

    def flush_once(self) -> None:
        from pipeline.archive.lock import ArchiveBusy

        try:
            self.outbox.flush(self.config)
        except ArchiveBusy:
            log.info("archive busy: %d service record(s) stay spooled until the next try", self.outbox.pending_count())
        except OSError as exc:
            log.warning("service records could not be committed yet (%s); they stay spooled", exc)

    def stop(self) -> None:
        self._halt.set()
        self._wake.set()
        self.join(timeout=30)
        self.flush_once()
