"""The device ledger from whole columns: ``records.ledger.build`` without a Python call per recording.

The recordings come as ``records.frame`` gives them, the gaps as ``records.gaplist`` lists them;
each recording and each gap is placed in its holder's period by bisection (a device's periods, at
once for all its rows), and the sums and counts are taken per device and per period. The result
is ``records.ledger.build``'s, entry for entry (``tests/test_set_rules.py`` compares them); what
lists single files (mismatches, files nobody held, unattributed ones) is built only for those.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.records.attribution import MEDIA_KINDS, Identities
from pipeline.records.frame import Frame
from pipeline.records.ledger import UNATTRIBUTED, _conflict, _events, registration
from pipeline.rules.custody import Period
from pipeline.rules.sets.recordings import us_of, valid_of, whole
from pipeline.common import timecols

GAP_COLUMNS = ("device_id", "start_utc", "kind", "current", "needs_explanation", "explanation")  # of a gap listing


def _period_of(devices: pa.Array, when: pa.Array, periods: dict[str, list[Period]]) -> tuple[np.ndarray, list]:
    """Each row's holder period (an index into the returned list; -1: nobody held the device then)."""
    flat: list[tuple[str, Period]] = []
    n = len(devices)
    out = np.full(n, -1, np.int64)
    if not n:                         # no rows: the periods still listed (each holder gets its line)
        return out, [(device, p) for device, spans in periods.items() for p in spans]
    if not periods:
        return out, flat
    at, has = us_of(when), valid_of(when)
    codes = pc.index_in(devices, value_set=pa.array(list(periods), pa.string())).fill_null(-1).to_numpy(
        zero_copy_only=False)
    by_device = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[by_device], np.arange(len(periods) + 1))
    for code, (device, spans) in enumerate(periods.items()):
        rows = by_device[bounds[code]:bounds[code + 1]]
        rows = rows[has[rows]]
        starts = np.array([timecols.micros(p.start) for p in spans], dtype=np.int64)
        ends = np.array([timecols.micros(p.end) if p.end is not None else np.iinfo(np.int64).max for p in spans],
                        dtype=np.int64)
        if len(rows):
            i = np.searchsorted(starts, at[rows], side="right") - 1
            held = (i >= 0) & (at[rows] < ends[np.maximum(i, 0)])
            out[rows] = np.where(held, i + len(flat), -1)
        flat += [(device, p) for p in spans]
    return out, flat


