"""Retention rules: how long each file must be kept, computed from append-only case events.

Pure logic, no I/O: ``retain_until`` takes one recording, the ``assignments`` and ``cases``
event rows (as dicts, the catalog's columns) and the configuration, and returns the date until
which the file must be kept (``None``: forever) with the reason. Nothing here is ever stored:
the answer is recomputed from the events whenever it is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from typing import Iterable

from pipeline.common.i18n import _
from pipeline.common.times import days_later, local_day, months_later
from pipeline.config import RetentionConfig

UTC = timezone.utc


@dataclass(frozen=True)
class Subject:
    """What the rules need to know about one recording. Times are aware UTC datetimes."""

    sha256: str
    device_id: str | None = None
    officer_id: str | None = None          # from the file name, else attributed by the device ledger
    start: datetime | None = None          # recording start (the device clock placed in its zone)
    end: datetime | None = None
    ingested_at: datetime | None = None    # when the archive first had the file (first sighting)
    clock_ok: bool = True                  # False: the device clock cannot be right (reset, future)
    important: bool = False                # the recorder marked it important

    @property
    def recorded_at(self) -> datetime | None:
        """Retention counts from recording; a file whose time is unknown or cannot be right, from
        when it was first ingested."""
        return self.start if self.start is not None and self.clock_ok else self.ingested_at

    @property
    def counted_from(self) -> str:
        """What retention counts from, as a value programs read (JSON, CSV): kept in English."""
        if self.start is not None and self.clock_ok:
            return "recording"
        return "first ingest" + (" (device clock not plausible)" if self.start is not None else " (no recording time)")


@dataclass(frozen=True)
class CaseState:
    case_id: str
    retention_class: str                   # case | permanent
    title: str | None
    is_open: bool
    opened_at: datetime
    closed_at: datetime | None             # the last close, when closed


@dataclass(frozen=True)
class Retention:
    until: datetime | None                 # None: kept forever (open case or permanent)
    retention_class: str                   # the class of the rule that keeps the file longest
    reason: str
    held: bool = False                     # an open case holds it
    permanent: bool = False

    def expired(self, as_of: datetime) -> bool:
        return self.until is not None and self.until <= as_of


def add_months(when: datetime, months: int, zone: tzinfo = UTC) -> datetime:
    """Calendar months later, to the end (24:00) of that calendar day in ``zone``; the day is
    clamped to the month's end (31 Aug + 6 months = 28/29 Feb)."""
    return months_later(when, months, zone)


def _order(row: dict) -> tuple:
    return (row.get("recorded_at") or row["at"], row["at"])


def case_states(events: Iterable[dict], as_of: datetime | None = None) -> dict[str, CaseState]:
    """Each case's state from its open / close / reopen events, in the order they were written.

    Events dated after ``as_of`` are not yet in effect.
    """
    states: dict[str, CaseState] = {}
    for ev in sorted(events, key=_order):
        if as_of is not None and ev["at"] > as_of:
            continue
        cid, kind = ev["case_id"], ev["event"]
        prev = states.get(cid)
        if kind == "open" and prev is None:
            states[cid] = CaseState(cid, ev.get("retention_class") or "case", ev.get("title"), True, ev["at"], None)
        elif prev is not None and kind == "close" and prev.is_open:
            states[cid] = CaseState(cid, prev.retention_class, prev.title, False, prev.opened_at, ev["at"])
        elif prev is not None and kind == "reopen" and not prev.is_open:
            states[cid] = CaseState(cid, prev.retention_class, prev.title, True, prev.opened_at, None)
    return states


def matches(assignment: dict, subject: Subject) -> bool:
    """Whether an assignment's selector picks this recording (``important``: only marked ones)."""
    selector = assignment["selector"]
    if selector == "sha256":
        return assignment["sha256"] == subject.sha256
    if assignment.get("important") and not subject.important:
        return False
    if selector == "device":
        who = subject.device_id == assignment["device_id"]
    elif selector == "officer":
        who = subject.officer_id == assignment["officer_id"]
    elif selector == "important":
        who = subject.important
    else:
        return False
    if not who or subject.start is None:
        return False
    end = subject.end or subject.start
    return subject.start <= assignment["range_end"] and end >= assignment["range_start"]


class AssignmentIndex:
    """Assignments grouped by what they select, so each recording looks only at its own."""

    def __init__(self, assignments: Iterable[dict]):
        self.by_sha: dict[str, list[dict]] = {}
        self.by_device: dict[str, list[dict]] = {}
        self.by_officer: dict[str, list[dict]] = {}
        self.marked: list[dict] = []           # selector "important": every marked recording in a range
        for a in assignments:
            if a["selector"] == "important":
                self.marked.append(a)
                continue
            key, group = {"sha256": (a.get("sha256"), self.by_sha), "device": (a.get("device_id"), self.by_device),
                          "officer": (a.get("officer_id"), self.by_officer)}.get(a["selector"], (None, None))
            if group is not None:
                group.setdefault(key, []).append(a)

    def candidates(self, subject: Subject) -> list[dict]:
        """The assignments that may pick ``subject``, in the order they were made (time, then id):
        where two keep a file equally long, which one the reason names does not depend on how the
        catalog's rows happen to be stored."""
        found = (self.by_sha.get(subject.sha256, []) + self.by_device.get(subject.device_id, [])
                 + self.by_officer.get(subject.officer_id, []) + (self.marked if subject.important else []))
        return sorted(found, key=lambda a: (a["at"], a.get("assignment_id") or ""))


