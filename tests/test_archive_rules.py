"""Cases, retention, purge, the 24-hour rule, the device ledger and export on a real ingested archive.

One small drop is ingested once per module (tiny generated clips whose names carry device,
officer and a time relative to now); each test works on its own copy of that archive and drives
the commands through ``pipeline.cli.main`` in-process.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pipeline.common.times import zone_named
from pipeline.sample.clips import ClipSpec
from pipeline.sample.encode import write_clip
from tests.helpers import by_name, cli, ingest, listed, table
from tests.webkit import grant

UTC = timezone.utc
SHANGHAI = zone_named("Asia/Shanghai")
NOW = datetime.now(UTC).replace(microsecond=0)
ARRIVED_EARLIER = timedelta(days=100)      # when the old files first reached the archive, before now


def stamp(ago: timedelta) -> str:
    """A device-clock time in a file name: devices run in the site's zone (Asia/Shanghai)."""
    return (NOW - ago).astimezone(SHANGHAI).strftime("%Y%m%d%H%M%S")


def typed(when: datetime) -> str:
    """A time as a person types it: the site's wall clock, no zone."""
    return when.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M:%S")


FILES = {
    "old": f"CAM1_O1_{stamp(timedelta(days=200))}.mp4",           # routine, long past retention, late
    "caseold": f"CAM1_O1_{stamp(timedelta(days=150))}.mp4",       # past routine retention: a case holds it
    "perm": f"CAM2_O2_{stamp(timedelta(days=120))}.mp4",          # past routine retention: made permanent
    "recent": f"CAM1_O1_{stamp(timedelta(hours=1))}.mp4",         # within retention, on time
    "noname": f"CAM2_{stamp(timedelta(hours=2))}.mp4",            # no officer: the ledger attributes it
    "mismatch": f"CAM2_O9_{stamp(timedelta(hours=3))}.mp4",       # the name disagrees with the ledger
    "late": f"CAM3_O3_{stamp(timedelta(hours=30))}.mp4",          # uploaded 30 h after recording
    "tz": f"CAM4_O4_{stamp(timedelta(hours=20))}.mp4",            # late only if CAM4 runs at UTC+14:00
}
OLD = ("old", "caseold", "perm")           # first seen ARRIVED_EARLIER ago: past the archive's floor


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from pipeline.config import load_config

    root = tmp_path_factory.mktemp("rules")
    drop = root / "drop"
    drop.mkdir()
    for seed, name in enumerate(FILES.values()):
        write_clip(drop / name, ClipSpec(video_codec="mjpeg", audio_codec=None, fps=10, duration_s=1.0, seed=seed))
    config = load_config()
    config = dataclasses.replace(config, ingest=dataclasses.replace(config.ingest, fsync=False))
    ingest([drop], root / "archive", config)
    _arrived_earlier(root / "archive", [FILES[k] for k in OLD], NOW - ARRIVED_EARLIER, config)
    return root / "archive"


def _arrived_earlier(archive: Path, names: list[str], when: datetime, config) -> None:
    """Sightings of these files at ``when``, as an earlier dock run would have left them: no file
    can be purged before its class's minimum in the archive, so "past retention" needs an old arrival."""
    from pipeline.commands.options import locked_catalog

    rows = [dict(s, seen_at=when, run_id="earlier-dock") for s in table(archive, "sightings")
            if Path(s["source_path"]).name in names]
    with locked_catalog(archive, config, "earlier sightings") as catalog:
        catalog.commit({"sightings": rows}, tag="earlier")


@pytest.fixture
def archive(built, tmp_path) -> Path:
    copy = tmp_path / "archive"
    shutil.copytree(built, copy, ignore=shutil.ignore_patterns("fieldrec.lock"))
    return copy


@pytest.fixture
def sha(built) -> dict[str, str]:
    rec = by_name(built)
    return {key: rec[name]["sha256"] for key, name in FILES.items()}


def states(capsys, archive, *extra) -> dict[str, dict]:
    return {r["sha256"]: r for r in listed(capsys, "retention", "--archive", archive, "--all", *extra)}


