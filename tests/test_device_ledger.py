"""The device ledger (台账) on a real archive: a device registered, handed over twice, returned,
reported faulty and repaired, with recordings inside and outside its holders' periods; the CSV to
print; every ledger command's input attacked."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

import pytest

from pipeline.common.times import zone_named
from tests.helpers import by_name, cli, copy_of, ingest, lean_config, listed, table
from tests.recorder_drops import ledger_drop

SHANGHAI = zone_named("Asia/Shanghai")
# Ten days ago, at Beijing midnight: recent enough for retention, old enough that every file is late.
DAY = (datetime.now(timezone.utc).astimezone(SHANGHAI) - timedelta(days=10)).replace(
    hour=0, minute=0, second=0, microsecond=0, tzinfo=None)


def typed(hh: int, mm: int = 0) -> str:
    """A time on DAY as a clerk types it (site time, no zone)."""
    return (DAY + timedelta(hours=hh, minutes=mm)).strftime("%Y-%m-%d %H:%M")


def instant(hh: int, mm: int = 0) -> datetime:
    return (DAY + timedelta(hours=hh, minutes=mm)).replace(tzinfo=SHANGHAI)


@pytest.fixture(scope="module")
def built(tmp_path_factory, ray_local):
    config = lean_config()
    root = tmp_path_factory.mktemp("ledger")
    names = ledger_drop(root / "drop", DAY)
    ingest([root / "drop"], root / "archive", config)
    return {"archive": root / "archive", "names": names}


@pytest.fixture
def archive(built, tmp_path):
    return copy_of(built["archive"], tmp_path)


def keep_the_ledger(archive, capsys) -> None:
    """Register, two handovers, a fault and its repair, a return: as a clerk would type them."""
    steps = [
        ["register", "LED1", "--model", "DSJ-V7", "--serial", "SN-0042", "--unit", "城管执法一中队", "--at", typed(6),
         "--by", "Desk"],
        ["handover", "LED1", "--to", "OF1", "--at", typed(8), "--by", "Desk"],
        ["handover", "LED1", "--to", "OF2", "--at", typed(12), "--by", "Desk"],
        ["fault", "LED1", "--at", typed(14), "--note", "screen cracked", "--by", "OF2"],
        ["repair", "LED1", "--at", typed(16), "--note", "screen replaced", "--by", "Workshop"],
        ["return", "LED1", "--at", typed(17), "--by", "Desk"],
    ]
    for step in steps:
        code, out, err = cli(capsys, "device", *step, "--archive", archive)
        assert code == 0, (step, err)


def test_the_ledger_shows_registration_periods_faults_and_what_nobody_held(built, archive, capsys):
    keep_the_ledger(archive, capsys)
    names = built["names"]
    (led,) = listed(capsys, "ledger", "--archive", archive, "--device", "LED1")
    assert {k: led["registration"][k] for k in ("model", "serial", "unit", "registered_by")} == \
        {"model": "DSJ-V7", "serial": "SN-0042", "unit": "城管执法一中队", "registered_by": "Desk"}
    periods = [(h["officer_id"], h["from"], h["to"], h["ended_by"], h["recordings"], h["late"],
                h["interruptions_unexplained"], h["interruptions_explained"]) for h in led["holders"]]
    iso = lambda t: t.isoformat()        # noqa: E731 - JSON gives instants with the site's offset
    assert periods == [("OF1", iso(instant(8)), iso(instant(12)), "handover", 2, 2, 1, 0),
                       ("OF2", iso(instant(12)), iso(instant(17)), "return", 1, 1, 0, 0)]
    assert sorted(f["source_name"] for f in led["unheld"]["files"]) == sorted([names["before"], names["after_return"]])
    assert [(e["note"], e["by"]) for e in led["faults"]] == [("screen cracked", "OF2")]
    assert [(e["note"], e["by"]) for e in led["repairs"]] == [("screen replaced", "Workshop")]
    assert led["recordings"] == 5 and led["from_ledger"] == 3 and led["unattributed"] == 2
    assert led["interruptions"] == {"needing": 1, "explained": 0, "unexplained": 1, "not_needed": 3}

    gap = next(g for g in listed(capsys, "gaps", "--archive", archive, "--unexplained") if g["device_id"] == "LED1")
    assert (gap["before_file"], gap["after_file"], round(gap["duration_s"])) == (names["of1_a"], names["of1_b"], 30)
    assert cli(capsys, "explain", gap["gap_id"], "--archive", archive, "--reason", "battery", "--by", "OF1",
               "--spoken")[0] == 0
    (led,) = listed(capsys, "ledger", "--archive", archive, "--device", "LED1")
    assert (led["holders"][0]["interruptions_explained"], led["holders"][0]["interruptions_unexplained"]) == (1, 0)


def test_the_ledger_prints_as_rows(built, archive, capsys):
    keep_the_ledger(archive, capsys)
    code, out, _ = cli(capsys, "ledger", "--archive", archive, "--format", "csv")
    rows = [r for r in csv.DictReader(io.StringIO(out)) if r["device_id"] == "LED1"]
    assert [r["entry"] for r in rows] == ["device", "registered", "held", "held", "not held", "fault", "repair"]
    held = [(r["officer_id"], r["from"], r["to"], r["ended_by"], r["recordings"]) for r in rows if r["entry"] == "held"]
    assert held == [("OF1", f"{typed(8)}:00 +08:00", f"{typed(12)}:00 +08:00", "handover", "2"),
                    ("OF2", f"{typed(12)}:00 +08:00", f"{typed(17)}:00 +08:00", "return", "1")]
    assert rows[0]["holders"] == "OF1; OF2" and rows[0]["recordings"] == "5" and rows[0]["model"] == "DSJ-V7"
    code, out, _ = cli(capsys, "ledger", "--archive", archive, "--device", "LED1")
    assert "(returned)" in out and "2 file(s)" in out and "screen cracked" in out and "nobody" in out


def test_recordings_are_attributed_to_the_holder_only_while_held(built, archive, capsys):
    keep_the_ledger(archive, capsys)
    names = built["names"]
    rows = {r["source_name"]: r for r in listed(capsys, "retention", "--archive", archive, "--all")}
    officers = {key: rows[name]["officer_id"] for key, name in names.items()}
    assert officers == {"before": None, "of1_a": "OF1", "of1_b": "OF1", "of2": "OF2", "after_return": None}
    assert by_name(archive)[names["of2"]]["officer_id"] is None       # the recording's own row says what its name said


@pytest.mark.parametrize("argv, code, problem", [
    pytest.param(["return", "LED1", "--at", typed(7), "--by", "Desk"], 2, "held by nobody", id="return-before-any-handover"),
    pytest.param(["return", "LED1", "--at", typed(18), "--by", "Desk"], 2, "held by nobody", id="returned-twice"),
    pytest.param(["return", "LED1", "--at", typed(10)], 2, "--by", id="return-without-by"),
    pytest.param(["fault", "LED1", "--at", typed(10), "--by", "x"], 2, "--note", id="fault-without-note"),
    pytest.param(["repair", "LED1", "--at", "yesterday-ish", "--note", "n", "--by", "x"], 2, "--at", id="bad-time"),
    pytest.param(["register", "LED\n1"], 2, "control character", id="device-newline"),
    pytest.param(["register", "LED1", "--model", "M" * 129], 2, "at most 128", id="model-too-long"),
    pytest.param(["fault", "LED1", "--at", typed(10), "--note", "x" * 10_001, "--by", "x"], 2, "at most",
                 id="note-too-long"),
    pytest.param(["handover", "LED1", "--to", "OF\x1b[31m1", "--at", typed(8)], 2, "control character",
                 id="officer-escape-sequence"),
])
def test_ledger_commands_refuse_bad_input(archive, capsys, argv, code, problem):
    keep_the_ledger(archive, capsys)
    before = (len(table(archive, "device_events")), len(table(archive, "handovers")))
    got, _, err = cli(capsys, "device", *argv, "--archive", archive)
    assert got == code and problem in err
    assert (len(table(archive, "device_events")), len(table(archive, "handovers"))) == before


def test_a_note_keeps_its_lines_and_loses_its_control_characters(archive, capsys):
    code, _, _ = cli(capsys, "device", "fault", "LED1", "--at", typed(10), "--by", "OF1", "--archive", archive,
                     "--note", "lens fogged\nbattery hot\x07")
    assert code == 0
    (row,) = table(archive, "device_events")
    assert row["note"] == "lens fogged\nbattery hot\\x07"
    code, out, _ = cli(capsys, "ledger", "--archive", archive, "--device", "LED1")
    assert "lens fogged\\x0abattery hot\\x07" in out            # one line on a terminal


def test_registering_again_updates_the_details_and_keeps_the_first_date(archive, capsys):
    keep_the_ledger(archive, capsys)
    code, out, _ = cli(capsys, "device", "register", "LED1", "--unit", "执法二中队", "--at", typed(20), "--by", "Desk",
                       "--archive", archive)
    assert code == 0 and "registration updated" in out
    (led,) = listed(capsys, "ledger", "--archive", archive, "--device", "LED1")
    reg = led["registration"]
    assert (reg["unit"], reg["model"], reg["registered_at"]) == ("执法二中队", "DSJ-V7", instant(6).isoformat())