def _sums(keys: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Per key (0..size-1), the values added up in row order, as Python's ``sum`` adds them."""
    out = np.zeros(size)
    if not len(keys):
        return out
    order = np.argsort(keys, kind="stable")
    k, v = keys[order], values[order]
    heads = np.flatnonzero(np.concatenate([[True], k[1:] != k[:-1]]))
    tails = np.concatenate([heads[1:], [len(k)]])
    for h, t in zip(heads.tolist(), tails.tolist()):     # cumsum adds in order, one group at a time
        out[k[h]] = float(np.cumsum(v[h:t])[-1])
    return out


def _counts(keys: np.ndarray, mask: np.ndarray, size: int) -> np.ndarray:
    return np.bincount(keys[mask & (keys >= 0)], minlength=size)[:size] if size else np.zeros(0, np.int64)


def _interruptions(gaps: pa.Table, keys: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """``ledger._interruptions`` per key: needing, explained, unexplained (waiting), not_needed."""
    current = gaps["current"].to_numpy(zero_copy_only=False) if gaps.num_rows else np.zeros(0, bool)
    needs = gaps["needs_explanation"].to_numpy(zero_copy_only=False) if gaps.num_rows else np.zeros(0, bool)
    explained = pc.equal(gaps["explanation"], "explained").to_numpy(zero_copy_only=False) if gaps.num_rows \
        else np.zeros(0, bool)
    needing = current & needs
    return {"needing": _counts(keys, needing, size), "explained": _counts(keys, needing & explained, size),
            "unexplained": _counts(keys, needing & ~explained, size),
            "not_needed": _counts(keys, current & ~needs, size)}


def _file(r: dict) -> dict:
    return {"sha256": r["sha256"], "source_name": r["source_name"], "kind": r["kind"], "start_time": r["start"],
            "first_seen": r["arrived"], "status": r["status"]}


def build(state: Frame, gaps: pa.Table, events: list[dict], device: str | None = None) -> list[dict]:
    """``records.ledger.build(...)`` from the frame and the gap listing."""
    t = state.table
    n = t.num_rows
    devices_col = whole(t["device_id"])
    events_of: dict[str, list[dict]] = {}
    for e in events:
        events_of.setdefault(e["device_id"], []).append(e)
    identities: Identities | None = state.identities
    conflicts = {c.sha256: c for c in (identities.conflicts() if identities else [])}
    present = {d for d in pc.unique(devices_col).to_pylist() if d}
    devices = sorted(present | set(state.periods) | {d for d in events_of if d})
    if device is not None:
        devices = [device] if device in devices else []
    names = list(devices)
    code = pc.index_in(devices_col, value_set=pa.array(names, pa.string())).fill_null(-1).to_numpy(
        zero_copy_only=False) if names else np.full(n, -1)
    m = len(names)
    timed = valid_of(whole(t["start"])) & ~valid_of(whole(t["clock_reason"]))
    duration = pc.fill_null(t["duration_s"], 0.0).to_numpy(zero_copy_only=False).astype(float)
    late = t["late"].to_numpy(zero_copy_only=False)
    damaged = ~pc.fill_null(pc.equal(t["status"], "ok"), False).to_numpy(zero_copy_only=False)
    clock = valid_of(whole(t["clock_reason"]))
    from_ledger = pc.equal(t["officer_source"], "ledger").to_numpy(zero_copy_only=False)
    no_officer = ~valid_of(whole(t["officer"]))
    period, flat = _period_of(devices_col, whole(t["start"]), state.periods)
    period = np.where(timed, period, -1)
    p_count = len(flat)
    p_recs = _counts(period, np.ones(n, bool), p_count)
    p_hours = _sums(period[period >= 0], duration[period >= 0], p_count) / 3600
    p_late = _counts(period, late, p_count)
    p_damaged = _counts(period, damaged, p_count)
    # gaps: per device, and per holder period (those that are not clock gaps, by their start)
    g_dev = pc.index_in(gaps["device_id"], value_set=pa.array(names, pa.string())).fill_null(-1).to_numpy(
        zero_copy_only=False) if names and gaps.num_rows else np.full(gaps.num_rows, -1)
    g_period, _ = _period_of(whole(gaps["device_id"]), whole(gaps["start_utc"]), state.periods)
    not_clock = ~pc.fill_null(pc.equal(gaps["kind"], "clock"), False).to_numpy(zero_copy_only=False) \
        if gaps.num_rows else np.zeros(0, bool)
    g_period = np.where(not_clock, g_period, -1)
    per_device_gaps = _interruptions(gaps, g_dev, m)
    per_period_gaps = _interruptions(gaps, g_period, p_count)
    current = gaps["current"].to_numpy(zero_copy_only=False) if gaps.num_rows else np.zeros(0, bool)
    d_recs = _counts(code, np.ones(n, bool), m)
    d_hours = _sums(code[code >= 0], duration[code >= 0], m) / 3600
    d_late, d_clock, d_damaged = _counts(code, late, m), _counts(code, clock, m), _counts(code, damaged, m)
    d_ledger, d_loose = _counts(code, from_ledger, m), _counts(code, no_officer, m)
    d_gaps = _counts(g_dev, current, m)
    unheld_rows = np.flatnonzero(timed & (period < 0) & (code >= 0))
    mismatch_rows = np.flatnonzero(t["mismatch"].to_numpy(zero_copy_only=False) & (code >= 0))
    conflict_rows = np.flatnonzero(pc.is_in(t["sha256"], value_set=pa.array(sorted(conflicts), pa.string()))
                                   .to_numpy(zero_copy_only=False)) if conflicts else np.zeros(0, np.int64)
    few = sorted(set(unheld_rows.tolist()) | set(mismatch_rows.tolist()) | set(conflict_rows.tolist()))
    rows_of = dict(zip(few, t.select(["sha256", "source_name", "kind", "start", "arrived", "status", "officer_id",
                                      "ledger_officer"]).take(pa.array(few, pa.int64())).to_pylist()))
    by_code: dict[int, dict[str, list[int]]] = {}
    for kind, rows in (("unheld", unheld_rows), ("mismatch", mismatch_rows), ("conflict", conflict_rows)):
        for i in rows.tolist():
            by_code.setdefault(int(code[i]), {}).setdefault(kind, []).append(i)
    first_period = {}
    for i, (dev, _) in enumerate(flat):
        first_period.setdefault(dev, i)
    out = []
    for c, dev in enumerate(names):
        dev_events = events_of.get(dev, [])
        mine = by_code.get(c, {})
        unheld = [rows_of[i] for i in mine.get("unheld", [])]
        base = first_period.get(dev, 0)
        holders = []
        for j, p in enumerate(state.periods.get(dev, [])):
            k = base + j
            holders.append({"officer_id": p.officer_id, "from": p.start, "to": p.end, "ended_by": p.ended_by,
                            "by": p.by, "recordings": int(p_recs[k]), "hours": float(p_hours[k]),
                            "interruptions_explained": int(per_period_gaps["explained"][k]),
                            "interruptions_unexplained": int(per_period_gaps["unexplained"][k]),
                            "late": int(p_late[k]), "damaged": int(p_damaged[k])})
        out.append({
            "device_id": dev,
            "registration": registration(dev_events),
            "holders": holders,
            "unheld": {"recordings": len(unheld), "hours": _hours([duration[i] for i in mine.get("unheld", [])]),
                       "files": [_file(r) for r in unheld]},
            "recordings": int(d_recs[c]),
            "duration_h": float(d_hours[c]),
            "gaps": int(d_gaps[c]),
            "interruptions": {k: int(v[c]) for k, v in per_device_gaps.items()},
            "late": int(d_late[c]),
            "clock_problems": int(d_clock[c]),
            "damaged": int(d_damaged[c]),
            "from_ledger": int(d_ledger[c]),
            "unattributed": int(d_loose[c]),
            "mismatches": [{"sha256": r["sha256"], "source_name": r["source_name"], "name_officer": r["officer_id"],
                            "ledger_officer": r["ledger_officer"], "start_time": r["start"]}
                           for r in (rows_of[i] for i in mine.get("mismatch", []))],
            "faults": _events(dev_events, "fault"),
            "repairs": _events(dev_events, "repair"),
            "returns": _events(dev_events, "return"),
            "conflicts": [_conflict(conflicts[rows_of[i]["sha256"]]) for i in mine.get("conflict", [])],
        })
    if device is None:
        loose = ~valid_of(devices_col)
        media = pc.is_in(t["kind"], value_set=pa.array(list(MEDIA_KINDS), pa.string())).to_numpy(zero_copy_only=False)
        files = np.flatnonzero(loose & media)
        listed = t.select(["sha256", "source_name", "kind", "start", "arrived", "status", "officer_id"]).take(
            pa.array(files, pa.int64())).to_pylist()
        loose_shas = set(pc.filter(t["sha256"], pa.array(loose)).to_pylist())
        out.append({"device_id": None, "section": UNATTRIBUTED, "recordings": len(listed),
                    "files": [{**_file(r), "officer_id": r["officer_id"]} for r in listed],
                    "conflicts": [_conflict(cf) for sha, cf in sorted(conflicts.items()) if sha in loose_shas]})
    return out


def _hours(durations: list[float]) -> float:
    return sum(durations) / 3600
