"""The incremental gap refresh writes what a full refresh writes, batch after batch, on random timelines."""

from __future__ import annotations

import dataclasses
import tempfile
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings, strategies as st

from catalog.store import Catalog, PartCache
from pipeline.common import times
from pipeline.config import load_config
from pipeline.records import gaprefresh, gapstate
from pipeline.stages.gaps import gap_id

UTC = timezone.utc
T0 = datetime(2026, 3, 1, 8, 0)
DEVICES = ("CAM1", "CAM2")


@st.composite
def recording(draw, n: int, zones: times.Zones, arrived: datetime) -> tuple[dict, list[dict]]:
    device = draw(st.sampled_from(DEVICES + DEVICES + (None,)))
    kind = draw(st.sampled_from(("video", "video", "audio")))
    clock = draw(st.sampled_from(("right",) * 8 + ("reset", "ahead", "disagree", "none")))
    # a few days of a device's shifts: recordings close together (overlaps, pauses) and days apart,
    # now and then around midnight (the device's day, and the day its count starts over, turns)
    start = T0 + timedelta(days=draw(st.integers(0, 5)), hours=draw(st.sampled_from((0, 0, 0, 15))),
                           minutes=draw(st.integers(0, 90)), seconds=draw(st.integers(0, 59)))
    if clock == "reset":
        start = datetime(2000, 1, 1) + timedelta(minutes=draw(st.integers(0, 100)))
    elif clock == "ahead":
        start = datetime(2027, 6, 1)
    duration = draw(st.sampled_from((0.0, 1.0, 60.0, 300.0, 600.0, 1799.5)))
    zone, _ = zones.device(device)
    legacy = draw(st.integers(0, 19)) == 0
    start_utc = None if legacy or clock == "none" else times.wall_to_utc(start, zone)
    sha = f"{n:064x}"
    rec = {"sha256": sha, "kind": kind, "status": "ok", "device_id": device, "officer_id": "O1",
           "start_time": None if clock == "none" else start, "duration_s": duration,
           "end_time": None if clock == "none" else start + timedelta(seconds=duration),
           "sequence": draw(st.sampled_from((None,) * 5 + (int((start - T0).total_seconds()), 100 - n)) |
                            st.integers(1, 3)),         # a count that starts over each day
           "name_time": start,
           "container_time": start + timedelta(hours=3) if clock == "disagree" else start,
           "time_source": "filename", "ingested_at": arrived, "source_name": f"{device}_{n}.mp4",
           "start_utc": start_utc,
           # now and then stored without its end (its length known): it ends at start + length
           "end_utc": start_utc + timedelta(seconds=duration) if start_utc and draw(st.integers(0, 4)) else None,
           "time_zone": None if legacy else times.zone_label(zone), "container_time_zone": "UTC"}
    gaps = []
    tail = draw(st.sampled_from((None,) * 6 + ("known", "unknown")))
    if tail and start_utc is not None:
        lost = 400.0 if tail == "known" else None
        begin = start_utc + timedelta(seconds=duration)
        gaps.append({"gap_id": gap_id("damaged_tail", sha, "truncated", "", "0.000"), "kind": "damaged_tail",
                     "reason": "truncated", "device_id": device, "sha256": sha, "duration_s": lost,
                     "start_utc": begin, "end_utc": begin + timedelta(seconds=lost) if lost else None,
                     "start_time": times.utc_to_wall(begin, zone),
                     "end_time": times.utc_to_wall(begin + timedelta(seconds=lost), zone) if lost else None})
    return rec, gaps


