"""``pipeline.common.times`` over whole Arrow columns: the same answers, without a Python call per row.

A million recordings are a million instants, but they fall on a few thousand hours and a few
hundred days: what needs the zone rules (a wall clock placed in a zone, a calendar month later)
is asked of ``times`` once per distinct hour or day and spread back over the column. The rest is
Arrow compute. ``tests/test_timecols.py`` holds each function to its ``times`` counterpart.

Instants are ``timestamp[us, tz=UTC]`` arrays; wall-clock readings naive ``timestamp[us]``.
"""

from __future__ import annotations

import functools
import threading
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.common import times

UTC_TYPE = pa.timestamp("us", tz="UTC")
WALL_TYPE = pa.timestamp("us")
_EPOCH = datetime(1970, 1, 1)
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=timezone.utc)
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
    """``times.utc_to_wall``: the naive wall-clock reading in ``zone`` at each instant.

    The offsets are ``zoneinfo``'s (``_offsets_s``), as ``times`` places one instant: Arrow's zone
    database stops at the last change its zone file lists (2037) and keeps that offset for ever,
    so from 2038 a zone with daylight-saving time read an hour off half the year (New York,
    London; Lord Howe half an hour). Arrow places only what Python cannot (past its year 9999)."""
    instants = instants.cast(UTC_TYPE)
    if is_fixed(zone) or not len(instants):
        return pc.local_timestamp(in_zone(instants, zone))
    us = _us(instants)
    valid = instants.is_valid().to_numpy(zero_copy_only=False)
    offsets, placed = _offsets_s(us, valid, zone)
    walls = us + offsets * 1_000_000
    if not (placed | ~valid).all():
        walls = np.where(placed, walls, _us(pc.local_timestamp(in_zone(instants, zone))))
    return pa.array(walls, WALL_TYPE, mask=~valid)


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


# -- instants as text --------------------------------------------------------------------------------
# ``times.show`` and ``times.iso`` written with numpy over whole columns: the wall clock's fields
# from integer arithmetic on the UTC microseconds plus the zone's offset (asked of ``zoneinfo``
# once per distinct UTC hour, as ``times`` would), the text as bytes laid out in a fixed-width
# grid. Rows the grid cannot write as ``times`` does (a year before 1000, where ``strftime`` writes
# no leading zeros; an offset with seconds, pre-1950 local mean time, which ``isoformat`` writes
# as +08:05:43) are asked of ``times`` one by one.
_PAIRS = np.array([list(f"{i:02d}".encode()) for i in range(100)], np.uint8)           # "00" .. "99"
_TRIPLES = np.array([list(f"{i:03d}".encode()) for i in range(1000)], np.uint8)       # "000" .. "999"
_SPREAD = 1 << 18            # hours or days apart up to which a lookup table beats sorting


@functools.lru_cache(maxsize=1 << 16)
def _hour_offset(zone: tzinfo, hour: int) -> int | None:
    """The zone's UTC offset in seconds throughout this UTC hour; None when it changes within it
    (or the hour is outside what ``datetime`` can place)."""
    try:
        start = _EPOCH_UTC + timedelta(hours=hour)
        first = start.astimezone(zone).utcoffset()
        last = (start + timedelta(minutes=59, seconds=59, microseconds=999_999)).astimezone(zone).utcoffset()
    except (OverflowError, ValueError):
        return None
    return int(first.total_seconds()) if first == last else None


def _distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct values, sorted; each value's place among them): by a table of the range when
    the values lie close together (a year of hours or days), else by sorting."""
    if not len(values):
        return values, np.zeros(0, np.intp)
    low, high = int(values.min()), int(values.max())
    if high - low >= _SPREAD:
        return np.unique(values, return_inverse=True)
    present = np.bincount(values - low, minlength=high - low + 1) > 0
    place = np.cumsum(present) - 1
    return np.flatnonzero(present) + low, place[values - low]


_HOURS: dict[tzinfo, tuple[int, np.ndarray, np.ndarray]] = {}     # zone: (first hour, offsets, asked)
_HOURS_LOCK = threading.Lock()
_HOURS_SPAN = 1 << 20        # hours a zone's table may span (120 years); wider columns sort instead


def _hour_table(zone: tzinfo, hours: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Each hour's offset (seconds; -1 << 40 where it changes within the hour) from a table kept per
    zone over the hours asked so far, filled as new hours are asked: a listing's batches, each a
    year of a few devices, ask the same hours; None when the hours span too widely for a table.
    Batches are written by worker threads side by side: one at a time here."""
    with _HOURS_LOCK:
        return _hour_table_locked(zone, hours)


