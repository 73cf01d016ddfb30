"""Every recording placed in time, checked for a believable clock, attributed and timed for the
24-hour rule: ``rules.clocks`` and ``rules.custody`` over whole columns.

``placed`` adds to a recordings table (the catalog's columns) ``start``/``end`` (instants),
``arrived`` (first sighting, else ingest), ``clock_reason``/``clock_text`` (``clocks.implausible``),
``zone`` (the label of the device clock's zone), ``officer``/``officer_source``/``ledger_officer``/
``mismatch`` (``custody.attribute``) and ``delay_s``/``late`` (``custody.upload_lateness``).
"""

from __future__ import annotations

from datetime import timedelta, tzinfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.common import timecols
from pipeline.common.times import Zones, zone_label
from pipeline.config import GapsConfig
from pipeline.rules.clocks import earliest_plausible
from pipeline.rules.custody import Period

UTC_TYPE = timecols.UTC_TYPE


def whole(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A column as one array: its one piece as it is (``combine_chunks`` copies even that), the
    pieces joined when there are several."""
    if isinstance(values, pa.ChunkedArray):
        return values.chunk(0) if values.num_chunks == 1 else values.combine_chunks()
    return values


def one_piece(columns: list, schema: pa.Schema) -> pa.Table:
    """A table of ``columns`` (the list emptied: the caller's list must be the only holder of the
    pieces), each joined into one piece a column at a time, its pieces freed before the next is
    joined: never twice the table in memory. Rows are then taken from one array, not dozens (a
    take from a column of many pieces joins them first, for every batch taken)."""
    joined = []
    while columns:
        joined.append(whole(columns.pop(0)))
    return pa.Table.from_arrays(joined, schema=schema)


def us_of(values: pa.Array) -> np.ndarray:
    """Instants (or naive readings) as int64 microseconds; nulls as 0 (keep the validity apart)."""
    return values.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)


def valid_of(values: pa.Array) -> np.ndarray:
    return values.is_valid().to_numpy(zero_copy_only=False)


def instants(us: np.ndarray, valid: np.ndarray) -> pa.Array:
    return pa.array(us, pa.int64(), mask=~valid).cast(UTC_TYPE)


def seconds_us(seconds: np.ndarray) -> np.ndarray:
    """``timedelta(seconds=x)`` in microseconds, exactly as Python rounds it (whole seconds, then the
    fraction rounded half to even)."""
    frac, whole = np.modf(seconds)
    return whole.astype(np.int64) * 1_000_000 + np.rint(frac * 1e6).astype(np.int64)


def timedelta_us(delta: timedelta) -> int:
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def truthy(values: pa.Array) -> np.ndarray:
    """Python's ``bool(value)`` for a text column: present and not empty."""
    return pc.fill_null(pc.not_equal(values, ""), False).to_numpy(zero_copy_only=False)


def device_zones(devices: pa.Array, zones: Zones) -> tuple[pa.Array, dict[str, tzinfo]]:
    """The label of each row's device clock zone, and the zone of each label."""
    by_label: dict[str, tzinfo] = {}

    def label(device):
        zone, _ = zones.device(device)
        by_label[zone_label(zone)] = zone
        return zone_label(zone)

    labels = timecols.per_value(devices, label, pa.string())
    if devices.null_count:
        labels = pc.fill_null(labels, label(None))
    return labels, by_label


def _place_start(rec: pa.Table, labels: pa.Array, by_label: dict[str, tzinfo]) -> pa.Array:
    """``clocks.placed_start`` of every row."""
    n = rec.num_rows
    wall, stored = whole(rec["start_time"]), whole(rec["start_utc"])
    source, container = whole(rec["time_source"]), whole(rec["container_time_zone"])
    local = ~pc.fill_null(pc.equal(source, "creation_time"), False).to_numpy(zero_copy_only=False) \
        | pc.fill_null(pc.equal(container, "local"), False).to_numpy(zero_copy_only=False)
    zone_kept = pc.fill_null(pc.equal(whole(rec["time_zone"]), labels), True).to_numpy(zero_copy_only=False)
    has_wall, has_stored = valid_of(wall), valid_of(stored)
    keep = has_stored & (~local | zone_kept)
    out = np.where(has_wall & ~keep, us_of(wall), us_of(stored))          # a UTC stamp read as it is
    replace = has_wall & ~keep & local                                     # a wall clock placed in the zone
    if replace.any():
        for lab in set(pc.filter(labels, pa.array(replace)).to_pylist()):
            rows = np.flatnonzero(replace & (labels.to_numpy(zero_copy_only=False) == lab))
            placed = timecols.wall_to_utc(wall.take(pa.array(rows)), by_label[lab])
            out[rows] = us_of(placed)
    return instants(out, has_wall | has_stored) if n else pa.array([], UTC_TYPE)


def _place_end(rec: pa.Table, start: pa.Array) -> pa.Array:
    """``clocks.placed_end`` of every row."""
    start_us, has_start = us_of(start), valid_of(start)
    end_utc = whole(rec["end_utc"])
    stored_start = whole(rec["start_utc"])
    same = valid_of(end_utc) & valid_of(stored_start) & (us_of(stored_start) == start_us)
    duration = whole(rec["duration_s"]).cast(pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False)
    out = np.where(same, us_of(end_utc), start_us + seconds_us(duration))
    return instants(out, has_start)


def _arrived(rec: pa.Table, first_seen: pa.Array) -> pa.Array:
    """When each recording reached the archive: its first sighting, else its ingest."""
    return pc.coalesce(first_seen.cast(UTC_TYPE), whole(rec["ingested_at"]).cast(UTC_TYPE))


def _clock(start: pa.Array, arrived: pa.Array, cfg: GapsConfig, site: tzinfo) -> tuple[pa.Array, pa.Array]:
    """``clocks.implausible`` of every row: (reason, sentence), null where the clock can be right."""
    start_us, has_start = us_of(start), valid_of(start)
    earliest = timecols.micros(earliest_plausible(cfg.earliest_plausible, site))
    before = has_start & (start_us < earliest)
    ahead = has_start & ~before & valid_of(arrived) & \
        (start_us > us_of(arrived) + timedelta_us(timedelta(seconds=cfg.future_tolerance_s)))
    none = pa.scalar(None, pa.string())
    reason = pc.if_else(pa.array(before), "before_earliest", pc.if_else(pa.array(ahead), "after_ingest", none))
    flagged = np.flatnonzero(before | ahead)
    if not len(flagged):
        return reason, pa.nulls(len(start), pa.string())
    rows = pa.array(flagged)                  # the sentence only where a clock is wrong (few rows)
    shown_start = timecols.show(start.take(rows), site)
    text_before = pc.binary_join_element_wise("starts ", shown_start, f", before {cfg.earliest_plausible}: the "
                                              "clock was not set", "")
    text_ahead = pc.binary_join_element_wise("starts ", shown_start, ", after it reached the archive (",
                                             timecols.show(arrived.take(rows), site), ")", "")
    sentences = pc.if_else(pa.array(before[flagged]), text_before, text_ahead)
    # each row's sentence taken by its place among the flagged rows (not a Python object per row)
    place = np.full(len(start), -1, np.int64)
    place[flagged] = np.arange(len(flagged))
    return reason, sentences.take(pa.array(place, pa.int64(), mask=place < 0)).cast(pa.string())


def holders(devices: pa.Array, start: pa.Array, periods: dict[str, list[Period]]) -> pa.Array:
    """``custody.holder_at`` of each row's device at its start (null: no handover before it, or the
    device was returned)."""
    n = len(devices)
    if not periods or not n:
        return pa.nulls(n, pa.string())
    start_us, has_start = us_of(start), valid_of(start)
    codes = pc.index_in(devices, value_set=pa.array(list(periods), pa.string())).fill_null(-1).to_numpy(
        zero_copy_only=False)
    officers: list[str | None] = []           # every period's officer, once; rows point into it
    pick = np.full(n, -1, np.int64)
    by_device = np.argsort(codes, kind="stable")  # each device's rows together, found by bisection
    bounds = np.searchsorted(codes[by_device], np.arange(len(periods) + 1))
    for code, spans in enumerate(periods.values()):
        rows = by_device[bounds[code]:bounds[code + 1]]
        rows = rows[has_start[rows]]
        if len(rows):
            starts = np.array([timecols.micros(p.start) for p in spans], dtype=np.int64)
            ends = np.array([timecols.micros(p.end) if p.end is not None else np.iinfo(np.int64).max
                             for p in spans], dtype=np.int64)
            at = np.searchsorted(starts, start_us[rows], side="right") - 1
            held = (at >= 0) & (start_us[rows] < ends[np.maximum(at, 0)])      # Period.holds: a return ends it
            pick[rows] = np.where(held, at + len(officers), -1)
        officers += [p.officer_id for p in spans]
    chosen = pa.array(np.where(pick >= 0, pick, 0), pa.int64(), mask=pick < 0)
    return pc.take(pa.array(officers or [None], pa.string()), chosen)


def _attribute(name: pa.Array, ledger: pa.Array) -> dict[str, pa.Array]:
    """``custody.attribute`` of every row."""
    named, held = truthy(name), truthy(ledger)
    officer = pc.if_else(pa.array(named), name, pc.if_else(pa.array(held), ledger, pa.scalar(None, pa.string())))
    source = pc.if_else(pa.array(named), "filename", pc.if_else(pa.array(held), "ledger", "none"))
    ledger_officer = pc.if_else(pa.array(named | held), ledger, pa.scalar(None, pa.string()))
    mismatch = named & valid_of(ledger) & pc.fill_null(pc.not_equal(ledger, name), True).to_numpy(zero_copy_only=False)
    return {"officer": officer, "officer_source": source, "ledger_officer": ledger_officer,
            "mismatch": pa.array(mismatch, pa.bool_())}


def _lateness(end: pa.Array, arrived: pa.Array, clock_reason: pa.Array, late_after_hours: float
              ) -> tuple[pa.Array, pa.Array]:
    """``custody.upload_lateness`` of every row: (delay_s, late)."""
    known = valid_of(end) & valid_of(arrived) & ~valid_of(clock_reason)
    delay = np.maximum(0.0, (us_of(arrived) - us_of(end)) / 1e6)
    delay_s = pa.array(delay, pa.float64(), mask=~known)
    late = known & (delay > late_after_hours * 3600)
    return delay_s, pa.array(late, pa.bool_())


def placed(rec: pa.Table, first_seen: pa.Array, periods: dict[str, list[Period]], zones: Zones,
           gaps: GapsConfig, late_after_hours: float,
           labelled: tuple[pa.Array, dict[str, tzinfo]] | None = None) -> pa.Table:
    """``rec`` with every recording's place in time, clock check, attribution and upload delay;
    ``first_seen``: each one's first sighting (null: none); ``labelled``: ``device_zones`` of its
    devices when the caller has them already (asked of a million rows once, not twice)."""
    labels, by_label = labelled or device_zones(whole(rec["device_id"]), zones)
    start = _place_start(rec, labels, by_label)
    end = _place_end(rec, start)
    arrived = _arrived(rec, first_seen)
    reason, text = _clock(start, arrived, gaps, zones.site_zone)
    ledger = holders(whole(rec["device_id"]), start, periods)
    who = _attribute(whole(rec["officer_id"]), ledger)
    delay_s, late = _lateness(end, arrived, reason, late_after_hours)
    added = {"start": start, "end": end, "arrived": arrived, "clock_reason": reason, "clock_text": text,
             "zone": labels, **who, "delay_s": delay_s, "late": late}
    for name, column in added.items():
        rec = rec.append_column(name, column)
    return rec
