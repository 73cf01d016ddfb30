"""The end summary's gap counts carried over from the last summary: only gaps named since are decided.

``gapcount.count`` decides every current gap without an accepted explanation, every run: at a
million recordings its reads (every gap, state and explanation; the recordings beside ~70,000 long
pauses found among a million contents) are most of the summary's seconds. Between two summaries
the answer for a gap (current? accepted? needs an explanation?) changes only for a gap with a row
or a state event written since, or an explanation: every other input is what the last summary read
(``FIXED`` tables' parts; ``gaprefresh.basis``: the ``[gaps]`` settings, zones and attributions;
whether anything can make a long pause need one; the devices with a gap), and the recordings a
pause is decided by are named by content and never rewritten (one row per content: ingest writes
no second row for a content it knows). Explanations are only added, and one accepted stays so: a
gap that waited and has one accepted now waits no more; no other gap starts waiting by them.

So each summary an ingest writes keeps a ``gap_waiting`` row: the ids that wait, and the parts it
read. The next one carries it when every gap and gap-state part that row names is still visible
and the ``FIXED`` tables are as they were; it reads the added parts, and decides again only the
gaps they name (and the run's own). A compaction of the gaps or their states, a new assignment,
handover, device return or attribution, a changed setting or device list, or no such row:
everything is counted again (``gapcount.counted``), and a fresh row kept.

A new assignment comes nearly every day (a clerk files yesterday's recordings under a case), so
nearly every night the kept row would not fit. An ingest therefore counts ahead: while its files
are stored, a thread counts everything as the catalog stood when the run began (``before``: the
parts it read pinned, ``gapcount.counted`` over them), and the end summary carries that count as
it carries a kept row: only the gaps the run's own parts name are decided again. Nothing an
ingest writes can change what decides an older gap (it writes no assignment, handover, device
event or attribution, and holds the archive's lock so no one else does); what it can change (a
recording marked important: ``decide``; the attributions by name: ``basis``) is checked as for a
kept row, and a count that does not fit is counted again at the end.
``tests/test_gap_waiting.py`` holds both to ``gapstate.listing``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from catalog.query import Scan, scanning
from catalog.schema import TABLES
from catalog.store import Catalog, PartCache, read_through
from pipeline.config import Config
from pipeline.records import gapcount

TRACKED = ("gaps", "gap_state")                         # parts added since are what changed
FIXED = ("assignments", "handovers", "device_events", "attributions")   # any change: count everything
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Tally:
    counts: gapcount.Counts
    keep: dict | None        # the ``gap_waiting`` row to commit (None: not to be carried)
    carried: bool            # counted from the last row and what was added since
    ahead: bool = False      # that row was the run's count ahead (``before``), not a kept one


def tally(catalog: Catalog, config: Config, run_id: str, now: datetime, *, repeated: bool,
          ahead: Callable[[], dict | None] | None = None, cache: PartCache | None = None) -> Tally:
    """The counts ``gapcount.count`` gives, carried from the last ``gap_waiting`` row when it fits.
    ``repeated``: whether a content has two recordings rows (``runs.known.KnownContents.repeated``,
    read by the ingest anyway; only a part put in the catalog by hand makes one): then a pause's
    sides are looked up among every row, each row of a content deciding, not where they usually lie.
    ``ahead``: the run's count ahead (``before``'s row, once it is done), asked when the kept row
    does not fit; ``cache``: the states' parts read ahead (``runs.ahead``)."""
    from pipeline.records.gaprefresh import forget_recent

    standing = _standing(catalog, config)
    carried, from_ahead = None, False
    for last in (_last(catalog), ahead):
        if callable(last):
            last, from_ahead = last(), True
        if last is None:
            continue
        try:
            carried = _carried(catalog, config, run_id, last, standing, repeated, cache)
        except FileNotFoundError:          # a part listed went meanwhile (a compaction): count everything
            carried = None
        if carried is not None:
            break
    if carried is not None:
        counts, waiting, devices = carried
    else:
        counts, waiting, devices = gapcount.counted(catalog.archive, config, run_id, standing.decide, standing.moved)
    forget_recent()                        # the refresh's rows, kept for this summary alone
    keep = _row(standing, run_id, now, devices, waiting) if all(i is not None for i in waiting) else None
    return Tally(counts, keep, carried is not None, carried is not None and from_ahead)


