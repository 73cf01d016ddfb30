"""Recording sessions, which gaps need an explanation, sequence restarts, returns that end a holder's
period and identities of identical bytes: the pure rules, driven directly (no archive)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from pipeline.common.times import zone_named
from pipeline.rules import sessions as rule
from pipeline.rules.custody import attribute, holder_at, holder_periods
from pipeline.rules.identities import Named, disagreement, effective
from pipeline.rules.timeline import out_of_sequence, restarts

UTC = timezone.utc
SHANGHAI = zone_named("Asia/Shanghai")
T0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)         # 08:00 in Beijing


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def rec(sha: str, start_min: float, length_min: float = 10.0) -> dict:
    return {"sha256": sha, "start": at(start_min), "end": at(start_min + length_min)}


def test_segments_that_follow_each_other_are_one_session_and_minutes_apart_are_two():
    found = rule.sessions("CAM1", [rec("c", 20), rec("a", 0), rec("b", 10 + 40 / 60), rec("d", 90), rec("e", 100.05)],
                          120, zone=SHANGHAI)
    assert [s.members for s in found] == [("a", "b", "c"), ("d", "e")]
    assert found[0].session_id == "CAM1@20260301-080000" and found[1].start == at(90)
    assert found[0].end == at(30) and found[0].duration_s == 1800


def test_a_damaged_tail_reaches_as_far_as_the_timeline_says():
    recs = [rec("a", 0, 1), rec("b", 5)]                # 4 minutes apart by the files...
    assert len(rule.sessions("C", recs, 120)) == 2
    assert len(rule.sessions("C", recs, 120, tails={"a": at(4)})) == 1     # ...but a's content reached minute 4
    assert len(rule.sessions("C", recs, 120, tails={"a": None})) == 2      # lost to an unknown length: no reach


def pause(before: str, after: str, start_min: float, length_s: float, device: str = "CAM1",
          officer: str | None = "O1") -> dict:
    return {"kind": "between_files", "before_sha256": before, "after_sha256": after, "sha256": None,
            "duration_s": length_s, "device_id": device, "officer_id": officer,
            "start_utc": at(start_min), "end_utc": at(start_min) + timedelta(seconds=length_s)}


WINDOW = rule.Window("case INC-1", "CAM1", None, at(59), at(61))
CTX = rule.Context(120, {"a": "S1", "b": "S1", "c": "S2", "d": "S3"}, important=frozenset({"i1", "i2", "i3"}),
                   groups={"g1": frozenset({"case INC-2"}), "g2": frozenset({"case INC-2", "case INC-3"}),
                           "g3": frozenset({"case INC-4"})},
                   windows=(WINDOW, rule.Window("class permanent", None, "O7", at(200), at(300))))


@pytest.mark.parametrize("gap, needed, why", [
    pytest.param(pause("a", "b", 10, 40), True, "inside recording session S1", id="battery-swap-inside-a-session"),
    pytest.param(pause("a", "b", 10, 120), True, "inside recording session S1", id="exactly-the-break"),
    pytest.param(pause("b", "c", 10, 121), False, "between recording sessions", id="just-over-the-break"),
    pytest.param(pause("b", "c", 100, 4 * 3600), False, "between recording sessions", id="hours-apart"),
    pytest.param(pause("b", "c", 58, 300), True, "window of case INC-1", id="case-window-covers-part-of-it"),
    pytest.param(pause("b", "c", 61, 300), False, "between", id="starts-as-the-window-ends"),
    pytest.param(pause("b", "c", 58, 300, device="CAM2"), False, "between", id="another-devices-window"),
    pytest.param(pause("x", "y", 250, 600, device="CAM9", officer="O7"), True, "class permanent",
                 id="officer-window"),
    pytest.param(pause("i1", "i2", 10, 900), True, "marked important", id="both-marked-important"),
    pytest.param(pause("i3", "c", 10, 900), False, "between", id="only-one-marked"),
    pytest.param(pause("g1", "g2", 10, 900), True, "case INC-2", id="both-in-one-case"),
    pytest.param(pause("g2", "g3", 10, 900), False, "between", id="in-different-cases"),
    pytest.param({"kind": "within_file", "sha256": "a", "duration_s": 8.0}, True, "inside a recording", id="in-file"),
    pytest.param({"kind": "damaged_tail", "sha256": "d", "duration_s": None}, True, "lost", id="lost-tail"),
    pytest.param({"kind": "clock", "sha256": "z", "duration_s": None}, True, "clock", id="clock"),
    pytest.param({"kind": "overlap", "sha256": None, "before_sha256": "a", "duration_s": 3.0}, True, "at once",
                 id="overlap"),
])
def test_which_gaps_need_an_explanation(gap, needed, why):
    got = rule.need(gap, CTX)
    assert got.needed is needed and why in got.why


def test_a_gap_names_its_session():
    assert rule.need(pause("a", "b", 10, 40), CTX).session_id == "S1"
    assert rule.need(pause("b", "c", 10, 400), CTX).session_id is None
    assert rule.need({"kind": "damaged_tail", "sha256": "d", "duration_s": None}, CTX).session_id == "S3"


def numbered(*items: tuple[int, str]) -> list[dict]:
    """(sequence, naive UTC start) rows as the timeline holds them."""
    return [{"sha256": f"s{i}", "sequence": seq, "start_time": datetime.fromisoformat(when)}
            for i, (seq, when) in enumerate(items)]


@pytest.mark.parametrize("rows, runs, flagged", [
    pytest.param(numbered((1, "2026-03-01T01:00"), (2, "2026-03-01T02:00"), (3, "2026-03-01T03:00"),
                          (1, "2026-03-02T01:00"), (2, "2026-03-02T02:00")), 2, [], id="new-day-starts-over"),
    pytest.param(numbered((1, "2026-03-01T01:00"), (2, "2026-03-01T02:00"), (3, "2026-03-01T03:00"),
                          (1, "2026-03-01T05:00"), (2, "2026-03-01T06:00")), 2, [], id="new-card-same-day"),
    pytest.param(numbered((5, "2026-03-01T01:00"), (6, "2026-03-01T02:00"),
                          (2, "2026-03-02T01:00"), (3, "2026-03-02T02:00")), 2, [], id="new-day-partly-docked"),
    pytest.param(numbered((1, "2026-03-01T01:00"), (2, "2026-03-01T01:10"), (3, "2026-03-01T00:00"),
                          (4, "2026-03-01T01:20")), 1, ["s2"], id="one-odd-time-same-day"),
    pytest.param(numbered((1, "2026-03-01T01:00"), (2, "2026-03-01T01:10"), (3, "2026-03-01T01:20"),
                          (2, "2026-03-01T01:30")), 1, ["s2", "s3"], id="a-number-repeats-mid-count"),
])
def test_sequence_restarts_are_not_clock_problems(rows, runs, flagged):
    assert len(restarts(rows, SHANGHAI)) == runs
    assert sorted(r["sha256"] for r in out_of_sequence(rows, SHANGHAI)) == flagged


def test_the_day_of_a_restart_is_the_devices_day():
    # 23:30 and 00:30 UTC are 07:30 and 08:30 in Beijing: the same day there, so no restart.
    rows = numbered((1, "2026-03-01T23:30"), (2, "2026-03-01T23:40"), (1, "2026-03-02T00:30"))
    assert len(restarts(rows, SHANGHAI)) == 2         # 1 again after 1..2: a new card
    rows = numbered((3, "2026-03-01T23:30"), (1, "2026-03-02T00:30"))
    assert len(restarts(rows, UTC)) == 2 and len(restarts(rows, SHANGHAI)) == 1


def test_a_return_ends_the_holders_period():
    handovers = [{"device_id": "D", "officer_id": "O1", "at": at(0)}, {"device_id": "D", "officer_id": "O2", "at": at(60)}]
    returns = [{"device_id": "D", "at": at(30)}, {"device_id": "D", "at": at(90)}, {"device_id": "D", "at": at(95)}]
    periods = holder_periods(handovers, returns)["D"]
    assert [(p.officer_id, p.end, p.ended_by) for p in periods] == [("O1", at(30), "return"), ("O2", at(90), "return")]
    assert [holder_at(periods, at(m)) for m in (-1, 0, 29, 30, 45, 60, 89, 90, 200)] == \
        [None, "O1", "O1", None, None, "O2", "O2", None, None]
    assert attribute(None, at(45), periods).source == "none"
    assert holder_periods(handovers)["D"][0].ended_by == "handover"


WHEN = datetime(2026, 3, 1, 10, 0)


@pytest.mark.parametrize("names, fields", [
    pytest.param([Named("a", "CAM1", "O1", WHEN), Named("b", "CAM1", "O1", WHEN)], (), id="same"),
    pytest.param([Named("a", "CAM1", "O1", WHEN), Named("b", "CAM1", None, None)], (), id="less-said-is-no-conflict"),
    pytest.param([Named("a", "CAM1", "O1", WHEN), Named("b", None, None, None)], (), id="unnamed-copy"),
    pytest.param([Named("a", "CAM1", "O1", WHEN), Named("b", "CAM9", "O8", WHEN + timedelta(hours=2))],
                 ("device_id", "officer_id", "name_time"), id="all-differ"),
    pytest.param([Named("a", "CAM1", "O1", WHEN), Named("b", "CAM1", "O1", WHEN + timedelta(seconds=1))],
                 ("name_time",), id="one-second"),
])
def test_names_that_disagree(names, fields):
    assert disagreement(names) == fields


def test_who_recorded_a_file_first_a_person_then_its_name_then_its_other_names():
    own, other = Named("copy.bin", None, None, None), [Named("CAM1_O1_x.MP4", "CAM1", "O1", WHEN)]
    assert effective(own, other, None).source == "other name" and effective(own, other, None).device_id == "CAM1"
    disagreeing = other + [Named("CAM2_O1_x.MP4", "CAM2", "O1", WHEN)]
    assert effective(own, disagreeing, None).source == "none"       # two names disagree: nobody guesses
    person = {"device_id": "CAM7", "officer_id": "O7"}
    assert (effective(own, disagreeing, person).device_id, effective(own, disagreeing, person).source) == ("CAM7", "person")
    named = Named("CAM3_O3_x.MP4", "CAM3", "O3", WHEN)
    assert effective(named, other, None).device_id == "CAM3"
