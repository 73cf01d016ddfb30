"""How long every recording must be kept: ``rules.retention.retain_until`` over whole columns.

Each recording starts with its routine rule (raised to the archive floor); each assignment that
picks it (joined by SHA-256, by device or by attributed officer with overlapping times) adds the
rule it gives; the longest wins as ``_longer`` decides (a "forever" rule beats any date, permanent
beats a case, the earlier assignment a tie; between dates, the later assignment a tie). Reasons
are written as the reference writes them, from pieces asked once per distinct day or case.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.common import timecols
from pipeline.common.times import local_day
from pipeline.config import RetentionConfig
from pipeline.rules.retention import CaseState, add_months
from pipeline.rules.sets.recordings import UTC_TYPE, instants, truthy, us_of, valid_of

NULL_TEXT = pa.scalar(None, pa.string())
_RANK = {"permanent": 2, "case": 1}
COLUMNS = ("until", "retention_class", "reason", "held", "permanent", "counted_from")


def _join(*parts) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _since(recorded: pa.Array, counted_from: pa.Array, site: tzinfo) -> pa.Array:
    """``retention._since``: "recording 2026-12-01 (device clock)" or "first ingest 2026-12-01 (…) (archive clock)"."""
    day = timecols.day_text(recorded, site)
    rest = pc.utf8_slice_codeunits(counted_from, len("first ingest"))
    return pc.if_else(pc.equal(counted_from, "recording"), _join("recording ", day, " (device clock)"),
                      _join("first ingest ", day, rest, " (archive clock)"))


def subjects(rec: pa.Table) -> dict[str, pa.Array]:
    """What ``Subject`` derives: when retention counts from, and which clock that is."""
    start, arrived = rec["start"].combine_chunks(), rec["arrived"].combine_chunks()
    clock_ok = ~valid_of(rec["clock_reason"].combine_chunks())
    on_device = valid_of(start) & clock_ok
    recorded = instants(np.where(on_device, us_of(start), us_of(arrived)), np.where(on_device, True, valid_of(arrived)))
    counted = np.where(on_device, "recording", np.where(valid_of(start), "first ingest (device clock not plausible)",
                                                         "first ingest (no recording time)"))
    return {"recorded": recorded, "counted_from": pa.array(counted, pa.string())}


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
    (``retention.matches``), with the assignment's columns and its place in the candidate order."""
    a = assignments.filter(pc.less_equal(assignments["at"], pa.scalar(as_of, UTC_TYPE)))
    a = a.append_column("a_pos", pa.array(np.arange(a.num_rows), pa.int64()))
    left = pa.table({"r": pa.array(np.arange(rec.num_rows), pa.int64()), "sha256": rec["sha256"],
                     "device_id": rec["device_id"], "officer": rec["officer"], "start": rec["start"], "end": rec["end"]})
    keep = ["case_id", "retention_class", "duration_days", "by", "at", "assignment_id", "range_start", "range_end",
            "a_pos"]
    found = []
    for selector, key, right_key in (("sha256", "sha256", "sha256"), ("device", "device_id", "device_id"),
                                     ("officer", "officer", "officer_id")):
        chosen = a.filter(pc.equal(a["selector"], selector))
        if not chosen.num_rows:
            continue
        right = chosen.select(keep + [right_key])
        if right_key != key:
            right = right.rename_columns(keep + [key])
        joined = left.select(["r", key, "start", "end"]).join(right, key, join_type="inner")
        if selector != "sha256":                       # a range overlapping the recording's time
            joined = joined.filter(pc.and_(pc.is_valid(joined["start"]), pc.and_(
                pc.less_equal(joined["start"], joined["range_end"]), pc.greater_equal(joined["end"], joined["range_start"]))))
        found.append(joined.select(["r"] + keep))
    if not found:
        return pa.table({"r": pa.array([], pa.int64()), **{k: pa.array([], a.schema.field(k).type) for k in keep}})
    return pa.concat_tables(found)


