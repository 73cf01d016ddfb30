"""The set-based rules give the reference rules' answers, recording by recording, on random catalogs."""

from __future__ import annotations

import dataclasses
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings, strategies as st

from catalog.store import Catalog
from pipeline import records
from pipeline.common import times
from pipeline.config import load_config
from pipeline.records import attribution, frame
from pipeline.rules.sets import retention as keeping

UTC = timezone.utc
DEVICES = ("CAM1", "CAM2", "CAM3")
OFFICERS = (None, "", "O1", "O2", "O3")
CASES = ("C1", "C2", "C3")

# Mostly the recent past, sometimes a clock reset to 2000 or one running years ahead.
walls = st.one_of(st.datetimes(min_value=datetime(2025, 6, 1), max_value=datetime(2026, 12, 31)),
                  st.datetimes(min_value=datetime(2025, 6, 1), max_value=datetime(2026, 12, 31)),
                  st.datetimes(min_value=datetime(1999, 12, 30), max_value=datetime(2030, 1, 1)))
instant = walls.map(lambda d: d.replace(tzinfo=UTC))
recent = st.datetimes(min_value=datetime(2025, 6, 1), max_value=datetime(2027, 8, 1)).map(
    lambda d: d.replace(tzinfo=UTC))


@st.composite
def recording(draw, n: int, zones: times.Zones) -> dict:
    device = draw(st.sampled_from(DEVICES + (None, None)))
    zone, _ = zones.device(device)
    wall = draw(st.one_of(st.none(), walls, walls))
    source = draw(st.sampled_from(("filename", "creation_time", "exif", "none")))
    container = draw(st.sampled_from((None, "UTC", "local")))
    duration = draw(st.one_of(st.none(), st.floats(0, 7200), st.sampled_from((0.0, 0.1234565, 59.9999995))))
    label = draw(st.sampled_from(("current", "other", None, "legacy-row")))
    start_utc = end_utc = None
    if wall is not None and label != "legacy-row":
        local = source != "creation_time" or container == "local"
        placed_in = zone if label == "current" else times.zone_named("America/New_York")
        start_utc = times.wall_to_utc(wall, placed_in) if local else wall.replace(tzinfo=UTC)
        end_utc = draw(st.sampled_from((None, start_utc + timedelta(seconds=duration or 0))))
    anchor = (start_utc or datetime(2026, 1, 1, tzinfo=UTC))
    ingested = anchor + timedelta(hours=draw(st.floats(-72, 24 * 120)))
    return {"sha256": f"{n:064x}", "size": draw(st.integers(0, 10**9)), "kind": "video", "duration_s": duration,
            "device_id": device, "officer_id": draw(st.sampled_from(OFFICERS)), "start_time": wall,
            "status": draw(st.sampled_from(("ok", "damaged", None))), "source_name": f"f{n}.mp4",
            "ingested_at": ingested, "time_source": source, "container_time_zone": container,
            "start_utc": start_utc, "end_utc": end_utc, "important": draw(st.sampled_from((None, False, True))),
            "name_time": wall,
            "time_zone": times.zone_label(zone) if label == "current" else ("America/New_York" if label == "other" else None)}


