"""Gaps as ``fieldrec gaps`` lists them, read from the catalog in DuckDB, set-based.

``gapstate.listing`` gives the same rows as dicts, one Python call per gap; here one query gives
them as an Arrow table: each gap's first row (in catalog order), ``current`` from its latest state
event (a tie: the later row), its explanation status and last explanation (ordered by time, then
catalog order), and the names of the files involved (a content cataloged twice: its later row).
Filters that need no placing (current, unexplained, device) run in the query, before the names are
looked up; rows written before gaps had instants are placed afterwards, in the device's zone, and
the rest of ``gap_events.filter_rows`` is ``rules.sets.gaps.filtered``. ``tests/test_set_rules.py``
holds the result to ``gapstate.listing``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import pyarrow.dataset as ds

from catalog.query import Scan, list_literal, scanning
from catalog.schema import TABLES
from catalog.store import Catalog
from pipeline.config import Config
from pipeline.records import sessionrows
from pipeline.rules.gap_events import damaged_tails
from pipeline.rules.sets import gaps as gap_sets

_NAMED = ("sha256", "before_sha256", "after_sha256")


def _sources(scan: Scan) -> dict[str, str]:
    """Each table as a relation with ``_file`` and ``_row``: where its row is stored (the part's place
    in the listing, the row in the part): "the later row" of the per-row rules."""
    out = {}
    for table in ("gaps", "gap_state", "explanations"):
        paths = scan.paths(table)
        if not paths:
            out[table] = f"(SELECT *, 0::BIGINT AS _file, 0::BIGINT AS _row FROM {scan.source(table)})"
        else:
            out[table] = (f"(SELECT * EXCLUDE (file_row_number), file_index AS _file, file_row_number AS _row "
                          f"FROM read_parquet({list_literal(paths)}, union_by_name=true, file_row_number=true))")
    return out


def _latest_states(src: dict[str, str]) -> str:
    """Each gap's latest state event (at the same time: the later row), of the gaps with an event
    other than ``open``: a gap with none is open whichever is its latest, as is a gap with no event
    at all (every reader takes a missing state as ``open``), and most gaps of a year are never
    closed, so only the few that were are ordered."""
    return f"""SELECT gap_id, arg_max(state, struct_pack(t := evaluated_at, f := _file, r := _row)) AS state
               FROM {src["gap_state"]}
               WHERE gap_id IN (SELECT gap_id FROM {src["gap_state"]} WHERE state <> 'open')
               GROUP BY gap_id"""


def _first_gaps(src: dict[str, str], columns: str = "*") -> str:
    """Each gap's first row: most gaps have one, so only ids seen twice are ordered."""
    return f"""WITH dup AS (SELECT gap_id FROM {src["gaps"]} GROUP BY gap_id HAVING count(*) > 1)
               SELECT {columns} FROM {src["gaps"]} WHERE gap_id NOT IN (SELECT gap_id FROM dup)
               UNION ALL
               SELECT {columns} FROM (SELECT *, row_number() OVER (PARTITION BY gap_id ORDER BY _file, _row) AS k
                                      FROM {src["gaps"]} WHERE gap_id IN (SELECT gap_id FROM dup)) WHERE k = 1"""


def current_per_device(archive: Path) -> Counter:
    """How many current gaps each device has (as ``fieldrec gaps`` lists them)."""
    def work(scan: Scan) -> Counter:
        src = _sources(scan)
        rows = scan.arrow(f"""
            SELECT g.device_id, count(*) AS n FROM ({_first_gaps(src, "gap_id, device_id")}) g
            LEFT JOIN ({_latest_states(src)}) s USING (gap_id)
            WHERE coalesce(s.state, 'open') = 'open' GROUP BY g.device_id""")
        return Counter({r["device_id"]: r["n"] for r in rows.to_pylist()})
    return scanning(archive, work)