@st.composite
def batches(draw):
    config = load_config()
    config = dataclasses.replace(config, site=dataclasses.replace(
        config.site, device_time_zones=draw(st.sampled_from(((), ("CAM2=Europe/Berlin",))))))
    zones = config.zones()
    out, n = [], 0
    for b in range(draw(st.integers(1, 4))):
        arrived = datetime(2026, 3, 2, tzinfo=UTC) + timedelta(hours=b)
        drawn = [draw(recording(n + i, zones, arrived)) for i in range(draw(st.integers(0, 7)))]
        # now and then a person says which device recorded an earlier file (it moves timelines)
        said = [{"attribution_id": f"a{b}", "sha256": f"{draw(st.integers(0, n - 1)):064x}",
                 "device_id": draw(st.sampled_from(DEVICES)), "officer_id": "O2", "at": arrived, "by": "Sgt",
                 "reason": "seen"}] if n and draw(st.integers(0, 4)) == 0 else []
        n += len(drawn)
        out.append(([r for r, _ in drawn], [g for _, gs in drawn for g in gs], arrived, said))
    return config, out


def _state(archive: Path) -> tuple[set, dict]:
    catalog = Catalog(archive)
    return {g["gap_id"] for g in catalog.rows("gaps", ["gap_id"])}, gapstate.latest_states(catalog)


def _night(full: Path, part: Path, run: str, recordings: list, file_gaps: list, said: list, arrived: datetime,
           config, cache: PartCache | None = None) -> gaprefresh.Result:
    """One night committed to both archives, then refreshed in full in one and as an ingest does in
    the other (``cache``: with the gaps and states read ahead, before the night's commit, as
    ``runs.ahead`` reads them while the files are stored)."""
    survey = None
    if cache is not None and (part / "catalog").is_dir():
        cache.read(Catalog(part), "gaps", gaprefresh.GAP_COLUMNS)
        cache.read(Catalog(part), "gap_state", gaprefresh.STATE_COLUMNS)
        gaprefresh.recent_ahead(Catalog(part), cache, arrived)
        survey = gaprefresh.survey_ahead(Catalog(part), config, run)
        if survey is not None:
            event("the whole history's figures counted ahead")
    for archive in (full, part):
        Catalog(archive, fsync=False).create().commit(
            {"recordings": [{**r, "run_id": run} for r in recordings],
             "gaps": [{**g, "detected_run_id": run, "detected_at": arrived} for g in file_gaps],
             "attributions": said}, tag=run)
    now = arrived + timedelta(minutes=30)
    gaprefresh.refresh(Catalog(full, fsync=False), run, config, now=now, full=True)
    return gaprefresh.refresh(Catalog(part, fsync=False), run, config, now=now, cache=cache, survey=survey)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batches(), st.booleans())
def test_incremental_refresh_writes_what_a_full_refresh_writes(drawn, ahead):
    config, runs = drawn
    cache = PartCache() if ahead else None
    with tempfile.TemporaryDirectory() as tmp:
        full, part = Path(tmp) / "full", Path(tmp) / "part"
        modes = []
        for b, (recordings, file_gaps, arrived, said) in enumerate(runs):
            done = _night(full, part, f"run{b}", recordings, file_gaps, said, arrived, config, cache)
            modes.append("full (attributed)" if said and done.mode == "full" else done.mode)
            if done.mode == "incremental":
                event(f"walked {done.devices} device(s): {done.whole} whole, {done.widened} widened")
            events = [Counter((e["gap_id"], e["state"]) for e in Catalog(a).rows("gap_state")) for a in (full, part)]
            assert events[0] == events[1], f"batch {b}"
            assert _state(full) == _state(part), f"batch {b}"
        assert modes[0] == "full" and set(modes[1:]) <= {"incremental", "full (attributed)"}


def _numbered(n: int, wall: datetime, sequence: int, zones: times.Zones, arrived: datetime) -> dict:
    zone, _ = zones.device("CAM1")
    start_utc = times.wall_to_utc(wall, zone)
    return {"sha256": f"{n:064x}", "kind": "video", "status": "ok", "device_id": "CAM1", "officer_id": "O1",
            "start_time": wall, "duration_s": 300.0, "end_time": wall + timedelta(seconds=300), "sequence": sequence,
            "name_time": wall, "container_time": wall, "time_source": "filename", "ingested_at": arrived,
            "source_name": f"CAM1_{n}.mp4", "start_utc": start_utc, "end_utc": start_utc + timedelta(seconds=300),
            "time_zone": times.zone_label(zone), "container_time_zone": "UTC"}