@st.composite
def catalog(draw) -> tuple[dict, object, datetime]:
    site = draw(st.sampled_from(("Asia/Shanghai", "Europe/Berlin", "UTC")))
    device_zones = draw(st.sampled_from(((), ("CAM2=+02:00",), ("CAM3=America/New_York", "CAM1=Asia/Kolkata"))))
    config = load_config()
    config = dataclasses.replace(config, site=dataclasses.replace(config.site, time_zone=site,
                                                                  device_time_zones=device_zones))
    zones = config.zones()
    n = draw(st.integers(0, 14))
    recs = [draw(recording(i, zones)) for i in range(n)]
    sightings = [{"sha256": r["sha256"], "source_path": f"/d/{i}", "seen_at": r["ingested_at"] + timedelta(
        hours=draw(st.floats(-48, 48)))} for i, r in enumerate(recs) for _ in range(draw(st.integers(0, 2)))]
    sightings.append({"sha256": None, "source_path": "/d/unreadable", "seen_at": datetime(2026, 1, 1, tzinfo=UTC)})
    handovers = [{"device_id": draw(st.sampled_from(DEVICES)), "officer_id": draw(st.sampled_from(("O1", "O2", "O3", ""))),
                  "at": draw(instant), "recorded_at": draw(recent), "by": "desk"} for _ in range(draw(st.integers(0, 6)))]
    cases = []
    opened = CASES[:draw(st.integers(0, 3))]
    for cid in opened:
        cls = draw(st.sampled_from(("case", "case", "permanent")))
        at = draw(st.datetimes(min_value=datetime(2025, 6, 1), max_value=datetime(2026, 3, 1))).replace(tzinfo=UTC)
        # mostly a case's life in order (open, close, reopen, close), sometimes events out of order
        kinds = ["open", "close", "reopen", "close"][:draw(st.integers(1, 4))]
        if draw(st.booleans()) and draw(st.booleans()):
            kinds = draw(st.lists(st.sampled_from(("open", "close", "reopen")), max_size=4))
        for kind in kinds:
            at += timedelta(days=draw(st.floats(0, 120)))
            cases.append({"case_id": cid, "event": kind, "retention_class": cls if kind == "open" else None,
                          "at": at, "recorded_at": at, "by": "sgt"})
    assignments = []
    for i in range(draw(st.integers(0, 8))):
        selector = draw(st.sampled_from(("sha256", "sha256", "device", "officer", "important")))
        lo = draw(instant) - timedelta(days=draw(st.floats(0, 30)))
        assignments.append({
            "assignment_id": f"a{i}", "case_id": draw(st.sampled_from((None, None, "", "C9") + opened * 3)),
            "retention_class": draw(st.sampled_from(("case", "permanent", "other", "other", "other", "routine", None))),
            "duration_days": draw(st.one_of(st.none(), st.integers(0, 900))), "selector": selector,
            "sha256": f"{draw(st.integers(0, max(n - 1, 0))):064x}", "device_id": draw(st.sampled_from(DEVICES)),
            "officer_id": draw(st.sampled_from(("O1", "O2", "O3"))), "range_start": lo,
            "range_end": lo + timedelta(days=draw(st.floats(0, 400))),
            "at": draw(st.sampled_from((draw(recent), datetime(2026, 3, 1, tzinfo=UTC)))),
            "by": draw(st.sampled_from((None, "", "Sgt Doe"))), "important": draw(st.sampled_from((None, False, True)))})
    purges = [{"sha256": r["sha256"], "purged_at": draw(recent)} for r in recs if draw(st.booleans()) and
              draw(st.booleans())]
    # a device handed back now and then (its holder's period ends), a person's word on who recorded a
    # file, and copies docked under other names (which speak for a file whose own name says nothing)
    events = [{"device_id": draw(st.sampled_from(DEVICES)), "event": "return", "at": draw(instant),
               "recorded_at": draw(recent), "by": "desk"} for _ in range(draw(st.integers(0, 3)))]
    attributions = [{"sha256": r["sha256"], "device_id": draw(st.sampled_from(DEVICES + (None,))),
                     "officer_id": draw(st.sampled_from(OFFICERS)), "at": draw(recent), "by": "Sgt", "reason": "seen"}
                    for r in recs if draw(st.integers(0, 7)) == 0]
    for r in recs:
        if draw(st.integers(0, 5)) == 0:
            sightings.append({"sha256": r["sha256"], "source_path": f"/other/{r['sha256'][-4:]}.mp4",
                              "device_id": draw(st.sampled_from(DEVICES + (None,))),
                              "officer_id": draw(st.sampled_from(OFFICERS)), "name_time": r["start_time"],
                              "seen_at": r["ingested_at"] + timedelta(hours=1)})
    # a content no recording holds (a file refused, or not yet catalogued) seen under one or two names
    for k in range(draw(st.integers(0, 2))):
        for j in range(draw(st.integers(1, 2))):
            sightings.append({"sha256": f"{1000 + k:064x}", "source_path": f"/gone/{k}/{j}.mp4",
                              "device_id": draw(st.sampled_from(DEVICES + (None,))), "officer_id": "O1",
                              "seen_at": datetime(2026, 1, 1 + j, tzinfo=UTC)})
    tables = {"recordings": recs, "sightings": sightings, "handovers": handovers, "cases": cases,
              "assignments": assignments, "purges": purges, "device_events": events, "attributions": attributions}
    return tables, config, draw(recent)


