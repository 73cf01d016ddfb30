"""The archive's recordings as the rules see them: attributed, timed and with their retention.

Reads the catalog once (recordings and the event tables) and combines it with the pure rules of
``pipeline.rules.retention`` and ``pipeline.rules.custody``. Nothing is written here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from catalog.store import Catalog
from pipeline.config import Config
from pipeline.rules.custody import Attribution, Period, attribute, device_to_utc, holder_periods, upload_lateness
from pipeline.rules.retention import AssignmentIndex, Retention, Subject, case_states, matches, retain_until

RECORDING_COLUMNS = ["sha256", "size", "kind", "duration_s", "device_id", "officer_id", "start_time", "end_time",
                     "status", "source_name", "archive_path", "ingested_at"]


@dataclass
class Record:
    row: dict                       # the recordings row (RECORDING_COLUMNS)
    subject: Subject
    attribution: Attribution
    retention: Retention
    delay_h: float | None           # upload delay: ingest time - recording end (UTC)
    late: bool
    purge: dict | None              # the purges row, once purged
    archive: str                    # the archive root, to find the object

    @property
    def object_present(self) -> bool:
        path = self.row["archive_path"]
        return bool(path) and os.path.exists(os.path.join(self.archive, path))

    @property
    def sha256(self) -> str:
        return self.row["sha256"]

    def state(self, as_of: datetime) -> str:
        """purged | permanent | held | expired (past retention, may be purged) | retained."""
        if self.purge is not None:
            return "purged"
        if self.retention.permanent:
            return "permanent"
        if self.retention.held:
            return "held"
        return "expired" if self.retention.expired(as_of) else "retained"


@dataclass
class ArchiveState:
    records: list[Record]
    periods: dict[str, list[Period]]
    cases: dict
    catalog: Catalog
    assignments: list[dict]
    as_of: datetime

    def by_sha(self) -> dict[str, Record]:
        return {r.sha256: r for r in self.records}

    def members(self, case_id: str) -> list[Record]:
        """The recordings a case holds, by the one rule retention uses (``rules.retention.matches``:
        a recording whose time overlaps an assignment's range, compared in UTC from the device's
        clock and offset, of the device or of the officer the ledger attributes it to)."""
        mine = [a for a in self.assignments if a["case_id"] == case_id and a["at"] <= self.as_of]
        return [r for r in self.records if any(matches(a, r.subject) for a in mine)]


def load(archive: Path, config: Config, as_of: datetime) -> ArchiveState:
    """Every recording with its attribution, upload delay and retention as of ``as_of`` (UTC)."""
    catalog = Catalog(archive)
    comp = config.compliance
    recordings = catalog.rows("recordings", RECORDING_COLUMNS)
    handovers = [h for h in catalog.rows("handovers") if h["at"] <= as_of]
    periods = holder_periods(handovers)
    assignment_rows = catalog.rows("assignments")
    assignments = AssignmentIndex(assignment_rows)
    cases = case_states(catalog.rows("cases"), as_of)
    purges = {p["sha256"]: p for p in sorted(catalog.rows("purges"), key=lambda p: p["purged_at"])}
    late_s = comp.late_after_hours
    records = []
    for row in recordings:
        offset = comp.offset_hours(row["device_id"])
        start, end = device_to_utc(row["start_time"], offset), device_to_utc(row["end_time"], offset)
        who = attribute(row["officer_id"], start, periods.get(row["device_id"]))
        subject = Subject(row["sha256"], row["device_id"], who.officer_id, start, end or start, row["ingested_at"])
        delay, late = upload_lateness(row["end_time"] or row["start_time"], offset, row["ingested_at"], late_s)
        records.append(Record(
            row=row, subject=subject, attribution=who,
            retention=retain_until(subject, assignments, cases, config.retention, as_of),
            delay_h=delay, late=late,
            purge=purges.get(row["sha256"]), archive=str(archive),
        ))
    return ArchiveState(records, periods, cases, catalog, assignment_rows, as_of)