def before(archive: Path, config: Config) -> dict | None:
    """The count ahead: a ``gap_waiting`` row (``run_id`` empty, never kept) of everything counted
    as the catalog stands now, for the run's end summary to carry; None when the kept row fits
    (the end carries that) or there is nothing to count. The parts read are listed first and read
    as listed, so the run's parts committed meanwhile are among those added since, decided again
    at the end (a part of the run's listed already is read here and its gaps decided again there
    as the run's own: either way each gap is decided once more after this count)."""
    catalog = Catalog(archive)
    if not catalog.visible_parts("gaps"):
        return None
    standing = _standing(catalog, config)
    last = _last(catalog)
    if last is not None and _fits(last, standing):
        return None
    _, waiting, devices = gapcount.counted(archive, config, "", standing.decide, standing.moved,
                                           parts=standing.listing)
    return None if any(i is None for i in waiting) else _row(standing, "", None, devices, waiting)


@dataclass(frozen=True)
class _Standing:
    """What a count is made against: the parts of the gaps, their states and the ``FIXED`` tables
    (``listing``; ``parts``: their names), the recordings attributed other than by their names
    (``moved``), the settings they make (``here``: ``gaprefresh.basis``), and whether a long pause
    can need an explanation at all (``decide``)."""
    listing: dict
    parts: dict
    moved: dict
    here: str
    decide: bool


def _standing(catalog: Catalog, config: Config) -> _Standing:
    from pipeline.records.gaprefresh import basis, reattributed

    listing = {t: catalog.visible_parts(t) for t in TRACKED + FIXED}
    moved = reattributed(catalog, config.identity)
    return _Standing(listing, {t: [p.name for p in paths] for t, paths in listing.items()}, moved,
                     basis(config, moved), gapcount._any_could_need(catalog))


def _row(standing: _Standing, run_id: str, computed_at: datetime | None, devices, waiting) -> dict:
    """A ``gap_waiting`` row of these counts."""
    return {"run_id": run_id, "computed_at": computed_at, "basis": standing.here, "decide": standing.decide,
            "parts": json.dumps(standing.parts, sort_keys=True), "devices": sorted(devices),
            "waiting": sorted(waiting)}


def _fits(last: dict, standing: _Standing, run_id: str | None = None) -> bool:
    """Whether the counts of ``last`` (a ``gap_waiting`` row) can be carried to the catalog as it
    ``standing``: the same settings and fixed tables, and every gap and state part it read still
    there (none compacted away)."""
    try:
        before = json.loads(last["parts"] or "")
    except ValueError:
        return False
    if not isinstance(before, dict):
        return False
    if last["basis"] != standing.here or last["decide"] != standing.decide or last["waiting"] is None:
        return False
    if run_id is not None and last["run_id"] == run_id:
        return False
    if any(standing.parts[t] != before.get(t) for t in FIXED):
        return False
    return all(set(before.get(t) or ()) <= set(standing.parts[t]) for t in TRACKED)


def _last(catalog: Catalog) -> dict | None:
    """The newest ``gap_waiting`` row (its time read first: only that row's lists are decoded)."""
    times = catalog.read("gap_waiting", ["computed_at"])["computed_at"]
    newest = pc.max(times).as_py() if len(times) else None
    if newest is None:
        return None
    rows = catalog.rows("gap_waiting", filter=ds.field("computed_at") == pa.scalar(newest, times.type))
    return rows[-1] if rows else None


