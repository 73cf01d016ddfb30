"""The retention rules, driven directly with tables of case and assignment events (no archive)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone

import pytest

from pipeline.common.times import end_of_day, zone_named
from pipeline.config import ConfigError, RetentionConfig, load_config
from pipeline.rules.retention import AssignmentIndex, Subject, add_months, case_states, retain_until

UTC = timezone.utc


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


SHA = "a" * 64
REC = Subject(SHA, "CAM1", "O1", t("2026-01-10T10:00"), t("2026-01-10T10:10"), t("2026-01-10T12:00"))


def event(case_id: str, kind: str, at: str, cls: str | None = None) -> dict:
    return {"case_id": case_id, "event": kind, "retention_class": cls or ("case" if kind == "open" else None),
            "at": t(at), "recorded_at": t(at), "by": "tester"}


def to_case(case_id: str, at: str = "2026-01-11", **selector) -> dict:
    row = {"case_id": case_id, "retention_class": "case", "selector": "sha256", "sha256": SHA, "at": t(at), "by": "tester"}
    row.update(selector)
    return row


def to_class(cls: str, days: int | None = None, at: str = "2026-01-11") -> dict:
    return {"case_id": None, "retention_class": cls, "duration_days": days, "selector": "sha256", "sha256": SHA,
            "at": t(at), "by": "tester"}


@dataclass(frozen=True)
class Expect:
    until: str | None                 # the last day kept, to 24:00 (here UTC); None: forever
    retention_class: str
    held: bool = False
    permanent: bool = False
    reason_has: str = ""


@dataclass(frozen=True)
class Case:
    cases: list = field(default_factory=list)
    assignments: list = field(default_factory=list)
    as_of: str = "2027-06-01"
    subject: Subject = REC


CASES = [
    pytest.param(Case(), Expect("2026-04-10", "routine", reason_has="routine: 3 months"),
                 id="routine-by-default-3-months-from-recording"),
    pytest.param(Case([event("C1", "open", "2026-01-11")], [to_case("C1")]),
                 Expect(None, "case", held=True, reason_has="C1 open"), id="open-case-holds-indefinitely"),
    pytest.param(Case([event("C1", "open", "2026-01-11"), event("C1", "close", "2026-02-01")], [to_case("C1")]),
                 Expect("2026-07-10", "case", reason_has="6-month floor"),
                 id="case-closed-early-keeps-the-6-month-floor"),
    pytest.param(Case([event("C1", "open", "2026-01-11"), event("C1", "close", "2026-06-01")], [to_case("C1")]),
                 Expect("2026-09-01", "case", reason_has="3 months after close"),
                 id="case-closed-late-3-months-after-close"),
    pytest.param(Case([event("C1", "open", "2026-01-11"), event("C1", "close", "2026-02-01"),
                       event("C2", "open", "2026-01-12"), event("C2", "close", "2026-08-15")],
                      [to_case("C1"), to_case("C2", at="2026-01-12")]),
                 Expect("2026-11-15", "case", reason_has="C2"), id="overlapping-cases-longest-wins"),
    pytest.param(Case([event("C1", "open", "2026-01-11"), event("C1", "close", "2026-02-01"),
                       event("C2", "open", "2026-01-12")],
                      [to_case("C1"), to_case("C2", at="2026-01-12")]),
                 Expect(None, "case", held=True, reason_has="C2 open"), id="overlapping-cases-one-open-holds"),
    pytest.param(Case([event("C1", "open", "2026-01-11"), event("C1", "close", "2026-02-01"),
                       event("C1", "reopen", "2026-09-01")], [to_case("C1")]),
                 Expect(None, "case", held=True), id="reopen-puts-the-hold-back"),
    pytest.param(Case([event("C1", "open", "2026-01-11"), event("C1", "close", "2026-02-01"),
                       event("C1", "reopen", "2026-09-01")], [to_case("C1")], as_of="2026-08-01"),
                 Expect("2026-07-10", "case"), id="before-the-reopen-the-closed-rule-applied"),
    pytest.param(Case([event("C1", "open", "2026-01-11"), event("C1", "close", "2026-02-01"),
                       event("C1", "reopen", "2026-03-01"), event("C1", "close", "2026-10-20")], [to_case("C1")]),
                 Expect("2027-01-20", "case"), id="closed-again-counts-from-the-last-close"),
    pytest.param(Case([event("M1", "open", "2026-01-11", cls="permanent"), event("M1", "close", "2026-02-01")],
                      [to_case("M1")]),
                 Expect(None, "permanent", permanent=True), id="permanent-case-forever-even-closed"),
    pytest.param(Case([event("M1", "open", "2026-01-11", cls="permanent"), event("C1", "open", "2026-01-11")],
                      [to_case("C1"), to_case("M1")]),
                 Expect(None, "permanent", held=True, permanent=True), id="permanent-and-open-case"),
    pytest.param(Case(assignments=[to_class("permanent")]), Expect(None, "permanent", permanent=True),
                 id="permanent-class-without-a-case"),
    pytest.param(Case(assignments=[to_class("other", 400)]), Expect("2027-02-14", "other", reason_has="400 days"),
                 id="other-400-days-from-recording"),
    pytest.param(Case(assignments=[to_class("other", 30)]), Expect("2026-04-10", "other", reason_has="floor"),
                 id="other-never-below-3-months"),
    pytest.param(Case([event("C1", "open", "2026-01-11"), event("C1", "close", "2026-02-01")],
                      [to_case("C1"), to_class("other", 400)]),
                 Expect("2027-02-14", "other"), id="other-longer-than-closed-case"),
    pytest.param(Case([event("C1", "open", "2026-01-11")],
                      [to_case("C1", selector="device", device_id="CAM1", range_start=t("2026-01-10T10:05"),
                               range_end=t("2026-01-10T11:00"))]),
                 Expect(None, "case", held=True), id="device-range-overlapping-the-recording"),
    pytest.param(Case([event("C1", "open", "2026-01-11")],
                      [to_case("C1", selector="device", device_id="CAM1", range_start=t("2026-01-10T10:11"),
                               range_end=t("2026-01-10T11:00"))]),
                 Expect("2026-04-10", "routine"), id="device-range-after-the-recording-ends"),
    pytest.param(Case([event("C1", "open", "2026-01-11")],
                      [to_case("C1", selector="device", device_id="CAM2", range_start=t("2026-01-10"),
                               range_end=t("2026-01-11"))]),
                 Expect("2026-04-10", "routine"), id="device-range-of-another-device"),
    pytest.param(Case([event("C1", "open", "2026-01-11")],
                      [to_case("C1", selector="officer", officer_id="O1", range_start=t("2026-01-10"),
                               range_end=t("2026-01-11"))]),
                 Expect(None, "case", held=True), id="officer-range"),
    pytest.param(Case([event("C1", "open", "2026-01-11")], [to_case("C1")], as_of="2026-01-10T23:00"),
                 Expect("2026-04-10", "routine"), id="assignment-not-yet-made-as-of-the-date"),
    pytest.param(Case(subject=Subject(SHA, None, None, None, None, t("2026-02-05T08:00"))),
                 Expect("2026-05-05", "routine"), id="no-recording-time-counts-from-ingest"),
]


@pytest.mark.parametrize("case, expect", CASES)
def test_retention_rule(case: Case, expect: Expect):
    as_of = t(case.as_of)
    got = retain_until(case.subject, case.assignments, case.cases, RetentionConfig(), as_of)
    assert got.until == (end_of_day(date.fromisoformat(expect.until), UTC) if expect.until else None)
    assert got.retention_class == expect.retention_class
    assert (got.held, got.permanent) == (expect.held, expect.permanent)
    assert expect.reason_has in got.reason
    indexed = retain_until(case.subject, AssignmentIndex(case.assignments), case.cases, RetentionConfig(), as_of)
    assert indexed == got


def test_longer_configured_durations_apply():
    cfg = RetentionConfig(routine_months=12, case_months_after_close=24, case_min_months=36)
    assert retain_until(REC, [], [], cfg, t("2030-01-01")).until == t("2027-01-11T00:00")
    closed = [event("C1", "open", "2026-01-11"), event("C1", "close", "2026-02-01")]
    assert retain_until(REC, [to_case("C1")], closed, cfg, t("2030-01-01")).until == t("2029-01-11T00:00")


def test_expired_only_after_retain_until():
    got = retain_until(REC, [], [], RetentionConfig(), t("2026-05-01"))
    assert not got.expired(t("2026-04-10T23:59:59"))
    assert got.expired(t("2026-04-11T00:00"))
    held = retain_until(REC, [to_case("C1")], [event("C1", "open", "2026-01-11")], RetentionConfig(), t("2099-01-01"))
    assert not held.expired(t("2099-01-01"))


@pytest.mark.parametrize("start, months, end", [
    pytest.param("2025-08-31T10:00", 6, "2026-03-01T00:00", id="clamped-to-february"),
    pytest.param("2024-08-31T00:00", 6, "2025-03-01T00:00", id="non-leap"),
    pytest.param("2023-08-31T00:00", 6, "2024-03-01T00:00", id="leap"),
    pytest.param("2026-11-15T00:00", 3, "2027-02-16T00:00", id="over-the-year"),
])
def test_add_months_ends_at_24_00_of_the_same_calendar_day(start, months, end):
    assert add_months(t(start), months) == t(end)


@pytest.mark.parametrize("start_utc, end_local", [
    # 2026-11-30 06:00 Beijing: three months end with 28 Feb, at 24:00 Beijing time.
    pytest.param("2026-11-29T22:00", "2027-03-01T00:00+08:00", id="end-of-february-in-beijing"),
    # 2026-11-30 22:00 UTC is already 1 December in Beijing: its day decides, not UTC's.
    pytest.param("2026-11-30T22:00", "2027-03-02T00:00+08:00", id="the-local-calendar-day-counts"),
    pytest.param("2026-11-30T15:59:59", "2027-03-01T00:00+08:00", id="last-second-of-30-november"),
])
def test_months_end_at_midnight_in_the_site_zone(start_utc, end_local):
    shanghai = zone_named("Asia/Shanghai")
    assert add_months(t(start_utc), 3, shanghai) == datetime.fromisoformat(end_local)


@pytest.mark.parametrize("start, clock_ok, until, counted", [
    pytest.param(t("2000-01-01T00:00"), False, "2027-03-02T00:00+08:00", "first ingest", id="reset-clock"),
    pytest.param(t("2019-06-01T00:00"), True, "2027-03-02T00:00+08:00", "recording", id="named-2019-floor"),
    pytest.param(t("2031-01-01T00:00"), False, "2027-03-02T00:00+08:00", "first ingest", id="future-dated"),
    pytest.param(t("2026-11-30T22:00"), True, "2027-03-02T00:00+08:00", "recording", id="right-clock"),
])
def test_no_recording_leaves_before_its_class_minimum_in_the_archive(start, clock_ok, until, counted):
    shanghai = zone_named("Asia/Shanghai")
    ingested = t("2026-12-01T04:30")                     # 2026-12-01 12:30 in Beijing
    subject = Subject(SHA, "CAM1", "O1", start, start, ingested, clock_ok=clock_ok)
    got = retain_until(subject, [], [], RetentionConfig(), ingested, shanghai)
    assert got.until == datetime.fromisoformat(until) and subject.counted_from.startswith(counted)
    assert not got.expired(ingested) and not got.expired(t("2027-03-01T15:59:59"))
    assert got.expired(t("2027-03-01T16:00"))
    closed = [event("C1", "open", "2026-12-01T05:00"), event("C1", "close", "2026-12-01T06:00")]
    case = retain_until(subject, [to_case("C1", at="2026-12-01T05:00")], closed, RetentionConfig(), t("2027-01-01"),
                        shanghai)
    assert case.until >= datetime.fromisoformat("2027-06-02T00:00+08:00"), case      # 6 months for a case


def test_case_events_out_of_order_are_ignored():
    events = [event("C1", "close", "2026-01-01"), event("C1", "open", "2026-01-02"),
              event("C1", "reopen", "2026-01-03"), event("C1", "open", "2026-01-04")]
    state = case_states(events)["C1"]
    assert state.is_open and state.opened_at == t("2026-01-02")


@pytest.mark.parametrize("key, value", [
    pytest.param("routine_months", 2, id="routine-below-3"),
    pytest.param("case_min_months", 5, id="case-floor-below-6"),
    pytest.param("case_months_after_close", 1, id="after-close-below-3"),
    pytest.param("other_min_months", 0, id="other-floor-below-3"),
])
def test_config_cannot_shorten_the_regulation(tmp_path, key, value):
    path = tmp_path / "short.toml"
    path.write_text(f"[retention]\n{key} = {value}\n")
    with pytest.raises(ConfigError, match=f"retention.{key}"):
        load_config(path)


def test_config_may_lengthen(tmp_path):
    path = tmp_path / "long.toml"
    path.write_text("[retention]\nroutine_months = 6\n")
    assert load_config(path).retention.routine_months == 6