def day(delta: timedelta) -> str:
    return (NOW + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- retention --------------------------------------------------------------------------------

def test_new_recordings_are_routine_and_past_ones_listed(archive, sha, capsys):
    rows = listed(capsys, "retention", "--archive", archive)
    assert {r["sha256"] for r in rows} == {sha["old"], sha["caseold"], sha["perm"]}
    assert all(r["class"] == "routine" and r["state"] == "expired" for r in rows)
    everything = states(capsys, archive)
    assert everything[sha["recent"]]["state"] == "retained"
    assert everything[sha["recent"]]["reason"].startswith("routine: 3 months")


def test_as_of_a_later_date_lists_more(archive, sha, capsys):
    rows = listed(capsys, "retention", "--archive", archive, "--as-of", day(timedelta(days=100)))
    assert {r["sha256"] for r in rows} == set(sha.values())


def test_open_case_holds_and_close_applies_the_6_month_floor(archive, sha, capsys):
    assert cli(capsys, "case", "open", "C1", "--archive", archive, "--by", "Sgt Doe", "--title", "test")[0] == 0
    code, out, _ = cli(capsys, "case", "assign", "C1", "--archive", archive, "--sha", sha["recent"][:10], "--by", "Doe")
    assert code == 0 and "1 recording(s) match" in out
    assert states(capsys, archive, "--as-of", day(timedelta(days=3650)))[sha["recent"]]["state"] == "held"
    assert cli(capsys, "case", "close", "C1", "--archive", archive, "--by", "Doe")[0] == 0
    # Closed today: 3 months after close would be sooner than 6 months from recording.
    after_4 = states(capsys, archive, "--as-of", day(timedelta(days=125)))[sha["recent"]]
    assert after_4["state"] == "retained" and "6-month floor" in after_4["reason"]
    assert states(capsys, archive, "--as-of", day(timedelta(days=190)))[sha["recent"]]["state"] == "expired"
    assert cli(capsys, "case", "reopen", "C1", "--archive", archive, "--by", "Doe")[0] == 0
    assert states(capsys, archive, "--as-of", day(timedelta(days=190)))[sha["recent"]]["state"] == "held"
    cases = listed(capsys, "case", "list", "--archive", archive)
    assert [(c["case_id"], c["status"], c["files"]) for c in cases] == [("C1", "open", 1)]
    events = [(e["case_id"], e["event"], e["by"]) for e in table(archive, "cases")]
    assert sorted(events) == [("C1", "close", "Doe"), ("C1", "open", "Sgt Doe"), ("C1", "reopen", "Doe")]


def test_overlapping_cases_keep_the_longest(archive, sha, capsys):
    for case in ("A", "B"):
        assert cli(capsys, "case", "open", case, "--archive", archive, "--by", "Doe")[0] == 0
    start, end = typed(NOW - timedelta(hours=1, minutes=5)), typed(NOW - timedelta(minutes=55))
    assert cli(capsys, "case", "assign", "A", "--archive", archive, "--device", "CAM1", "--from", start, "--to", end,
               "--by", "Doe")[0] == 0
    assert cli(capsys, "case", "assign", "B", "--archive", archive, "--officer", "O1", "--from", start, "--to", end,
               "--by", "Doe")[0] == 0
    assert cli(capsys, "case", "close", "A", "--archive", archive, "--by", "Doe")[0] == 0
    assert states(capsys, archive, "--as-of", day(timedelta(days=400)))[sha["recent"]]["state"] == "held"
    later = day(timedelta(days=250))
    assert cli(capsys, "case", "close", "B", "--archive", archive, "--by", "Doe", "--at", later)[0] == 0
    row = states(capsys, archive, "--as-of", day(timedelta(days=300)))[sha["recent"]]
    assert row["state"] == "retained" and "case B" in row["reason"] and "after close" in row["reason"]
    assert {a["selector"] for a in table(archive, "assignments")} == {"device", "officer"}


@pytest.mark.parametrize("argv, message", [
    pytest.param(["case", "close", "NOPE", "--by", "x"], "no case NOPE", id="close-unknown-case"),
    pytest.param(["case", "assign", "NOPE", "--sha", "0" * 64, "--by", "x"], "no case NOPE", id="assign-unknown-case"),
    pytest.param(["case", "assign", "--class", "other", "--days", "10", "--sha", "0" * 64, "--by", "x"],
                 "at least 90", id="other-below-the-floor"),
    pytest.param(["case", "assign", "--class", "permanent", "--sha", "00000000", "--by", "x"],
                 "no recording", id="unknown-sha"),
    pytest.param(["case", "assign", "--class", "permanent", "--device", "CAM1", "--by", "x"], "--from and --to",
                 id="device-without-range"),
    pytest.param(["retention", "--as-of", "yesterday"], "not a date", id="bad-date"),
])
def test_case_commands_refuse_bad_requests(archive, capsys, argv, message):
    code, _, err = cli(capsys, *argv, "--archive", archive)
    assert code == 2 and message in err


def test_assign_to_a_closed_case_is_refused(archive, sha, capsys):
    cli(capsys, "case", "open", "C1", "--archive", archive, "--by", "x")
    cli(capsys, "case", "close", "C1", "--archive", archive, "--by", "x")
    code, _, err = cli(capsys, "case", "assign", "C1", "--archive", archive, "--sha", sha["old"], "--by", "x")
    assert code == 2 and "reopen it first" in err
    code, _, err = cli(capsys, "case", "open", "C1", "--archive", archive, "--by", "x")
    assert code == 2 and "already exists" in err


def test_longer_configured_retention_keeps_more(archive, sha, capsys, tmp_path):
    longer = tmp_path / "long.toml"
    longer.write_text("[retention]\nroutine_months = 12\n")
    code, _, err = cli(capsys, "retention", "--archive", archive, "--config", longer)
    assert code == 2 and "retention.routine_months belongs to" in err      # the archive owns its retention
    assert cli(capsys, "config", "set", "retention.routine_months", "12", "--archive", archive, "--by", "Clerk",
               "--reason", "decision 14")[0] == 0
    assert listed(capsys, "retention", "--archive", archive) == []
    assert listed(capsys, "retention", "--archive", archive, "--config", longer) == []    # repeating it is fine


# -- purge ------------------------------------------------------------------------------------

def test_purge_is_a_dry_run_without_approval(archive, sha, capsys):
    code, out, err = cli(capsys, "purge", "--archive", archive, "--format", "json")
    assert code == 0 and "dry run: 3 object(s)" in err
    assert {r["sha256"] for r in json.loads(out)} == {sha["old"], sha["caseold"], sha["perm"]}
    assert table(archive, "purges") == []
    assert all((archive / r["archive_path"]).exists() for r in table(archive, "recordings"))


def test_purge_refused_for_held_and_permanent_files(archive, sha, capsys):
    cli(capsys, "case", "open", "C1", "--archive", archive, "--by", "x")
    cli(capsys, "case", "assign", "C1", "--archive", archive, "--sha", sha["caseold"], "--by", "x")
    cli(capsys, "case", "assign", "--class", "permanent", "--archive", archive, "--sha", sha["perm"], "--by", "x")
    expired = grant(archive, "purge", "expired")
    for key, state in (("caseold", "held"), ("perm", "permanent"), ("recent", "retained")):
        code, _, err = cli(capsys, "purge", "--archive", archive, sha[key], "--approve", expired)
        assert code == 1 and "refused" in err and f"{state} (" in err, err
    # Together with a purgeable file the whole request is refused: nothing half done.
    code, _, _ = cli(capsys, "purge", "--archive", archive, sha["old"], sha["perm"], "--approve", expired)
    assert code == 1
    assert table(archive, "purges") == []
    assert all((archive / r["archive_path"]).exists() for r in table(archive, "recordings"))
    # Unqualified, it purges only what may go.
    assert cli(capsys, "purge", "--archive", archive, "--approve", expired)[0] == 0
    assert {p["sha256"] for p in table(archive, "purges")} == {sha["old"]}


def test_purge_removes_only_the_object_and_keeps_the_history(archive, sha, capsys):
    before = {name: len(table(archive, name)) for name in ("recordings", "sightings", "streams", "keyframes")}
    rec = {r["sha256"]: r for r in table(archive, "recordings")}
    approval = grant(archive, "purge", "recording", sha["old"])
    code, _, err = cli(capsys, "purge", "--archive", archive, sha["old"], "--approve", approval, "--by", "clerk.zhao")
    assert code == 0, err
    assert not (archive / rec[sha["old"]]["archive_path"]).exists()
    assert all((archive / r["archive_path"]).exists() for s, r in rec.items() if s != sha["old"])
    assert {name: len(table(archive, name)) for name in before} == before
    (purge,) = table(archive, "purges")
    assert (purge["sha256"], purge["approval_ref"], purge["approved_by"]) == (sha["old"], approval, "sgt.wang")
    assert purge["archive_path"] == rec[sha["old"]]["archive_path"] and purge["retention_class"] == "routine"
    assert states(capsys, archive)[sha["old"]]["state"] == "purged"
    assert sha["old"] not in {r["sha256"] for r in listed(capsys, "retention", "--archive", archive)}
    # Nothing is left to purge twice.
    cli(capsys, "purge", "--archive", archive, "--approve", grant(archive, "purge", "expired"))
    assert len([p for p in table(archive, "purges") if p["sha256"] == sha["old"]]) == 1
    # The tamper-evident ledger knows the purge: the object is gone on purpose, not missing.
    code, out, err = cli(capsys, "verify", "--archive", archive, "--format", "json")
    assert code == 0, out + err


def test_purge_removes_the_review_proxies_with_their_original(archive, sha, capsys):
    """A proxy is a copy of the footage: a purge takes it too (recorded, so verify knows it is gone on
    purpose), and no later transcode makes it again from an original that is gone."""
    assert cli(capsys, "transcode", "--archive", archive, sha["old"], sha["recent"])[0] == 0
    made = {r["parent_sha256"]: r["archive_path"] for r in table(archive, "derivatives") if r["status"] == "ok"}
    assert set(made) == {sha["old"], sha["recent"]}
    code, _, err = cli(capsys, "purge", "--archive", archive, sha["old"])
    assert code == 0 and "with them 1 review proxy file(s)" in err and (archive / made[sha["old"]]).exists()
    code, _, err = cli(capsys, "purge", "--archive", archive, sha["old"], "--approve",
                       grant(archive, "purge", "recording", sha["old"]))
    assert code == 0 and "removed with them 1 review proxy file(s)" in err, err
    assert not (archive / made[sha["old"]]).exists() and (archive / made[sha["recent"]]).exists()
    rows = {p["kind"]: p for p in table(archive, "purges")}
    assert set(rows) == {"original", "proxy"} and rows["proxy"]["archive_path"] == made[sha["old"]]
    assert {p["sha256"] for p in rows.values()} == {sha["old"]}
    assert states(capsys, archive)[sha["old"]]["state"] == "purged"
    code, out, err = cli(capsys, "verify", "--archive", archive, "--format", "json")
    assert code == 0, out + err
    code, out, err = cli(capsys, "transcode", "--archive", archive, "--missing", "--json", "--quiet")
    assert code == 0 and json.loads(out)["selected"] == len(FILES) - 2, out + err     # not the purged one
    assert [r["parent_sha256"] for r in table(archive, "derivatives")].count(sha["old"]) == 1


def test_a_proxy_already_gone_is_recorded_by_the_purge(archive, sha, capsys):
    """verify reported the proxy missing; once its original is purged it is gone on purpose."""
    assert cli(capsys, "transcode", "--archive", archive, sha["old"])[0] == 0
    (made,) = [r["archive_path"] for r in table(archive, "derivatives") if r["status"] == "ok"]
    os.chmod(archive / made, 0o644)
    (archive / made).unlink()
    assert cli(capsys, "verify", "--archive", archive)[0] == 3
    code, _, err = cli(capsys, "purge", "--archive", archive, sha["old"], "--approve",
                       grant(archive, "purge", "recording", sha["old"]))
    assert code == 0 and "review proxy" not in err, err                  # nothing was there to remove
    assert {(p["kind"], p["archive_path"]) for p in table(archive, "purges")} >= {("proxy", made)}
    assert cli(capsys, "verify", "--archive", archive)[0] == 0
    assert {r["sha256"]: r["state"] for r in listed(capsys, "retention", "--archive", archive, "--all")}[
        sha["old"]] == "purged"


def test_purge_refuses_an_approval_that_is_not_a_granted_request_of_the_archive(archive, sha, capsys):
    cases = {
        "free text": "DEC-1",
        "a request to export": grant(archive, "export", "recording", sha["old"]),
        "a denied request": grant(archive, "purge", "expired", decision="deny"),
        "an expired grant": grant(archive, "purge", "expired", hours=-0.5),
    }
    for what, ref in cases.items():
        code, _, err = cli(capsys, "purge", "--archive", archive, "--approve", ref)
        assert code == 2 and "refused" in err, what
    ok = grant(archive, "purge", "recording", sha["old"])
    code, _, err = cli(capsys, "purge", "--archive", archive, "--approve", ok, "--by", "someone.else")
    assert code == 2 and "granted to clerk.zhao" in err
    code, _, err = cli(capsys, "purge", "--archive", archive, sha["caseold"], "--approve", ok)
    assert code == 2 and "does not cover" in err
    assert table(archive, "purges") == []


# -- the 24-hour rule and the device ledger ---------------------------------------------------

def test_late_uploads_per_officer_and_device(archive, sha, capsys):
    rows = {(r["officer_id"], r["device_id"]): r for r in listed(capsys, "compliance", "--archive", archive)}
    assert rows[("O1", "CAM1")]["recordings"] == 3 and rows[("O1", "CAM1")]["late"] == 2
    assert rows[("O3", "CAM3")]["late"] == 1 and 29 < rows[("O3", "CAM3")]["max_delay_h"] < 31
    assert rows[("O4", "CAM4")]["late"] == 0
    late = {r["sha256"] for r in listed(capsys, "compliance", "--archive", archive, "--late")}
    assert late == {sha["old"], sha["caseold"], sha["perm"], sha["late"]}
    recent = listed(capsys, "compliance", "--archive", archive, "--late", "--since", day(-timedelta(days=2)))
    assert {r["sha256"] for r in recent} == {sha["late"]}


def test_device_utc_offset_decides_late(archive, sha, capsys, tmp_path):
    assert sha["tz"] not in {r["sha256"] for r in listed(capsys, "compliance", "--archive", archive, "--late")}
    for key, value in (("compliance.device_utc_offsets", '["CAM4=+14:00"]'),        # the older key, still read
                       ("site.device_time_zones", '["CAM4=Pacific/Kiritimati"]')):
        assert cli(capsys, "config", "set", key, value, "--archive", archive, "--by", "Desk",
                   "--reason", "CAM4's clock")[0] == 0                            # the archive owns its clocks
        late = {r["sha256"] for r in listed(capsys, "compliance", "--archive", archive, "--late")}
        assert sha["tz"] in late, key
        assert cli(capsys, "config", "set", key, "[]", "--archive", archive, "--by", "Desk", "--reason", "undo")[0] == 0


def test_ledger_attributes_and_flags(archive, sha, capsys):
    code, out, _ = cli(capsys, "device", "handover", "CAM2", "--to", "O5", "--at", day(-timedelta(days=1)),
                       "--by", "Desk", "--archive", archive)
    assert code == 0 and "held by O5" in out
    report = {d["device_id"]: d for d in listed(capsys, "ledger", "--archive", archive)}
    cam2 = report["CAM2"]
    assert [h["officer_id"] for h in cam2["holders"]] == ["O5"] and cam2["holders"][0]["to"] is None
    assert cam2["recordings"] == 3 and cam2["from_ledger"] == 1 and cam2["unattributed"] == 0
    assert [(m["sha256"], m["name_officer"], m["ledger_officer"]) for m in cam2["mismatches"]] == [
        (sha["mismatch"], "O9", "O5")]
    assert report["CAM1"]["late"] == 2 and report["CAM1"]["holders"] == [] and report["CAM1"]["damaged"] == 0
    assert report["CAM1"]["duration_h"] == pytest.approx(3 / 3600, rel=0.2)
    rows = {(r["officer_id"], r["device_id"]): r for r in listed(capsys, "compliance", "--archive", archive)}
    assert rows[("O5", "CAM2")]["recordings"] == 1
    assert by_name(archive)[FILES["noname"]]["officer_id"] is None
    code, out, _ = cli(capsys, "ledger", "--archive", archive, "--device", "CAM2")
    assert code == 0 and "name says O9, ledger says O5" in out


def test_handover_passes_the_device_on(archive, sha, capsys):
    cli(capsys, "device", "handover", "CAM2", "--to", "O5", "--at", day(-timedelta(days=1)), "--archive", archive)
    cli(capsys, "device", "handover", "CAM2", "--to", "O6", "--at", day(-timedelta(hours=2, minutes=30)),
        "--archive", archive)
    (cam2,) = listed(capsys, "ledger", "--archive", archive, "--device", "CAM2")
    assert [h["officer_id"] for h in cam2["holders"]] == ["O5", "O6"]
    assert cam2["holders"][0]["to"] == cam2["holders"][1]["from"]
    assert [m["ledger_officer"] for m in cam2["mismatches"]] == ["O5"]     # 3 h ago O5 still held it
    late = {r["sha256"]: r for r in listed(capsys, "compliance", "--archive", archive, "--late")}
    assert sha["noname"] not in late


# -- export -----------------------------------------------------------------------------------

def test_export_refused_without_approval(archive, sha, capsys, tmp_path):
    dest = tmp_path / "out"
    code, _, err = cli(capsys, "export", "--archive", archive, sha["recent"], "--to", dest, "--by", "Clerk")
    assert code == 2 and "approv" in err
    for ref in ("REQ-42", grant(archive, "view", "recording", sha["recent"]),
                grant(archive, "export", "recording", sha["recent"], hours=-1)):
        code, _, err = cli(capsys, "export", "--archive", archive, sha["recent"], "--to", dest, "--approval", ref)
        assert code == 2 and "refused" in err
    ok = grant(archive, "export", "recording", sha["recent"])
    code, _, err = cli(capsys, "export", "--archive", archive, sha["late"], "--to", dest, "--approval", ok)
    assert code == 2 and "does not cover" in err
    assert not dest.exists() and table(archive, "access_log") == []


def test_export_writes_a_verifiable_manifest_and_logs_access(archive, sha, capsys, tmp_path):
    dest = tmp_path / "out"
    cli(capsys, "case", "open", "C7", "--archive", archive, "--by", "x")
    cli(capsys, "case", "assign", "C7", "--archive", archive, "--sha", sha["recent"], sha["late"], "--by", "x")
    approval = grant(archive, "export", "case", "C7")
    code, out, err = cli(capsys, "export", "--archive", archive, sha["recent"], sha["late"][:12], "--to", dest,
                         "--approval", approval, "--by", "clerk.zhao", "--reason", "court request")
    assert code == 0, err
    check = subprocess.run(["sha256sum", "-c", "manifest-sha256.txt"], cwd=dest, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert sorted(p.name for p in (dest / "data").iterdir()) == sorted([FILES["recent"], FILES["late"]])
    assert f"Approval-Reference: {approval}" in (dest / "bag-info.txt").read_text()
    log = table(archive, "access_log")
    assert {(r["sha256"], r["approval_ref"], r["by"], r["action"], r["request_id"]) for r in log} == {
        (sha["recent"], approval, "clerk.zhao", "export", approval), (sha["late"], approval, "clerk.zhao", "export", approval)}
    copy = dest / "data" / FILES["recent"]
    copy.write_bytes(copy.read_bytes()[:-1] + b"\0")
    assert subprocess.run(["sha256sum", "-c", "manifest-sha256.txt"], cwd=dest, capture_output=True).returncode != 0


def test_export_of_a_purged_file_is_refused(archive, sha, capsys, tmp_path):
    purge = grant(archive, "purge", "recording", sha["old"])
    cli(capsys, "purge", "--archive", archive, sha["old"], "--approve", purge)
    code, _, err = cli(capsys, "export", "--archive", archive, sha["old"], "--to", tmp_path / "out",
                       "--approval", grant(archive, "export", "recording", sha["old"]))
    assert code == 1 and "purged" in err and purge in err
    assert table(archive, "access_log") == []


def test_a_purge_interrupted_after_its_record_is_finished_by_a_rerun(archive, sha, capsys):
    from pipeline.archive.writer import writing_run
    from pipeline.config import load_config

    rec = {r["sha256"]: r for r in table(archive, "recordings")}
    # The purges row is committed before the object is removed: a crash between leaves the object
    # (and the run's intent journal, from which the next run adopts the row).
    with pytest.raises(KeyboardInterrupt), writing_run(archive, load_config(), "purge") as run:
        run.catalog.commit({"purges": [{"purge_id": "p-crash", "sha256": sha["old"],
                                        "archive_path": rec[sha["old"]]["archive_path"], "approval_ref": "DEC-9",
                                        "approved_by": "Clerk", "purged_at": NOW}]}, tag=run.run_id)
        raise KeyboardInterrupt
    code, out, _ = cli(capsys, "purge", "--archive", archive, "--format", "json")
    assert code == 0 and sha["old"] in {r["sha256"] for r in json.loads(out)}
    assert cli(capsys, "purge", "--archive", archive, sha["old"], "--approve",
               grant(archive, "purge", "recording", sha["old"]))[0] == 0
    assert not (archive / rec[sha["old"]]["archive_path"]).exists()
    assert [p["purge_id"] for p in table(archive, "purges")] == ["p-crash"]
