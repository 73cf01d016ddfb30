"""The gap refresh's survey: for the devices and kinds an ingest added to, where their believable
older recordings begin and end, the nearest before and after each stretch, their sequence numbers,
whether any is stored other than where it lies, and the last clean cut before the stretch
(``gaprefresh._survey`` decides from them).

``figures`` answers it all in one DuckDB scan of each group's whole history (~0.15 s at a million
recordings, every night). The whole history's part only grows with each run, so each incremental
refresh keeps it (``aggregate``, ``combine``: the ``gap_survey`` table) and the next starts from
that; the stretch's own part comes from the recordings read around the stretches anyway
(``cut_max``). ``figures`` remains for a file docked late (older recordings after its stretch's
start) and is the reference ``tests/test_gap_survey.py`` holds the kept path to.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.compute as pc

from catalog.query import scanning
from catalog.store import Catalog

# The survey, one DuckDB scan of the groups' older recordings. ``believable``: a clock that can be
# right (not before the earliest date, not ahead of its arrival); such recordings alone begin and end
# a timeline. ``e``: where it ends, as ``clocks.placed_end`` says (stored without its end: its start
# plus its length, rounded as ``timedelta`` rounds). ``odd``: a recording stored without its instant,
# or in a zone (or none) no device of these has now. ``cut``: a clean cut (no earlier believable one
# reaches past its start, damaged tails aside), looked for only in the days before the stretch, given
# how far all earlier ones reach.
_SURVEY = """
WITH r AS MATERIALIZED (
    SELECT g.i, g.lo, g.hi, r.start_utc AS s, greatest(coalesce(r.end_utc, r.start_utc + to_microseconds(
               round_even(coalesce(r.duration_s, 0) * 1000000, 0)::BIGINT)), r.start_utc) AS e,
           r.sequence AS seq,
           (r.start_utc IS NULL OR r.time_zone IS NULL OR NOT list_contains($labels, r.time_zone))::BIGINT AS odd,
           coalesce(r.start_utc >= $earliest AND r.start_utc <= r.ingested_at + to_microseconds($tolerance), false)
               AS believable
    FROM {recordings} r JOIN groups g ON r.device_id = g.device_id AND r.kind = g.kind
    WHERE r.run_id IS NULL OR NOT list_contains($fresh, r.run_id)),
stats AS (
    SELECT i, min(s) FILTER (believable) AS first_min, max(s) FILTER (believable) AS first_max,
           max(s) FILTER (believable AND s < lo) AS before_max, min(s) FILTER (believable AND s > hi) AS after_min,
           max(seq) AS seq_max, min(seq) AS seq_min, max(s) FILTER (seq IS NOT NULL) AS numbered_max,
           sum(odd)::BIGINT AS odd_sum,
           least(any_value(lo), max(s) FILTER (believable AND s < lo)) - INTERVAL 2 DAY AS w
    FROM r GROUP BY i),
near AS (SELECT r.i, r.s, r.e, r.lo, stats.w FROM r JOIN stats USING (i) WHERE r.believable),
reach AS (SELECT i, max(e) FILTER (s < w) AS reach FROM near GROUP BY i),
cuts AS (
    SELECT i, max(s) FILTER (cut AND s <= lo) AS cut_max FROM (
        SELECT near.i, s, lo, s >= coalesce(greatest(max(e) OVER (PARTITION BY near.i ORDER BY s
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), reach.reach), s) AS cut
        FROM near JOIN reach USING (i) WHERE s >= w)
    GROUP BY i)
