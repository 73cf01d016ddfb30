"""Recording sessions and which gaps need an explanation, over whole columns: ``rules.sessions``
(``sessions``, ``need``) without a Python call per recording or per gap.

``session_ids`` walks every device's recordings at once: sorted by device and start, the furthest
end reached so far is a running maximum (one per device, kept apart by an offset), and a recording
starting more than the break after it begins a new session, named by its device and its first
start in the site's time. ``needs`` decides each gap as ``rules.sessions.need`` does.
"""

from __future__ import annotations

from datetime import tzinfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.common import timecols
from pipeline.rules.sessions import NEEDED_ALWAYS
from pipeline.rules.sets.recordings import UTC_TYPE, us_of, valid_of

_LOWEST = np.iinfo(np.int64).min


def session_ids(sha: pa.Array, device: pa.Array, start: pa.Array, end: pa.Array, tails: dict, break_s: float,
                zone: tzinfo, only: np.ndarray | None = None) -> pa.Array:
    """Each recording's session (``DEVICE@YYYYMMDD-HHMMSS``), as ``rules.sessions.sessions`` groups
    them: ``tails`` is sha256 -> how far a damaged recording's content would reach (None: it reaches
    nowhere beyond its start). Rows without a device or a start get none. ``only`` (a mask): name
    the sessions of these rows alone (the others null): a listing asks about a few thousand of a
    million, and naming every session costs more than finding them."""
    n = len(sha)
    out = pa.nulls(n, pa.string())
    usable = valid_of(device) & valid_of(start)
    if not usable.any():
        return out
    rows = np.flatnonzero(usable)
    dev = device.take(pa.array(rows))
    names = sorted(pc.unique(dev).to_pylist())
    rank = pc.index_in(dev, value_set=pa.array(names, pa.string())).to_numpy(zero_copy_only=False).astype(np.int64)
    t0 = us_of(start)[rows]
    t1 = np.maximum(np.where(valid_of(end)[rows], us_of(end)[rows], t0), t0)
    if tails:              # looked up over the whole column and picked by position: no copy of a million names
        known = [s for s, t in tails.items() if t is not None]
        reach = pc.index_in(sha, value_set=pa.array(known, pa.string())).to_numpy(zero_copy_only=False)[rows]
        if len(known):
            ends = np.array([timecols.micros(tails[s]) for s in known], dtype=np.int64)
            reach = np.nan_to_num(reach.astype(float), nan=-1).astype(np.int64)
            t1 = np.where(reach >= 0, np.maximum(t1, ends[np.maximum(reach, 0)]), t1)
        nowhere = pc.is_in(sha, value_set=pa.array([s for s, t in tails.items() if t is None], pa.string()))
        t1 = np.where(nowhere.to_numpy(zero_copy_only=False)[rows], t0, t1)
    # the order rules.sessions walks in: by start, then sha256 (ties on one device's start are rare)
    order = np.lexsort((t0, rank))
    order = _ties_by_sha(order, rank, t0, sha, rows)
    r, a, b = rank[order], t0[order], t1[order]
    first = np.concatenate([[True], r[1:] != r[:-1]])
    base = a.min()
    span = int(max(b.max(), a.max()) - base) + 1
    if len(names) * span < (1 << 62):              # one running maximum, each device lifted above the last
        lifted = (b - base) + r * span
        furthest = np.maximum.accumulate(lifted) - r * span + base
    else:
        furthest = np.empty_like(b)
        for lo, hi in _runs(first):
            furthest[lo:hi] = np.maximum.accumulate(b[lo:hi])
    before = np.concatenate([[_LOWEST], furthest[:-1]])
    new = first | ((a - before) / 1e6 > break_s)
    session = np.cumsum(new) - 1
    chosen = np.empty(n, np.int64)
    chosen[rows[order]] = session
    named = usable if only is None else usable & only
    wanted = np.unique(chosen[named])                 # the sessions to name, in order
    labels = pc.binary_join_element_wise(pa.array(names, pa.string()).take(pa.array(r[new][wanted])),
                                         _stamp(a[new][wanted], zone), "@")
    at = np.searchsorted(wanted, np.where(named, chosen, wanted[0] if len(wanted) else 0))
    return pc.if_else(pa.array(named), labels.take(pa.array(np.minimum(at, max(len(wanted) - 1, 0)))), out) \
        if len(wanted) else out