def test_a_count_that_starts_over_on_a_new_day_is_not_walked_whole():
    """A recorder numbers each day's files from 1: the next night's files start the count over, and
    the refresh walks only their stretch; on the same day of the device's clock it walks it whole.
    Either way it writes what a full refresh writes."""
    config = load_config()
    zones = config.zones()
    arrived = datetime(2026, 3, 5, tzinfo=UTC)
    first = [_numbered(i, datetime(2026, 3, 2, 23, 0) + timedelta(minutes=6 * i), i + 1, zones, arrived)
             for i in range(3)]
    for later, whole in ((datetime(2026, 3, 3, 0, 30), 0), (datetime(2026, 3, 2, 23, 40), 1)):
        second = [_numbered(10 + i, later + timedelta(minutes=6 * i), i + 1, zones, arrived + timedelta(hours=1))
                  for i in range(2)]
        done = _whole_and_incremental((first, second), config, arrived)
        assert (done.mode, done.whole) == ("incremental", whole)


def _plain(n: int, device: str, kind: str, wall: datetime, zones: times.Zones, arrived: datetime,
           minutes: float = 5.0) -> dict:
    zone, _ = zones.device(device)
    start_utc = times.wall_to_utc(wall, zone)
    return {"sha256": f"{n:064x}", "kind": kind, "status": "ok", "device_id": device, "officer_id": "O1",
            "start_time": wall, "duration_s": minutes * 60, "end_time": wall + timedelta(minutes=minutes),
            "sequence": None, "name_time": wall, "container_time": wall, "time_source": "filename",
            "ingested_at": arrived, "source_name": f"{device}_{n}.mp4", "start_utc": start_utc,
            "end_utc": start_utc + timedelta(minutes=minutes), "time_zone": times.zone_label(zone),
            "container_time_zone": "UTC"}


def test_idle_devices_late_files_and_reset_clocks_keep_the_refresh_narrow():
    """One more night where one device last recorded audio months ago, another docks a file recorded
    weeks ago, a third's clock was reset to 2000 and a recording reaches over midnight into the
    night's first: each stretch is read from its own clean cut (none walked whole, none widened),
    and the refresh writes what a full refresh writes."""
    config = load_config()
    zones = config.zones()
    first_night = datetime(2026, 3, 20, tzinfo=UTC)
    history, n = [], 0
    for day in range(14):                    # two weeks of CAM1..CAM3 shifts, CAM1 audio only on day 0
        for device in ("CAM1", "CAM2", "CAM3"):
            for k in range(4):
                wall = datetime(2026, 3, 1, 8) + timedelta(days=day, hours=2 * k)
                history.append(_plain(n, device, "video", wall, zones, first_night))
                n += 1
    history.append(_plain(n, "CAM1", "audio", datetime(2026, 3, 1, 9), zones, first_night))
    history.append(_plain(n + 1, "CAM2", "video", datetime(2026, 3, 14, 23, 30), zones, first_night, minutes=45))
    n += 2
    arrived = datetime(2026, 3, 21, tzinfo=UTC)
    night = [_plain(n, "CAM1", "audio", datetime(2026, 3, 15, 9), zones, arrived),          # idle for two weeks
             _plain(n + 1, "CAM2", "video", datetime(2026, 3, 15, 0, 5), zones, arrived),   # reached into by 23:30
             _plain(n + 2, "CAM3", "video", datetime(2026, 3, 3, 9, 30), zones, arrived),   # docked late
             {**_plain(n + 3, "CAM3", "video", datetime(2000, 1, 1, 0, 10), zones, arrived),  # a reset clock
              "name_time": datetime(2000, 1, 1, 0, 10), "container_time": datetime(2000, 1, 1, 0, 10)},
             _plain(n + 4, "CAM1", "video", datetime(2026, 3, 15, 8), zones, arrived)]
    with tempfile.TemporaryDirectory() as tmp:
        full, part = Path(tmp) / "full", Path(tmp) / "part"
        for b, (recordings, at) in enumerate(((history, first_night), (night, arrived))):
            for archive in (full, part):
                Catalog(archive, fsync=False).create().commit(
                    {"recordings": [{**r, "run_id": f"run{b}"} for r in recordings]}, tag=f"run{b}")
            now = at + timedelta(minutes=30)
            gaprefresh.refresh(Catalog(full, fsync=False), f"run{b}", config, now=now, full=True)
            done = gaprefresh.refresh(Catalog(part, fsync=False), f"run{b}", config, now=now)
        assert (done.mode, done.whole, done.widened) == ("incremental", 0, 0)
        assert done.devices == 3 and done.recordings == 5
        assert _state(full) == _state(part)
        kinds = Counter(g["kind"] for g in Catalog(part).rows("gaps", ["kind", "detected_run_id"])
                        if g["detected_run_id"] == "run1")
        assert kinds["clock"] == 1 and kinds["between_files"] >= 3