SELECT * EXCLUDE (w) FROM stats LEFT JOIN cuts USING (i)
"""


def figures(catalog: Catalog, groups: pa.Table, params: dict) -> pa.Table:
    """``_SURVEY`` over the visible parts: per group ``i`` (``groups``: i, device_id, kind, lo, hi),
    its older recordings' figures; ``params``: fresh (the runs taken in now), labels (the devices'
    zones), earliest (an instant), tolerance (µs a clock may be ahead of its arrival)."""
    def work(scan) -> pa.Table:
        scan.con.register("groups", groups)
        return scan.arrow_params(_SURVEY.format(recordings=scan.source("recordings")), params)
    return scanning(catalog.archive, work)


# -- the whole-history figures, kept -------------------------------------------------------------------------
# What the survey asks of each group's whole history (its believable recordings' first and last start,
# its sequence numbers, its latest numbered start, whether any is stored other than where it lies)
# only grows with each run: each incremental refresh keeps it for every device and kind, per zone
# recordings were stored in (``gap_survey``, derived), and the next one adds what it takes in. Its
# stretch's own figures (the nearest before and after it, the clean cut) are worked out from the
# recordings read around the stretches anyway (``cut_max``); a group with older recordings after the
# start of its stretch (a file docked late) is surveyed in DuckDB as before (``figures``).
COLUMNS = ["device_id", "kind", "time_zone", "start_utc", "sequence", "ingested_at"]
_KEYS = ["device_id", "kind", "time_zone"]


def aggregate(rows: pa.Table, params: dict) -> pa.Table:
    """``rows`` (recordings as stored, ``COLUMNS`` at least) in figures per device, kind and zone, as
    ``_SURVEY``'s ``stats`` counts them; ``params`` as ``figures``'. Rows without a device are left out."""
    rows = rows.filter(pc.is_valid(rows["device_id"]))
    start = rows["start_utc"]
    believable = _believable(rows, params)
    nothing = pa.scalar(None, start.type)
    table = pa.table({
        "device_id": rows["device_id"], "kind": rows["kind"], "time_zone": rows["time_zone"],
        "recordings": pa.array([1] * rows.num_rows, pa.int64()) if rows.num_rows else pa.array([], pa.int64()),
        "start_null": pc.cast(pc.is_null(start), pa.int64()),
        "believable": pc.if_else(believable, start, nothing),
        "sequence": rows["sequence"].cast(pa.int64()),
        "numbered": pc.if_else(pc.is_valid(rows["sequence"]), start, nothing)})
    return _grouped(table, [("recordings", "sum"), ("start_null", "sum"), ("believable", "min"), ("believable", "max"),
                            ("sequence", "max"), ("sequence", "min"), ("numbered", "max")])


def combine(*figures: pa.Table) -> pa.Table:
    """Figures of two sets of recordings, as ``aggregate`` of both."""
    both = pa.concat_tables([f.select(_FIGURES) for f in figures])
    table = both.rename_columns(["device_id", "kind", "time_zone", "recordings", "start_null", "lo", "hi",
                                 "seq_hi", "seq_lo", "numbered"])
    return _grouped(table, [("recordings", "sum"), ("start_null", "sum"), ("lo", "min"), ("hi", "max"),
                            ("seq_hi", "max"), ("seq_lo", "min"), ("numbered", "max")])


_FIGURES = ["device_id", "kind", "time_zone", "recordings", "start_null", "first_min", "first_max", "seq_max",
            "seq_min", "numbered_max"]


def _grouped(table: pa.Table, aggregations: list[tuple[str, str]]) -> pa.Table:
    from catalog.schema import TABLES

    schema = pa.schema([TABLES["gap_survey"].field(c) for c in _FIGURES])
    if not table.num_rows:
        return schema.empty_table()
    out = table.group_by(_KEYS, use_threads=False).aggregate(aggregations)
    names = [f"{c}_{how}" for c, how in aggregations]
    return pa.table([out[c] for c in _KEYS + names], schema=schema)


def kept(catalog: Catalog, run_id: str) -> pa.Table | None:
    """The figures the refresh of ``run_id`` kept (None: it kept none)."""
    import pyarrow.dataset as ds

    rows = catalog.read("gap_survey", _FIGURES, filter=ds.field("run_id") == run_id)
    return rows if rows.num_rows else None


def older(catalog: Catalog, last_run: str | None, fresh: list[str], params: dict) -> pa.Table:
    """The figures of every recording but the ``fresh`` runs': those the last refresh kept, else
    counted from every recording (a refresh that kept none: the first after a full one)."""
    got = kept(catalog, last_run) if last_run else None
    if got is not None:
        return got
    return counted_but(catalog, fresh, params)


def counted_but(catalog: Catalog, runs: list[str], params: dict) -> pa.Table:
    """The figures of every recording but those of ``runs`` (its rows without a run among them)."""
    import pyarrow.dataset as ds

    expr = ds.field("run_id").is_null() | ~ds.field("run_id").isin(pa.array(runs, pa.string())) if runs else None
    return aggregate(catalog.read("recordings", COLUMNS, filter=expr), params)


def to_rows(figures: pa.Table, run_id: str) -> pa.Table:
    """``figures`` as ``gap_survey`` rows of the refresh of ``run_id``."""
    return figures.add_column(0, "run_id", pa.array([run_id] * figures.num_rows, pa.string()))


def whole_history(figures: pa.Table, keys: list[tuple[str, str]], labels: list[str]) -> dict[int, dict]:
    """Per group (``keys``' positions) what ``_SURVEY``'s ``stats`` says of its whole history:
    first_min, first_max, seq_max, seq_min, numbered_max, odd_sum (recordings stored without their
    instant, or in a zone, or none, not among ``labels``)."""
    where = {key: i for i, key in enumerate(keys)}
    wanted = pc.is_in(figures["device_id"], value_set=pa.array(sorted({d for d, _ in keys}), pa.string()))
    out: dict[int, dict] = {}
    for row in figures.filter(wanted).to_pylist():
        i = where.get((row["device_id"], row["kind"]))
        if i is None:
            continue
        m = out.setdefault(i, {"first_min": None, "first_max": None, "seq_max": None, "seq_min": None,
                               "numbered_max": None, "odd_sum": 0})
        for name, pick in (("first_min", min), ("first_max", max), ("seq_max", max), ("seq_min", min),
                           ("numbered_max", max)):
            if row[name] is not None:
                m[name] = row[name] if m[name] is None else pick(m[name], row[name])
        zone = row["time_zone"]
        m["odd_sum"] += row["recordings"] if zone is None or zone not in labels else row["start_null"]
    return out


def cut_max(table: pa.Table, fresh: list[str], keys: list[tuple[str, str]], los: list, ws: list,
            params: dict) -> dict[int, object]:
    """Per group (``keys``' positions; ``los``, ``ws``: its stretch's start and the survey's ``w``, aware
    UTC) the latest clean cut at or before ``lo`` (``_SURVEY``'s ``cut_max``), from ``table``: recordings
    as stored (``run_id``, ``device_id``, ``kind``, ``start_utc``, ``end_utc``, ``duration_s``,
    ``ingested_at``) holding every one of each group's device that starts or ends at or after its ``w``.
    A recording starting before ``w`` matters only if it reaches ``w``: then it is there."""
    import numpy as np

    if not table.num_rows or not keys:
        return {}
    believable = _believable(table, params)
    if fresh:
        believable = pc.and_(believable, pc.invert(pc.fill_null(
            pc.is_in(table["run_id"], value_set=pa.array(fresh, pa.string())), False)))
    index = group_index(table, keys)
    keep = pc.and_(believable, pc.is_valid(index))
    rows = table.filter(keep)
    group = np.asarray(index.filter(keep).to_numpy(zero_copy_only=False), np.int64)
    s = np.asarray(rows["start_utc"].cast(pa.int64()).to_numpy(zero_copy_only=False), np.int64)
    ends = stored_end(lambda name: rows[name]).cast(pa.int64())
    e = np.maximum(np.asarray(ends.to_numpy(zero_copy_only=False), np.int64), s)
    us = lambda t: int((t - _EPOCH) // _US)                     # noqa: E731  an aware instant in µs
    lo = np.array([us(t) for t in los], np.int64)
    w = np.array([us(t) for t in ws], np.int64)
    order = np.lexsort((s, group))
    group, s, e = group[order], s[order], e[order]
    bounds = np.searchsorted(group, np.arange(len(keys) + 1))
    out: dict[int, object] = {}
    for i in range(len(keys)):
        gs, ge = s[bounds[i]:bounds[i + 1]], e[bounds[i]:bounds[i + 1]]
        before = gs < w[i]
        reach = ge[before].max() if before.any() else None
        inside = (gs >= w[i]) & (gs <= lo[i])
        ws_, we = gs[inside], ge[inside]
        if not len(ws_):
            continue
        prefix = np.maximum.accumulate(we)
        exclusive = np.concatenate([[np.iinfo(np.int64).min], prefix[:-1]])
        # each start against every earlier start's end (ties: the first of them, as the window's order
        # by start gives whichever comes first the same prefix)
        bound = exclusive[np.searchsorted(ws_, ws_, "left")]
        if reach is not None:
            bound = np.maximum(bound, reach)
        cut = ws_ >= bound
        if cut.any():
            out[i] = _EPOCH + ws_[cut].max() * _US
    return out


def _believable(rows: pa.Table, params: dict):
    """Which rows' clock can be right (``_SURVEY``'s ``believable``): a start not before the earliest
    date nor further ahead of the row's arrival than the tolerance."""
    start = rows["start_utc"]
    late = pc.add(rows["ingested_at"], pa.scalar(int(params["tolerance"]), pa.duration("us")))
    return pc.fill_null(pc.and_(pc.greater_equal(start, pa.scalar(params["earliest"], start.type)),
                                pc.less_equal(start, late)), False)


def group_index(table: pa.Table, keys: list[tuple[str, str]]) -> pa.Array:
    """Each row's position among ``keys`` (device, kind), null for a row of none of them."""
    joined = pc.binary_join_element_wise(pc.fill_null(table["device_id"], ""), pc.fill_null(table["kind"], ""), "\x1f")
    return pc.index_in(joined, value_set=pa.array([f"{d}\x1f{k}" for d, k in keys], pa.string()))


def stored_end(column):
    """Where recordings stored as placed end, as ``clocks.placed_end`` says: ``end_utc``, else (stored
    without its end) the start plus the length (none: 0), rounded to the microsecond as ``timedelta``
    rounds. ``column``: a table's columns by name, or ``ds.field`` for a filter."""
    length = pc.round(pc.multiply(pc.coalesce(column("duration_s"), pa.scalar(0.0)), pa.scalar(1e6)),
                      round_mode="half_to_even")
    return pc.coalesce(column("end_utc"), pc.add(column("start_utc"),
                                                 length.cast(pa.int64(), safe=False).cast(pa.duration("us"))))


_US = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