def _carried(catalog: Catalog, config: Config, run_id: str, last: dict, standing: _Standing, repeated: bool,
             cache: PartCache | None = None) -> tuple[gapcount.Counts, list[str], list[str]] | None:
    """The counts from ``last`` and the parts added since (in ``standing.listing``); None when
    ``last`` does not fit (``_fits``)."""
    if not _fits(last, standing, run_id):
        return None                                  # a part it read went (a compaction): count everything
    listing, moved = standing.listing, standing.moved
    before = json.loads(last["parts"])
    added = {t: [p for p in listing[t] if p.name not in set(before[t])] for t in TRACKED}
    named = [_part(t, added[t], ["gap_id"])["gap_id"] for t in TRACKED]
    # and the run's own gaps stored before (none when a run counts once; its id is newer than every
    # older part's, so their statistics answer this)
    older = [p for p in listing["gaps"] if p.name in set(before["gaps"])]
    named.append(_part("gaps", older, ["gap_id"], ds.field("detected_run_id") == run_id)["gap_id"])
    affected = pc.unique(pa.concat_arrays([c.combine_chunks().cast(pa.string()) for c in named]))
    if affected.null_count:
        return None
    affected = affected.drop_null()
    devices = set(last["devices"] or ())
    firsts = _first_rows(listing["gaps"], set(p.name for p in added["gaps"]), affected)
    if firsts is None:
        return None                                   # a gap found again ahead of its older row: count everything
    if not set(firsts["device_id"].drop_null().to_pylist()) <= devices:
        return None                                   # a device's first gap: the devices decide pauses too
    kept = pa.array(last["waiting"], pa.string())
    # An explanation is only ever added, and one accepted stays so: of the gaps that waited, those
    # accepted since wait no more (so the explanations' parts, compacted or not, need not be followed).
    accepted_ids = _accepted(catalog, pc.unique(pa.concat_arrays([affected, kept])))
    current = pc.invert(pc.is_in(firsts["gap_id"], value_set=_shut(catalog, affected, cache)))
    accepted = pc.is_in(firsts["gap_id"], value_set=accepted_ids)
    mine = pc.fill_null(pc.equal(firsts["detected_run_id"], run_id), False)
    long = pc.fill_null(pc.and_kleene(pc.equal(firsts["kind"], "between_files"),
                                      pc.greater(firsts["duration_s"], config.gaps.session_break_s)), False)
    asked = pc.and_(current, pc.or_(pc.invert(accepted), mine))
    needed = pc.invert(long)                          # every gap but a long pause needs an explanation
    pausing = pc.and_(asked, long)
    if standing.decide and pc.any(pausing).as_py():
        pauses = firsts.filter(pausing).select(list(gapcount.DECIDING))
        sides = gapcount._sides(catalog.archive, pauses) if repeated else _sides(catalog, pauses)
        decided = gapcount._decided(catalog.archive, pauses, config, sorted(devices), sides, moved)
        where = pc.indices_nonzero(pausing).to_numpy().astype(np.int64)
        flags = np.asarray(needed.to_numpy(zero_copy_only=False)).copy()
        flags[where] = pc.fill_null(decided, False).to_numpy(zero_copy_only=False)
        needed = pa.array(flags)
    found = pc.and_(current, mine)
    need = pc.and_(found, needed)
    waits = pc.and_(pc.and_(current, pc.invert(accepted)), needed)
    named_now = set(firsts["gap_id"].filter(waits).to_pylist())
    gone = set(affected.to_pylist()) | set(accepted_ids.to_pylist())
    waiting = [g for g in last["waiting"] if g not in gone] + sorted(named_now)
    return gapcount.Counts(found=gapcount._true(found), need=gapcount._true(need), waiting=len(waiting)), \
        waiting, sorted(devices)


def _part(table: str, paths: list[Path], columns: list[str], filter=None) -> pa.Table:
    """These parts of ``table`` (in listing order), as ``Catalog.read`` reads the whole table."""
    if not paths:
        return TABLES[table].empty_table().select(columns)
    return ds.dataset([str(p) for p in paths], format="parquet", schema=TABLES[table]).to_table(
        columns=columns, filter=filter)


def _first_rows(paths: list[Path], added: set[str], ids: pa.Array) -> pa.Table | None:
    """Each of these gaps' first row (in listing order, then as stored) on the columns the counts ask
    about; None when one has rows both in an added part and an older one (its first row, and with it
    the devices with a gap, may have moved). Only the row groups holding one of them are decoded:
    each part's ``gap_id`` column is looked up first."""
    columns = list(dict.fromkeys(list(gapcount.DECIDING) + ["detected_run_id"]))
    schema = pa.schema([TABLES["gaps"].field(c) for c in columns])
    found, old, new = [], set(), set()
    for path in paths:
        file = pq.ParquetFile(path)
        hit = pc.is_in(file.read(columns=["gap_id"])["gap_id"], value_set=ids)
        hits = pc.indices_nonzero(hit).to_numpy().astype(np.int64)
        if not len(hits):
            continue
        sizes = np.array([file.metadata.row_group(g).num_rows for g in range(file.num_row_groups)], np.int64)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        group_of = np.searchsorted(starts, hits, side="right") - 1
        groups = np.unique(group_of)
        offsets = np.concatenate([[0], np.cumsum(sizes[groups])[:-1]])
        position = offsets[np.searchsorted(groups, group_of)] + hits - starts[group_of]
        present = [c for c in columns if c in file.schema_arrow.names]
        rows = file.read_row_groups(groups.tolist(), columns=present).take(pa.array(position))
        for c in columns:
            if c not in present:
                rows = rows.append_column(c, pa.nulls(rows.num_rows, schema.field(c).type))
        rows = rows.select(columns).cast(schema)
        (new if path.name in added else old).update(rows["gap_id"].to_pylist())
        found.append(rows)
    if old & new:
        return None
    if not found:
        return schema.empty_table()
    rows = pa.concat_tables(found)
    ids_in_order = rows["gap_id"].combine_chunks()
    return rows.take(pc.index_in(pc.unique(ids_in_order), value_set=ids_in_order))      # each id's first


