"""The archive's recordings as the rules see them: placed in time, attributed, with their retention.

Reads the catalog once (recordings, first sightings and the event tables) and combines it with
the pure rules of ``pipeline.rules`` (clocks, custody, retention). A recording's device and
officer are as attributed (``pipeline.records.attribution``: its name, its other names, a person's
word); the officer, when no name gives one, is the device's holder in the ledger. Nothing is
written here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path

import pyarrow.compute as pc

from catalog.store import Catalog
from pipeline.common.times import Reading, Zones
from pipeline.config import Config
from pipeline.records import attribution
from pipeline.rules.clocks import implausible, placed_end, placed_start
from pipeline.rules.custody import Attribution, Lateness, Period, attribute, holder_periods, upload_lateness
from pipeline.rules.retention import AssignmentIndex, Retention, Subject, case_states, matches, retain_until

RECORDING_COLUMNS = ["sha256", "size", "kind", "duration_s", "device_id", "officer_id", "start_time", "end_time",
                     "status", "source_name", "archive_path", "ingested_at", "time_source", "start_utc", "end_utc",
                     "time_zone", "container_time_zone", "error_stage", "error_message", "run_id", "important",
                     "name_time", "naming_profile"]


@dataclass
class Record:
    row: dict                       # the recordings row (RECORDING_COLUMNS)
    subject: Subject                # start / end as instants; ingested_at: the first sighting
    attribution: Attribution
    retention: Retention
    lateness: Lateness              # the 24-hour rule: first sighting - recording end
    clock: tuple[str, str] | None   # (reason, sentence) when the device clock cannot be right
    device_zone: tzinfo
    purge: dict | None              # the purges row, once purged
    archive: str                    # the archive root, to find the object

    @property
    def object_present(self) -> bool:
        path = self.row["archive_path"]
        return bool(path) and os.path.exists(os.path.join(self.archive, path))

    @property
    def sha256(self) -> str:
        return self.row["sha256"]

    @property
    def delay_h(self) -> float | None:
        return self.lateness.delay_h

    @property
    def late(self) -> bool:
        return self.lateness.late

    @property
    def first_seen(self) -> datetime | None:
        return self.subject.ingested_at

    def device_clock(self, which: str = "start") -> Reading | None:
        """The recording's start (or end) as the device's clock read it, with its offset."""
        instant = self.subject.start if which == "start" else self.subject.end
        return Reading(instant, self.device_zone) if instant is not None else None

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
    zones: Zones
    assignments: list[dict]
    as_of: datetime
    identities: attribution.Identities | None = None

    def by_sha(self) -> dict[str, Record]:
        return {r.sha256: r for r in self.records}

    def members(self, case_id: str) -> list[Record]:
        """The recordings a case holds, by the one rule retention uses (``rules.retention.matches``:
        a recording whose time overlaps an assignment's range, compared in UTC from the device's
        clock and offset, of the device or of the officer the ledger attributes it to)."""
        mine = [a for a in self.assignments if a["case_id"] == case_id and a["at"] <= self.as_of]
        return [r for r in self.records if any(matches(a, r.subject) for a in mine)]


def first_sightings(catalog: Catalog) -> dict[str, datetime]:
    """sha256 -> when the archive first saw a file with that content (duplicates included)."""
    table = catalog.read("sightings", ["sha256", "seen_at"])
    table = table.filter(pc.is_valid(table["sha256"]))
    if not table.num_rows:
        return {}
    first = table.group_by("sha256").aggregate([("seen_at", "min")])
    return dict(zip(first["sha256"].to_pylist(), first["seen_at_min"].to_pylist()))


def load(archive: Path, config: Config, as_of: datetime) -> ArchiveState:
    """Every recording with its place in time, attribution, upload delay and retention as of ``as_of``."""
    catalog = Catalog(archive)
    zones = config.zones()
    site = zones.site_zone
    identities = attribution.load(catalog, config.identity)
    recordings = identities.apply(catalog.rows("recordings", RECORDING_COLUMNS))
    seen = first_sightings(catalog)
    handovers = [h for h in catalog.rows("handovers") if h["at"] <= as_of]
    returns = [e for e in catalog.rows("device_events", ["device_id", "event", "at"])
               if e["event"] == "return" and e["at"] <= as_of]
    periods = holder_periods(handovers, returns)
    assignment_rows = catalog.rows("assignments")
    assignments = AssignmentIndex(assignment_rows)
    cases = case_states(catalog.rows("cases"), as_of)
    purges = {p["sha256"]: p for p in sorted(catalog.rows("purges"), key=lambda p: p["purged_at"])
              if p.get("kind") in (None, "original")}          # a proxy's row goes with its original's
    records = []
    for row in recordings:
        zone, _ = zones.device(row["device_id"])
        start = placed_start(row, zone)
        end = placed_end(row, zone, start)
        arrived = seen.get(row["sha256"]) or row["ingested_at"]        # the first sighting
        clock = implausible(start, arrived, config.gaps, site)
        who = attribute(row["officer_id"], start, periods.get(row["device_id"]))
        subject = Subject(row["sha256"], row["device_id"], who.officer_id, start, end or start, arrived,
                          clock_ok=clock is None, important=bool(row["important"]))
        lateness = upload_lateness(end or start, arrived, config.compliance.late_after_hours,
                                   clock[0] if clock else None)
        records.append(Record(
            row=row, subject=subject, attribution=who,
            retention=retain_until(subject, assignments, cases, config.retention, as_of, site),
            lateness=lateness, clock=clock, device_zone=zone,
            purge=purges.get(row["sha256"]), archive=str(archive),
        ))
    return ArchiveState(records, periods, cases, catalog, zones, assignment_rows, as_of, identities)