def _reference(record, as_of: datetime) -> dict:
    return {"start": record.subject.start, "end": record.subject.end if record.subject.start else None,
            "arrived": record.subject.ingested_at, "clock_reason": record.clock[0] if record.clock else None,
            "clock_text": record.clock[1] if record.clock else None, "officer": record.attribution.officer_id,
            "officer_source": record.attribution.source, "ledger_officer": record.attribution.ledger_officer,
            "mismatch": record.attribution.mismatch, "delay_s": record.lateness.delay_s, "late": record.late,
            "until": record.retention.until, "retention_class": record.retention.retention_class,
            "reason": record.retention.reason, "held": record.retention.held,
            "permanent": record.retention.permanent, "counted_from": record.subject.counted_from,
            "state": record.state(as_of), "zone": times.zone_label(record.device_zone)}


@settings(max_examples=35, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(catalog())
def test_recordings_frame_matches_the_reference_rules(drawn):
    tables, config, as_of = drawn
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp)
        Catalog(archive, fsync=False).create().commit(tables, tag="t")
        expected = {r.sha256: _reference(r, as_of) for r in records.load(archive, config, as_of).records}
        got = frame.load(archive, config, as_of)
        bare = frame.load(archive, config, as_of, retention=False)     # compliance's, the ledger's
        assert got.identities == attribution.load(Catalog(archive), config.identity)
        narrow = frame.load(archive, config, as_of, narrow=True)        # retention's, compliance's
    # the rules read nothing of what a narrow frame leaves unread
    assert narrow.table.equals(got.table.drop_columns([c for c in frame.COLUMNS if c not in frame.RULES_COLUMNS]))
    assert bare.table.column_names == [c for c in got.table.column_names
                                       if c not in keeping.COLUMNS and c != "purged"]
    assert bare.table.equals(got.table.select(bare.table.column_names))
    assert bare.by_label == got.by_label and bare.periods == got.periods
    table = got.table.append_column("state", got.states())
    for want in expected.values():
        event(f"class {want['retention_class']}, {want['state']}")
        event("clock problem" if want["clock_reason"] else "clock ok")
        event(f"officer from {want['officer_source']}")
    assert table.num_rows == len(expected)
    for row in table.to_pylist():
        want = expected[row["sha256"]]
        assert {k: row[k] for k in want} == want, row["sha256"]