def listing(archive: Path, config: Config | None = None, *, include_closed: bool = True,
            only_unexplained: bool = False, device: str | None = None, names: bool = True,
            detected_by: str | None = None, sessions: bool = True,
            unexplained_or_run: str | None = None) -> pa.Table:
    """Every gap ever detected (or those the filters keep), with ``gap_sets.EXTRA``, sorted by
    device, start and id; ``only_unexplained``: the current ones that need an explanation and have
    none accepted (``gap_events.waiting``); ``names``: with the names of the files (else null);
    ``detected_by``: only the gaps that run detected; ``unexplained_or_run``: only the gaps without
    an accepted explanation, and those this run detected (an ingest's end summary: most gaps of a
    year are explained, and deciding the others is what costs); ``sessions`` False: without ``session_id``
    and ``need_reason`` (whether a gap needs an explanation does not depend on which session it
    lies in, only those names do, and naming sessions reads every recording)."""
    config = config or Config()
    zones = config.zones()
    columns = TABLES["gaps"].names

    def work(scan: Scan) -> tuple[pa.Table, _Known | None]:
        src = _sources(scan)
        firsts = f"({_first_gaps(src, 'gap_id, device_id, detected_run_id, kind, sha256, _file, _row')})"
        states = f"({_latest_states(src)})"
        if sessions:                  # the sessions' context is read from these too: each built once
            scan.con.execute(f"CREATE TEMP TABLE firsts AS {firsts}")
            scan.con.execute(f"CREATE TEMP TABLE states AS {states}")
            firsts, states = "firsts", "states"
        where = []
        if not include_closed or only_unexplained:
            where.append("coalesce(s.state, 'open') = 'open'")
        if only_unexplained:                 # an accepted explanation: never waiting, whatever it needs
            where.append("coalesce(e.explained, false) = false")
        if device:
            where.append("g.device_id = $device")
        if detected_by:
            where.append("g.detected_run_id = $run")
        if unexplained_or_run:
            where.append("(coalesce(e.explained, false) = false OR g.detected_run_id = $either)")
        # Which gaps are listed, decided on narrow rows; then the whole rows of those alone, and the
        # last explanation's words of those alone (a year's gaps are mostly explained, few listed).
        gaps = scan.con.sql(f"""
            WITH e AS (
                SELECT gap_id, bool_or(source = 'spoken' OR coalesce(approved_by, '') <> '') AS explained
                FROM {src["explanations"]} GROUP BY gap_id),
            listed AS (
                SELECT g.gap_id, g._file, g._row, coalesce(s.state, 'open') = 'open' AS current,
                       CASE WHEN e.explained THEN 'explained' WHEN e.gap_id IS NOT NULL THEN 'awaiting approval'
                            ELSE 'unexplained' END AS explanation
                FROM {firsts} g LEFT JOIN {states} s USING (gap_id) LEFT JOIN e USING (gap_id)
                {"WHERE " + " AND ".join(where) if where else ""}),
            words AS (
                SELECT gap_id,
                       arg_max(reason, struct_pack(t := explained_at, f := _file, r := _row)) AS explanation_reason,
                       arg_max(explained_by, struct_pack(t := explained_at, f := _file, r := _row)) AS explained_by,
                       arg_max(approved_by, struct_pack(t := explained_at, f := _file, r := _row))
                           FILTER (WHERE coalesce(approved_by, '') <> '') AS approved_by
                FROM {src["explanations"]} WHERE gap_id IN (SELECT gap_id FROM listed) GROUP BY gap_id)
            SELECT {", ".join(f'g."{c}"' for c in columns)}, l.current, l.explanation, w.explanation_reason,
                   w.explained_by, w.approved_by
            FROM {src["gaps"]} g JOIN listed l ON g.gap_id = l.gap_id AND g._file = l._file AND g._row = l._row
            LEFT JOIN words w ON w.gap_id = l.gap_id""",
            params={k: v for k, v in (("device", device), ("run", detected_by), ("either", unexplained_or_run))
                    if v} or None).to_arrow_table()
        if not sessions:
            return gaps, None
        known = _context(scan, src, firsts, states)
        if gaps.num_rows and not device:   # every recording read once (sessions', names), in this scan
            scan.con.execute("DROP TABLE firsts; DROP TABLE states")     # their memory given back first
            known.recordings = _every_recording(scan)
        return gaps, known

    rows, known = scanning(archive, work)
    rows = gap_sets.placed(rows.cast(_schema(rows)), zones)
    if only_unexplained and sessions:
        # Whether each needs an explanation first (no sessions: few recordings asked), then names
        # and sessions for the few that do: each gap's are its own, whichever others are listed (and
        # in whichever order: only the few kept are then sorted, not the 74,000 of a year read).
        decided = _annotated(archive, rows, config, labels=False, gap_devices=known.gap_devices, known=known)
        # what was decided is kept (``_DECIDED``): the sessions are then all the few need
        rows = rows.append_column(_DECIDED[0], decided["needs_explanation"]).append_column(
            _DECIDED[1], decided["need_reason"])
        rows = rows.filter(decided["needs_explanation"])
    rows = rows.take(gap_sets.order(rows))
    if known is not None and known.recordings is not None:
        rows = _named_and_annotated(archive, rows, config, known, names)
    else:
        rows = scanning(archive, lambda scan: _named(scan, rows, names))
        for name, column in _annotated(archive, rows, config, labels=sessions, known=known).items():
            rows = rows.append_column(name, column)
    if only_unexplained:
        rows = rows.filter(rows["needs_explanation"])
    return rows.select(list(columns) + [c for c in gap_sets.EXTRA if sessions or c not in WITH_SESSIONS])


# Gaps named and given their sessions at once: the whole year's listing (380,000 gaps) a slice of
# devices at a time, so that only a slice's recordings, names and sessions are being worked on at
# once (the whole year at once peaked at 1.12-1.17 GiB); a listing of a few thousand is one slice.
SLICE_ROWS = 65_536


def _named_and_annotated(archive: Path, rows: pa.Table, config: Config, known: _Known, names: bool) -> pa.Table:
    """``rows`` (in device order) with the names of their files and their sessions, from every
    recording read already (``known.recordings``), a slice of about ``SLICE_ROWS`` rows at a time,
    cut where the device changes. Each gap's names and session are its own, whichever others are
    asked about with it (``_annotated``), so the slices give what the whole would."""
    every, parts = known.recordings, []
    cuts = _slices(rows["device_id"], SLICE_ROWS)
    if len(cuts) > 2:     # the devices the whole listing's sessions would read, each slice's among them
        if known.moved is None:
            from pipeline.records.gaprefresh import reattributed
            known.moved = reattributed(Catalog(archive), config.identity)
        known.within = _session_devices(Catalog(archive), rows, config.gaps.timeline_kinds, known)
    for first, end in zip(cuts[:-1], cuts[1:]):
        known.recordings = every
        if end == rows.num_rows:
            every = None                # the last slice: ``_annotated`` gives every recording's memory back
        part = _named_from(known.recordings, rows.slice(first, end - first), names)
        for name, column in _annotated(archive, part, config, known=known).items():
            part = part.append_column(name, column)
        parts.append(part)
    known.within = None
    return pa.concat_tables(parts) if len(parts) != 1 else parts[0]


def _slices(devices: pa.ChunkedArray, size: int) -> list[int]:
    """Where slices of ``size`` rows or more begin (and the end): each at the first change of device
    ``size`` rows or more after the last, so that a device's gaps are in one slice."""
    n = len(devices)
    if n <= size:
        return [0, n]
    codes = pc.dictionary_encode(devices.combine_chunks()).indices.fill_null(-1).to_numpy(zero_copy_only=False)
    changes = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    cuts = [0]
    while (at := int(np.searchsorted(changes, cuts[-1] + size))) < len(changes):
        cuts.append(int(changes[at]))
    return cuts + [n]


WITH_SESSIONS = ("session_id", "need_reason")        # the columns ``listing(sessions=False)`` leaves out

# A listing's gaps decided already (``_annotated`` without labels: whether each needs an explanation,
# and why, do not depend on the sessions but for a pause inside one, whose reason names it), carried
# as these columns so that naming their sessions decides nothing again (the marks, cases and windows
# around the long pauses: a third of naming the unexplained gaps' sessions).
_DECIDED = ("_needs_explanation", "_need_reason")

# What ``decided`` reads of each gap: what is placed, and what deciding whether it needs an explanation asks.
_DECIDING = ("gap_id", "kind", "device_id", "officer_id", "start_time", "end_time", "start_utc", "end_utc",
             "duration_s", "before_sha256", "after_sha256")


def decided(archive: Path, config: Config | None = None, *, include_closed: bool = True,
            recordings: pa.Table | None = None, read: Undecided | None = None) -> pa.Table:
    """``listing(names=False, sessions=False)`` on the columns counts need (the ledger's: device,
    start, kind, ``current``, ``explanation``, ``needs_explanation``), in no particular order:
    each gap's first row read on those columns alone, its explanation status without the last
    explanation's words, and the devices with a gap found in the same read (``_gap_devices``).
    ``recordings``: every recording, read already by the caller (at least ``DECIDING_RECORDINGS``;
    device and officer as cataloged or as attributed: the reattributed ones are moved either way),
    so that they are not read a second time; ``read``: ``undecided(...)`` of the same arguments,
    read already (the ledger reads it while it reads the recordings)."""
    config = config or Config()
    read = read if read is not None else undecided(archive, config, include_closed=include_closed)
    if read.paths is not None:
        read = _with_sides(archive, config, read, include_closed)
    decision = _annotated(archive, read.rows, config, labels=False, gap_devices=read.devices, recordings=recordings,
                          reasons=False)
    return read.rows.append_column("needs_explanation", decision["needs_explanation"])