def _assignment_rules(pairs: pa.Table, recorded: pa.Array, since: pa.Array, cases: pa.Table, cfg: RetentionConfig,
                      site: tzinfo) -> dict[str, pa.Array]:
    """``retention._rule`` for every pair: until (null: forever), class, reason, held, permanent."""
    r = pairs["r"].combine_chunks()
    rec_at, rec_since = pc.take(recorded, r), pc.take(since, r)
    cid = pairs["case_id"].combine_chunks()
    has_case = pa.array(truthy(cid))
    index = pc.index_in(cid, value_set=cases["case_id"])
    kind = pc.fill_null(pc.take(cases["kind"], index), "missing")
    after_close = pc.take(cases["after_close"], index)
    closed_day = pc.take(cases["closed_day"], index)
    by = pairs["by"].combine_chunks()
    by_text = pc.if_else(pa.array(truthy(by)), _join(" (assigned by ", by, ")"), "")
    cls = pairs["retention_class"].combine_chunks()
    days = pc.fill_null(pairs["duration_days"].combine_chunks(), 0)

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
    subject = subjects(rec)
    recorded, counted_from = subject["recorded"], subject["counted_from"]
    arrived = rec["arrived"].combine_chunks()
    since = _since(recorded, counted_from, site)
    n = rec.num_rows
    until, reason = _routine(recorded, since, cfg, site)
    cls = pa.array(["routine"] * n, pa.string())
    until, reason = _floor(until, reason, cls, arrived, cfg, site)
    rules = [pa.table({"r": pa.array(np.arange(n), pa.int64()), "order_at": pa.nulls(n, pa.int64()),
                       "order_id": pa.nulls(n, pa.string()), "order_pos": pa.array(np.full(n, -1), pa.int64()),
                       "until": until, "retention_class": cls, "reason": reason, "held": pa.array(np.zeros(n, bool)),
                       "permanent": pa.array(np.zeros(n, bool))})]
    pairs = _pairs(rec, assignments, as_of)
    if pairs.num_rows:
        got = _assignment_rules(pairs, recorded, since, _cases(cases, cfg, site), cfg, site)
        p_until, p_reason = _floor(got["until"], got["reason"], got["retention_class"],
                                   pc.take(arrived, pairs["r"]), cfg, site)
        rules.append(pa.table({"r": pairs["r"], "order_at": pairs["at"].cast(pa.int64()),
                               "order_id": pc.fill_null(pairs["assignment_id"], ""), "order_pos": pairs["a_pos"],
                               "until": p_until, "retention_class": got["retention_class"], "reason": p_reason,
                               "held": got["held"], "permanent": got["permanent"]}))
    return {**_longest(pa.concat_tables(rules), n), "counted_from": counted_from}


def _longest(rules: pa.Table, n: int) -> dict[str, pa.Array]:
    """``retention._longer`` folded over each recording's rules, in candidate order (the routine
    rule first, then assignments by time assigned and id)."""
    # The order a recording's rules are folded in: routine (nulls first), then (at, id, position).
    forever = rules.filter(pc.is_null(rules["until"]))
    finite = rules.filter(pc.is_valid(rules["until"]))
    out = {"until": np.zeros(n, np.int64), "valid": np.zeros(n, bool), "cls": np.full(n, None, object),
           "reason": np.full(n, None, object), "held": np.zeros(n, bool), "permanent": np.zeros(n, bool)}
    order = [("order_at", "ascending"), ("order_id", "ascending"), ("order_pos", "ascending")]
    if finite.num_rows:
        # between dates the last of the longest wins: sort longest first, latest candidate first
        ranked = finite.sort_by([("r", "ascending"), ("until", "descending")]
                                + [(k, "descending") for k, _ in order])
        first = _firsts(ranked["r"])
        rows = ranked.take(first)
        idx = rows["r"].to_numpy()
        out["until"][idx] = us_of(rows["until"].combine_chunks())
        out["valid"][idx] = True
        out["cls"][idx] = rows["retention_class"].to_numpy(zero_copy_only=False)
        out["reason"][idx] = rows["reason"].to_numpy(zero_copy_only=False)
    if forever.num_rows:
        rank = pc.fill_null(pc.case_when(pc.make_struct(pc.equal(forever["retention_class"], "permanent"),
                                                        pc.equal(forever["retention_class"], "case")), 2, 1, 0), 0)
        forever = forever.append_column("rank", rank)
        ranked = forever.sort_by([("r", "ascending"), ("rank", "descending")] + order)
        rows = ranked.take(_firsts(ranked["r"]))
        idx = rows["r"].to_numpy()
        out["valid"][idx] = False
        out["cls"][idx] = rows["retention_class"].to_numpy(zero_copy_only=False)
        out["reason"][idx] = rows["reason"].to_numpy(zero_copy_only=False)
        flags = forever.group_by("r").aggregate([("held", "any"), ("permanent", "any")])
        fidx = flags["r"].to_numpy()
        out["held"][fidx] = flags["held_any"].to_numpy(zero_copy_only=False)
        out["permanent"][fidx] = flags["permanent_any"].to_numpy(zero_copy_only=False)
    return {"until": instants(out["until"], out["valid"]), "retention_class": pa.array(out["cls"], pa.string()),
            "reason": pa.array(out["reason"], pa.string()), "held": pa.array(out["held"], pa.bool_()),
            "permanent": pa.array(out["permanent"], pa.bool_())}


def _firsts(r: pa.ChunkedArray) -> pa.Array:
    """Positions of the first row of each run of equal ``r`` (the table is sorted by ``r``)."""
    values = r.to_numpy()
    starts = np.flatnonzero(np.concatenate([[True], values[1:] != values[:-1]])) if len(values) else np.array([], int)
    return pa.array(starts, pa.int64())
