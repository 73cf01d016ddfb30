"""Beijing time end to end: a drop named as a town office's recorders name it, ingested with the
site's settings, and every duty computed on the right clock.

The drop (times relative to now, so the 24-hour rule has something to find):
  CAMB   named in Beijing time, UTC container stamps; one name whose time does not parse (timed
         by its UTC container stamp); one clock a minute ahead (no negative delay)
  LBX1   a recorder profile whose names carry no time and whose container stamps are local time
  CAMDE  a device whose clock runs in Europe/Berlin
  CAMR   a clock reset to 2000-01-01, a file named 2019, a file dated 2031
"""

from __future__ import annotations

import re
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pipeline.common import clock
from pipeline.common.times import months_later, zone_named
from pipeline.sample.clips import ClipSpec
from pipeline.sample.encode import write_clip
from tests.helpers import cli, ingest, listed, table
from tests.webkit import grant

UTC = timezone.utc
SHANGHAI, BERLIN = zone_named("Asia/Shanghai"), zone_named("Europe/Berlin")
CONFIG = """\
[site]
time_zone = "Asia/Shanghai"
device_time_zones = ["CAMDE=Europe/Berlin"]

[identity.profiles.localbox]
patterns = ['^(?P<device>LBX\\d+)_(?P<officer>[A-Za-z0-9]+)_clip(?P<seq>\\d+)\\.MP4$']
container_time = "local"

[ingest]
fsync = false
"""


def named(zone, instant: datetime) -> str:
    """A device's wall clock at ``instant`` as recorders write it in file names."""
    return instant.astimezone(zone).strftime("%Y%m%d%H%M%S")


def stamp(instant: datetime, zone=UTC) -> str:
    """A container creation_time: UTC with a Z, or (zone given) a wall-clock reading as written."""
    if zone is UTC:
        return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    return instant.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S")


def drop(now: datetime) -> dict[str, tuple]:
    """key: (file name, container creation_time, the instant recording started, late?), timed
    back from ``now`` (when the drop is made: the ingest follows within seconds)."""
    def at(**ago) -> datetime:
        return now - timedelta(**ago)

    return {
        "late": (f"CAMB_O1_{named(SHANGHAI, at(hours=26, minutes=30, seconds=1))}.MP4",
                 stamp(at(hours=26, minutes=30, seconds=1)), at(hours=26, minutes=30, seconds=1), True),
        "ontime": (f"CAMB_O1_{named(SHANGHAI, at(hours=3))}.MP4", stamp(at(hours=3)), at(hours=3), False),
        "noname_late": ("CAMB_O1_20261340000000.MP4", stamp(at(hours=25)), at(hours=25), True),
        "noname_ontime": ("CAMB_O1_20261341000000.MP4", stamp(at(hours=2)), at(hours=2), False),
        "ahead": (f"CAMB_O1_{named(SHANGHAI, at(minutes=-10))}.MP4", stamp(at(minutes=-10)), at(minutes=-10), False),
        "local_late": ("LBX1_O2_clip0001.MP4", stamp(at(hours=30), SHANGHAI), at(hours=30), True),
        "local_ontime": ("LBX1_O2_clip0002.MP4", stamp(at(hours=1), SHANGHAI), at(hours=1), False),
        "berlin_late": (f"CAMDE_O3_{named(BERLIN, at(hours=24, seconds=30))}.MP4", stamp(at(hours=24, seconds=30)),
                        at(hours=24, seconds=30), True),
        "berlin_ontime": (f"CAMDE_O3_{named(BERLIN, at(hours=23, minutes=50))}.MP4", stamp(at(hours=23, minutes=50)),
                          at(hours=23, minutes=50), False),
        "reset": ("CAMR_O4_20000101000000.MP4", "2000-01-01T00:00:00.000000Z", None, False),
        "named2019": ("CAMR_O4_20190601120000.MP4", "2019-06-01T04:00:00.000000Z", None, True),
        "future": ("CAMR_O4_20310101000000.MP4", "2030-12-31T16:00:00.000000Z", None, False),
    }