_SIDES = ("before_sha256", "after_sha256")       # most of a year's gaps' bytes: 64 characters each


@dataclass
class Undecided:
    """``decided``'s gaps before they are decided (placed, ``current`` and ``explanation`` known),
    and every device with a gap. Read without ``_SIDES`` (``undecided(sides=False)``): the parts
    they are read from afterwards (``paths``), how many rows those hold and which of them these
    rows are (``picked``, in catalog order)."""
    rows: pa.Table
    devices: list[str]
    paths: list[str] | None = None
    stored: int = 0
    picked: np.ndarray | None = None


def undecided(archive: Path, config: Config | None = None, *, include_closed: bool = True,
              sides: bool = True) -> Undecided:
    """What ``decided`` reads of the gaps, their states and explanations: nothing of the recordings,
    so that it may be read while they are (DuckDB and Arrow work without the GIL). ``sides``
    False: without the pauses' sides (``_SIDES``), read by ``decided`` afterwards from the same
    parts, so that what is held meanwhile is small."""
    config = config or Config()
    columns = [c for c in _DECIDING if sides or c not in _SIDES]

    def work(scan: Scan) -> tuple[pa.Table, pa.Table, pa.Table, list[str]]:
        src = _sources(scan)
        paths = scan.paths("gaps")
        source = f"read_parquet({list_literal(paths)}, union_by_name=true)" if paths else scan.source("gaps")
        gaps = scan.arrow(f"SELECT {', '.join(columns)} FROM {source}")       # in catalog order
        states = scan.arrow(_latest_states(src))
        explained = scan.arrow(f"""SELECT gap_id, bool_or(source = 'spoken' OR coalesce(approved_by, '') <> '')
                                          AS explained FROM {src["explanations"]} GROUP BY gap_id""")
        return gaps, states, explained, paths

    # Each gap's first row, its state and explanation status joined by Arrow's hashes: about half of
    # what DuckDB's grouping and joins of 400,000 gaps cost, and most gaps have one row.
    rows, states, explained, paths = scanning(archive, work)     # every gap: the devices with one are among all
    stored = rows.num_rows
    picked = np.arange(stored)
    ids = rows["gap_id"].combine_chunks()
    if len(pc.unique(ids)) != len(ids):          # a third of count_distinct's time on 400,000 ids
        first = pc.index_in(pc.unique(ids), value_set=ids)
        rows, picked = rows.take(first), picked[first.to_numpy(zero_copy_only=False)]
        ids = rows["gap_id"].combine_chunks()
    closed = states.filter(pc.fill_null(pc.not_equal(states["state"], "open"), False))["gap_id"]
    at = pc.index_in(ids, value_set=explained["gap_id"].combine_chunks(), skip_nulls=True)   # SQL's join: no null
    rows = rows.append_column("current", pc.invert(pc.is_in(ids, value_set=closed.combine_chunks(), skip_nulls=True))
                              ).append_column(
        "explanation", pc.if_else(pc.fill_null(pc.take(explained["explained"].combine_chunks(), at), False),
                                  "explained", pc.if_else(pc.is_valid(at), "awaiting approval", "unexplained")))
    devices = sorted(pc.unique(rows["device_id"].combine_chunks()).drop_null().to_pylist())
    if not include_closed:
        current = rows["current"].to_numpy(zero_copy_only=False)
        rows, picked = rows.filter(rows["current"]), picked[current]
    rows = gap_sets.placed(rows.cast(_schema(rows)), config.zones())
    return Undecided(rows, devices) if sides else Undecided(rows, devices, paths, stored, picked)


def _with_sides(archive: Path, config: Config, read: Undecided, include_closed: bool) -> Undecided:
    """``read`` with the pauses' sides, read from the parts it was read from; all of it read again
    (with them) when one of those parts is gone since (a compaction finished meanwhile)."""
    import duckdb

    def work(scan: Scan) -> pa.Table:
        return scan.arrow(f"SELECT {', '.join(_SIDES)} FROM read_parquet({list_literal(read.paths)}, "
                          f"union_by_name=true)")      # in catalog order, as the rest was read

    try:
        sides = scanning(archive, work, attempts=1) if read.paths else None
    except duckdb.IOException:
        sides = None
    if read.paths and (sides is None or sides.num_rows != read.stored):
        return undecided(archive, config, include_closed=include_closed)
    rows = read.rows
    for name in _SIDES:
        rows = rows.append_column(name, pa.nulls(0, pa.string()) if sides is None else
                                  sides[name].take(pa.array(read.picked, pa.int64())))
    order = [c for c in _DECIDING if c in rows.column_names] + [c for c in rows.column_names if c not in _DECIDING]
    return Undecided(rows.select(order).cast(_schema(rows.select(order))), read.devices)


@dataclass
class _Known:
    """What a listing with sessions reads with its gaps, for the sessions: the devices with a gap
    (``_gap_devices``), the contents a current clock gap names (``_current_clock_shas``), the
    damaged tails' rows in catalog order; then every recording (``_every_recording``)."""
    gap_devices: list[str]
    clocks: set[str]
    tails: list[dict]
    recordings: pa.Table | None = None
    moved: dict | None = None           # ``gaprefresh.reattributed``, once asked: both annotations ask it
    within: list[str] | None = None     # a slice of a listing: the devices the whole listing's sessions read


def _context(scan: Scan, src: dict[str, str], firsts: str, states: str) -> _Known:
    devices = scan.arrow(f"SELECT DISTINCT device_id FROM {firsts} WHERE device_id IS NOT NULL")
    clocks = scan.arrow(f"""
        SELECT DISTINCT g.sha256 FROM {firsts} g LEFT JOIN {states} s USING (gap_id)
        WHERE g.kind = 'clock' AND g.sha256 IS NOT NULL AND coalesce(s.state, 'open') = 'open'""")
    tails = scan.arrow(f"""SELECT {", ".join(_TAIL_COLUMNS)} FROM {src["gaps"]} WHERE kind = 'damaged_tail'
                           ORDER BY _file, _row""")
    tails = tails.cast(pa.schema([TABLES["gaps"].field(c) for c in _TAIL_COLUMNS]))
    return _Known(sorted(devices["device_id"].to_pylist()), set(clocks["sha256"].to_pylist()), tails.to_pylist())