def _stamp(us: np.ndarray, zone: tzinfo) -> pa.Array:
    """``YYYYMMDD-HHMMSS`` of each instant in ``zone``."""
    wall = timecols.utc_to_wall(pa.array(us, pa.int64()).cast(UTC_TYPE), zone).cast(pa.timestamp("s"), safe=False)
    text = wall.cast(pa.string())                      # 2026-12-01 06:00:00
    text = pc.replace_substring(pc.replace_substring(text, "-", ""), ":", "")
    return pc.replace_substring(text, " ", "-")


def _ties_by_sha(order: np.ndarray, rank: np.ndarray, start: np.ndarray, sha: pa.Array, rows: np.ndarray) -> np.ndarray:
    """``order`` with each run of one device's recordings starting at the same instant ordered by
    sha256 (``sha[rows[i]]`` is position i's)."""
    same = np.flatnonzero((rank[order][1:] == rank[order][:-1]) & (start[order][1:] == start[order][:-1]))
    if not len(same):
        return order
    order = order.copy()
    heads = same[np.concatenate([[True], same[1:] != same[:-1] + 1])]
    for head in heads.tolist():
        tail = head + 1
        while tail + 1 < len(order) and rank[order[tail + 1]] == rank[order[head]] \
                and start[order[tail + 1]] == start[order[head]]:
            tail += 1
        group = order[head:tail + 1]
        order[head:tail + 1] = sorted(group.tolist(), key=lambda i: sha[int(rows[i])].as_py())
    return order


def _runs(first: np.ndarray):
    heads = np.flatnonzero(first).tolist() + [len(first)]
    return zip(heads[:-1], heads[1:])


def needs(gaps: pa.Table, sessions: pa.Table | None, break_s: float, important: set[str],
          groups: dict[str, frozenset[str]], windows: list, *, reasons: bool = True) -> dict[str, pa.Array]:
    """``rules.sessions.need`` for every gap: ``session_id``, ``needs_explanation``, ``need_reason``.
    ``sessions``: sha256 -> session_id (None: unknown, every session_id null: whether a gap needs
    an explanation does not depend on them, only the names do); ``windows``:
    ``rules.sessions.Window`` in the order ``records.sessions`` lists them (a gap covered by
    several names the first). ``reasons`` False: ``needs_explanation`` alone (the ledger counts;
    the reasons of a year's gaps are some 400,000 strings it would throw away)."""
    n = gaps.num_rows
    kind = gaps["kind"].combine_chunks()
    between = pc.fill_null(pc.equal(kind, "between_files"), False)
    duration = gaps["duration_s"].combine_chunks()
    short = pc.fill_null(pc.less_equal(duration, break_s), True)
    # Every gap but a long pause needs an explanation; a long pause, when marked recordings are on
    # both sides, a case holds both, or a window covers it (each tried on those still undecided).
    open_long = pc.and_(between, pc.invert(short)).to_numpy(zero_copy_only=False)
    marked_long = np.zeros(n, bool)
    if important:                 # none marked (often): no pause is decided by marks
        marked_long = open_long & _both_sides_in(gaps, np.arange(n), pa.array(sorted(important), pa.string()))
    extra = np.full(n, None, dtype=object)          # the reason of a pause a case or a window decides
    by_extra = np.zeros(n, bool)
    pending = np.flatnonzero(open_long & ~marked_long)
    if groups and len(pending):
        held = pa.array(sorted(groups), pa.string())      # only pauses with a held recording on both sides
        pending = pending[_both_sides_in(gaps, pending, held)]
        ends = gaps.select(["before_sha256", "after_sha256"]).take(pa.array(pending)).to_pylist()
        for i, g in zip(pending.tolist(), ends):
            shared = sorted(groups.get(g["before_sha256"], frozenset()) & groups.get(g["after_sha256"], frozenset()))
            if shared:
                extra[i] = f"a pause inside {shared[0]}"
                by_extra[i] = True
    pending = np.flatnonzero(open_long & ~marked_long & ~by_extra)
    if windows and len(pending):
        hits = _windows_over(gaps, pending, duration, windows)
        at = hits["i"].to_numpy()
        extra[at] = [f"a pause inside the window of {label}" for label in hits["label"].to_pylist()]
        by_extra[at] = True
    needed = ~open_long | marked_long | by_extra
    if not reasons:
        return {"needs_explanation": pa.array(needed)}

    found: dict[str, pa.Array] = {}

    def session(column: str) -> pa.Array:             # each a hash of a million sessions: once a column
        if column not in found:
            found[column] = pa.nulls(n, pa.string()) if sessions is None else \
                pc.take(sessions["session_id"], pc.index_in(gaps[column], value_set=sessions["sha256"]))
        return found[column]

    overlap = pc.fill_null(pc.equal(kind, "overlap"), False)
    own = pc.if_else(overlap, session("before_sha256"), session("sha256"))
    either = pc.coalesce(session("before_sha256"), session("after_sha256"))
    inside = pc.and_(between, short)
    session_id = pc.if_else(between, pc.if_else(short, either, pa.scalar(None, pa.string())), own)
    always = pc.fill_null(pc.index_in(kind, value_set=pa.array(list(NEEDED_ALWAYS), pa.string())), -1)
    why_always = pc.if_else(pc.greater_equal(always, 0), pc.take(pa.array(list(NEEDED_ALWAYS.values())),
                                                                 pc.max_element_wise(always, 0)), "an interruption")
    why = pc.if_else(between, pc.if_else(inside, pc.if_else(pc.is_valid(either), pc.binary_join_element_wise(
        "a pause inside recording session ", either, ""), "a pause inside a session"), pa.scalar(None, pa.string())),
        why_always)
    if marked_long.any():
        why = pc.if_else(pa.array(marked_long), "a pause between recordings marked important", why)
    if by_extra.any():
        why = pc.coalesce(why, pa.array(extra, pa.string()))
    why = pc.fill_null(why, "a pause between recording sessions")
    return {"session_id": session_id, "needs_explanation": pa.array(needed), "need_reason": why}