def _rule(assignment: dict, subject: Subject, cases: dict[str, CaseState], cfg: RetentionConfig,
          zone: tzinfo) -> Retention:
    """The retention one assignment gives one recording."""
    recorded = subject.recorded_at
    _day = lambda when: local_day(when, zone).isoformat()          # noqa: E731
    add = lambda when, months: add_months(when, months, zone)      # noqa: E731
    since = _since(subject, zone)
    by = _(" (assigned by {by})").format(by=assignment.get("by")) if assignment.get("by") else ""
    cid = assignment.get("case_id")
    if cid:
        case = cases.get(cid)
        if case is None:                   # assigned before the case's open event takes effect
            return Retention(None, "case", _("case {case}: not open yet as of this date, held").format(case=cid),
                             held=True)
        if case.retention_class == "permanent":
            return Retention(None, "permanent", _("permanent: case {case}").format(case=cid), permanent=True)
        if case.is_open:
            return Retention(None, "case", _("case {case} open: held").format(case=cid), held=True)
        after_close = add(case.closed_at, cfg.case_months_after_close)
        floor = add(recorded, cfg.case_min_months)
        if floor > after_close:
            return Retention(floor, "case", _("case {case} closed {day}; {months}-month floor from {since}").format(
                case=cid, day=_day(case.closed_at), months=cfg.case_min_months, since=since))
        return Retention(after_close, "case", _("case {case} closed {day}; {months} months after close").format(
            case=cid, day=_day(case.closed_at), months=cfg.case_months_after_close))
    cls = assignment["retention_class"]
    if cls == "permanent":
        return Retention(None, "permanent", _("permanent{by}").format(by=by), permanent=True)
    if cls == "other":
        days = assignment.get("duration_days") or 0
        until = days_later(recorded, days, zone)
        floor = add(recorded, cfg.other_min_months)
        if floor > until:
            return Retention(floor, "other", _("other: {days} days raised to the {months}-month floor from "
                                               "{since}{by}").format(days=days, months=cfg.other_min_months,
                                                                     since=since, by=by))
        return Retention(until, "other", _("other: {days} days from {since}{by}").format(days=days, since=since,
                                                                                        by=by))
    return routine(subject, cfg, zone)


def _since(subject: Subject, zone: tzinfo) -> str:
    """Which clock a retention counts from, and that day: "recording 2026-12-01 (device clock)"."""
    day = local_day(subject.recorded_at, zone).isoformat()
    if subject.counted_from == "recording":
        return _("recording {day} (device clock)").format(day=day)
    if subject.start is not None:
        return _("first ingest {day} (device clock not plausible) (archive clock)").format(day=day)
    return _("first ingest {day} (no recording time) (archive clock)").format(day=day)


def routine(subject: Subject, cfg: RetentionConfig, zone: tzinfo = UTC) -> Retention:
    recorded = subject.recorded_at
    return Retention(add_months(recorded, cfg.routine_months, zone), "routine",
                     _("routine: {months} months from {since}").format(months=cfg.routine_months,
                                                                     since=_since(subject, zone)))


def class_minimum_months(retention_class: str, cfg: RetentionConfig) -> int | None:
    """The least time a recording of this class stays in the archive, whatever its clock says."""
    return {"routine": cfg.routine_months, "other": cfg.other_min_months, "case": cfg.case_min_months}.get(retention_class)


def archive_floor(rule: Retention, subject: Subject, cfg: RetentionConfig, zone: tzinfo) -> Retention:
    """The retention floor: no recording leaves before it has been in the archive for its class's
    minimum, counted from its first ingest (a device clock set to 2000 or to 2019 cannot make a
    file arrive expired)."""
    months = class_minimum_months(rule.retention_class, cfg)
    if rule.until is None or months is None or subject.ingested_at is None:
        return rule
    floor = add_months(subject.ingested_at, months, zone)
    if floor <= rule.until:
        return rule
    day = local_day(subject.ingested_at, zone).isoformat()
    return Retention(floor, rule.retention_class,
                     _("{reason}; raised to the archive floor: {months} months from first ingest {day} "
                       "(archive clock)").format(reason=rule.reason, months=months, day=day),
                     rule.held, rule.permanent)


def retain_until(subject: Subject, assignments: Iterable[dict] | AssignmentIndex, cases: Iterable[dict] | dict[str, CaseState],
                 cfg: RetentionConfig, as_of: datetime, zone: tzinfo = UTC) -> Retention:
    """How long ``subject`` must be kept, as the events stood at ``as_of``: the longest rule wins,
    and never less than its class's minimum in the archive (``archive_floor``).

    Every recording is ``routine`` unless an assignment keeps it longer; an open case or a
    permanent class keeps it forever (``until`` None). Months end at 24:00 of the calendar day
    in ``zone`` (the site's zone).
    """
    states = cases if isinstance(cases, dict) else case_states(cases, as_of)
    if isinstance(assignments, AssignmentIndex):
        assignments = assignments.candidates(subject)
    best = archive_floor(routine(subject, cfg, zone), subject, cfg, zone)
    for a in assignments:
        if a["at"] > as_of or not matches(a, subject):
            continue
        rule = archive_floor(_rule(a, subject, states, cfg, zone), subject, cfg, zone)
        best = _longer(best, rule)
    return best


_FOREVER_RANK = {"permanent": 2, "case": 1}


def _longer(a: Retention, b: Retention) -> Retention:
    """The rule that keeps the file longer; between two "forever" rules, permanent wins."""
    if a.until is None or b.until is None:
        if a.until is not None:
            return b
        if b.until is not None:
            return a
        top = a if _FOREVER_RANK.get(a.retention_class, 0) >= _FOREVER_RANK.get(b.retention_class, 0) else b
        return Retention(None, top.retention_class, top.reason, a.held or b.held, a.permanent or b.permanent)
    return b if b.until >= a.until else a      # a tie: the assignment over the routine default

