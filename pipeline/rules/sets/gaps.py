"""Gaps as ``fieldrec gaps`` lists them, over whole columns: the placing, order and filters of
``gap_events`` (``placed``, ``filter_rows``) and of ``gapstate.listing`` without a Python call per gap.
``records.gaplist`` reads the rows; these say where each lies and which are shown.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.common import timecols
from pipeline.common.times import Zones
from pipeline.rules.sets.recordings import UTC_TYPE, device_zones

EXTRA = ("current", "explanation", "explanation_reason", "explained_by", "approved_by", "file", "before_file",
         "after_file", "session_id", "needs_explanation", "need_reason")


def placed(gaps: pa.Table, zones: Zones) -> pa.Table:
    """``gap_events.placed``: instants for rows written before gaps had them (their device clock
    read in the device's zone)."""
    start_utc, wall = gaps["start_utc"].combine_chunks(), gaps["start_time"].combine_chunks()
    older = pc.and_(pc.is_null(start_utc), pc.is_valid(wall))
    if not gaps.num_rows or not pc.any(older).as_py():
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


def order(gaps: pa.Table) -> pa.Array:
    """Indices in ``gapstate.listing``'s order: (device or "", start instant, earliest first, gap id)."""
    n = gaps.num_rows
    if not n:
        return pa.array([], pa.int64())
    devices = pc.fill_null(gaps["device_id"].combine_chunks(), "")
    names = sorted(pc.unique(devices).to_pylist())
    rank = pc.index_in(devices, value_set=pa.array(names, pa.string())).to_numpy(zero_copy_only=False)
    at = gaps["start_utc"].combine_chunks().cast(pa.int64()).fill_null(np.iinfo(np.int64).min).to_numpy(
        zero_copy_only=False)
    ids = gaps["gap_id"].combine_chunks()
    id_rank = pc.rank(ids, sort_keys="ascending", tiebreaker="first").to_numpy(zero_copy_only=False)
    return pa.array(np.lexsort((id_rank, at, rank)), pa.int64())


def filtered(rows: pa.Table, *, device: str | None = None, since: datetime | None = None,
             include_closed: bool = False, only_unexplained: bool = False) -> pa.Table:
    """``gap_events.filter_rows``: clock gaps, whose device time is wrong, by when they were detected."""
    keep = np.ones(rows.num_rows, bool)
    current = rows["current"].to_numpy(zero_copy_only=False) if rows.num_rows else np.zeros(0, bool)
    if not include_closed:
        keep &= current
    if only_unexplained:                   # gap_events.waiting
        keep &= current & rows["needs_explanation"].to_numpy(zero_copy_only=False) \
            & pc.not_equal(rows["explanation"], "explained").to_numpy(zero_copy_only=False)
    if device:
        keep &= pc.fill_null(pc.equal(rows["device_id"], device), False).to_numpy(zero_copy_only=False)
    if since is not None:
        at = pa.scalar(since, UTC_TYPE)
        clock = pc.fill_null(pc.equal(rows["kind"], "clock"), False)
        by_detection = pc.fill_null(pc.greater_equal(rows["detected_at"], at), False)
        by_start = pc.fill_null(pc.greater_equal(rows["start_utc"], at), False)
        keep &= pc.if_else(clock, by_detection, by_start).to_numpy(zero_copy_only=False)
    return rows.filter(pa.array(keep))
