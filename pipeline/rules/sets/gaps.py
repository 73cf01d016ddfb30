"""Gaps as ``fieldrec gaps`` lists them, over whole columns: ``gapstate.listing`` and
``gap_events.filter_rows`` without a Python call per gap.

Each gap once (its first row), placed in time (rows written before gaps had instants are placed
from the device clock in its zone), ``current`` from its latest state event, its explanation
status and the last explanation, and the names of the files involved; in the reference's order
(device, start, id).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.common import timecols
from pipeline.common.times import Zones
from pipeline.rules.sets.recordings import UTC_TYPE, device_zones, truthy

EXTRA = ("current", "explanation", "explanation_reason", "explained_by", "approved_by", "file", "before_file",
         "after_file")


def _numbered(table: pa.Table) -> pa.Table:
    return table.append_column("_i", pa.array(np.arange(table.num_rows), pa.int64()))


def _last_by(table: pa.Table, key: str, order: str) -> pa.Table:
    """Per ``key``, the row with the greatest ``order``, the later row on a tie (``_i``: table order)."""
    ranked = table.sort_by([(key, "ascending"), (order, "descending"), ("_i", "descending")])
    keys = ranked[key].combine_chunks()
    if not len(keys):
        return ranked
    first = np.concatenate([[True], pc.not_equal(keys.slice(1), keys.slice(0, len(keys) - 1)).to_numpy(
        zero_copy_only=False)])
    return ranked.filter(pa.array(first))


def _placed(gaps: pa.Table, zones: Zones) -> pa.Table:
    """``gap_events.placed``: instants for rows written before gaps had them."""
    start_utc, wall = gaps["start_utc"].combine_chunks(), gaps["start_time"].combine_chunks()
    older = pc.and_(pc.is_null(start_utc), pc.is_valid(wall))
    if not pc.any(older).as_py():
        return gaps
    labels, by_label = device_zones(gaps["device_id"].combine_chunks(), zones)
    start, end = start_utc.cast(UTC_TYPE), gaps["end_utc"].combine_chunks().cast(UTC_TYPE)
    end_wall = gaps["end_time"].combine_chunks()
    for label, zone in by_label.items():
        mine = pc.and_(older, pc.equal(labels, label))
        start = pc.if_else(mine, timecols.wall_to_utc(wall, zone), start)
        end = pc.if_else(mine, timecols.wall_to_utc(end_wall, zone), end)
    return gaps.set_column(gaps.schema.get_field_index("start_utc"), "start_utc", start).set_column(
        gaps.schema.get_field_index("end_utc"), "end_utc", end)


def _lookup(keys: pa.Array, table: pa.Table, key: str, column: str) -> pa.Array:
    return pc.take(table[column], pc.index_in(keys, value_set=table[key])).combine_chunks()


def listing(gaps: pa.Table, states: pa.Table, explanations: pa.Table, names: pa.Table, zones: Zones) -> pa.Table:
    """Every gap ever detected (first row of each id), with ``EXTRA``, sorted by device, start, id."""
    gaps = _numbered(gaps)
    firsts = gaps.group_by("gap_id", use_threads=False).aggregate([("_i", "min")])["_i_min"]
    gaps = _placed(gaps.take(firsts.combine_chunks()), zones)
    ids = gaps["gap_id"].combine_chunks()
    latest = _last_by(_numbered(states), "gap_id", "evaluated_at")
    state = _lookup(ids, latest, "gap_id", "state")
    current = pc.fill_null(pc.equal(state, "open"), True)

    given = _numbered(explanations)
    last = _last_by(given, "gap_id", "explained_at")
    approvals = given.filter(pa.array(truthy(given["approved_by"].combine_chunks())))
    approved = _last_by(approvals, "gap_id", "explained_at") if approvals.num_rows else approvals
    accepted = given.filter(pc.or_(pc.fill_null(pc.equal(given["source"], "spoken"), False),
                                   pa.array(truthy(given["approved_by"].combine_chunks()))))
    explained = pc.is_in(ids, value_set=accepted["gap_id"].combine_chunks())
    some = pc.is_in(ids, value_set=given["gap_id"].combine_chunks())
    status = pc.if_else(explained, "explained", pc.if_else(some, "awaiting approval", "unexplained"))

    by_sha = _last_by(_numbered(names.filter(pc.is_valid(names["sha256"]))), "sha256", "_i")   # the last row wins

    def file_of(column: str) -> pa.Array:
        return _lookup(gaps[column].combine_chunks(), by_sha, "sha256", "source_name")

    out = gaps.drop_columns(["_i"])
    extra = {"current": current, "explanation": status,
             "explanation_reason": _lookup(ids, last, "gap_id", "reason"),
             "explained_by": _lookup(ids, last, "gap_id", "explained_by"),
             "approved_by": _lookup(ids, approved, "gap_id", "approved_by") if approved.num_rows else
             pa.nulls(len(ids), pa.string()),
             "file": file_of("sha256"), "before_file": file_of("before_sha256"), "after_file": file_of("after_sha256")}
    for name in EXTRA:
        out = out.append_column(name, extra[name])
    out = out.append_column("_device", pc.fill_null(out["device_id"], ""))
    out = out.sort_by([("_device", "ascending"), ("start_utc", "ascending", "at_start"), ("gap_id", "ascending")])
    return out.drop_columns(["_device"])


def filtered(rows: pa.Table, *, device: str | None = None, since: datetime | None = None,
             include_closed: bool = False, only_unexplained: bool = False) -> pa.Table:
    """``gap_events.filter_rows``: clock gaps, whose device time is wrong, by when they were detected."""
    keep = np.ones(rows.num_rows, bool)
    current = rows["current"].to_numpy(zero_copy_only=False) if rows.num_rows else np.zeros(0, bool)
    if not include_closed:
        keep &= current
    if only_unexplained:
        keep &= current & pc.not_equal(rows["explanation"], "explained").to_numpy(zero_copy_only=False)
    if device:
        keep &= pc.fill_null(pc.equal(rows["device_id"], device), False).to_numpy(zero_copy_only=False)
    if since is not None:
        at = pa.scalar(since, UTC_TYPE)
        clock = pc.fill_null(pc.equal(rows["kind"], "clock"), False)
        by_detection = pc.fill_null(pc.greater_equal(rows["detected_at"], at), False)
        by_start = pc.fill_null(pc.greater_equal(rows["start_utc"], at), False)
        keep &= pc.if_else(clock, by_detection, by_start).to_numpy(zero_copy_only=False)
    return rows.filter(pa.array(keep))