def _counted(n: int, kind: str, wall: datetime, sequence: int, zones: times.Zones, arrived: datetime) -> dict:
    return {**_numbered(n, wall, sequence, zones, arrived), "kind": kind}


def test_a_count_shared_by_video_and_audio_starts_over_after_the_last_number():
    """A recorder counting its video and audio files together starts a day's video at 2 when its
    first file was audio: the video's count still starts over (2 is no higher than the last older
    video's number), so only its stretch is walked. When the night's first video number is higher
    than the last older one's but does not continue the count, it is walked whole. Either way the
    refresh writes what a full refresh writes."""
    config = load_config()
    zones = config.zones()
    arrived = datetime(2026, 3, 5, tzinfo=UTC)
    day_one = [_counted(0, "video", datetime(2026, 3, 2, 1, 0), 1, zones, arrived),
               _counted(1, "audio", datetime(2026, 3, 2, 1, 20), 2, zones, arrived),
               _counted(2, "video", datetime(2026, 3, 2, 1, 40), 3, zones, arrived),
               _counted(3, "video", datetime(2026, 3, 2, 2, 0), 4, zones, arrived)]
    later = arrived + timedelta(hours=1)
    cases = (
        ([_counted(10, "audio", datetime(2026, 3, 3, 1, 0), 1, zones, later),
          _counted(11, "video", datetime(2026, 3, 3, 1, 20), 2, zones, later),
          _counted(12, "video", datetime(2026, 3, 3, 1, 40), 3, zones, later)], 0),
        # older videos numbered 5 then 1 (the last older number is 1): a next day's 2, 3 neither
        # continue the count (5 came before) nor start it over (2 is higher than 1)
        ([_counted(13, "video", datetime(2026, 3, 2, 3, 0), 5, zones, arrived),
          _counted(14, "video", datetime(2026, 3, 2, 3, 20), 1, zones, arrived)], None),
    )
    for night, whole in cases:
        if whole is None:                    # the second case: extra older videos, then the night
            first = day_one + night
            night = [_counted(15, "video", datetime(2026, 3, 3, 1, 20), 2, zones, later),
                     _counted(16, "video", datetime(2026, 3, 3, 1, 40), 3, zones, later)]
            whole = 1
        else:
            first = day_one
        done = _whole_and_incremental((first, night), config, arrived)
        assert (done.mode, done.whole, done.widened) == ("incremental", whole, 0)