@st.composite
def gap_catalog(draw) -> tuple[dict, object]:
    site = draw(st.sampled_from(("Asia/Shanghai", "Europe/Berlin")))
    config = load_config()
    config = dataclasses.replace(config, site=dataclasses.replace(
        config.site, time_zone=site, device_time_zones=draw(st.sampled_from(((), ("CAM2=+02:00",))))))
    ids = [f"g{i}" for i in range(draw(st.integers(0, 5)))]
    shas = [f"{i:064x}" for i in range(4)]
    gaps = []
    for gid in ids + draw(st.lists(st.sampled_from(ids or ["g0"]), max_size=3)):     # a gap detected twice
        start = draw(instant)
        legacy = draw(st.booleans()) and draw(st.booleans())
        gaps.append({"gap_id": gid, "kind": draw(st.sampled_from(("between_files", "between_files", "clock",
                                                                  "within_file", "overlap"))),
                     "device_id": draw(st.sampled_from(DEVICES + (None,))), "start_time": start.replace(tzinfo=None),
                     "end_time": draw(st.one_of(st.none(), st.just((start + timedelta(minutes=5)).replace(tzinfo=None)))),
                     "start_utc": None if legacy else start, "end_utc": None if legacy else start + timedelta(minutes=5),
                     "sha256": draw(st.sampled_from(shas + [None])), "before_sha256": draw(st.sampled_from(shas + [None])),
                     "after_sha256": draw(st.sampled_from(shas + [None])), "detected_at": draw(recent),
                     "detected_run_id": draw(st.sampled_from(("r1", "r2"))),
                     "detail": "x"})
    moments = st.sampled_from([datetime(2026, 1, d, tzinfo=UTC) for d in range(1, 4)])     # ties happen
    states = [{"gap_id": draw(st.sampled_from(ids or ["g0"])), "state": draw(st.sampled_from(("open", "closed"))),
               "evaluated_at": draw(moments)} for _ in range(draw(st.integers(0, 12)))]
    explanations = [{"explanation_id": f"e{i}", "gap_id": draw(st.sampled_from(ids or ["g0"])),
                     "source": draw(st.sampled_from(("spoken", "report"))), "reason": f"r{i}",
                     "explained_by": draw(st.sampled_from(("PC A", "PC B"))),
                     "approved_by": draw(st.sampled_from((None, "", "Sgt"))), "explained_at": draw(moments)}
                    for i in range(draw(st.integers(0, 10)))]
    # the recordings the gaps name, on a device's timeline (sessions form where they follow closely)
    names = []
    t = datetime(2026, 1, 1, 8, tzinfo=UTC)
    for i in range(draw(st.integers(0, 8))):
        t += timedelta(seconds=draw(st.sampled_from((1, 30, 200, 4000))))
        length = draw(st.sampled_from((60.0, 300.0)))
        names.append({"sha256": draw(st.sampled_from(shas)), "source_name": f"n{i}.mp4", "kind": "video",
                      "device_id": draw(st.sampled_from(DEVICES)), "start_utc": t, "start_time": t.replace(tzinfo=None),
                      "end_utc": t + timedelta(seconds=length), "duration_s": length, "time_source": "filename",
                      "time_zone": "Asia/Shanghai", "important": draw(st.sampled_from((None, True)))})
        t += timedelta(seconds=length)
    for g in gaps:                        # pauses long and short, around the recordings above
        if g["kind"] == "between_files":
            g["duration_s"] = draw(st.sampled_from((None, 30.0, 500.0, 5000.0)))
    assignments = [{"assignment_id": f"a{i}", "case_id": draw(st.sampled_from((None, "C1", "C2"))),
                    "retention_class": draw(st.sampled_from(("case", "routine", "permanent"))),
                    "selector": draw(st.sampled_from(("sha256", "device"))), "sha256": draw(st.sampled_from(shas)),
                    "device_id": draw(st.sampled_from(DEVICES)), "range_start": datetime(2026, 1, 1, 8, tzinfo=UTC),
                    "range_end": datetime(2026, 1, 1, 10, tzinfo=UTC), "at": datetime(2026, 1, 1, tzinfo=UTC)}
                   for i in range(draw(st.integers(0, 3)))]
    return {"gaps": gaps, "gap_state": states, "explanations": explanations, "recordings": names,
            "assignments": assignments}, config


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gap_catalog(), st.booleans(), st.booleans(), st.sampled_from((None, "CAM1")),
       st.one_of(st.none(), recent))
