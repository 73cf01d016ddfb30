"""Recording sessions on a generated drop: exactly the interruptions the regulation cares about need
an explanation (precision and recall 1.0), in `fieldrec gaps`, the ingest summary, the report, the
ledger and the review service alike; sequence numbers that start over are no clock problem; a case
window and the recorder's importance marks make a pause part of the action.

The drop (tests/recorder_drops.py): SES1 records three sessions a day in 10-minute segments (a
40 s battery swap in the first, a 5 s stop in the second) and starts its count over the next day;
DSJ-S2 gets a new card the same afternoon; SES4 pauses 5 minutes inside a window case INC-S is
assigned; SES5's recorder marked two files important with 5 minutes between them.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from catalog.store import Catalog
from pipeline.records import gapstate
from tests.helpers import cli, copy_of, ingest, lean_config, listed
from tests.recorder_drops import CASE_WINDOW, DAY, clip, sessions_drop


@pytest.fixture(scope="module")
def built(tmp_path_factory, ray_local):
    config = lean_config()
    root = tmp_path_factory.mktemp("sessions")
    pauses = sessions_drop(root / "drop")
    summary = ingest([root / "drop"], root / "archive", config)
    return {"archive": root / "archive", "pauses": pauses, "summary": summary, "config": config}


@pytest.fixture
def archive(built, tmp_path):
    return copy_of(built["archive"], tmp_path)


def verdicts(rows: list[dict]) -> set[tuple[str, str, str]]:
    return {(g["device_id"], g["before_file"], g["after_file"]) for g in rows}


def expected(pauses, needs: bool, *, without_case: bool = False) -> set[tuple[str, str, str]]:
    return {(p.device, p.before, p.after) for p in pauses
            if (p.needs and not (without_case and "case" in p.why)) == needs}


def precision_recall(found: set, wanted: set) -> tuple[float, float]:
    hit = len(found & wanted)
    return (hit / len(found) if found else 1.0), (hit / len(wanted) if wanted else 1.0)


def assign_case(archive, capsys) -> None:
    start, end = (t.strftime("%Y-%m-%dT%H:%M:%S") for t in CASE_WINDOW)      # typed in site time
    assert cli(capsys, "case", "open", "INC-S", "--archive", archive, "--by", "Sgt Lee")[0] == 0
    code, out, err = cli(capsys, "case", "assign", "INC-S", "--archive", archive, "--device", "SES4",
                         "--from", start, "--to", end, "--by", "Sgt Lee")
    assert code == 0, err


def test_exactly_the_interruptions_that_matter_need_an_explanation(built, archive, capsys):
    pauses = built["pauses"]
    every = listed(capsys, "gaps", "--archive", archive)
    assert {g["kind"] for g in every} == {"between_files"}        # no clock problem: restarted counts are no anomaly
    assert verdicts(every) == {(p.device, p.before, p.after) for p in pauses}
    before_case = listed(capsys, "gaps", "--archive", archive, "--unexplained")
    assert precision_recall(verdicts(before_case), expected(pauses, True, without_case=True)) == (1.0, 1.0)

    assign_case(archive, capsys)
    waiting = listed(capsys, "gaps", "--archive", archive, "--unexplained")
    assert precision_recall(verdicts(waiting), expected(pauses, True)) == (1.0, 1.0)
    free = [g for g in listed(capsys, "gaps", "--archive", archive) if not g["needs_explanation"]]
    assert precision_recall(verdicts(free), expected(pauses, False)) == (1.0, 1.0)
    why = {(g["device_id"], g["before_file"]): g["need_reason"] for g in listed(capsys, "gaps", "--archive", archive)}
    for p in pauses:
        assert p.why in why[(p.device, p.before)], (p, why[(p.device, p.before)])


def test_gaps_name_their_session_and_a_device_records_three_sessions_a_day(built, archive, capsys):
    from pipeline.records import sessions

    rows = listed(capsys, "gaps", "--archive", archive)
    inside = {g["duration_s"]: g["session_id"] for g in rows if g["needs_explanation"] and g["device_id"] == "SES1"}
    assert {round(k): v for k, v in inside.items()} == {40: "SES1@20250602-080000", 5: "SES1@20250602-110000"}
    assert all(g["session_id"] is None for g in rows if not g["needs_explanation"])
    catalog = Catalog(archive)
    of = sessions.of_devices(catalog, gapstate.listing(catalog, config=built["config"]), built["config"])
    assert [s.session_id for s in of["SES1"]] == ["SES1@20250602-080000", "SES1@20250602-110000",
                                                  "SES1@20250602-150000", "SES1@20250603-090000"]
    assert [len(s.members) for s in of["SES1"]] == [3, 2, 2, 2]
    assert [round(s.duration_s) for s in of["SES1"]] == [1840, 1205, 1200, 1200]
    assert len(of["DSJ-S2"]) == 2 and len(of["SES4"]) == 3


def test_the_summary_the_report_the_ledger_and_the_service_count_alike(built, archive, capsys):
    from pipeline.report.data import load
    from pipeline.web.app import Service

    assert built["summary"].gaps == {"found": 10, "need": 3, "free": 7, "waiting": 3}
    assign_case(archive, capsys)
    cli_waiting = verdicts(listed(capsys, "gaps", "--archive", archive, "--unexplained"))
    report = load(archive, built["config"])
    assert {(g.device_id, g.gap_id) for g in report.gaps if g.waiting} == \
        {(g["device_id"], g["gap_id"]) for g in listed(capsys, "gaps", "--archive", archive, "--unexplained")}
    assert sum(not g.needs_explanation for g in report.gaps) == 6
    ledger = {d["device_id"]: d for d in listed(capsys, "ledger", "--archive", archive)}
    assert {d: ledger[d]["interruptions"]["unexplained"] for d in ("SES1", "DSJ-S2", "SES4", "SES5")} == \
        {"SES1": 2, "DSJ-S2": 0, "SES4": 1, "SES5": 1}
    service = Service(archive, built["config"], fsync=False)
    try:
        rows, total = service.reader().waiting_gaps(1000)
    finally:
        service.outbox.close()
    names = {r["sha256"]: r["source_name"] for r in Catalog(archive).rows("recordings", ["sha256", "source_name"])}
    assert total == len(cli_waiting) == 4
    assert {(r["device_id"], names[r["before_sha256"]], names[r["after_sha256"]]) for r in rows} == cli_waiting


def test_the_night_after_a_case_is_assigned_carries_the_count_made_ahead(built, archive, capsys, tmp_path,
                                                                         monkeypatch):
    """The case makes the kept summary row stale; the next ingest counts every gap while its file is
    stored and its summary carries that count: the new pause between SES1's days is free, and the
    four that wait (the case's among them) still wait, as `fieldrec gaps --unexplained` lists them."""
    from pipeline.records import gapwaiting

    assign_case(archive, capsys)
    tallies = []
    tally = gapwaiting.tally
    monkeypatch.setattr(gapwaiting, "tally", lambda *a, **k: tallies.append(tally(*a, **k)) or tallies[-1])
    clip(tmp_path / "next", "SES1_OF1_20250604090000_0001.MP4", DAY + timedelta(days=2, hours=9), 60.0)
    summary = ingest([tmp_path / "next"], archive, built["config"])
    waiting = listed(capsys, "gaps", "--archive", archive, "--unexplained")
    assert [(t.carried, t.ahead) for t in tallies] == [(True, True)]
    assert len(waiting) == 4
    assert summary.gaps == {"found": 1, "need": 0, "free": 1, "waiting": 4}


def test_explaining_one_leaves_the_others_waiting(built, archive, capsys):
    waiting = listed(capsys, "gaps", "--archive", archive, "--unexplained")
    battery = next(g for g in waiting if round(g["duration_s"]) == 40)
    code, out, _ = cli(capsys, "explain", battery["gap_id"], "--archive", archive, "--reason", "battery swap",
                       "--by", "OF1", "--spoken")
    assert code == 0 and "explained" in out
    left = listed(capsys, "gaps", "--archive", archive, "--unexplained")
    assert {g["gap_id"] for g in left} == {g["gap_id"] for g in waiting} - {battery["gap_id"]}


def test_important_recordings_go_to_a_case_and_on_a_disc(built, archive, capsys, tmp_path):
    import json

    assert cli(capsys, "case", "open", "INC-I", "--archive", archive, "--by", "Sgt Lee")[0] == 0
    code, out, err = cli(capsys, "case", "assign", "INC-I", "--archive", archive, "--important",
                         "--from", "2025-06-02", "--to", "2025-06-03", "--by", "Sgt Lee")
    assert code == 0 and "2 recording(s) match now" in out, err
    shown = listed(capsys, "case", "show", "INC-I", "--archive", archive)
    assert sorted(r["source_name"] for r in shown) == ["ZFJLY_SES5_王五_20250602_090000_IMP.MP4",
                                                      "ZFJLY_SES5_王五_20250602_091500_IMP.MP4"]
    code, _, err = cli(capsys, "case", "assign", "INC-I", "--archive", archive, "--important", "--sha", "abcdef12",
                       "--by", "x")
    assert code == 2 and "--important" in err
    code, _, err = cli(capsys, "case", "assign", "INC-I", "--archive", archive, "--important", "--by", "x")
    assert code == 2 and "--from" in err
    code, out, err = cli(capsys, "disc", "plan", "--archive", archive, "--important", "--capacity-bytes", 10**9,
                         "--format", "json")
    assert code == 0, err
    planned = {f["sha256"] for d in json.loads(out)["discs"] for f in d["files"]}
    assert planned == {r["sha256"] for r in shown}
    code, out, err = cli(capsys, "disc", "plan", "--archive", archive, "--device", "SES1", "--important",
                         "--capacity-bytes", 10**9)
    assert code == 2 and "marked important" in err
    code, _, err = cli(capsys, "disc", "plan", "--archive", archive, "--capacity-bytes", 10**9)
    assert code == 2 and "--important" in err


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "1e9", "nan", '"120"'])
def test_a_bad_session_break_fails_at_start_up_naming_its_key(tmp_path, value):
    from pipeline.config import ConfigError, load_config

    bad = tmp_path / "bad.toml"
    bad.write_text(f"[gaps]\nsession_break_s = {value}\n")
    with pytest.raises(ConfigError, match="gaps.session_break_s"):
        load_config(bad)