_TAIL_COLUMNS = ["gap_id", "kind", "sha256", "device_id", "end_time", "end_utc", "duration_s"]


def _every_recording(scan: Scan) -> pa.Table:
    """Every recording on the sessions' columns and its name, in catalog order."""
    columns = sessions_columns + ["source_name"]
    schema = pa.schema([TABLES["recordings"].field(c) for c in columns])
    paths = scan.paths("recordings")
    if not paths:
        return schema.empty_table()
    rows = scan.arrow(f"SELECT {', '.join(columns)} FROM read_parquet({list_literal(paths)}, union_by_name=true)")
    return rows.cast(schema)


def _named_shas(gaps: pa.Table) -> pa.Array:
    """The contents the gaps name (``_NAMED``), each once."""
    return pc.unique(pa.concat_arrays([gaps[c].combine_chunks().cast(pa.string()) for c in _NAMED]).drop_null())


def _named_from(recordings: pa.Table, gaps: pa.Table, look: bool = True) -> pa.Table:
    """``_named`` from every recording read already (in catalog order): of a content's rows with a
    name, the last."""
    if not look:
        return _named(None, gaps, False)
    wanted = _named_shas(gaps)
    hit = pc.and_(pc.is_in(recordings["sha256"], value_set=wanted), pc.is_valid(recordings["source_name"]))
    rows = recordings.select(["sha256", "source_name"]).filter(hit)
    rows = rows.take(pa.array(np.arange(rows.num_rows - 1, -1, -1, dtype=np.int64)))     # the last first
    shas = rows["sha256"].combine_chunks()
    names = rows.take(pc.index_in(pc.unique(shas), value_set=shas))
    for column, name in zip(_NAMED, ("file", "before_file", "after_file")):
        gaps = gaps.append_column(name, pc.take(names["source_name"],
                                                pc.index_in(gaps[column], value_set=names["sha256"])))
    return gaps


def _annotated(archive: Path, gaps: pa.Table, config: Config, labels: bool = True,
               gap_devices: list[str] | None = None, known: _Known | None = None,
               recordings: pa.Table | None = None, reasons: bool = True) -> dict[str, pa.Array]:
    """``records.sessions.annotate`` over whole columns: each listed gap's session, whether it needs
    an explanation and why. Sessions of the listed gaps' devices, over the recordings each device's
    timeline uses (as attributed, placed; without the ones a current clock gap names), the damaged
    tails reaching as far as the gaps record. ``labels`` False: whether each gap needs an
    explanation alone (the session names null): that needs no sessions (a pause inside one is a
    pause no longer than the break, whichever it is), only the recordings that can decide a long
    pause (``_deciding``), so hardly any other recording is kept; of a few gaps (a listing's), only
    the ends of their long pauses, the only recordings asked about. ``gap_devices``: ``_gap_devices``
    already read; ``known``: what the listing read already (every recording among it);
    ``recordings``: every recording read already (``decided``'s), for ``labels`` False; ``reasons``
    False: ``needs_explanation`` alone (``session_sets.needs``)."""
    from pipeline.records.gaprefresh import reattributed
    from pipeline.records.sessions import _label, _windows
    from pipeline.rules.custody import holder_periods
    from pipeline.rules.sets import recordings as placing, sessions as session_sets
    from pipeline.rules.sets.retention import _pairs

    catalog = Catalog(archive)
    zones, cfg = config.zones(), config.gaps
    if not gaps.num_rows:
        return {"session_id": pa.array([], pa.string()), "needs_explanation": pa.array([], pa.bool_()),
                "need_reason": pa.array([], pa.string())}
    if labels and all(c in gaps.column_names for c in _DECIDED):
        return _with_sessions(archive, catalog, gaps, config, known)
    # the recordings around long pauses: marked important, and the cases (or classes) holding them
    long = pc.and_(pc.fill_null(pc.equal(gaps["kind"], "between_files"), False),
                   pc.fill_null(pc.greater(gaps["duration_s"], cfg.session_break_s), False))
    moved = known.moved if known is not None and known.moved is not None else reattributed(catalog, config.identity)
    if known is not None:
        known.moved = moved
    kinds = pa.array(list(cfg.timeline_kinds), pa.string())
    assignments = catalog.read("assignments")
    assignments = assignments.filter(pc.fill_null(pc.not_equal(assignments["retention_class"], "routine"), True))
    # Only the ends of a long pause are asked whether they are marked or held (``session_sets.needs``:
    # a duration that is not a number is long there too).
    pausing = pc.and_(pc.fill_null(pc.equal(gaps["kind"], "between_files"), False),
                      pc.invert(pc.fill_null(pc.less_equal(gaps["duration_s"], cfg.session_break_s), True)))
    every = recordings if recordings is not None else known.recordings if known is not None else None
    around = None                       # every row read may be around a long pause: asked as if it were
    if labels or _few(2 * (pc.sum(pausing).as_py() or 0), None if every is None else every.num_rows):
        around = pc.unique(pa.concat_arrays([pc.filter(gaps[c], pausing).combine_chunks().cast(pa.string())
                                             for c in ("before_sha256", "after_sha256")]).drop_null())
    if labels:
        devices = _session_devices(catalog, gaps, cfg.timeline_kinds, known, moved)
        if known is not None and known.recordings is not None:
            every = known.recordings
            keep = pc.and_(pc.is_in(every["kind"], value_set=kinds),
                           pc.is_in(every["device_id"], value_set=pa.array(devices, pa.string())))
            if moved:
                keep = pc.or_(keep, pc.is_in(every["sha256"], value_set=pa.array(sorted(moved), pa.string())))
            rec = every.select(sessions_columns)
            rec = rec if pc.all(pc.fill_null(keep, False)).as_py() else rec.filter(keep)     # else no copy
            known.recordings = every = None           # asked of no more: its memory given back
        else:
            expr = ds.field("kind").isin(kinds) & ds.field("device_id").isin(pa.array(devices, pa.string()))
            if moved:
                expr = expr | ds.field("sha256").isin(pa.array(sorted(moved), pa.string()))
            rec = catalog.read("recordings", sessions_columns, filter=expr)
    else:                               # the devices ``records.sessions.annotate`` reads: every one with a gap
        devices = sorted(_gap_devices(catalog)) if gap_devices is None else gap_devices
        if not pc.any(long).as_py():
            rec = TABLES["recordings"].empty_table().select(DECIDING_RECORDINGS)
        elif every is not None:
            if around is not None:                         # a few gaps (a listing's): their ends alone
                every = every.filter(pc.is_in(every["sha256"], value_set=around))
            rec = _deciding_of(every, assignments, sorted(moved), cfg.timeline_kinds)
        else:
            rec = _deciding(archive, assignments, sorted(moved), cfg.timeline_kinds, around)
    if moved:
        rec = _moved(rec, moved)
    if moved or not labels:
        rec = rec.filter(pc.and_(pc.fill_null(pc.is_in(rec["device_id"], value_set=pa.array(devices, pa.string())), False),
                                 pc.is_in(rec["kind"], value_set=kinds)))
    device_labels, by_label = placing.device_zones(rec["device_id"].combine_chunks(), zones)
    start = placing._place_start(rec, device_labels, by_label)
    end = placing._place_end(rec, start)
    by_sha = None
    if labels:
        named = _named_shas(gaps)
        by_sha = _sessions_by_sha(archive, catalog, rec, start, end, config, named, known)
    near = pc.is_in(rec["sha256"], value_set=around) if around is not None else \
        pa.array(np.ones(rec.num_rows, bool))
    marked = pc.and_(near, pc.fill_null(rec["important"], False))
    important = set(pc.filter(rec["sha256"], marked).to_pylist())
    groups: dict[str, frozenset[str]] = {}
    if assignments.num_rows and pc.any(near).as_py() and pc.any(long).as_py():
        periods = holder_periods(catalog.rows("handovers"), [e for e in catalog.rows(
            "device_events", ["device_id", "event", "at"]) if e["event"] == "return"])
        rows = pc.indices_nonzero(near)
        subset = rec.take(rows)
        ledger = placing.holders(subset["device_id"].combine_chunks(), start.take(rows), periods)
        officer = placing._attribute(subset["officer_id"].combine_chunks(), ledger)["officer"]
        table = pa.table({"sha256": subset["sha256"], "device_id": subset["device_id"], "officer": officer,
                          "start": start.take(rows), "end": pc.coalesce(end.take(rows), start.take(rows)),
                          "important": pc.fill_null(subset["important"], False)})
        from datetime import datetime, timezone

        pairs = _pairs(table, assignments, datetime.max.replace(tzinfo=timezone.utc))
        shas = table["sha256"].take(pairs["r"]).to_pylist()
        case_labels: dict[tuple, str] = {}     # each case's label once (a year's pairs: 16,000, few cases)
        for sha, cid, cls in zip(shas, pairs["case_id"].to_pylist(), pairs["retention_class"].to_pylist()):
            if (cid, cls) not in case_labels:
                case_labels[cid, cls] = _label({"case_id": cid, "retention_class": cls})
            groups[sha] = groups.get(sha, frozenset()) | {case_labels[cid, cls]}
    windows = list(_windows(_ranged_rows(assignments)))
    return session_sets.needs(gaps, by_sha, cfg.session_break_s, important, groups, windows,
                              reasons=reasons or labels)