FILES: dict[str, tuple] = {}               # the drop of this module's run (see ``built``)
CLOCK_PROBLEMS = {"reset", "future"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from pipeline.config import load_config

    root = tmp_path_factory.mktemp("sitetime")
    (root / "site.toml").write_text(CONFIG)
    FILES.clear()
    FILES.update(drop(datetime.now(UTC).replace(microsecond=0)))
    for seed, (name, creation, _, _) in enumerate(FILES.values()):
        write_clip(root / "drop" / name, ClipSpec(video_codec="mjpeg", audio_codec=None, fps=10, duration_s=1.0,
                                                  seed=seed, creation_time=creation))
    ingest([root / "drop"], root / "archive", load_config(root / "site.toml"))
    return root


@pytest.fixture
def archive(built, tmp_path) -> Path:
    copy = tmp_path / "archive"
    shutil.copytree(built / "archive", copy, ignore=shutil.ignore_patterns("fieldrec.lock"))
    return copy


@pytest.fixture(scope="module")
def rows(built) -> dict[str, dict]:
    by_name = {r["source_name"]: r for r in table(built / "archive", "recordings")}
    return {key: by_name[spec[0]] for key, spec in FILES.items()}


@pytest.fixture(scope="module")
def first_seen(built, rows) -> dict[str, datetime]:
    seen = {}
    for s in table(built / "archive", "sightings"):
        seen[s["sha256"]] = min(seen.get(s["sha256"], s["seen_at"]), s["seen_at"])
    return {key: seen[r["sha256"]] for key, r in rows.items()}


# -- where each recording lies in time ------------------------------------------------------------
@pytest.mark.parametrize("key, zone, offset_s, source, zone_source, container", [
    pytest.param("late", "Asia/Shanghai", 28800, "filename", "site", "UTC", id="name-in-beijing-time"),
    pytest.param("noname_late", "Asia/Shanghai", 28800, "creation_time", "site", "UTC", id="utc-container-stamp"),
    pytest.param("local_late", "Asia/Shanghai", 28800, "creation_time", "site", "local", id="local-container-profile"),
    pytest.param("berlin_late", "Europe/Berlin", None, "filename", "device", "UTC", id="device-in-berlin"),
])
def test_each_recording_is_placed_by_its_source_and_zone(rows, key, zone, offset_s, source, zone_source, container):
    row, expected = rows[key], FILES[key][2]
    assert row["start_utc"] == expected
    assert (row["time_zone"], row["time_source"], row["zone_source"], row["container_time_zone"]) == (
        zone, source, zone_source, container)
    device_zone = zone_named(zone)
    assert row["utc_offset_s"] == (offset_s if offset_s is not None else expected.astimezone(device_zone).utcoffset()
                                   .total_seconds())
    assert row["start_time"] == expected.astimezone(device_zone).replace(tzinfo=None)     # the device's wall clock
    assert row["end_utc"] == expected + timedelta(seconds=row["duration_s"])
    assert rows["local_late"]["naming_profile"] == "localbox" and rows["late"]["naming_profile"] == "default"


# -- the 24-hour rule ----------------------------------------------------------------------------------
def test_upload_delays_are_exact_to_the_second_and_late_flags_exact(built, rows, first_seen, capsys):
    archive = built / "archive"
    late = {r["sha256"]: r for r in listed(capsys, "compliance", "--archive", archive, "--late",
                                          "--config", built / "site.toml")}
    expected_late = {rows[k]["sha256"] for k, spec in FILES.items() if spec[3]}
    assert set(late) == expected_late
    for key, (name, _, start, _) in FILES.items():
        if start is None or rows[key]["sha256"] not in late:
            continue
        end = start + timedelta(seconds=rows[key]["duration_s"])
        assert late[rows[key]["sha256"]]["delay_s"] == pytest.approx((first_seen[key] - end).total_seconds(), abs=1e-3), name
        assert late[rows[key]["sha256"]]["end_time"].endswith("+08:00")


def test_no_delay_is_negative_and_broken_clocks_are_clock_problems(built, rows, capsys):
    from pipeline.config import load_config
    from pipeline.records import load

    state = {r.sha256: r for r in load(built / "archive", load_config(built / "site.toml"), datetime.now(UTC)).records}
    delays = {key: state[r["sha256"]].lateness for key, r in rows.items()}
    assert all(d.delay_s is None or d.delay_s >= 0 for d in delays.values())
    assert delays["ahead"].delay_s == 0.0 and not delays["ahead"].late
    assert {k for k, d in delays.items() if d.clock_problem} == CLOCK_PROBLEMS
    assert all(delays[k].delay_s is None and not delays[k].late for k in CLOCK_PROBLEMS)
    clock = {r["sha256"]: r for r in listed(capsys, "compliance", "--archive", built / "archive", "--clock",
                                           "--config", built / "site.toml")}
    assert set(clock) == {rows[k]["sha256"] for k in CLOCK_PROBLEMS}
    assert "before 2015-01-01" in clock[rows["reset"]["sha256"]]["clock_problem"]
    summary = {r["device_id"]: r for r in listed(capsys, "compliance", "--archive", built / "archive",
                                                  "--config", built / "site.toml")}
    assert (summary["CAMR"]["late"], summary["CAMR"]["clock"]) == (1, 2)
    assert summary["CAMR"]["max_delay_h"] < 24 * 366 * 8                # the 2019 file, not a 9,832-day one


# -- the retention floor --------------------------------------------------------------------------------
def test_a_broken_clock_cannot_make_a_file_arrive_expired(archive, built, rows, first_seen, capsys):
    config = built / "site.toml"
    chosen = ["reset", "named2019", "future"]
    last = max(first_seen[k] for k in chosen)
    # The floor: 3 months from the first ingest, to 24:00 Beijing time of that calendar day.
    until = months_later(last, 3, SHANGHAI)
    assert until.astimezone(SHANGHAI).strftime("%H:%M:%S") == "00:00:00"

    def purge(key: str) -> tuple[int, str]:
        approval = grant(archive, "purge", "recording", rows[key]["sha256"])      # granted "now", on the one clock
        code, _, err = cli(capsys, "purge", "--archive", archive, rows[key]["sha256"], "--approve", approval,
                           "--config", config)
        return code, err

    for key in chosen:                                       # the day they arrive
        code, err = purge(key)
        assert code == 1 and "refused" in err and "retained (kept until" in err, err
    expired = grant(archive, "purge", "expired")
    assert cli(capsys, "purge", "--archive", archive, "--approve", expired, "--config", config)[0] == 0
    assert table(archive, "purges") == []
    retention = {r["sha256"]: r for r in listed(capsys, "retention", "--archive", archive, "--all", "--config", config)}
    assert retention[rows["reset"]["sha256"]]["counted_from"].startswith("first ingest")
    assert retention[rows["named2019"]["sha256"]]["counted_from"] == "recording"
    assert "archive floor" in retention[rows["named2019"]["sha256"]]["reason"]
    assert {retention[rows[k]["sha256"]]["retain_until"] for k in chosen} <= {
        months_later(first_seen[k], 3, SHANGHAI).astimezone(SHANGHAI).isoformat() for k in chosen}
    with clock.set_to(until - timedelta(seconds=1)):
        assert all(purge(k)[0] == 1 for k in chosen)
    with clock.set_to(until):                                # ingest + 3 months
        for key in chosen:
            code, err = purge(key)
            assert code == 0, err
    assert {p["sha256"] for p in table(archive, "purges")} == {rows[k]["sha256"] for k in chosen}
    assert all(not (archive / rows[k]["archive_path"]).exists() for k in chosen)
    assert (archive / rows["ontime"]["archive_path"]).exists()


# -- typed times: the same text, the same instant, in every command ------------------------------------
def test_the_same_typed_time_is_the_same_instant_in_every_command(archive, built, capsys):
    config, typed = built / "site.toml", "2026-12-01 06:00"
    instant = datetime(2026, 11, 30, 22, 0, tzinfo=UTC)
    assert cli(capsys, "case", "open", "C1", "--archive", archive, "--by", "Doe", "--at", typed, "--config", config)[0] == 0
    code, out, _ = cli(capsys, "device", "handover", "CAMB", "--to", "O7", "--at", typed, "--by", "Desk",
                       "--archive", archive, "--config", config)
    assert code == 0 and "2026-12-01 06:00:00 +08:00" in out
    assert cli(capsys, "case", "assign", "C1", "--archive", archive, "--device", "CAMB", "--from", typed,
               "--to", "2026-12-01 07:00", "--by", "Doe", "--config", config)[0] == 0
    assert table(archive, "cases")[0]["at"] == instant
    assert table(archive, "handovers")[0]["at"] == instant
    assert table(archive, "assignments")[0]["range_start"] == instant
    code, _, err = cli(capsys, "retention", "--archive", archive, "--as-of", typed, "--config", config)
    assert code == 0 and "as of 2026-12-01 06:00:00 +08:00" in err
    # With Z the text names its own zone, in every command alike.
    assert cli(capsys, "case", "close", "C1", "--archive", archive, "--by", "Doe", "--at", "2026-12-01T06:00Z",
               "--config", config)[0] == 0
    assert table(archive, "cases")[-1]["at"] == datetime(2026, 12, 1, 6, tzinfo=UTC) or \
        {c["at"] for c in table(archive, "cases")} == {instant, datetime(2026, 12, 1, 6, tzinfo=UTC)}


def test_every_listing_shows_site_time_with_its_offset(built, capsys):
    config = built / "site.toml"
    for argv in (("retention", "--all"), ("compliance",), ("compliance", "--late"), ("gaps", "--all")):
        for fmt, pattern in (("table", r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+08:00"),
                             ("csv", r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+08:00"),
                             ("json", r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+08:00")):
            code, out, err = cli(capsys, *argv, "--archive", built / "archive", "--config", config, "--format", fmt)
            assert code == 0, err
            if argv[0] != "gaps" or "CAMR" in out:
                assert re.search(pattern, out), (argv, fmt, out[:400])
            assert not re.search(r"\d\d:\d\d:\d\dZ", out), (argv, fmt)


# -- the report ------------------------------------------------------------------------------------------
def test_the_report_shows_site_time_and_sets_broken_clocks_apart(built, rows, tmp_path, capsys):
    out = tmp_path / "report.html"
    code, _, err = cli(capsys, "report", "--archive", built / "archive", "-o", out, "--config", built / "site.toml",
                       "--since", "7d")                  # leaves out the (plausible) 2019 recording
    assert code == 0, err
    page = out.read_text()
    apart = page[page.index('id="clock-apart"'):]
    assert FILES["reset"][0] in apart and FILES["future"][0] in apart
    t0, t1 = (float(x) for x in re.search(r'data-t0="([\d.e+-]+)" data-t1="([\d.e+-]+)"', page).groups())
    assert t1 - t0 < 3 * 86400, "a reset clock stretched the timelines"
    assert "site time, Asia/Shanghai, UTC+08:00" in page and " UTC<" not in page
