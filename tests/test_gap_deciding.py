"""Deciding which gaps need an explanation reads only the recordings that can decide it
(``gaplist._deciding``), and ``gaplist.decided`` (the ledger's gaps) gives the reference's answers."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from catalog.query import scanning
from catalog.store import Catalog
from pipeline.records import gaplist, gapstate, ledgerframe
from tests.test_set_rules import catalog

UTC = timezone.utc


def _with_pauses(tables: dict, as_of: datetime) -> dict:
    """The drawn catalog with a gap between each two recordings in catalog order (long pauses mostly,
    a few short ones, clock gaps, a device-less one), some closed, some explained."""
    recs = [r for r in tables["recordings"] if r["start_utc"] is not None]
    gaps = []
    for i, (a, b) in enumerate(zip(recs, recs[1:])):
        duration = abs((b["start_utc"] - a["start_utc"]).total_seconds()) + (0 if i % 5 == 4 else 3600)
        gaps.append({"gap_id": f"g{i}", "kind": ("between_files", "between_files", "clock", "between_files")[i % 4],
                     "device_id": a["device_id"] if i % 7 else None, "officer_id": a["officer_id"],
                     "start_utc": a["start_utc"], "start_time": a["start_time"], "end_utc": b["start_utc"],
                     "duration_s": duration, "sha256": a["sha256"], "before_sha256": a["sha256"],
                     "after_sha256": b["sha256"], "detected_at": as_of})
    return {**tables, "gaps": gaps,
            "gap_state": [{"gap_id": g["gap_id"], "state": "closed" if i % 6 == 5 else "open", "evaluated_at": as_of}
                          for i, g in enumerate(gaps)],
            "explanations": [{"gap_id": g["gap_id"], "source": ("spoken", "report")[i % 2], "reason": "x",
                              "explained_by": "PC", "approved_by": None, "explained_at": as_of}
                             for i, g in enumerate(gaps) if i % 3 == 1]}


def _picked(archive: Path, config) -> tuple[set[str], set[str]]:
    """Every timeline recording an assignment picks (``_pairs`` over all of them, placed and
    attributed as the listing does), and every one marked important: what deciding may ask of."""
    from pipeline.records.gaprefresh import reattributed
    from pipeline.rules.custody import holder_periods
    from pipeline.rules.sets import recordings as placing
    from pipeline.rules.sets.retention import _pairs

    catalog = Catalog(archive)
    rec = catalog.read("recordings", gaplist.sessions_columns)
    moved = reattributed(catalog, config.identity)
    if moved:
        rec = gaplist._moved(rec, moved)
    rec = rec.filter(pa.compute.is_in(rec["kind"], value_set=pa.array(list(config.gaps.timeline_kinds))))
    labels, by_label = placing.device_zones(rec["device_id"].combine_chunks(), config.zones())
    start = placing._place_start(rec, labels, by_label)
    end = placing._place_end(rec, start)
    periods = holder_periods(catalog.rows("handovers"), [e for e in catalog.rows("device_events")
                                                        if e["event"] == "return"])
    ledger = placing.holders(rec["device_id"].combine_chunks(), start, periods)
    officer = placing._attribute(rec["officer_id"].combine_chunks(), ledger)["officer"]
    table = pa.table({"sha256": rec["sha256"], "device_id": rec["device_id"], "officer": officer, "start": start,
                      "end": pa.compute.coalesce(end, start), "important": pa.compute.fill_null(rec["important"], False)})
    pairs = _pairs(table, catalog.read("assignments"), datetime.max.replace(tzinfo=UTC))
    picked = set(table["sha256"].take(pairs["r"]).to_pylist())
    important = {r["sha256"] for r in rec.to_pylist() if r["important"]}
    return picked, important


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(catalog())
def test_the_recordings_left_unread_decide_nothing(drawn):
    """Whatever their clocks (legacy rows, a zone corrected since, UTC stamps, long or negative
    durations) and whatever picks them (a SHA-256, a device's or an officer's range, marked
    recordings), every recording an assignment picks, and every marked one, is read."""
    tables, config, as_of = drawn
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp)
        Catalog(archive, fsync=False).create().commit(tables, tag="t")
        picked, important = _picked(archive, config)
        catalog = Catalog(archive)
        from pipeline.records.gaprefresh import reattributed

        moved = sorted(reattributed(catalog, config.identity))
        kept = set(gaplist._deciding(archive, catalog.read("assignments"), moved,
                                     config.gaps.timeline_kinds)["sha256"].to_pylist())
        every = scanning(archive, gaplist._every_recording)         # a listing of every device: read once
        kept_of = set(gaplist._deciding_of(every, catalog.read("assignments"), moved,
                                           config.gaps.timeline_kinds)["sha256"].to_pylist())
    assert picked <= kept
    assert important <= kept
    assert kept_of == kept


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(catalog(), st.booleans())
def test_decided_gaps_match_the_reference(drawn, include_closed):
    """``decided`` (the ledger's gaps) and ``listing(sessions=False)``: the reference's decisions,
    gap for gap, with the recordings around the pauses picked by cases and marks."""
    tables, config, as_of = drawn
    tables = _with_pauses(tables, as_of)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp)
        Catalog(archive, fsync=False).create().commit(tables, tag="t")
        expected = [g for g in gapstate.listing(Catalog(archive), config.zones(), config)
                    if include_closed or g["current"]]
        listed = gaplist.listing(archive, config, include_closed=include_closed, sessions=False).to_pylist()
        decided = gaplist.decided(archive, config, include_closed=include_closed)
    assert listed == [{k: v for k, v in g.items() if k not in gaplist.WITH_SESSIONS} for g in expected]
    columns = list(ledgerframe.GAP_COLUMNS) + ["gap_id"]
    assert sorted(decided.select(columns).to_pylist(), key=lambda g: g["gap_id"]) == \
        sorted(({k: g[k] for k in columns} for g in expected), key=lambda g: g["gap_id"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(catalog(), st.booleans())
def test_decided_from_recordings_read_already_matches_reading_them(drawn, include_closed):
    """``decided(recordings=...)``: the ledger's frame (device and officer as attributed: a person's
    word, other names) or the catalog's rows as they are give what reading them itself gives."""
    from pipeline.records import frame

    tables, config, as_of = drawn
    tables = _with_pauses(tables, as_of)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp)
        Catalog(archive, fsync=False).create().commit(tables, tag="t")
        read = gaplist.decided(archive, config, include_closed=include_closed)
        state = frame.load(archive, config, as_of, columns=gaplist.DECIDING_RECORDINGS, retention=False)
        framed = gaplist.decided(archive, config, include_closed=include_closed, recordings=state.table)
        raw = gaplist.decided(archive, config, include_closed=include_closed,
                              recordings=Catalog(archive).read("recordings", gaplist.DECIDING_RECORDINGS))

    def rows(t: pa.Table) -> list[dict]:
        return sorted(t.to_pylist(), key=lambda g: g["gap_id"])
    assert rows(framed) == rows(read)
    assert rows(raw) == rows(read)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(catalog(), st.booleans())
