"""How many of a run's gaps need an explanation, and how many gaps wait for one: counts for an
ingest's end summary, without listing a row.

``gaplist.listing(unexplained_or_run=...)`` gives the same answer as rows: every current gap
without an accepted explanation, whole, placed, ordered, each decided. The summary needs counts,
and most of those gaps are decided by their own row: a gap of any kind but ``between_files``, and
a pause no longer than ``gaps.session_break_s``, always needs an explanation
(``rules.sessions.need``). Only the long pauses depend on anything else (marks, cases, windows),
and only when the archive has an important mark or an assignment that is not routine can one of
them need an explanation; then they alone are decided, by ``gaplist``'s own rules, from the
recordings on their two sides (``_sides``: nothing else can decide one). Which gaps are
current is read from their latest state event only for the gaps that have an event other than
``open`` (the closed ones are few; every other gap is current whatever its latest event).
``tests/test_gap_count.py`` holds the counts to ``gapstate.listing``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from catalog.query import Scan, scanning
from catalog.schema import TABLES
from catalog.store import Catalog
from pipeline.config import Config

# The columns ``rules.sessions.need`` reads of a gap (``gaplist._annotated`` decides from them).
DECIDING = ("gap_id", "kind", "device_id", "officer_id", "start_time", "end_time", "duration_s", "sha256",
            "before_sha256", "after_sha256", "start_utc", "end_utc")


@dataclass(frozen=True)
class Counts:
    found: int          # the run's current gaps
    need: int           # of those, the ones that need an explanation
    waiting: int        # current gaps in the archive that need one and have none accepted

    def summary(self) -> dict:
        return {"found": self.found, "need": self.need, "free": self.found - self.need, "waiting": self.waiting}


def _listed(scan: Scan, run_id: str, long_s: float, decide: bool) -> tuple[pa.Table, pa.Table | None, list[str]]:
    """The current gaps without an accepted explanation, and the run's own current gaps (each
    gap's first row: ``gap_id``, ``long``, ``mine``, ``accepted``); the long pauses among them with
    their ``DECIDING`` columns (``decide`` False: None); and every device with a gap. The whole rows
    of the long pauses alone are read, by where each is stored."""
    from pipeline.records.gaplist import _first_gaps, _sources

    src = _sources(scan)
    scan.con.execute(f"""CREATE TEMP TABLE first_gaps AS
                         {_first_gaps(src, "gap_id, kind, duration_s, device_id, detected_run_id, _file, _row")}""")
    rows = scan.con.sql(f"""
        WITH accepted AS (
            SELECT DISTINCT gap_id FROM {src["explanations"]}
            WHERE source = 'spoken' OR coalesce(approved_by, '') <> ''),
        shut AS (              -- a gap whose events are all 'open' is current: only the others are looked at
            SELECT gap_id FROM (
                SELECT gap_id, arg_max(state, struct_pack(t := evaluated_at, f := _file, r := _row)) AS state
                FROM {src["gap_state"]}
                WHERE gap_id IN (SELECT gap_id FROM {src["gap_state"]} WHERE state IS DISTINCT FROM 'open')
                GROUP BY gap_id)
            WHERE coalesce(state, 'open') <> 'open')
        SELECT g._file, g._row, g.gap_id, g.kind = 'between_files' AND g.duration_s > $long AS long,
               coalesce(g.detected_run_id = $run, false) AS mine, a.gap_id IS NOT NULL AS accepted
        FROM first_gaps g LEFT JOIN accepted a USING (gap_id) LEFT JOIN shut s USING (gap_id)
        WHERE s.gap_id IS NULL AND (a.gap_id IS NULL OR g.detected_run_id = $run)""",
        params={"run": run_id, "long": long_s}).to_arrow_table()
    devices = scan.con.sql("SELECT DISTINCT device_id FROM first_gaps WHERE device_id IS NOT NULL").fetchall()
    pauses = None
    if decide:
        scan.con.register("pauses", rows.filter(pc.fill_null(rows["long"], False)))
        pauses = scan.con.sql(f"""
            SELECT {", ".join(f'g."{c}"' for c in DECIDING)}, p.mine, p.accepted
            FROM {src["gaps"]} g JOIN pauses p ON g._file = p._file AND g._row = p._row""").to_arrow_table()
    return rows, pauses, sorted(d for (d,) in devices)


def count(archive: Path, config: Config, run_id: str) -> Counts:
    """The run's current gaps, how many of them need an explanation, and how many current gaps of
    the archive need one and have none accepted: as ``gaplist.listing(include_closed=False,
    unexplained_or_run=run_id)`` would count them."""
    return counted(archive, config, run_id)[0]


def counted(archive: Path, config: Config, run_id: str, decide: bool | None = None,
            moved: dict | None = None, parts: dict[str, list[Path]] | None = None
            ) -> tuple[Counts, list[str | None], list[str]]:
    """``count``, with the ids of the gaps that wait and every device with a gap.
    ``decide``: ``_any_could_need``, ``moved``: ``gaprefresh.reattributed``, when known already;
    ``parts``: the tables it names (the gaps and their states) read from these parts, listed before."""
    decide = _any_could_need(Catalog(archive)) if decide is None else decide
    rows, pauses, devices = scanning(archive, lambda scan: _listed(scan, run_id, config.gaps.session_break_s, decide),
                                     parts=parts)
    short = pc.invert(pc.fill_null(rows["long"], False))      # every gap but a long pause needs an explanation
    mine, waiting = rows["mine"], pc.invert(rows["accepted"])
    found, need = _true(mine), _true(pc.and_(mine, short))
    waits = [rows["gap_id"].filter(pc.and_(waiting, short))]
    if pauses is not None and pauses.num_rows:
        needed = _decided(archive, pauses, config, devices, _sides(archive, pauses), moved)
        need += _true(pc.and_(pauses["mine"], needed))
        waits.append(pauses["gap_id"].filter(pc.fill_null(pc.and_(pc.invert(pauses["accepted"]), needed), False)))
    ids = [i for w in waits for i in w.to_pylist()]
    return Counts(found=found, need=need, waiting=len(ids)), ids, devices


def _sides(archive: Path, pauses: pa.Table) -> pa.Table:
    """The recordings on either side of these long pauses, read by their contents among every one:
    what decides a long pause (``rules.sets.sessions.needs``: marks, and the cases holding them),
    not every recording of the year."""
    from pipeline.records.gaplist import sessions_columns

    def work(scan: Scan) -> pa.Table:
        scan.con.register("long_pauses", pauses.select(["before_sha256", "after_sha256"]))
        return scan.con.sql(f"""
            SELECT {", ".join(sessions_columns)} FROM {scan.source("recordings")}
            WHERE sha256 IN (SELECT before_sha256 FROM long_pauses UNION SELECT after_sha256 FROM long_pauses)
            """).to_arrow_table()
    return scanning(archive, work).cast(pa.schema([TABLES["recordings"].field(c) for c in sessions_columns]))


def _any_could_need(catalog: Catalog) -> bool:
    """Whether a long pause can need an explanation at all: an assignment that is not routine (a
    case, a class, a window), or a recording marked important (both sides of a pause marked)."""
    assignments = catalog.read("assignments", ["retention_class"])["retention_class"]
    if pc.any(pc.fill_null(pc.not_equal(assignments, "routine"), True)).as_py():
        return True
    return catalog.read("recordings", ["important"], filter=ds.field("important") == True).num_rows > 0  # noqa: E712


def _decided(archive: Path, pauses: pa.Table, config: Config, devices: list[str], sides: pa.Table,
             moved: dict | None = None) -> pa.Array:
    """``needs_explanation`` of these long pauses, as ``gaplist.listing(sessions=False)`` decides it
    (``gaplist._annotated`` without labels), given ``devices`` (every device with a gap, which the
    listing reads again) and ``sides``, the recordings on either side of the pauses: handed to it as
    every recording read already, they are all it asks about these pauses (it reads no other)."""
    from pipeline.records import gaplist
    from pipeline.rules.sets import gaps as gap_sets

    gaps = TABLES["gaps"]
    pauses = pauses.cast(pa.schema([gaps.field(c) for c in DECIDING] + list(pauses.schema)[len(DECIDING):]))
    pauses = gap_sets.placed(pauses, config.zones())
    known = gaplist._Known(gap_devices=devices, clocks=set(), tails=[], recordings=sides, moved=moved)
    return gaplist._annotated(archive, pauses, config, labels=False, gap_devices=devices,
                              known=known, reasons=False)["needs_explanation"]


def _true(mask) -> int:
    return int(pc.sum(pc.fill_null(mask, False).cast(pa.int64())).as_py() or 0)