def _whole_and_incremental(batches, config, arrived):
    """Each batch of recordings committed as a run to two archives, one refreshed whole and one
    incrementally after each: both end with the same gaps and events; the last incremental result."""
    with tempfile.TemporaryDirectory() as tmp:
        full, part = Path(tmp) / "full", Path(tmp) / "part"
        for b, recordings in enumerate(batches):
            for archive in (full, part):
                Catalog(archive, fsync=False).create().commit(
                    {"recordings": [{**r, "run_id": f"run{b}"} for r in recordings]}, tag=f"run{b}")
            now = arrived + timedelta(hours=b, minutes=30)
            gaprefresh.refresh(Catalog(full, fsync=False), f"run{b}", config, now=now, full=True)
            done = gaprefresh.refresh(Catalog(part, fsync=False), f"run{b}", config, now=now)
        assert _state(full) == _state(part)
        return done


def test_a_lost_tail_reaching_over_a_clean_cut_into_the_new_file_is_seen():
    """A file cut short at 07:05 whose lost tail would have reached 08:45, a file at 08:00 (a clean
    cut by the stored ends alone), then the night's file at 08:30, inside the tail's reach: the
    incremental refresh sees the tail reach into its stretch (no pause before 08:30) and writes what
    a full refresh writes."""
    config = load_config()
    zones = config.zones()
    arrived = datetime(2026, 3, 5, tzinfo=UTC)
    cut_short, cut = (_plain(n, "CAM1", "video", datetime(2026, 3, 2, h, 0), zones, arrived) for n, h in ((0, 7), (1, 8)))
    night = _plain(2, "CAM1", "video", datetime(2026, 3, 2, 8, 30), zones, arrived + timedelta(hours=1))
    lost = 6000.0
    tail = {"gap_id": gap_id("damaged_tail", cut_short["sha256"], "truncated", "", "0.000"), "kind": "damaged_tail",
            "reason": "truncated", "device_id": "CAM1", "sha256": cut_short["sha256"], "duration_s": lost,
            "start_utc": cut_short["end_utc"], "end_utc": cut_short["end_utc"] + timedelta(seconds=lost),
            "start_time": cut_short["end_time"], "end_time": cut_short["end_time"] + timedelta(seconds=lost),
            "detected_run_id": "run0", "detected_at": arrived}
    with tempfile.TemporaryDirectory() as tmp:
        full, part = Path(tmp) / "full", Path(tmp) / "part"
        for b, (recordings, file_gaps) in enumerate((([cut_short, cut], [tail]), ([night], []))):
            for archive in (full, part):
                Catalog(archive, fsync=False).create().commit(
                    {"recordings": [{**r, "run_id": f"run{b}"} for r in recordings], "gaps": file_gaps}, tag=f"run{b}")
            now = arrived + timedelta(hours=b, minutes=30)
            gaprefresh.refresh(Catalog(full, fsync=False), f"run{b}", config, now=now, full=True)
            done = gaprefresh.refresh(Catalog(part, fsync=False), f"run{b}", config, now=now)
        assert done.mode == "incremental"
        assert _state(full) == _state(part)
        pauses = [g for g in Catalog(full).rows("gaps") if g["kind"] == "between_files"]
        assert night["sha256"] not in {g["after_sha256"] for g in pauses}


def test_a_recording_from_days_before_reaching_into_the_new_file_is_seen():
    """A recording that started three days before and ran on past the next file and into the
    night's: no clean cut lies in the days the survey looks at, the stretch starts at the file
    before the night's, and the long one reaches into it from before (the pause before the night's
    file is none: both overlap it). The incremental refresh writes what a full refresh writes."""
    config = load_config()
    zones = config.zones()
    arrived = datetime(2026, 3, 5, tzinfo=UTC)
    day = datetime(2026, 3, 4)
    long = _plain(0, "CAM1", "video", day - timedelta(days=3), zones, arrived, minutes=(3 * 24 + 2) * 60)
    inside = _plain(1, "CAM1", "video", day + timedelta(minutes=30), zones, arrived)
    night = _plain(2, "CAM1", "video", day + timedelta(hours=1), zones, arrived + timedelta(hours=1))
    done = _whole_and_incremental(([long, inside], [night]), config, arrived)
    assert done.mode == "incremental"