def test_gap_listing_matches_the_reference(drawn, include_closed, only_unexplained, device, since):
    from pipeline.records import gaplist, gapstate
    from pipeline.rules import gap_events
    from pipeline.rules.sets import gaps as gap_sets

    tables, config = drawn
    zones = config.zones()
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp)
        Catalog(archive, fsync=False).create().commit(tables, tag="t")
        expected = gap_events.filter_rows(gapstate.listing(Catalog(archive), zones, config), device=device,
                                          since=since, include_closed=include_closed,
                                          only_unexplained=only_unexplained)
        got = gap_sets.filtered(gaplist.listing(archive, config, include_closed=include_closed,
                                                only_unexplained=only_unexplained, device=device),
                                device=device, since=since, include_closed=include_closed,
                                only_unexplained=only_unexplained).to_pylist()
        # without the session names (ledger, ingest summary): the same gaps and the same decisions
        undecorated = gap_sets.filtered(gaplist.listing(archive, config, include_closed=include_closed,
                                                        only_unexplained=only_unexplained, device=device,
                                                        sessions=False),
                                        device=device, since=since, include_closed=include_closed,
                                        only_unexplained=only_unexplained).to_pylist()
        # an ingest's end summary: the current gaps without an accepted explanation, and one run's
        either = gaplist.listing(archive, config, include_closed=False, sessions=False, unexplained_or_run="r1")
        every = gapstate.listing(Catalog(archive), zones, config)
    assert got == expected
    assert undecorated == [{k: v for k, v in g.items() if k not in gaplist.WITH_SESSIONS} for g in expected]
    assert either.to_pylist() == [{k: v for k, v in g.items() if k not in gaplist.WITH_SESSIONS} for g in every
                                  if g["current"] and (g["explanation"] != "explained" or g["detected_run_id"] == "r1")]


@st.composite
def gaps_to_decide(draw) -> tuple:
    """Gaps around a morning's recordings, with marks, cases and windows that may decide their pauses."""
    from pipeline.rules import sessions as rule

    shas = [f"{i:064x}" for i in range(4)]
    t0 = datetime(2026, 1, 1, 8, tzinfo=UTC)
    moments = st.sampled_from([t0 + timedelta(minutes=30 * k) for k in range(-2, 8)])
    gaps = []
    for _ in range(draw(st.integers(0, 12))):
        start = draw(st.one_of(st.none(), moments, moments))
        gaps.append({"kind": draw(st.sampled_from(("between_files", "between_files", "between_files", "clock",
                                                   "within_file", "overlap", "damaged_tail"))),
                     "device_id": draw(st.sampled_from(DEVICES + (None,))),
                     "officer_id": draw(st.sampled_from((None, "O1", "O2"))),
                     "start_utc": start,
                     "end_utc": draw(st.one_of(st.none(), st.just(start + timedelta(minutes=20)))) if start else None,
                     "duration_s": draw(st.sampled_from((None, 30.0, 120.0, 500.0, 5000.0, 5000.0))),
                     "sha256": draw(st.sampled_from(shas + [None])),
                     "before_sha256": draw(st.sampled_from(shas + [None])),
                     "after_sha256": draw(st.sampled_from(shas + [None]))})
    important = frozenset(draw(st.sets(st.sampled_from(shas))))
    labels = ("case C1", "case C2", "class permanent")
    groups = {sha: frozenset(draw(st.sets(st.sampled_from(labels), min_size=1)))
              for sha in draw(st.sets(st.sampled_from(shas)))}
    windows = []
    for _ in range(draw(st.integers(0, 4))):
        start = draw(moments)
        by_device = draw(st.booleans())
        windows.append(rule.Window(draw(st.sampled_from(labels)),
                                   draw(st.sampled_from(DEVICES)) if by_device else None,
                                   None if by_device else draw(st.sampled_from(("O1", "O2"))),
                                   start, start + timedelta(minutes=draw(st.sampled_from((10, 180, 600))))))
    return gaps, important, groups, tuple(windows)


