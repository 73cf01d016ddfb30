"""``pipeline.common.times`` over whole Arrow columns: the same answers, without a Python call per row.

A million recordings are a million instants, but they fall on a few thousand hours and a few
hundred days: what needs the zone rules (a wall clock placed in a zone, a calendar month later)
is asked of ``times`` once per distinct hour or day and spread back over the column. The rest is
Arrow compute. ``tests/test_timecols.py`` holds each function to its ``times`` counterpart.

Instants are ``timestamp[us, tz=UTC]`` arrays; wall-clock readings naive ``timestamp[us]``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.common import times

UTC_TYPE = pa.timestamp("us", tz="UTC")
WALL_TYPE = pa.timestamp("us")
_EPOCH = datetime(1970, 1, 1)
_HOUR_US = 3600 * 1_000_000
_DAY_US = 86400 * 1_000_000


def _us(values: pa.Array) -> np.ndarray:
    """Microseconds since the epoch (nulls as 0; keep the validity apart)."""
    return values.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)


def _instants(us: np.ndarray, valid: pa.Array | None) -> pa.Array:
    out = pa.array(us, pa.int64(), mask=None if valid is None else pc.invert(valid).to_numpy(zero_copy_only=False))
    return out.cast(UTC_TYPE)


def _arrow_zone(zone: tzinfo) -> str:
    return times.zone_label(zone)


def is_fixed(zone: tzinfo) -> bool:
    return isinstance(zone, timezone)


def wall_to_utc(walls: pa.Array, zone: tzinfo) -> pa.Array:
    """``times.wall_to_utc`` for each naive reading: a reading the clocks skipped or passed twice
    is placed as Python places it (the offset before the change)."""
    walls = walls.cast(WALL_TYPE)
    if not len(walls):
        return pa.array([], UTC_TYPE)
    us = _us(walls)
    if is_fixed(zone):
        return _instants(us - int(zone.utcoffset(None).total_seconds()) * 1_000_000, walls.is_valid())
    hours = np.floor_divide(us, _HOUR_US)
    valid = walls.is_valid().to_numpy(zero_copy_only=False)
    distinct = np.unique(hours[valid])
    offsets = np.empty(len(distinct), dtype=np.int64)
    odd = []                                     # hours in which the zone's offset changes
    for i, h in enumerate(distinct.tolist()):
        start = _EPOCH + timedelta(microseconds=h * _HOUR_US)
        first = start.replace(tzinfo=zone).utcoffset()
        last = (start + timedelta(minutes=59, seconds=59, microseconds=999_999)).replace(tzinfo=zone).utcoffset()
        offsets[i] = int(first.total_seconds()) * 1_000_000
        if first != last:
            odd.append(h)
    out = us - offsets[np.searchsorted(distinct, hours).clip(0, max(len(distinct) - 1, 0))] if len(distinct) else us
    if odd:
        for i in np.flatnonzero(np.isin(hours, odd) & valid).tolist():
            wall = _EPOCH + timedelta(microseconds=int(us[i]))
            out[i] = micros(times.wall_to_utc(wall, zone))
    return _instants(out, walls.is_valid())


def micros(instant: datetime) -> int:
    """An aware instant as microseconds since the epoch."""
    delta = instant.astimezone(timezone.utc).replace(tzinfo=None) - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def in_zone(instants: pa.Array, zone: tzinfo) -> pa.Array:
    """The instants as aware timestamps of ``zone`` (for its wall-clock fields)."""
    return instants.cast(UTC_TYPE).cast(pa.timestamp("us", tz=_arrow_zone(zone)))


def utc_to_wall(instants: pa.Array, zone: tzinfo) -> pa.Array:
    """``times.utc_to_wall``: the naive wall-clock reading in ``zone`` at each instant."""
    return pc.local_timestamp(in_zone(instants, zone))


def local_days(instants: pa.Array, zone: tzinfo) -> pa.Array:
    """``times.local_day``: the calendar day in ``zone`` of each instant (date32)."""
    return utc_to_wall(instants, zone).cast(pa.date32())


def per_value(values: pa.Array, fn: Callable, out_type: pa.DataType) -> pa.Array:
    """``fn(value)`` for each distinct non-null value, spread over the column (nulls stay null)."""
    if not len(values):
        return pa.array([], out_type)
    distinct = pc.unique(values.drop_null()) if values.null_count else pc.unique(values)
    results = pa.array([fn(v) for v in distinct.to_pylist()], out_type)
    return pc.take(results, pc.index_in(values, value_set=distinct))


def per_day(instants: pa.Array, zone: tzinfo, fn: Callable[[date], object], out_type: pa.DataType) -> pa.Array:
    """``fn(day)`` of each instant's calendar day in ``zone``, asked once per distinct day."""
    return per_value(local_days(instants, zone), fn, out_type)