def test_a_recording_stored_without_its_end_reaches_as_far_as_its_length():
    """A recording stored with its start instant but no end (``end_utc`` null, its length known)
    ends, for the full detection (``clocks.placed_end``), at its start plus its length: here 08:00
    for two hours, past a short file at 09:00 and into the night's file at 09:30 (an overlap, no
    pause before 09:30). The incremental refresh ends it there too: its survey sees no clean cut at
    09:00 (the stretch starts at 08:00, none widened), and it writes what a full refresh writes."""
    config = load_config()
    zones = config.zones()
    arrived = datetime(2026, 3, 5, tzinfo=UTC)
    day = datetime(2026, 3, 4)
    long = {**_plain(0, "CAM1", "video", day + timedelta(hours=8), zones, arrived, minutes=120), "end_utc": None}
    short = _plain(1, "CAM1", "video", day + timedelta(hours=9), zones, arrived)
    night = _plain(2, "CAM1", "video", day + timedelta(hours=9, minutes=30), zones, arrived + timedelta(hours=1))
    done = _whole_and_incremental(([long, short], [night]), config, arrived)
    assert (done.mode, done.widened) == ("incremental", 0)


def test_a_recording_from_days_before_stored_without_its_end_is_seen_reaching_in():
    """As ``test_a_recording_from_days_before_reaching_into_the_new_file_is_seen``, the long
    recording stored without its end: what reaches into the stretch from before is read and placed
    by its length too (a pause before the night's file would be a gap the full refresh never finds)."""
    config = load_config()
    zones = config.zones()
    arrived = datetime(2026, 3, 5, tzinfo=UTC)
    day = datetime(2026, 3, 4)
    long = {**_plain(0, "CAM1", "video", day - timedelta(days=3), zones, arrived, minutes=(3 * 24 + 2) * 60),
            "end_utc": None}
    inside = _plain(1, "CAM1", "video", day + timedelta(minutes=30), zones, arrived)
    night = _plain(2, "CAM1", "video", day + timedelta(hours=1), zones, arrived + timedelta(hours=1))
    done = _whole_and_incremental(([long, inside], [night]), config, arrived)
    assert done.mode == "incremental"


def test_a_recording_moved_to_another_device_brings_its_damaged_tail():
    """A file cut short (its damaged tail of 400 s) is attributed by a person to CAM1; the next night
    docks another CAM1 file. The tail, whose gap row still names CAM2, covers CAM1's next file (an
    overlap) in the full refresh; the incremental one took only the tails of the walked devices'
    own gap rows, and reported a pause there instead (found by the property test above)."""
    config = load_config()
    zones = config.zones()
    nights = [datetime(2026, 3, 2, tzinfo=UTC) + timedelta(hours=h) for h in range(3)]

    def clip(n: int, device: str, wall: datetime, arrived: datetime, placed: bool) -> dict:
        zone, _ = zones.device(device)
        start_utc = times.wall_to_utc(wall, zone) if placed else None
        return {"sha256": f"{n:064x}", "kind": "video", "status": "ok", "device_id": device, "officer_id": "O1",
                "start_time": wall, "duration_s": 0.0, "end_time": wall, "sequence": None, "name_time": wall,
                "container_time": wall, "time_source": "filename", "ingested_at": arrived,
                "source_name": f"{device}_{n}.mp4", "start_utc": start_utc, "end_utc": start_utc,
                "time_zone": times.zone_label(zone) if placed else None, "container_time_zone": "UTC"}

    cut = clip(2, "CAM2", T0 + timedelta(seconds=1), nights[0], True)
    begin = cut["start_utc"]
    tail = {"gap_id": gap_id("damaged_tail", cut["sha256"], "truncated", "", "0.000"), "kind": "damaged_tail",
            "reason": "truncated", "device_id": "CAM2", "sha256": cut["sha256"], "duration_s": 400.0,
            "start_utc": begin, "end_utc": begin + timedelta(seconds=400), "start_time": cut["start_time"],
            "end_time": cut["start_time"] + timedelta(seconds=400)}
    said = {"attribution_id": "a1", "sha256": cut["sha256"], "device_id": "CAM1", "officer_id": "O2",
            "at": nights[1], "by": "Sgt", "reason": "seen"}
    runs = [([clip(0, "CAM1", T0, nights[0], False), clip(1, "CAM1", T0 + timedelta(minutes=1), nights[0], False),
              cut], [tail], []),
            ([], [], [said]),
            ([clip(3, "CAM1", T0, nights[2], False)], [], [])]
    with tempfile.TemporaryDirectory() as tmp:
        full, part = Path(tmp) / "full", Path(tmp) / "part"
        for b, ((recordings, file_gaps, attributions), arrived) in enumerate(zip(runs, nights)):
            done = _night(full, part, f"run{b}", recordings, file_gaps, attributions, arrived, config)
            assert _state(full) == _state(part), f"night {b}"
        assert done.mode == "incremental"
        overlap = [g for g in Catalog(part).rows("gaps") if g["kind"] == "overlap"]
        assert overlap and _state(part)[1][overlap[0]["gap_id"]] == "open"