def test_deciding_from_the_ends_of_the_long_pauses_alone_changes_no_answer(drawn, in_memory):
    """Of a few gaps, only the ends of their long pauses are read (``_few``): forced on, every gap is
    decided as when every recording that can decide is read, from recordings read already or not."""
    from unittest import mock

    tables, config, as_of = drawn
    tables = _with_pauses(tables, as_of)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp)
        Catalog(archive, fsync=False).create().commit(tables, tag="t")
        every = Catalog(archive).read("recordings", gaplist.DECIDING_RECORDINGS) if in_memory else None
        answers = {}
        for few in (False, True):
            with mock.patch.object(gaplist, "_few", lambda ends, recordings=None: few):
                answers[few] = gaplist.decided(archive, config, recordings=every)

    def rows(t: pa.Table) -> list[dict]:
        return sorted(t.to_pylist(), key=lambda g: g["gap_id"])
    assert rows(answers[True]) == rows(answers[False])


@pytest.mark.parametrize("selector", ["device", "officer"])
def test_a_case_range_reaches_a_recording_placed_from_its_device_clock(selector):
    """A recording written before instants (its device clock only), in a zone eight hours east of
    UTC, its officer the ledger's: a case's range for its device, or for the officer holding it,
    overlapping where it is placed (not where its clock reads as UTC) holds it, and the pause
    between it and the next one held needs an explanation."""
    from pipeline.config import load_config

    config = load_config()                                          # site Asia/Shanghai (+08:00)
    wall = datetime(2026, 3, 1, 6, 0)                               # 22:00 UTC the day before
    recs = [{"sha256": f"{i:064x}", "source_name": f"n{i}.mp4", "kind": "video", "device_id": "CAM1",
             "start_time": wall + timedelta(hours=3 * i), "duration_s": 600.0, "time_source": "filename"}
            for i in range(2)]
    placed = [datetime(2026, 2, 28, 22, tzinfo=UTC) + timedelta(hours=3 * i) for i in range(2)]
    gaps = [{"gap_id": "g0", "kind": "between_files", "device_id": "CAM1", "start_time": wall + timedelta(minutes=10),
             "end_time": wall + timedelta(hours=3), "start_utc": placed[0] + timedelta(minutes=10),
             "end_utc": placed[1], "duration_s": 10200.0, "before_sha256": recs[0]["sha256"],
             "after_sha256": recs[1]["sha256"], "detected_at": placed[1]}]
    held = [{"assignment_id": "a0", "case_id": "C1", "retention_class": "case", "selector": selector,
             "device_id": "CAM1" if selector == "device" else None, "officer_id": "O1" if selector == "officer" else None,
             "range_start": placed[0] - timedelta(hours=1), "range_end": placed[0] + timedelta(minutes=5),
             "at": placed[1]},
            {"assignment_id": "a1", "case_id": "C1", "retention_class": "case", "selector": "sha256",
             "sha256": recs[1]["sha256"], "at": placed[1]}]
    handovers = [{"device_id": "CAM1", "officer_id": "O1", "at": datetime(2026, 1, 1, tzinfo=UTC),
                  "recorded_at": datetime(2026, 1, 1, tzinfo=UTC), "by": "desk"}]
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp)
        Catalog(archive, fsync=False).create().commit({"recordings": recs, "gaps": gaps, "assignments": held,
                                                       "handovers": handovers}, tag="t")
        expected = gapstate.listing(Catalog(archive), config.zones(), config)
        decided = gaplist.decided(archive, config).to_pylist()
    assert [g["needs_explanation"] for g in expected] == [True]
    assert [g["needs_explanation"] for g in decided] == [True]