def _hour_table_locked(zone: tzinfo, hours: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    low, high = int(hours.min()) // 24 * 24, (int(hours.max()) // 24 + 1) * 24       # whole UTC days
    first, offsets, asked = _HOURS.get(zone, (low, np.zeros(0, np.int64), np.zeros(0, bool)))
    start, stop = min(first, low), max(first + len(offsets), high)
    if stop - start > _HOURS_SPAN:
        return None
    if start != first or stop != first + len(offsets):
        wider, wider_asked = np.zeros(stop - start, np.int64), np.zeros(stop - start, bool)
        wider[first - start:first - start + len(offsets)] = offsets
        wider_asked[first - start:first - start + len(offsets)] = asked
        first, offsets, asked = start, wider, wider_asked
        _HOURS[zone] = (first, offsets, asked)
    at = hours - first
    new = np.flatnonzero(~asked[at])
    if len(new):                              # a day at a time: most days keep one offset throughout
        for day in np.unique(hours[new] // 24).tolist():
            throughout = _day_offset(zone, day)
            place = day * 24 - first
            if throughout is not None:
                offsets[place:place + 24] = throughout
            else:
                for h in range(24):
                    found = _hour_offset(zone, day * 24 + h)
                    offsets[place + h] = _CHANGING if found is None else found
            asked[place:place + 24] = True
    return offsets[at], at


@functools.lru_cache(maxsize=1 << 14)
def _day_offset(zone: tzinfo, day: int) -> int | None:
    """The zone's UTC offset in seconds throughout this UTC day (the same at its start, every eight
    hours and its end: no zone changes and changes back within eight hours); None otherwise."""
    try:
        start = _EPOCH_UTC + timedelta(days=day)
        seen = {start.astimezone(zone).utcoffset(), (start + timedelta(hours=8)).astimezone(zone).utcoffset(),
                (start + timedelta(hours=16)).astimezone(zone).utcoffset(),
                (start + timedelta(days=1, microseconds=-1)).astimezone(zone).utcoffset()}
    except (OverflowError, ValueError):
        return None
    return int(seen.pop().total_seconds()) if len(seen) == 1 else None


_CHANGING = -(1 << 40)


def _offsets_s(us: np.ndarray, valid: np.ndarray, zone: tzinfo) -> tuple[np.ndarray, np.ndarray]:
    """Each instant's UTC offset in ``zone`` (seconds), and where it is known (``zoneinfo`` asked
    once per distinct hour; rows of an hour in which the offset changes, one by one)."""
    if is_fixed(zone):
        return np.full(len(us), int(zone.utcoffset(None).total_seconds()), np.int64), valid.copy()
    hours = np.floor_divide(us, _HOUR_US)
    if not valid.all():
        hours[~valid] = hours[valid][0] if valid.any() else 0
    table = _hour_table(zone, hours) if len(hours) else None
    if table is not None:
        offsets = table[0]
        ok = (offsets != _CHANGING) & valid
    else:
        distinct, back = _distinct(hours)
        found = [_hour_offset(zone, h) for h in distinct.tolist()]
        per_hour = np.array([0 if f is None else f for f in found], np.int64)
        known = np.array([f is not None for f in found], bool)
        offsets, ok = per_hour[back], known[back] & valid
    offsets = np.where(ok, offsets, 0)
    for i in np.flatnonzero(valid & ~ok).tolist():
        try:
            at = _EPOCH_UTC + timedelta(microseconds=int(us[i]))
            offsets[i], ok[i] = int(at.astimezone(zone).utcoffset().total_seconds()), True
        except (OverflowError, ValueError):
            pass
    return offsets, ok


def _civil(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day) of days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's
    ``civil_from_days``)."""
    z = days + 719_468
    era = np.floor_divide(z, 146_097)
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    return yoe + era * 400 + (month <= 2), month, day


@functools.lru_cache(maxsize=1)
def _clock_text() -> np.ndarray:
    """``HH:MM:SS`` of each second of a day: (86400, 8) bytes."""
    second = np.arange(86_400)
    out = np.empty((86_400, 8), np.uint8)
    out[:, 0:2], out[:, 3:5], out[:, 6:8] = _PAIRS[second // 3600], _PAIRS[second // 60 % 60], _PAIRS[second % 60]
    out[:, 2] = out[:, 5] = ord(":")
    return out


def _day_text(days: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DD`` of each day since 1970-01-01 (four-digit years): (n, 10) bytes, each distinct
    day written once."""
    distinct, back = _distinct(days)
    year, month, day = _civil(distinct)
    out = np.empty((len(distinct), 10), np.uint8)
    out[:, 0:2], out[:, 2:4] = _PAIRS[year // 100], _PAIRS[year % 100]
    out[:, 5:7], out[:, 8:10] = _PAIRS[month], _PAIRS[day]
    out[:, 4] = out[:, 7] = ord("-")
    return out[back]


def _grid(us: np.ndarray, offsets: np.ndarray, iso: bool) -> np.ndarray:
    """One row of bytes per instant (years 1000 to 9999, whole-minute offsets): its wall clock at
    ``offsets`` (seconds) to the second and the offset, ``2026-12-01 06:00:00 +08:00``; ``iso``:
    ``2026-12-01T06:00:00.000000+08:00``, the microseconds in the middle."""
    n = len(us)
    width = 32 if iso else 26
    grid = np.empty((n, width), np.uint8)
    seconds = np.floor_divide(us, 1_000_000)
    days, clock = np.divmod(seconds + offsets, 86_400)
    grid[:, 0:10] = _day_text(days)
    grid[:, 10] = ord("T") if iso else ord(" ")
    grid[:, 11:19] = _clock_text()[clock]
    if iso:
        fraction = us - seconds * 1_000_000
        grid[:, 19] = ord(".")
        grid[:, 20:23], grid[:, 23:26] = _TRIPLES[fraction // 1000], _TRIPLES[fraction % 1000]
    else:
        grid[:, 19] = ord(" ")
    sign, size = width - 6, np.abs(offsets)
    grid[:, sign] = np.where(offsets < 0, ord("-"), ord("+"))
    grid[:, sign + 1:sign + 3], grid[:, sign + 4:sign + 6] = _PAIRS[size // 3600], _PAIRS[size % 3600 // 60]
    grid[:, sign + 3] = ord(":")
    return grid


def _text(instants: pa.Array, zone: tzinfo, iso: bool) -> pa.Array:
    instants = instants.cast(UTC_TYPE)
    n = len(instants)
    if not n:
        return pa.array([], pa.string())
    us = _us(instants)
    valid = instants.is_valid().to_numpy(zero_copy_only=False)
    offsets, fast = _offsets_s(us, valid, zone)
    # the grid writes four-digit years and whole-minute offsets; the rest as ``times`` writes them
    lo, hi = micros(datetime(1000, 1, 2, tzinfo=timezone.utc)), micros(datetime(9999, 12, 30, tzinfo=timezone.utc))
    fast &= (us >= lo) & (us < hi) & (offsets % 60 == 0)
    grid = _grid(np.where(fast, us, lo), np.where(fast, offsets, 0), iso)
    whole_seconds = us % 1_000_000 == 0
    if fast.all() and (not iso or whole_seconds.all() or not whole_seconds.any()):
        keep = None                           # every row as wide as the grid's (less ".ffffff")
        if iso and whole_seconds.all():
            grid = np.delete(grid, np.s_[19:26], axis=1)
        lengths = np.full(n, grid.shape[1], np.int64)
    else:
        keep = np.broadcast_to(fast[:, None], grid.shape).copy()
        if iso:                               # ".ffffff" only when there are microseconds
            keep[:, 19:26] &= ~whole_seconds[:, None]
        lengths = keep.sum(axis=1)
    slow = np.flatnonzero(valid & ~fast)
    pieces = {}
    if len(slow):
        write = times.iso if iso else times.show
        for i in slow.tolist():
            pieces[i] = write(_EPOCH_UTC + timedelta(microseconds=int(us[i])), zone).encode()
            lengths[i] = len(pieces[i])
    offsets_out = np.zeros(n + 1, np.int64)
    np.cumsum(lengths, out=offsets_out[1:])
    data = grid.reshape(-1) if keep is None else grid[keep]
    if pieces:                                # the few rows ``times`` wrote, put in their places
        out = np.empty(int(offsets_out[-1]), np.uint8)
        out_fast = np.repeat(fast, lengths)
        out[out_fast] = data
        for i, text in pieces.items():
            out[offsets_out[i]:offsets_out[i + 1]] = np.frombuffer(text, np.uint8)
        data = out
    mask = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    index_type, index = (pa.string(), offsets_out.astype(np.int32)) if offsets_out[-1] < 2**31 else \
        (pa.large_string(), offsets_out)
    out = pa.Array.from_buffers(index_type, n, [mask, pa.py_buffer(index), pa.py_buffer(data)],
                                null_count=n - int(valid.sum()))
    return out.cast(pa.string()) if index_type != pa.string() else out


def show(instants: pa.Array, zone: tzinfo) -> pa.Array:
    """``times.show``: ``2026-12-01 06:00:00 +08:00`` (null stays null)."""
    return _text(instants, zone, iso=False)


def iso(instants: pa.Array, zone: tzinfo) -> pa.Array:
    """``times.iso``: ``2026-12-01T06:00:00+08:00``, with ``.ffffff`` when there are microseconds."""
    return _text(instants, zone, iso=True)