def _ranged_rows(assignments: pa.Table) -> list[dict]:
    """The assignments ``records.sessions._windows`` may take (a device's or officer's range), as
    dicts of the columns it reads: a year's 6,000 whole rows as dicts cost half a second."""
    ranged = pc.and_(pc.fill_null(pc.is_in(assignments["selector"], value_set=pa.array(["device", "officer"])), False),
                     pc.and_(pc.is_valid(assignments["range_start"]), pc.is_valid(assignments["range_end"])))
    return assignments.filter(ranged).select(["case_id", "retention_class", "selector", "device_id", "officer_id",
                                              "range_start", "range_end", "important"]).to_pylist()


def _with_sessions(archive: Path, catalog: Catalog, gaps: pa.Table, config: Config,
                   known: _Known | None) -> dict[str, pa.Array]:
    """``_annotated`` of gaps decided already (``_DECIDED``): their sessions, and the reason of a
    pause inside one (which names it); the rest as decided. Only the sessions ``session_sets.needs``
    looks up are named (``_looking_up``: a long pause is in none), so only their devices' recordings
    are placed: of the year's unexplained gaps, a fifth on half of the devices."""
    from pipeline.records.gaprefresh import reattributed
    from pipeline.rules.sets import recordings as placing, sessions as session_sets

    cfg = config.gaps
    asking = _looking_up(gaps, cfg.session_break_s)
    by_sha = pa.table({"sha256": pa.array([], pa.string()), "session_id": pa.array([], pa.string())})
    if asking.num_rows:
        moved = known.moved if known is not None and known.moved is not None else \
            reattributed(catalog, config.identity)
        if known is not None:
            known.moved = moved
        kinds = pa.array(list(cfg.timeline_kinds), pa.string())
        devices = pa.array(_session_devices(catalog, asking, cfg.timeline_kinds, known, moved), pa.string())
        if known is not None and known.recordings is not None:
            every = known.recordings
            keep = pc.and_(pc.is_in(every["kind"], value_set=kinds), pc.is_in(every["device_id"], value_set=devices))
            if moved:
                keep = pc.or_(keep, pc.is_in(every["sha256"], value_set=pa.array(sorted(moved), pa.string())))
            rec = every.select(sessions_columns).filter(keep)
            known.recordings = every = None           # asked of no more: its memory given back
        else:
            expr = ds.field("kind").isin(kinds) & ds.field("device_id").isin(devices)
            if moved:
                expr = expr | ds.field("sha256").isin(pa.array(sorted(moved), pa.string()))
            rec = catalog.read("recordings", sessions_columns, filter=expr)
        if moved:
            rec = _moved(rec, moved)
            rec = rec.filter(pc.and_(pc.fill_null(pc.is_in(rec["device_id"], value_set=devices), False),
                                     pc.is_in(rec["kind"], value_set=kinds)))
        device_labels, by_label = placing.device_zones(rec["device_id"].combine_chunks(), config.zones())
        start = placing._place_start(rec, device_labels, by_label)
        end = placing._place_end(rec, start)
        by_sha = _sessions_by_sha(archive, catalog, rec, start, end, config, _named_shas(asking), known)
    elif known is not None:
        known.recordings = None
    out = session_sets.needs(gaps, by_sha, cfg.session_break_s, set(), {}, [])
    inside = pc.and_(pc.fill_null(pc.equal(gaps["kind"], "between_files"), False),
                     pc.fill_null(pc.less_equal(gaps["duration_s"], cfg.session_break_s), True))
    return {"session_id": out["session_id"], "needs_explanation": gaps[_DECIDED[0]].combine_chunks(),
            "need_reason": pc.if_else(inside, out["need_reason"], gaps[_DECIDED[1]].combine_chunks())}