@settings(max_examples=150, deadline=None)
@given(gaps_to_decide())
def test_gap_needs_match_the_per_gap_rule(drawn):
    """``session_sets.needs`` against ``rules.sessions.need`` gap by gap, with the reasons and without
    them (the ledger's ``reasons=False``): marks, cases and windows around long pauses."""
    import pyarrow as pa

    from pipeline.rules import sessions as rule
    from pipeline.rules.sets import sessions as session_sets
    from pipeline.rules.sets.recordings import UTC_TYPE

    gaps, important, groups, windows = drawn
    schema = pa.schema([("kind", pa.string()), ("device_id", pa.string()), ("officer_id", pa.string()),
                        ("start_utc", UTC_TYPE), ("end_utc", UTC_TYPE), ("duration_s", pa.float64()),
                        ("sha256", pa.string()), ("before_sha256", pa.string()), ("after_sha256", pa.string())])
    table = pa.Table.from_pylist(gaps, schema=schema)
    ctx = rule.Context(120.0, {}, important, groups, windows)
    expected = [rule.need(g, ctx) for g in gaps]
    full = session_sets.needs(table, None, 120.0, set(important), groups, list(windows))
    bare = session_sets.needs(table, None, 120.0, set(important), groups, list(windows), reasons=False)
    for e in expected:
        event(e.why if "window" not in e.why and "inside case" not in e.why else e.why.split(" of ")[0])
    assert full["needs_explanation"].to_pylist() == [e.needed for e in expected]
    assert full["need_reason"].to_pylist() == [e.why for e in expected]
    assert bare["needs_explanation"].to_pylist() == [e.needed for e in expected]
    assert set(bare) == {"needs_explanation"}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gap_catalog(), st.booleans())
def test_decided_gaps_match_the_reference(drawn, include_closed):
    """``gaplist.decided`` (the ledger's gaps: whether each needs an explanation, decided without
    building the reasons) against ``gapstate.listing``, gap by gap: marks, cases and windows around
    long pauses decide as they do there."""
    from pipeline.records import gaplist, gapstate

    tables, config = drawn
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp)
        Catalog(archive, fsync=False).create().commit(tables, tag="t")
        expected = gapstate.listing(Catalog(archive), config.zones(), config)
        got = gaplist.decided(archive, config, include_closed=include_closed)
        # the ledger's: read without the pauses' sides (beside the recordings), those read after
        early = gaplist.undecided(archive, config, include_closed=include_closed, sides=False)
        assert not set(gaplist._SIDES) & set(early.rows.column_names)
        later = gaplist.decided(archive, config, include_closed=include_closed, read=early)
        # a part of those gone meanwhile (a compaction finished): read again, whole
        gone = dataclasses.replace(early, paths=[str(archive / "gone.parquet")] if early.paths else early.paths)
        again = gaplist.decided(archive, config, include_closed=include_closed, read=gone)
    columns = ("gap_id", "device_id", "kind", "start_utc", "current", "explanation", "needs_explanation")
    want = sorted((tuple(g[c] for c in columns) for g in expected if include_closed or g["current"]), key=repr)
    assert sorted(zip(*(got[c].to_pylist() for c in columns)), key=repr) == want
    assert later.to_pylist() == got.to_pylist()
    assert again.to_pylist() == got.to_pylist()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(catalog(), st.sampled_from((None, "CAM1", "CAM9")))
