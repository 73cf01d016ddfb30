"""How long every recording must be kept: ``rules.retention.retain_until`` over whole columns.

Each recording starts with its routine rule (raised to the archive floor); each assignment that
picks it (joined by SHA-256, by device or by attributed officer with overlapping times) adds the
rule it gives; the longest wins as ``_longer`` decides (a "forever" rule beats any date, permanent
beats a case, the earlier assignment a tie; between dates, the later assignment a tie). Reasons
are written as the reference writes them, from pieces asked once per distinct day or case.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.common import i18n, timecols
from pipeline.common.times import local_day, wall_to_utc
from pipeline.config import RetentionConfig
from pipeline.rules.retention import CaseState, Subject, add_months, archive_floor, routine
from pipeline.rules.sets.recordings import UTC_TYPE, instants, truthy, us_of, valid_of, whole

NULL_TEXT = pa.scalar(None, pa.string())
_RANK = {"permanent": 2, "case": 1}
COLUMNS = ("until", "retention_class", "reason", "held", "permanent", "counted_from")


def _join(*parts) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _since(recorded: pa.Array, counted_from: pa.Array, site: tzinfo) -> pa.Array:
    """``retention._since``: "recording 2026-12-01 (device clock)" or "first ingest 2026-12-01 (…) (archive clock)"."""
    day = timecols.day_text(recorded, site)
    counted_from = _plain(counted_from)
    rest = pc.utf8_slice_codeunits(counted_from, len("first ingest"))
    return pc.if_else(pc.equal(counted_from, "recording"), _join("recording ", day, " (device clock)"),
                      _join("first ingest ", day, rest, " (archive clock)"))


def subjects(rec: pa.Table) -> dict[str, pa.Array]:
    """What ``Subject`` derives: when retention counts from, and which clock that is."""
    start, arrived = whole(rec["start"]), whole(rec["arrived"])
    clock_ok = ~valid_of(whole(rec["clock_reason"]))
    on_device = valid_of(start) & clock_ok
    recorded = instants(np.where(on_device, us_of(start), us_of(arrived)), np.where(on_device, True, valid_of(arrived)))
    code = np.where(on_device, 0, np.where(valid_of(start), 1, 2)).astype(np.int32)
    counted = pa.DictionaryArray.from_arrays(pa.array(code), pa.array(_COUNTED, pa.string()))
    return {"recorded": recorded, "counted_from": counted}


def _floor(until: pa.Array, reason: pa.Array, cls: pa.Array, arrived: pa.Array, cfg: RetentionConfig,
           site: tzinfo) -> tuple[pa.Array, pa.Array]:
    """``retention.archive_floor``: a date raised to the class's minimum from first ingest."""
    out_until, out_reason = until, reason
    for name, months in (("routine", cfg.routine_months), ("other", cfg.other_min_months),
                         ("case", cfg.case_min_months)):
        mine = pc.fill_null(pc.equal(cls, name), False)
        floor = timecols.months_later(arrived, months, site)
        raise_it = pc.and_(pc.and_(mine, pc.is_valid(out_until)), pc.fill_null(pc.greater(floor, out_until), False))
        if not pc.any(raise_it).as_py():
            continue
        text = _join(out_reason, f"; raised to the archive floor: {months} months from first ingest ",
                     timecols.day_text(arrived, site), " (archive clock)")
        out_until = pc.if_else(raise_it, floor, out_until)
        out_reason = pc.if_else(raise_it, text, out_reason)
    return out_until, out_reason