def test_figures_counted_ahead_are_taken_only_while_no_other_run_s_rows_came():
    """``survey_ahead`` leaves out the runs no refresh covered and the run itself; the refresh takes
    its figures while those are the runs it leaves out and no other run's rows came or went."""
    survey = gaprefresh.SurveyAhead(runs={"r0": 5, "r1": 2, "r2": 1}, but=frozenset({"r1", "r2"}), figures=None)
    assert gaprefresh._still(survey, {"r0": 5, "r1": 2, "r2": 40}, ["r1", "r2"], "r2")        # the run's own came
    assert gaprefresh._still(survey, {"r0": 5, "r1": 2}, ["r1"], "r2")                       # the run stored nothing
    assert not gaprefresh._still(survey, {"r0": 5, "r1": 2, "r2": 4, "rX": 1}, ["r1", "r2", "rX"], "r2")
    assert not gaprefresh._still(survey, {"r0": 6, "r1": 2, "r2": 4}, ["r1", "r2"], "r2")
    assert not gaprefresh._still(survey, {"r0": 5, "r1": 2, "r2": 4}, ["r2"], "r2")          # r1 covered since


def test_the_first_refresh_after_a_full_one_takes_the_figures_counted_ahead(tmp_path, monkeypatch):
    """Nothing kept (the last refresh was full): the figures are counted ahead, then taken, and the
    refresh writes what a full one writes."""
    from pipeline.records import gapsurvey

    config = load_config()
    zones = config.zones()
    arrived = datetime(2026, 3, 2, 1, tzinfo=timezone.utc)
    day = lambda d, n: [_plain(10 * d + i, "CAM1", "video", datetime(2026, 3, d, 9 + i), zones, arrived)  # noqa: E731
                        for i in range(n)]
    full, part = tmp_path / "full", tmp_path / "part"
    _night(full, part, "run0", day(1, 3), [], [], arrived, config)                 # the first: full
    survey = gaprefresh.survey_ahead(Catalog(part), config, "run1")
    assert survey is not None and survey.but == {"run1"} and survey.figures.num_rows == 1
    counted = []
    counted_but = gapsurvey.counted_but
    monkeypatch.setattr(gapsurvey, "counted_but", lambda *a: counted.append(a) or counted_but(*a))
    for archive in (full, part):
        Catalog(archive, fsync=False).commit({"recordings": [{**r, "run_id": "run1"} for r in day(2, 2)]}, tag="run1")
    now = arrived + timedelta(days=1)
    gaprefresh.refresh(Catalog(full, fsync=False), "run1", config, now=now, full=True)
    done = gaprefresh.refresh(Catalog(part, fsync=False), "run1", config, now=now, survey=survey)
    assert done.mode == "incremental" and counted == []
    assert _state(full) == _state(part)
    assert gaprefresh.survey_ahead(Catalog(part), config, "run2") is None        # kept now: nothing to count