def _windows_over(gaps: pa.Table, pending: np.ndarray, duration: pa.Array, windows: list) -> pa.Table:
    """Of the gaps ``pending`` (indices), those a window covers (``i``), each with the label of the
    first window that does (``label``)."""
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute("SET enable_progress_bar=false")     # stdout carries the output alone
    try:
        con.execute("SET TimeZone='UTC'")
        at = pa.array(pending, pa.int64())
        g = gaps.select(["device_id", "officer_id", "start_utc", "end_utc"]).take(at)
        con.register("g", pa.table({"i": at, "device_id": g["device_id"], "officer_id": g["officer_id"],
                                    "t0": g["start_utc"], "t1": pc.coalesce(g["end_utc"], pc.add(
                                        g["start_utc"], _seconds(duration.take(at))))}))
        con.register("w", pa.table({"pos": pa.array(range(len(windows)), pa.int64()),
                                    "label": pa.array([w.label for w in windows], pa.string()),
                                    "device_id": pa.array([w.device_id for w in windows], pa.string()),
                                    "officer_id": pa.array([w.officer_id for w in windows], pa.string()),
                                    "t0": pa.array([w.start for w in windows], UTC_TYPE),
                                    "t1": pa.array([w.end for w in windows], UTC_TYPE)}))
        # A window covers a gap of its device or of its officer: two equality joins (a join
        # on "device or officer" compares every pause with every window, minutes at a year).
        return con.sql("""
            WITH m AS (
                SELECT g.i, w.pos, w.label FROM g JOIN w ON w.device_id = g.device_id
                 WHERE g.t0 IS NOT NULL AND g.t0 < w.t1 AND g.t1 > w.t0
                UNION ALL
                SELECT g.i, w.pos, w.label FROM g JOIN w ON w.officer_id = g.officer_id
                 WHERE g.t0 IS NOT NULL AND g.t0 < w.t1 AND g.t1 > w.t0)
            SELECT i, arg_min(label, pos) AS label FROM m GROUP BY i""").to_arrow_table()
    finally:
        con.close()


def _both_sides_in(gaps: pa.Table, rows: np.ndarray, shas: pa.Array) -> np.ndarray:
    """Which of ``rows`` (indices into ``gaps``) have both ``before_sha256`` and ``after_sha256``
    among ``shas``, as a mask over ``rows``. Most rows asked (the ledger's year of long pauses):
    looked up over the whole columns, without a copy of 64-character names for each side."""
    sides = ("before_sha256", "after_sha256")
    if len(rows) * 2 > gaps.num_rows:
        hit = np.zeros(gaps.num_rows, bool)
        hit[rows] = True
        for side in sides:
            hit &= pc.fill_null(pc.is_in(gaps[side], value_set=shas), False).to_numpy(zero_copy_only=False)
        return hit[rows]
    ends = gaps.select(list(sides)).take(pa.array(rows))
    return pc.fill_null(pc.and_(pc.is_in(ends[sides[0]], value_set=shas), pc.is_in(ends[sides[1]], value_set=shas)),
                        False).to_numpy(zero_copy_only=False)


def _seconds(duration: pa.Array) -> pa.Array:
    from pipeline.rules.sets.recordings import seconds_us

    return pa.array(seconds_us(duration.fill_null(0.0).to_numpy(zero_copy_only=False)), pa.duration("us"))