def _shut(catalog: Catalog, ids: pa.Array, cache: PartCache | None = None) -> pa.Array:
    """Of these gaps, those whose latest state event (at the same time: the later row) is not open."""
    from pipeline.records.gaprefresh import STATE_COLUMNS

    events = read_through(catalog, cache, "gap_state", STATE_COLUMNS, ds.field("gap_id").isin(ids))
    latest: dict[str, tuple] = {}
    for position, (gid, state, at) in enumerate(zip(*(events[c].to_pylist() for c in events.column_names))):
        key = (at is None, at or _EPOCH, position)                 # a missing time sorts last, as a NULL
        if gid not in latest or key >= latest[gid][0]:
            latest[gid] = (key, state)
    return pa.array(sorted(g for g, (_, state) in latest.items() if (state or "open") != "open"), pa.string())


def _accepted(catalog: Catalog, ids: pa.Array) -> pa.Array:
    """Of these gaps, those with an accepted explanation (spoken, or approved by someone)."""
    rows = catalog.read("explanations", ["gap_id", "source", "approved_by"], filter=ds.field("gap_id").isin(ids))
    ok = pc.or_(pc.fill_null(pc.equal(rows["source"], "spoken"), False),
                pc.not_equal(pc.fill_null(rows["approved_by"], ""), ""))
    return pc.unique(rows["gap_id"].filter(ok).combine_chunks()).drop_null()


def _sides(catalog: Catalog, pauses: pa.Table) -> pa.Table:
    """The recordings on either side of these pauses, as ``gapcount._sides`` reads them: first among
    those the run's refresh read last (``gaprefresh.recent_recordings``: the stretches around the new
    recordings), then only those stored as ending after a day before the earliest pause (a recording
    ends where its pause begins, or after where it ends: the parts' statistics skip the older ones),
    then, if one was not found there (stored without its end, or other than where it lies), among
    every recording. A content's first row found is taken as its only one: ingest writes one per
    content (``tally``'s ``repeated`` says when a hand put in another)."""
    from pipeline.records.gaplist import sessions_columns
    from pipeline.records.gaprefresh import recent_recordings

    around = pc.unique(pa.concat_arrays([pauses[c].combine_chunks() for c in ("before_sha256", "after_sha256")])
                       ).drop_null()
    schema = pa.schema([TABLES["recordings"].field(c) for c in sessions_columns])
    if not len(around):
        return schema.empty_table()
    recent = recent_recordings(catalog)
    if recent is not None:                 # the refresh just read the stretches around them
        rows = recent.filter(pc.is_in(recent["sha256"], value_set=around)).select(sessions_columns)
        if pc.all(pc.is_in(around, value_set=rows["sha256"].combine_chunks())).as_py():
            return rows.cast(schema)
    start = _earlier(pauses)
    if not start.null_count:
        since = pc.min(start).as_py() - timedelta(days=1)

        def work(scan: Scan) -> pa.Table:
            scan.con.register("around", pa.table({"sha256": around}))
            return scan.con.sql(f"""
                SELECT {", ".join(sessions_columns)} FROM {scan.source("recordings")}
                WHERE end_utc >= $since AND sha256 IN (SELECT sha256 FROM around)""",
                                params={"since": since}).to_arrow_table()
        rows = scanning(catalog.archive, work)
        if pc.all(pc.is_in(around, value_set=rows["sha256"].combine_chunks())).as_py():
            return rows.cast(schema)
    return gapcount._sides(catalog.archive, pauses)


def _earlier(pauses: pa.Table) -> pa.ChunkedArray:
    """Each pause's earlier instant (null when either is)."""
    return pc.if_else(pc.less_equal(pauses["start_utc"], pauses["end_utc"]), pauses["start_utc"], pauses["end_utc"])