def _looking_up(gaps: pa.Table, break_s: float) -> pa.Table:
    """The gaps whose session ``session_sets.needs`` looks up, each with the contents it looks up
    (the rest null): a pause inside a session, either side's; an overlap, the first's; any other gap
    but a pause, its own; a long pause, none."""
    kind = gaps["kind"].combine_chunks()
    between = pc.fill_null(pc.equal(kind, "between_files"), False)
    inside = pc.and_(between, pc.fill_null(pc.less_equal(gaps["duration_s"], break_s), True))
    overlap = pc.fill_null(pc.equal(kind, "overlap"), False)
    none = pa.scalar(None, pa.string())
    out = pa.table({"device_id": gaps["device_id"],
                    "sha256": pc.if_else(pc.or_(between, overlap), none, gaps["sha256"]),
                    "before_sha256": pc.if_else(pc.or_(inside, overlap), gaps["before_sha256"], none),
                    "after_sha256": pc.if_else(inside, gaps["after_sha256"], none)})
    return out.filter(pc.or_(pc.invert(between), inside))


def _few(ends: int, recordings: int | None = None) -> bool:
    """Whether the ends of the long pauses asked about are few enough to pick the recordings by
    (a listing's, not the ledger's, which asks about nearly every recording)."""
    return ends < 100_000 and (recordings is None or ends * 4 < recordings)


_DAY_US = 86_400_000_000
_LONGEST_S = 1e9                        # a duration beyond this (or not a number): its end is not bounded
_SLACK_US = 1_000                       # rounding: a duration in microseconds, as floats


def _deciding(archive: Path, assignments: pa.Table, moved: list[str], kinds: tuple[str, ...],
              around: pa.Array | None = None) -> pa.Table:
    """The recordings of the timeline's kinds that can decide whether a long pause needs an
    explanation, and those attributed other than by their own name (all of these, whatever they
    are), read by DuckDB: the ones marked important, and the ones an assignment may pick
    (``rules.sets.retention._pairs``): by SHA-256, or by a time that may overlap a device's (its
    own) or an officer's (anyone's: the officer is the ledger's) range. The time is bounded without
    placing it (``rules.clocks.placed_start``: where ingest placed it, or the device clock read as
    UTC or in a zone, which is less than a day from UTC); the end as far as the duration reaches.
    ``session_sets.needs`` asks nothing else of the recordings around a pause (marks, cases), so
    leaving the rest out changes no answer, and the rest are nearly all of a year. In no particular
    order: what is asked of them does not depend on it. ``around``: only these contents (the ends
    of the long pauses asked about)."""
    schema = pa.schema([TABLES["recordings"].field(c) for c in DECIDING_RECORDINGS])

    def work(scan: Scan) -> pa.Table:
        paths = scan.paths("recordings")
        if not paths:
            return schema.empty_table()
        scan.con.register("moved", pa.table({"sha256": pa.array(moved, pa.string())}))
        if around is not None:
            scan.con.register("around", pa.table({"sha256": around.cast(pa.string())}))
        rows = scan.con.sql(f"""
            SELECT {", ".join(DECIDING_RECORDINGS)} FROM read_parquet({list_literal(paths)}, union_by_name=true)
            WHERE (list_contains($kinds, kind) OR sha256 IN (SELECT sha256 FROM moved))
                  {"AND sha256 IN (SELECT sha256 FROM around)" if around is not None else ""}""",
                            params={"kinds": list(kinds)}).to_arrow_table().cast(schema)
        return rows.filter(_may_decide(rows, assignments, moved))
    return scanning(archive, work)


def _deciding_of(every: pa.Table, assignments: pa.Table, moved: list[str], kinds: tuple[str, ...]) -> pa.Table:
    """``_deciding`` from every recording read already."""
    timeline = pc.is_in(every["kind"], value_set=pa.array(list(kinds), pa.string()))
    if moved:
        timeline = pc.or_(timeline, pc.is_in(every["sha256"], value_set=pa.array(moved, pa.string())))
    return every.select(DECIDING_RECORDINGS).filter(pc.and_(timeline, _may_decide(every, assignments, moved)))


# What deciding asks of a recording: where it is placed (``rules.sets.recordings._place_start``,
# ``_place_end``), its device, officer and kind, and what may pick it (a mark, a SHA-256, a time).
DECIDING_RECORDINGS = ["sha256", "kind", "device_id", "officer_id", "start_time", "duration_s", "time_source",
                       "start_utc", "end_utc", "time_zone", "container_time_zone", "important"]


def _may_decide(rows: pa.Table, assignments: pa.Table, moved: list[str]) -> pa.Array:
    """Which of ``rows`` (recordings on ``DECIDING_RECORDINGS``) ``_deciding`` keeps."""
    n = rows.num_rows
    keep = pc.fill_null(rows["important"], False).to_numpy(zero_copy_only=False).copy()
    if moved:
        keep |= pc.is_in(rows["sha256"], value_set=pa.array(moved, pa.string())).to_numpy(zero_copy_only=False)
    selector = assignments["selector"]
    by_sha = assignments.filter(pc.fill_null(pc.equal(selector, "sha256"), False))["sha256"]
    if len(by_sha):
        keep |= pc.is_in(rows["sha256"], value_set=by_sha.combine_chunks()).to_numpy(zero_copy_only=False)
    ranged = assignments.filter(pc.and_(pc.fill_null(pc.is_in(selector, value_set=pa.array(["device", "officer"])),
                                                     False),
                                        pc.and_(pc.is_valid(assignments["range_start"]),
                                                pc.is_valid(assignments["range_end"]))))
    if ranged.num_rows and n:
        stored, wall, end = (_us(rows[c].cast(pa.int64())) for c in ("start_utc", "start_time", "end_utc"))
        duration = rows["duration_s"].combine_chunks().fill_null(0.0).to_numpy(zero_copy_only=False)
        unbounded = ~np.isfinite(duration) | (np.abs(np.nan_to_num(duration)) > _LONGEST_S)
        reach = np.round(np.clip(np.nan_to_num(duration), 0, _LONGEST_S) * 1e6) + _SLACK_US
        lo = np.fmin(stored, wall - _DAY_US) - _SLACK_US        # NaN where absent: fmin takes the other
        hi = np.fmax(end, np.fmax(stored, wall + _DAY_US) + reach)
        timed = ~np.isnan(lo)
        keep |= unbounded & timed
        officers = ranged.filter(pc.equal(ranged["selector"], "officer"))
        if officers.num_rows:                       # anyone's recording: the officer is the ledger's
            keep |= timed & _overlaps(lo, hi, *_range_us(officers))
        devices = ranged.filter(pc.and_(pc.equal(ranged["selector"], "device"), pc.is_valid(ranged["device_id"])))
        if devices.num_rows:                        # each device's recordings against its own ranges
            owners = pc.unique(devices["device_id"].combine_chunks())
            row_code = pc.index_in(rows["device_id"], value_set=owners).fill_null(-1).to_numpy(zero_copy_only=False)
            pick_code = pc.index_in(devices["device_id"], value_set=owners).to_numpy(zero_copy_only=False)
            starts, ends = _range_us(devices)
            by_row, by_pick = np.argsort(row_code, kind="stable"), np.argsort(pick_code, kind="stable")
            row_bounds = np.searchsorted(row_code[by_row], np.arange(len(owners) + 1))
            pick_bounds = np.searchsorted(pick_code[by_pick], np.arange(len(owners) + 1))
            for code in range(len(owners)):
                r = by_row[row_bounds[code]:row_bounds[code + 1]]
                p = by_pick[pick_bounds[code]:pick_bounds[code + 1]]
                if len(r):
                    keep[r] |= timed[r] & _overlaps(lo[r], hi[r], starts[p], ends[p])
    return pa.array(keep)