def months_later(instants: pa.Array, months: int, zone: tzinfo) -> pa.Array:
    """``times.months_later`` of each instant: to the end of that calendar day in ``zone``."""
    return per_day(instants, zone, lambda day: times._months_end(day, months, zone), UTC_TYPE)


def days_later(instants: pa.Array, days: pa.Array, zone: tzinfo) -> pa.Array:
    """``times.days_later`` of each instant by its own number of days."""
    target = pc.add(local_days(instants, zone).cast(pa.int32()), days.cast(pa.int32())).cast(pa.date32())
    return per_value(target, lambda day: times.end_of_day(day, zone), UTC_TYPE)


def end_of_days(days: pa.Array, zone: tzinfo) -> pa.Array:
    """``times.end_of_day`` of each calendar day (date32)."""
    return per_value(days, lambda day: times.end_of_day(day, zone), UTC_TYPE)


def day_text(instants: pa.Array, zone: tzinfo) -> pa.Array:
    """``local_day(...).isoformat()``: 2026-12-01."""
    return utc_to_wall(instants, zone).cast(pa.date32()).cast(pa.string())


def _seconds(instants: pa.Array) -> pa.Array:
    """Each instant floored to its second (as ``strftime`` shows it), as integer arithmetic."""
    us = instants.cast(UTC_TYPE).cast(pa.int64())
    raw = us.fill_null(0).to_numpy(zero_copy_only=False)
    return pa.array(raw - np.mod(raw, 1_000_000), pa.int64(), mask=us.is_null().to_numpy(zero_copy_only=False))


def _wall_and_offset(instants: pa.Array, zone: tzinfo) -> tuple[pa.Array, pa.Array]:
    """``2026-12-01 06:00:00`` and ``+08:00`` for each instant: the wall clock in ``zone`` to the
    second, and the zone's offset then (each distinct offset written once)."""
    seconds = _seconds(instants)
    wall = utc_to_wall(seconds.cast(UTC_TYPE), zone)
    offsets = pc.subtract(wall.cast(pa.int64()), seconds)
    text = per_value(offsets, lambda us: times.offset_label(timedelta(microseconds=us)), pa.string())
    return wall.cast(pa.timestamp("s")).cast(pa.string()), text


def show(instants: pa.Array, zone: tzinfo) -> pa.Array:
    """``times.show``: ``2026-12-01 06:00:00 +08:00`` (null stays null)."""
    wall, offset = _wall_and_offset(instants, zone)
    return pc.binary_join_element_wise(wall, offset, " ")


def iso(instants: pa.Array, zone: tzinfo) -> pa.Array:
    """``times.iso``: ``2026-12-01T06:00:00+08:00``, with ``.ffffff`` when there are microseconds."""
    instants = instants.cast(UTC_TYPE)
    wall, offset = _wall_and_offset(instants, zone)
    wall = pc.replace_substring(wall, " ", "T", max_replacements=1)
    micros = pc.subtract(instants.cast(pa.int64()), _seconds(instants))
    fraction = pc.if_else(pc.equal(micros, 0), "",
                          pc.binary_join_element_wise(".", pc.utf8_lpad(micros.cast(pa.string()), 6, "0"), ""))
    return pc.binary_join_element_wise(wall, fraction, offset, "")