def test_device_ledger_matches_the_reference(drawn, device):
    """``fieldrec ledger``'s report, set-based, against ``records.ledger.build`` over ``records.load``."""
    from pipeline.records import gaplist, gapstate, ledger, ledgerframe

    tables, config, as_of = drawn
    recs = [r for r in tables["recordings"] if r["start_utc"] is not None]
    gaps = [{"gap_id": f"g{i}", "kind": ("between_files", "clock", "within_file")[i % 3], "device_id": a["device_id"],
             "officer_id": a["officer_id"], "start_utc": a["start_utc"], "start_time": a["start_time"],
             "end_utc": b["start_utc"], "duration_s": (b["start_utc"] - a["start_utc"]).total_seconds(),
             "sha256": a["sha256"], "before_sha256": a["sha256"], "after_sha256": b["sha256"]}
            for i, (a, b) in enumerate(zip(recs, recs[1:]))]
    tables = {**tables, "gaps": gaps,
              "gap_state": [{"gap_id": g["gap_id"], "state": "closed" if i % 4 == 3 else "open",
                             "evaluated_at": as_of} for i, g in enumerate(gaps)],
              "explanations": [{"gap_id": g["gap_id"], "source": "spoken", "reason": "x", "explained_by": "PC",
                                "explained_at": as_of} for i, g in enumerate(gaps) if i % 2],
              "device_events": tables["device_events"] + [
                  {"device_id": "CAM2", "event": "fault", "at": as_of, "recorded_at": as_of, "by": "desk",
                   "note": "lens"}]}
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp)
        Catalog(archive, fsync=False).create().commit(tables, tag="t")
        state = records.load(archive, config, as_of)
        expected = ledger.build(state, gapstate.listing(state.catalog, state.zones, config),
                                state.catalog.rows("device_events"), device)
        got = ledgerframe.build(frame.load(archive, config, as_of, columns=["officer_id"], retention=False),
                                gaplist.decided(archive, config, include_closed=False).select(
                                    list(ledgerframe.GAP_COLUMNS)),
                                Catalog(archive).rows("device_events"),
                                device)
    assert got == expected


def test_gap_needs_without_session_names_still_read_the_recordings_around_long_pauses():
    """``listing(sessions=False)`` reads only the recordings around long pauses: marks and cases there
    still decide (important on both sides, a case holding both, neither)."""
    from pipeline.records import gaplist, gapstate

    config = load_config()
    t = datetime(2026, 1, 1, 8, tzinfo=UTC)
    recs = [{"sha256": f"{i:064x}", "source_name": f"n{i}.mp4", "kind": "video", "device_id": "CAM1",
             "start_utc": t + timedelta(hours=2 * i), "start_time": (t + timedelta(hours=2 * i)).replace(tzinfo=None),
             "end_utc": t + timedelta(hours=2 * i, minutes=5), "duration_s": 300.0, "time_source": "filename",
             "time_zone": "Asia/Shanghai", "important": i < 2} for i in range(4)]
    gaps = [{"gap_id": f"g{i}", "kind": "between_files", "device_id": "CAM1", "start_utc": a["end_utc"],
             "end_utc": b["start_utc"], "start_time": a["end_utc"].replace(tzinfo=None),
             "end_time": b["start_utc"].replace(tzinfo=None), "duration_s": 6900.0, "before_sha256": a["sha256"],
             "after_sha256": b["sha256"], "detected_at": t, "detail": "x"} for i, (a, b) in enumerate(zip(recs, recs[1:]))]
    held = [{"assignment_id": f"a{i}", "case_id": "C1", "retention_class": "case", "selector": "sha256",
             "sha256": recs[i]["sha256"], "at": t} for i in (1, 2)]
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp)
        Catalog(archive, fsync=False).create().commit({"recordings": recs, "gaps": gaps, "assignments": held}, tag="t")
        expected = gapstate.listing(Catalog(archive), config.zones(), config)
        got = gaplist.listing(archive, config, sessions=False).to_pylist()
    assert [g["needs_explanation"] for g in got] == [True, True, False]
    assert got == [{k: v for k, v in g.items() if k not in gaplist.WITH_SESSIONS} for g in expected]


def test_a_routine_reason_cached_in_one_language_is_not_given_in_another():
    """The routine rule is cached per day: a reason worked out in Chinese (a page of the review
    service, an earlier test) must not come back in English."""
    from datetime import date

    from pipeline.common import i18n
    from pipeline.rules.sets import retention as set_retention

    config = load_config()
    site = config.zones().site_zone
    args = (date(2025, 6, 2), date(2025, 6, 3), set_retention._COUNTED[0], config.retention, site)
    i18n.use_language("zh_CN")
    chinese = set_retention._reference_routine(*args).reason
    i18n.use_language("en")
    english = set_retention._reference_routine(*args).reason
    assert chinese != english and english.startswith("routine: ")