def _routine_floored(recorded: pa.Array, counted_from: pa.Array, arrived: pa.Array, cfg: RetentionConfig,
                     site: tzinfo) -> tuple[pa.Array, pa.Array]:
    """Every recording's routine rule raised to the archive floor (``archive_floor(routine(...))``).
    It depends only on the day retention counts from, which clock that is, and the day of first
    ingest: the reference rules are asked once per distinct combination (a few thousand)."""
    counted = counted_from.indices if pa.types.is_dictionary(counted_from.type) else \
        pc.index_in(counted_from, value_set=pa.array(list(_COUNTED), pa.string())).fill_null(0)
    days = [_local_days(x, site) for x in (recorded, arrived)]
    key = pc.add(pc.add(pc.multiply(pc.add(days[0], 1 << 21), 1 << 24), pc.multiply(pc.add(days[1], 1 << 21), 4)),
                 counted.cast(pa.int64()))
    distinct = pc.unique(key.drop_null()) if key.null_count else pc.unique(key)
    untils, reasons = [], []
    for k in distinct.to_pylist():
        recorded_day = _day(k // (1 << 24) - (1 << 21))
        arrived_day = _day((k % (1 << 24)) // 4 - (1 << 21))
        rule = _reference_routine(recorded_day, arrived_day, _COUNTED[k % 4], cfg, site)
        untils.append(rule.until)
        reasons.append(rule.reason)
    index = pc.index_in(key, value_set=distinct)
    # The reasons as a dictionary: a million rows share a few thousand sentences.
    return pc.take(pa.array(untils, UTC_TYPE), index), pa.DictionaryArray.from_arrays(index, pa.array(reasons, pa.string()))


def _local_days(instants: pa.Array, site: tzinfo) -> pa.Array:
    """``timecols.local_days`` as int64 days since 1970-01-01."""
    return timecols.local_days(instants, site).cast(pa.int32()).cast(pa.int64())


_COUNTED = ("recording", "first ingest (device clock not plausible)", "first ingest (no recording time)")


_EPOCH_DAY = date(1970, 1, 1)


def _day(days: int) -> date:
    return _EPOCH_DAY + timedelta(days=days)


@lru_cache(maxsize=1 << 14)
def _noon(day: date, site: tzinfo) -> datetime:
    """Noon of ``day`` in the site's zone, the instant that stands for the day (asked once a day)."""
    return wall_to_utc(datetime.combine(day, time(12)), site)


def _reference_routine(recorded_day, arrived_day, counted: str, cfg: RetentionConfig, site: tzinfo):
    """``archive_floor(routine(subject))`` for a recording of these days (noon stands for the day)."""
    arrived = _noon(arrived_day, site)
    start = _noon(recorded_day, site) if counted != _COUNTED[2] else None
    subject = Subject("", start=start, ingested_at=arrived, clock_ok=counted == _COUNTED[0])
    # the routine rule depends only on the day retention counts from (``recorded_at``) and why
    rule = _routine_of(recorded_day if counted == _COUNTED[0] else arrived_day, counted, cfg, site,
                       i18n.current_language())
    return archive_floor(rule, subject, cfg, site)


@lru_cache(maxsize=1 << 14)
def _routine_of(day: date, counted: str, cfg: RetentionConfig, site: tzinfo, language: str):
    """``routine(subject)`` of a recording whose retention counts from ``day`` (``counted``): the
    days of a year's recordings ask it a few hundred times, not once per pair of days. ``language``:
    the one its reason is written in (``i18n.current_language()``), part of what it is cached by: a
    process that switches language (a test run, the review service) must not get another's words."""
    noon = _noon(day, site)
    subject = Subject("", start=None if counted == _COUNTED[2] else noon, ingested_at=noon,
                      clock_ok=counted == _COUNTED[0])
    return routine(subject, cfg, site)


def _routine(recorded: pa.Array, since: pa.Array, cfg: RetentionConfig, site: tzinfo) -> tuple[pa.Array, pa.Array]:
    until = timecols.months_later(recorded, cfg.routine_months, site)
    return until, _join(f"routine: {cfg.routine_months} months from ", since)


def _cases(cases: dict[str, CaseState], cfg: RetentionConfig, site: tzinfo) -> pa.Table:
    """One row per case: its state as the rules see it, and the date 3 months after its close."""
    rows = []
    for cid, case in cases.items():
        closed = case.closed_at if not case.is_open else None
        rows.append({"case_id": cid, "kind": "permanent" if case.retention_class == "permanent" else
                     ("open" if case.is_open else "closed"),
                     "after_close": add_months(closed, cfg.case_months_after_close, site) if closed else None,
                     "closed_day": local_day(closed, site).isoformat() if closed else None})
    schema = pa.schema([("case_id", pa.string()), ("kind", pa.string()), ("after_close", UTC_TYPE),
                        ("closed_day", pa.string())])
    return pa.Table.from_pylist(rows, schema=schema)


def _pairs(rec: pa.Table, assignments: pa.Table, as_of: datetime) -> pa.Table:
    """(recording, assignment) for every assignment in effect at ``as_of`` that picks the recording
    (``retention.matches``: by SHA-256, or the device's or attributed officer's recordings whose
    time overlaps the range), with the assignment's columns and its place in table order. Joined by
    DuckDB: a million recordings against thousands of assignments in a fraction of a second."""
    import duckdb

    a = assignments.filter(pc.less_equal(assignments["at"], pa.scalar(as_of, UTC_TYPE)))
    a = a.append_column("a_pos", pa.array(np.arange(a.num_rows), pa.int64()))
    keep = ["case_id", "retention_class", "duration_days", "by", "at", "assignment_id", "range_start", "range_end",
            "a_pos"]
    empty = pa.table({"r": pa.array([], pa.int64()), **{k: pa.array([], a.schema.field(k).type) for k in keep}})
    if not a.num_rows or not rec.num_rows:
        return empty
    marked = pc.fill_null(rec["important"], False) if "important" in rec.column_names else \
        pa.array(np.zeros(rec.num_rows, bool))
    if "important" not in a.column_names:
        a = a.append_column("important", pa.nulls(a.num_rows, pa.bool_()))
    used = set(a["selector"].to_pylist())
    rows = pa.array(np.arange(rec.num_rows), pa.int64())
    # Only the selectors some assignment uses are joined; by SHA-256 only the few recordings named
    # (a million SHA-256 texts never go to DuckDB).
    named = pc.is_in(rec["sha256"], value_set=pc.unique(whole(a["sha256"]).drop_null())) if "sha256" in used else None
    by_sha = pa.table({"r": rows, "sha256": rec["sha256"]}).filter(named) if named is not None else None
    left = pa.table({"r": rows, "device_id": rec["device_id"], "officer": rec["officer"], "t0": rec["start"],
                     "t1": rec["end"], "important": marked})
    cols = ", ".join(f'a."{k}"' for k in keep)
    # An assignment for marked recordings only picks recordings the recorder marked important.
    overlap = "rec.t0 IS NOT NULL AND rec.t0 <= a.range_end AND rec.t1 >= a.range_start " \
              "AND (NOT coalesce(a.important, false) OR rec.important)"
    joins = {"sha256": f"SELECT named.r, {cols} FROM named JOIN a ON a.selector = 'sha256' AND named.sha256 = a.sha256",
             "device": f"SELECT rec.r, {cols} FROM rec JOIN a ON a.selector = 'device' AND rec.device_id = a.device_id "
                       f"AND {overlap}",
             "officer": f"SELECT rec.r, {cols} FROM rec JOIN a ON a.selector = 'officer' AND rec.officer = a.officer_id "
                        f"AND {overlap}",
             "important": f"SELECT rec.r, {cols} FROM rec JOIN a ON a.selector = 'important' AND rec.important "
                          f"AND {overlap}"}
    chosen = [sql for selector, sql in joins.items() if selector in used]
    if not chosen:
        return empty
    con = duckdb.connect(":memory:")
    con.execute("SET enable_progress_bar=false")     # stdout carries the output alone
    try:
        con.execute("SET TimeZone='UTC'")
        con.register("rec", left)
        con.register("a", a)
        if by_sha is not None:
            con.register("named", by_sha)
        pairs = con.sql("\nUNION ALL ".join(chosen)).to_arrow_table()
    finally:
        con.close()
    return pairs.cast(empty.schema) if pairs.num_rows else empty


def _assignment_rules(pairs: pa.Table, recorded: pa.Array, since: pa.Array, cases: pa.Table, cfg: RetentionConfig,
                      site: tzinfo) -> dict[str, pa.Array]:
    """``retention._rule`` for every pair: until (null: forever), class, reason, held, permanent."""
    rec_at, rec_since = recorded, since                      # one per pair
    cid = whole(pairs["case_id"])
    has_case = pa.array(truthy(cid))
    index = pc.index_in(cid, value_set=cases["case_id"])
    kind = pc.fill_null(pc.take(cases["kind"], index), "missing")
    after_close = pc.take(cases["after_close"], index)
    closed_day = pc.take(cases["closed_day"], index)
    by = whole(pairs["by"])
    by_text = pc.if_else(pa.array(truthy(by)), _join(" (assigned by ", by, ")"), "")
    cls = whole(pairs["retention_class"])
    days = pc.fill_null(whole(pairs["duration_days"]), 0)

    case_floor = timecols.months_later(rec_at, cfg.case_min_months, site)
    floor_wins = pc.fill_null(pc.greater(case_floor, after_close), False)
    closed_text = _join("case ", cid, " closed ", closed_day, "; ")
    closed_until = pc.if_else(floor_wins, case_floor, after_close)
    closed_reason = pc.if_else(floor_wins, _join(closed_text, f"{cfg.case_min_months}-month floor from ", rec_since),
                               _join(closed_text, f"{cfg.case_months_after_close} months after close"))
    other_until = timecols.days_later(rec_at, days, site)
    other_floor = timecols.months_later(rec_at, cfg.other_min_months, site)
    other_raised = pc.fill_null(pc.greater(other_floor, other_until), False)
    days_text = days.cast(pa.string())
    other_reason = pc.if_else(other_raised,
                              _join("other: ", days_text, f" days raised to the {cfg.other_min_months}-month floor from ",
                                    rec_since, by_text),
                              _join("other: ", days_text, " days from ", rec_since, by_text))
    routine_until, routine_reason = _routine(rec_at, rec_since, cfg, site)

    def pick(case_missing, case_perm, case_open, case_closed, permanent, other, routine):
        by_case = pc.case_when(pc.make_struct(pc.equal(kind, "missing"), pc.equal(kind, "permanent"),
                                              pc.equal(kind, "open")), case_missing, case_perm, case_open, case_closed)
        by_class = pc.case_when(pc.make_struct(pc.fill_null(pc.equal(cls, "permanent"), False),
                                               pc.fill_null(pc.equal(cls, "other"), False)), permanent, other, routine)
        return pc.if_else(has_case, by_case, by_class)

    null_until = pa.scalar(None, UTC_TYPE)
    until = pick(null_until, null_until, null_until, closed_until, null_until, pc.if_else(other_raised, other_floor,
                 other_until), routine_until)
    cls_out = pick(pa.scalar("case"), pa.scalar("permanent"), pa.scalar("case"), pa.scalar("case"),
                   pa.scalar("permanent"), pa.scalar("other"), pa.scalar("routine"))
    reason = pick(_join("case ", cid, ": not open yet as of this date, held"), _join("permanent: case ", cid),
                  _join("case ", cid, " open: held"), closed_reason, _join("permanent", by_text), other_reason,
                  routine_reason)
    yes, no = pa.scalar(True), pa.scalar(False)
    held = pick(yes, no, yes, no, no, no, no)
    permanent = pick(no, yes, no, no, yes, no, no)
    return {"until": until, "retention_class": cls_out, "reason": reason, "held": held, "permanent": permanent}


def retention(rec: pa.Table, assignments: pa.Table, cases: dict[str, CaseState], cfg: RetentionConfig,
              as_of: datetime, site: tzinfo) -> dict[str, pa.Array]:
    """Every recording's retention as of ``as_of`` (``COLUMNS``)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        # The assignments joined (DuckDB, without the GIL) while the routine rules are worked out.
        joined = pool.submit(_pairs, rec, assignments, as_of)
        subject = subjects(rec)
        recorded, counted_from = subject["recorded"], subject["counted_from"]
        arrived = whole(rec["arrived"])
        until, reason = _routine_floored(recorded, counted_from, arrived, cfg, site)
        pairs = joined.result()
    n = rec.num_rows
    cls = pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array(["routine"], pa.string()))
    no = pa.array(np.zeros(n, bool))
    out = {"until": until, "retention_class": cls, "reason": reason, "held": no, "permanent": no}
    if pairs.num_rows:
        picked_rows = whole(pairs["r"])
        since = _since(pc.take(recorded, picked_rows), pc.take(counted_from, picked_rows), site)
        got = _assignment_rules(pairs, pc.take(recorded, picked_rows), since, _cases(cases, cfg, site), cfg, site)
        p_until, p_reason = _floor(got["until"], got["reason"], got["retention_class"],
                                   pc.take(arrived, pairs["r"]), cfg, site)
        # Only recordings an assignment picks need the fold; the rest keep their routine rule.
        picked = pc.unique(whole(pairs["r"]))
        base = pa.table({"r": picked, "order_at": pa.nulls(len(picked), pa.int64()),
                         "order_id": pa.nulls(len(picked), pa.string()),
                         "order_pos": pa.array(np.full(len(picked), -1), pa.int64()),
                         **{k: _plain(pc.take(out[k], picked)) for k in ("until", "retention_class", "reason",
                                                                          "held", "permanent")}})
        rules = pa.concat_tables([base, pa.table({
            "r": pairs["r"], "order_at": pairs["at"].cast(pa.int64()), "order_id": pc.fill_null(pairs["assignment_id"], ""),
            "order_pos": pairs["a_pos"], "until": p_until, "retention_class": got["retention_class"], "reason": p_reason,
            "held": got["held"], "permanent": got["permanent"]})])
        folded = _longest(rules)
        # Each recording's row: its routine rule, or (picked by an assignment) the fold's result.
        chosen = np.arange(n, dtype=np.int64)
        chosen[folded["r"].to_numpy()] = n + np.arange(folded.num_rows)
        chosen = pa.array(chosen)
        for k in out:
            mine = whole(folded[k])
            if pa.types.is_dictionary(out[k].type):      # the fold's sentences join the dictionary
                words = pa.concat_arrays([out[k].dictionary, mine.cast(pa.string())])
                codes = pa.concat_arrays([out[k].indices.cast(pa.int32()),
                                          pa.array(np.arange(len(mine), dtype=np.int32) + len(out[k].dictionary))])
                out[k] = pa.DictionaryArray.from_arrays(codes.take(chosen), words)
            else:
                out[k] = pa.concat_arrays([out[k], mine.cast(out[k].type)]).take(chosen)
    return {**out, "counted_from": counted_from}


def _plain(values: pa.Array) -> pa.Array:
    return values.dictionary_decode() if pa.types.is_dictionary(values.type) else values


def _longest(rules: pa.Table) -> pa.Table:
    """``retention._longer`` folded over each recording's rules (``r``), in candidate order (the
    routine rule first, then the assignments by time assigned, id and table order): one row each."""
    order = [("order_at", "ascending"), ("order_id", "ascending"), ("order_pos", "ascending")]
    forever = rules.filter(pc.is_null(rules["until"]))
    finite = rules.filter(pc.is_valid(rules["until"]))
    # between dates the last of the longest wins: longest first, latest candidate first (the
    # routine rule, with no order, last)
    ranked = finite.sort_by([("r", "ascending"), ("until", "descending")] + [(k, "descending") for k, _ in order])
    best = ranked.take(_firsts(ranked["r"])).select(["r", "until", "retention_class", "reason", "held", "permanent"])
    if forever.num_rows:
        rank = pc.fill_null(pc.case_when(pc.make_struct(pc.equal(forever["retention_class"], "permanent"),
                                                        pc.equal(forever["retention_class"], "case")), 2, 1, 0), 0)
        ranked = forever.append_column("rank", rank).sort_by([("r", "ascending"), ("rank", "descending")] + order)
        top = ranked.take(_firsts(ranked["r"]))
        flags = forever.group_by("r", use_threads=False).aggregate([("held", "any"), ("permanent", "any")])
        flags = flags.take(pc.index_in(top["r"], value_set=flags["r"]))
        top = pa.table({"r": top["r"], "until": pa.nulls(top.num_rows, UTC_TYPE),
                        "retention_class": top["retention_class"], "reason": top["reason"],
                        "held": flags["held_any"], "permanent": flags["permanent_any"]})
        best = best.filter(pc.invert(pc.is_in(best["r"], value_set=whole(top["r"]))))
        best = pa.concat_tables([best, top.cast(best.schema)])
    return best


def _firsts(r: pa.ChunkedArray) -> pa.Array:
    """Positions of the first row of each run of equal ``r`` (the table is sorted by ``r``)."""
    values = r.to_numpy()
    starts = np.flatnonzero(np.concatenate([[True], values[1:] != values[:-1]])) if len(values) else np.array([], int)
    return pa.array(starts, pa.int64())