def _range_us(picks: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    start, end = (_us(picks[c].combine_chunks().cast(pa.int64())) for c in ("range_start", "range_end"))
    return start, end


def _us(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Microseconds as floats (exact below 2**53, some 285 years either side of 1970), NaN where null."""
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=float)


def _overlaps(lo: np.ndarray, hi: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Whether [lo, hi] meets one of the ranges [starts, ends]: of the ranges starting by ``hi``, the
    furthest end reaches ``lo``."""
    order = np.argsort(starts, kind="stable")
    starts, furthest = starts[order].astype(float), np.maximum.accumulate(ends[order].astype(float))
    upto = np.searchsorted(starts, np.nan_to_num(hi, nan=-np.inf), side="right")
    return (upto > 0) & (furthest[np.maximum(upto - 1, 0)] >= np.nan_to_num(lo, nan=np.inf))


def _sessions_by_sha(archive: Path, catalog: Catalog, rec: pa.Table, start: pa.Array, end: pa.Array,
                     config: Config, named: pa.Array, known: _Known | None = None) -> pa.Table:
    """sha256 -> session_id of the contents ``named`` by the listed gaps, over ``rec`` (placed at
    ``start``/``end``): without the recordings a current clock gap names, damaged tails reaching as
    far as the gaps record."""
    from pipeline.rules.sets import sessions as session_sets

    zones, cfg = config.zones(), config.gaps
    clocks = _current_clock_shas(archive) if known is None else known.clocks
    tails = {sha: t.end for sha, t in damaged_tails(catalog.rows(
        "gaps", _TAIL_COLUMNS, filter=ds.field("kind") == "damaged_tail") if known is None else known.tails,
        zones).items()}
    kept = pc.invert(pc.is_in(rec["sha256"], value_set=pa.array(sorted(clocks), pa.string())))
    asked = pc.is_in(rec["sha256"], value_set=named).to_numpy(zero_copy_only=False)
    sha, device = rec["sha256"].combine_chunks(), pc.if_else(kept, rec["device_id"], None).combine_chunks()
    appearing = pc.unique(pc.filter(device, pc.and_(pc.is_valid(device), pc.is_valid(start))))
    if asked.sum() * 4 < len(asked):     # only the rows the asked ones' sessions need (a listing's few)
        rows = sessionrows.needed(sha, device, start, end, tails, cfg.session_break_s, asked)
        picked = pa.array(rows)
        sha, device, start, end, asked = (sha.take(picked), device.take(picked), start.take(picked),
                                          end.take(picked), asked[rows])
    sessions = session_sets.session_ids(sha, device, start, end, tails, cfg.session_break_s, zones.site_zone,
                                        only=asked)
    return _session_of(sha, device, start, sessions, named, appearing)


def _gap_devices(catalog: Catalog) -> set[str]:
    """Every device with a gap (as first detected)."""
    rows = catalog.read("gaps", ["gap_id", "device_id"])
    ids = rows["gap_id"].combine_chunks()
    if pc.count_distinct(ids).as_py() == len(ids):            # each gap one row (the common case)
        return set(pc.unique(rows["device_id"].combine_chunks()).drop_null().to_pylist())
    return set(rows["device_id"].take(pc.index_in(pc.unique(ids), value_set=ids)).drop_null().unique().to_pylist())


def _session_devices(catalog: Catalog, gaps: pa.Table, kinds: tuple[str, ...], known: _Known | None = None,
                     moved: dict | None = None) -> list[str]:
    """The devices whose sessions the listed gaps need: their own, and any other device with a gap
    that holds a content these gaps name (``records.sessions.annotate`` looks a content's session
    up among every device with a gap, so a content cataloged under two devices may be in the
    other's). Usually none is added: a listing of one device stays a read of one device."""
    listed = sorted(d for d in pc.unique(gaps["device_id"]).to_pylist() if d)
    every = _gap_devices(catalog) if known is None else set(known.gap_devices)
    others = sorted(every - set(listed))
    named = pc.unique(pa.concat_arrays([gaps[c].combine_chunks().cast(pa.string())
                                        for c in ("sha256", "before_sha256", "after_sha256")]).drop_null())
    if known is not None and known.within is not None and known.recordings is not None and len(named):
        # a slice: the devices, among the whole listing's, that hold a content these gaps name once
        # reattributed (a mark or a session there answers as it does in the whole listing)
        rows = known.recordings.select(["sha256", "kind", "device_id"])
        rows = rows.filter(pc.is_in(rows["sha256"], value_set=named))
        rows = rows.filter(pc.is_in(rows["kind"], value_set=pa.array(list(kinds), pa.string())))
        moved = moved if moved is not None else known.moved or {}
        holders = {moved[s][0] if s in moved else d for s, d in zip(rows["sha256"].to_pylist(),
                                                                      rows["device_id"].to_pylist())}
        return sorted(set(listed) | (holders & set(known.within)))
    if not others or not len(named):
        return listed
    if known is not None and known.recordings is not None:
        rows = known.recordings            # the rows of the named contents first: a few, not every other device's
        rows = rows.select(["sha256", "kind", "device_id"]).filter(pc.is_in(rows["sha256"], value_set=named))
        theirs = rows.filter(pc.and_(pc.is_in(rows["kind"], value_set=pa.array(list(kinds), pa.string())),
                                     pc.is_in(rows["device_id"], value_set=pa.array(others, pa.string()))))
    else:
        theirs = catalog.read("recordings", ["sha256", "device_id"], filter=ds.field("kind").isin(
            pa.array(list(kinds), pa.string())) & ds.field("device_id").isin(pa.array(others, pa.string())))
    shared = set(theirs.filter(pc.is_in(theirs["sha256"], value_set=named))["device_id"].unique().to_pylist())
    # a content a person or its other names attributed to another device is in that device's sessions
    moved = moved if moved is not None else (known.moved if known is not None else None) or {}
    shared |= {moved[s][0] for s in named.to_pylist() if s in moved} & set(others)
    return sorted(set(listed) | shared)


def _session_of(sha: pa.ChunkedArray, device: pa.ChunkedArray, start: pa.Array, sessions: pa.Array,
                named: pa.Array, appearing: pa.Array | None = None) -> pa.Table:
    """sha256 -> session_id, one row per content among ``named`` (the few a listing asks about: the
    lookups then hash those, not a million). A content cataloged twice (two rows, perhaps two
    devices) is in the session ``records.sessions.annotate`` names last: of the device that came
    last in catalog order (devices in the order they first appear, among all: ``appearing`` when
    these rows are not all), its latest session."""
    import numpy as np

    from pipeline.rules.sets.recordings import us_of

    valid = pc.and_(pc.is_valid(device), pc.is_valid(start))     # as ``session_ids`` takes them (named or not)
    if appearing is None:                                           # devices in the order they first appear
        appearing = pc.unique(pc.filter(device, valid))
    asked = np.flatnonzero(pc.and_(pc.is_in(sha, value_set=named), valid).to_numpy(zero_copy_only=False))
    table = pa.table({"sha256": sha, "device_id": device, "start": start, "session_id": sessions}).take(asked)
    rank = pc.index_in(table["device_id"], value_set=appearing).to_numpy(zero_copy_only=False)
    if not table.num_rows or pc.count_distinct(table["sha256"]).as_py() == table.num_rows:
        return table.select(["sha256", "session_id"])     # each content once (the common case)
    last_first = np.lexsort((us_of(table["start"].combine_chunks()), rank))[::-1].copy()
    table = table.take(pa.array(last_first))
    shas = table["sha256"].combine_chunks()
    chosen = pc.index_in(pc.unique(shas), value_set=shas)      # the first of each content: the last named
    return table.take(chosen).select(["sha256", "session_id"])


sessions_columns = ["sha256", "kind", "device_id", "officer_id", "start_time", "end_time", "duration_s", "time_source",
                    "start_utc", "end_utc", "time_zone", "container_time_zone", "important"]


def _moved(rec: pa.Table, moved: dict) -> pa.Table:
    shas = rec["sha256"].to_pylist()
    device = [moved[s][0] if s in moved else d for s, d in zip(shas, rec["device_id"].to_pylist())]
    officer = [moved[s][1] if s in moved else o for s, o in zip(shas, rec["officer_id"].to_pylist())]
    rec = rec.set_column(rec.column_names.index("device_id"), "device_id", pa.array(device, pa.string()))
    return rec.set_column(rec.column_names.index("officer_id"), "officer_id", pa.array(officer, pa.string()))


def _current_clock_shas(archive: Path) -> set[str]:
    def work(scan: Scan) -> set[str]:
        src = _sources(scan)
        rows = scan.arrow(f"""
            SELECT DISTINCT g.sha256 FROM ({_first_gaps(src, "gap_id, kind, sha256")}) g
            LEFT JOIN ({_latest_states(src)}) s USING (gap_id)
            WHERE g.kind = 'clock' AND g.sha256 IS NOT NULL AND coalesce(s.state, 'open') = 'open'""")
        return set(rows["sha256"].to_pylist())
    return scanning(archive, work)


def _named(scan: Scan | None, gaps: pa.Table, look: bool = True) -> pa.Table:
    """The file names of the recordings the gaps name (the later row of a content cataloged twice)."""
    if not look:
        for name in ("file", "before_file", "after_file"):
            gaps = gaps.append_column(name, pa.nulls(gaps.num_rows, pa.string()))
        return gaps
    wanted = _named_shas(gaps)
    paths = scan.paths("recordings")
    if len(wanted) and paths:
        scan.con.register("wanted", pa.table({"sha256": wanted}))
        names = scan.arrow(f"""
            SELECT sha256, arg_max(source_name, struct_pack(f := file_index, r := file_row_number)) AS source_name
            FROM read_parquet({list_literal(paths)}, file_row_number=true)
            WHERE sha256 IN (SELECT sha256 FROM wanted) GROUP BY sha256""")
    else:
        names = pa.table({"sha256": pa.array([], pa.string()), "source_name": pa.array([], pa.string())})
    for column, name in zip(_NAMED, ("file", "before_file", "after_file")):
        gaps = gaps.append_column(name, pc.take(names["source_name"],
                                                pc.index_in(gaps[column], value_set=names["sha256"])))
    return gaps


def sightings_of(archive: Path, shas: list[str]) -> pa.Table:
    """Every sighting of these contents (``attribution.SIGHTING_COLUMNS``), in catalog order: a
    DuckDB semi-join, a third of the time of a filtered pyarrow read of a million sightings."""
    from pipeline.records.attribution import SIGHTING_COLUMNS

    schema = pa.schema([TABLES["sightings"].field(c) for c in SIGHTING_COLUMNS])

    def work(scan: Scan) -> pa.Table:
        paths = scan.paths("sightings")
        if not paths or not shas:
            return schema.empty_table()
        scan.con.register("wanted", pa.table({"sha256": pa.array(shas, pa.string())}))
        return scan.arrow(f"""
            SELECT {", ".join(SIGHTING_COLUMNS)} FROM read_parquet({list_literal(paths)}, union_by_name=true,
                                                                   file_row_number=true)
            WHERE sha256 IN (SELECT sha256 FROM wanted) ORDER BY file_index, file_row_number""").cast(schema)
    return scanning(archive, work)


def _schema(rows: pa.Table) -> pa.Schema:
    gaps = TABLES["gaps"]
    return pa.schema([gaps.field(n) if n in gaps.names else rows.schema.field(n) for n in rows.column_names])