def test_a_content_cataloged_in_two_parts_is_named_and_placed_by_its_later_row():
    """Every recording read once for a listing of every device (``_every_recording``): in catalog
    order across part files, so a content cataloged twice, in two commits, under two names and two
    devices, is named by its later row and in the session the reference names, as the reference has it."""
    from pipeline.config import load_config

    config = load_config()
    t = datetime(2026, 1, 1, 8, tzinfo=UTC)

    def rec(i: int, device: str, name: str, at: datetime) -> dict:
        return {"sha256": f"{i:064x}", "source_name": name, "kind": "video", "device_id": device, "start_utc": at,
                "start_time": at.replace(tzinfo=None), "end_utc": at + timedelta(minutes=5), "duration_s": 300.0,
                "time_source": "filename", "time_zone": "Asia/Shanghai"}

    first = [rec(0, "CAM1", "a.mp4", t), rec(1, "CAM1", "b.mp4", t + timedelta(minutes=6)),
             rec(2, "CAM2", "c.mp4", t + timedelta(hours=3))]
    again = [rec(1, "CAM2", "b-copy.mp4", t + timedelta(hours=3, minutes=6)), rec(0, "CAM1", "a-later.mp4", t)]
    gaps = [{"gap_id": f"g{i}", "kind": "between_files", "device_id": d, "start_utc": s, "end_utc": s + timedelta(minutes=1),
             "start_time": s.replace(tzinfo=None), "duration_s": 60.0, "before_sha256": a, "after_sha256": b,
             "detected_at": t} for i, (d, s, a, b) in enumerate([("CAM1", t + timedelta(minutes=5), first[0]["sha256"],
                                                                   first[1]["sha256"]),
                                                                  ("CAM2", t + timedelta(hours=3, minutes=5),
                                                                   first[2]["sha256"], first[1]["sha256"])])]
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp)
        catalog = Catalog(archive, fsync=False).create()
        catalog.commit({"recordings": first, "gaps": gaps}, tag="one")
        catalog.commit({"recordings": again}, tag="two")
        expected = gapstate.listing(Catalog(archive), config.zones(), config)
        got = gaplist.listing(archive, config).to_pylist()
    assert [g["before_file"] for g in got] == ["a-later.mp4", "c.mp4"]
    assert got == expected
