"""Gap detection over generated dock drops with known answers: every break found, no false ones."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import zlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from catalog.store import Catalog
from pipeline.records import gapstate
from pipeline.cli import main
from pipeline.sample.clips import ClipSpec
from pipeline.sample.damage import truncate
from pipeline.sample.encode import write_clip
from tests.helpers import ingest, table

T0 = datetime(2024, 5, 1, 10, 0, 0)
SEGMENT = ClipSpec(fps=10, audio_codec=None, preset="ultrafast")     # 160x120, 2 s, a keyframe a second
# An MPEG-TS clock starting 1.2 s before it wraps (2**33 ticks of 90 kHz = 95443.7 s); no mux delay on top.
WRAPPED = replace(SEGMENT, container="mpegts", duration_s=3, start_pts_s=95442.5, ts_muxdelay_s=0.0, audio_codec="aac")


def name(device: str, start: datetime, seq: int, ext: str = "MP4", officer: str = "OFF7") -> str:
    return f"{device}_{officer}_{start:%Y%m%d%H%M%S}_{seq:04d}.{ext}"


def clip(folder: Path, device: str, start: datetime, seq: int, ext: str = "MP4", *,
         container_time: datetime | None = ..., audio: bool = False, **spec) -> str:
    """A segment named as the recorder names it, stamped with the same clock inside."""
    file = name(device, start, seq, ext)
    stamp = start if container_time is ... else container_time
    container = "mpegts" if ext == "TS" else "mp4"
    seed = zlib.crc32(file.encode()) % 1000             # every segment's content differs, like real ones
    write_clip(folder / file, replace(SEGMENT, container=container, creation_time=f"{stamp:%Y-%m-%dT%H:%M:%S}.000000Z",
                                      seed=seed, metadata={"comment": file}, audio_codec="aac" if audio else None,
                                      **spec))
    return file


@dataclass(frozen=True)
class Expect:
    kind: str
    device: str
    file: str | None = None          # within_file, damaged_tail, clock
    before: str | None = None        # between_files, overlap
    after: str | None = None
    reason: str | None = None
    offset_s: float | None = None
    duration_s: float | None = None  # None: the length is unknown (the gap must say so)
    slack: float = 0.3               # seconds either way for offset_s and duration_s


def matches(g: dict, e: Expect) -> bool:
    slack = e.slack
    if (g["kind"], g["device_id"]) != (e.kind, e.device):
        return False
    if (e.file, e.before, e.after) != (g["file"], g["before_file"], g["after_file"]):
        return False
    if e.reason and g["reason"] != e.reason:
        return False
    if e.offset_s is not None and not (g["offset_s"] is not None and abs(g["offset_s"] - e.offset_s) <= slack):
        return False
    if e.duration_s is None:
        return g["duration_s"] is None or e.kind in ("between_files", "overlap")
    return g["duration_s"] is not None and abs(g["duration_s"] - e.duration_s) <= slack


def precision_recall(found: list[dict], expected: list[Expect]) -> tuple[float, float, list, list]:
    unmatched = list(expected)
    false = []
    for g in found:
        hit = next((e for e in unmatched if matches(g, e)), None)
        if hit is None:
            false.append(g)
        else:
            unmatched.remove(hit)
    precision = (len(found) - len(false)) / len(found) if found else 1.0
    recall = (len(expected) - len(unmatched)) / len(expected) if expected else 1.0
    return precision, recall, false, unmatched


def build_drop(root: Path) -> tuple[Path, Path, list[Expect], Expect]:
    """Run 1's drop, run 2's drop (a late-docked segment), what both should find, what run 2 closes."""
    drop, late = root / "dock1", root / "dock2"
    drop.mkdir(parents=True)
    late.mkdir(parents=True)
    s = lambda seconds: T0 + timedelta(seconds=seconds)            # noqa: E731
    expected: list[Expect] = []

    for i in range(3):                                             # contiguous: nothing to find
        clip(drop, "CAM01", s(2 * i), i + 1, audio=i > 0, bframes=2 * (i == 2))

    a = clip(drop, "CAM02", s(0), 1)                               # a 37 s battery swap
    b = clip(drop, "CAM02", s(39), 2)
    expected.append(Expect("between_files", "CAM02", before=a, after=b, duration_s=37.0))

    ts = clip(drop, "CAM03", s(0), 1, "TS", duration_s=3, pts_jumps=((1.0, 8.0),))
    expected.append(Expect("within_file", "CAM03", file=ts, reason="forward_jump", offset_s=1.0, duration_s=8.0))
    mp4 = clip(drop, "CAM04", s(0), 1, duration_s=3, pts_jumps=((1.0, 8.0),), audio=True, bframes=2)
    expected.append(Expect("within_file", "CAM04", file=mp4, reason="forward_jump", offset_s=1.0, duration_s=8.0))

    # two recordings joined: timestamps start over mid-file
    joined = clip(drop, "CAM05", s(0), 1, "TS", duration_s=4, pts_jumps=((2.0, -2.0),))
    expected.append(Expect("within_file", "CAM05", file=joined, reason="backwards", offset_s=2.0))

    clip(drop, "CAM06", s(0), 1)                                   # the last segment was cut short
    cut = clip(drop, "CAM06", s(2), 2, duration_s=4, faststart=True)
    truncate(drop / cut, drop / cut, keep_fraction=0.5)
    # Half the bytes keep about half the frames: where exactly depends on how well each compressed.
    expected.append(Expect("damaged_tail", "CAM06", file=cut, reason="truncated", offset_s=2.0, duration_s=2.0,
                           slack=0.7))

    cut = clip(drop, "CAM09", s(0), 1, duration_s=4, faststart=True)   # cut short, the next one follows on
    truncate(drop / cut, drop / cut, keep_fraction=0.5)
    clip(drop, "CAM09", s(4), 2)
    expected.append(Expect("damaged_tail", "CAM09", file=cut, reason="truncated", offset_s=2.0, duration_s=2.0,
                           slack=0.7))

    clip(drop, "CAM14", s(0), 1)                                   # never finalised: no index at all
    lost = clip(drop, "CAM14", s(2), 2, duration_s=4)
    truncate(drop / lost, drop / lost, keep_fraction=0.5)
    clip(drop, "CAM14", s(6), 3)
    expected.append(Expect("damaged_tail", "CAM14", file=lost, reason="not_openable", offset_s=0.0))

    clip(drop, "CAM07", s(0), 1)                                   # the clock reset to 2000-01-01
    clip(drop, "CAM07", s(2), 2)
    for seq, at in ((3, 0), (4, 2)):
        reset = clip(drop, "CAM07", datetime(2000, 1, 1) + timedelta(seconds=at), seq)
        expected.append(Expect("clock", "CAM07", file=reset, reason="before_earliest"))

    clip(drop, "CAM10", s(0), 1)                                   # sequence and time disagree
    clip(drop, "CAM10", s(2), 2)
    odd = clip(drop, "CAM10", s(-3600), 3)
    clip(drop, "CAM10", s(4), 4)
    expected.append(Expect("clock", "CAM10", file=odd, reason="sequence_order"))

    clip(drop, "CAM11", s(0), 1, container_time=s(-7200))          # creation_time in UTC: a zone, not an error
    wrong = clip(drop, "CAM11", s(2), 2, duration_s=1, container_time=s(2 + 433))
    clip(drop, "CAM11", s(3), 3, container_time=s(3 - 7200))
    expected.append(Expect("clock", "CAM11", file=wrong, reason="name_container_mismatch"))
    future = clip(drop, "CAM12", datetime(2099, 1, 1), 1)
    expected.append(Expect("clock", "CAM12", file=future, reason="after_ingest"))

    first = clip(drop, "CAM08", s(0), 1, duration_s=5)             # overlapping segments
    second = clip(drop, "CAM08", s(1), 2)
    expected.append(Expect("overlap", "CAM08", before=first, after=second, duration_s=2.0))

    a = clip(drop, "CAM13", s(0), 1)                               # docked late: fills the gap
    c = clip(drop, "CAM13", s(6), 3)
    clip(late, "CAM13", s(2), 2, duration_s=4)
    closed = Expect("between_files", "CAM13", before=a, after=c, duration_s=4.0)

    write_clip(drop / "wrapped.ts", WRAPPED)
    return drop, late, expected, closed


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """Both runs, with the state after each kept for the tests below."""
    from pipeline.config import load_config

    config = load_config()
    config = dataclasses.replace(config, ingest=dataclasses.replace(config.ingest, fsync=False))
    root = tmp_path_factory.mktemp("gaps")
    drop, late, expected, closed = build_drop(root)
    arch = root / "archive"
    ingest([drop], arch, config)
    after_first = gapstate.listing(Catalog(arch))
    ingest([late], arch, config)
    return {"archive": arch, "config": config, "drop": drop, "expected": expected, "closed": closed,
            "after_first": after_first, "root": root}


def current(rows):
    return [g for g in rows if g["current"]]


def test_first_run_finds_every_gap_and_no_false_one(archive):
    expected = archive["expected"] + [archive["closed"]]
    precision, recall, false, missed = precision_recall(current(archive["after_first"]), expected)
    assert (false, missed) == ([], [])
    assert (precision, recall) == (1.0, 1.0)


def test_late_docked_segment_closes_the_gap_it_fills(archive):
    rows = gapstate.listing(Catalog(archive["archive"]))
    precision, recall, false, missed = precision_recall(current(rows), archive["expected"])
    assert (false, missed) == ([], [])
    assert (precision, recall) == (1.0, 1.0)
    history = [g for g in rows if matches(g, archive["closed"])]
    assert len(history) == 1 and history[0]["current"] is False
    first = next(g for g in archive["after_first"] if matches(g, archive["closed"]))
    assert first["gap_id"] == history[0]["gap_id"] and first["current"] is True


def test_gap_ids_are_stable_and_a_rerun_writes_nothing(archive):
    arch = archive["archive"]
    before_ids = {g["gap_id"] for g in archive["after_first"]}
    now_ids = {g["gap_id"] for g in gapstate.listing(Catalog(arch))}
    assert before_ids == now_ids                       # the second run found nothing new
    gaps_n, state_n = len(table(arch, "gaps")), len(table(arch, "gap_state"))
    ingest([archive["drop"]], arch, archive["config"])
    assert (len(table(arch, "gaps")), len(table(arch, "gap_state"))) == (gaps_n, state_n)
    assert len({g["gap_id"] for g in table(arch, "gaps")}) == gaps_n
    closed_events = [e for e in table(arch, "gap_state") if e["state"] == "closed"]
    assert len(closed_events) == 1


def test_gaps_are_placed_in_device_time(archive):
    rows = {g["file"] or g["before_file"]: g for g in current(gapstate.listing(Catalog(archive["archive"])))}
    jump = rows[name("CAM03", T0, 1, "TS")]
    assert abs((jump["start_time"] - (T0 + timedelta(seconds=1))).total_seconds()) < 0.3
    assert abs((jump["end_time"] - (T0 + timedelta(seconds=9))).total_seconds()) < 0.3
    swap = rows[name("CAM02", T0, 1)]
    assert (swap["start_time"], swap["end_time"]) == (T0 + timedelta(seconds=2), T0 + timedelta(seconds=39))
    assert swap["stream"] is None and jump["stream"] == "0"
    assert rows[name("CAM04", T0, 1)]["stream"] == "0,1"      # one break, seen in video and audio


def test_cli_lists_explains_and_refuses_unknown_gap(archive, capsys):
    arch = str(archive["archive"])
    assert main(["gaps", "--archive", arch, "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed) == len(archive["expected"]) and all(g["current"] for g in listed)
    swap = next(g for g in listed if g["device_id"] == "CAM02")

    assert main(["explain", "--archive", arch, "0123456789abcdef", "--reason", "x", "--by", "A"]) == 2
    assert "no gap with id" in capsys.readouterr().err

    assert main(["explain", "--archive", arch, swap["gap_id"], "--reason", "battery swap", "--by", "Officer 7"]) == 0
    assert "awaiting approval" in capsys.readouterr().out
    assert main(["gaps", "--archive", arch, "--unexplained", "--format", "json"]) == 0
    assert swap["gap_id"] in {g["gap_id"] for g in json.loads(capsys.readouterr().out)}

    assert main(["explain", "--archive", arch, swap["gap_id"][:8], "--reason", "battery swap", "--by", "Officer 7",
                 "--approved-by", "Sgt Lee"]) == 0
    capsys.readouterr()
    assert main(["gaps", "--archive", arch, "--unexplained", "--format", "json"]) == 0
    left = json.loads(capsys.readouterr().out)
    assert swap["gap_id"] not in {g["gap_id"] for g in left} and len(left) == len(listed) - 1
    assert len(table(archive["archive"], "explanations")) == 2          # appended, never edited

    assert main(["gaps", "--archive", arch, "--device", "CAM13", "--all", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and ",no,between_files," in lines[1]
    assert main(["gaps", "--archive", arch, "--since", "2024-05-01T10:00:02", "--format", "json"]) == 0
    since = json.loads(capsys.readouterr().out)
    assert {g["device_id"] for g in since if g["kind"] != "clock"} == {"CAM02", "CAM05", "CAM06", "CAM14"}
    assert {g["device_id"] for g in since if g["kind"] == "clock"} == {"CAM07", "CAM10", "CAM11", "CAM12"}
    assert main(["gaps", "--archive", arch]) == 0
    out = capsys.readouterr().out
    assert swap["gap_id"] in out and "explained" in out


def test_spoken_note_needs_no_approval(tmp_path, archive, capsys):
    arch = tmp_path / "copy"
    shutil.copytree(archive["archive"], arch)
    gid = next(g["gap_id"] for g in current(gapstate.listing(Catalog(arch))) if g["device_id"] == "CAM08")
    assert main(["explain", "--archive", str(arch), gid, "--reason", "two officers' sync", "--by", "Sgt Lee",
                 "--spoken"]) == 0
    row = next(g for g in gapstate.listing(Catalog(arch)) if g["gap_id"] == gid)
    assert row["explanation"] == "explained"


def test_explain_needs_an_archive(tmp_path, capsys):
    assert main(["explain", "--archive", str(tmp_path / "none"), "abc", "--reason", "x", "--by", "y"]) == 2
    assert "not a fieldrec archive" in capsys.readouterr().err


def test_bad_gaps_config_fails_with_its_key(tmp_path):
    from pipeline.config import ConfigError, load_config

    bad = tmp_path / "bad.toml"
    bad.write_text('[gaps]\nearliest_plausible = "soon"\n')
    with pytest.raises(ConfigError, match="gaps.earliest_plausible"):
        load_config(bad)


def test_no_false_gap_where_an_mpegts_clock_wraps(tmp_path):
    from pipeline.config import GapsConfig
    from pipeline.native import media
    from pipeline.stages.gaps import within_file_gaps

    path = write_clip(tmp_path / "wrap.ts", WRAPPED)
    assert within_file_gaps(media.demux(path), GapsConfig()) == []
    assert math.isfinite(media.demux(path).packets[0].pts[0])


CORPUS_GAPS = {      # what a person sees playing them; everything else in the corpus has none
    "bad_ebml_header.mkv": [("damaged_tail", "not_openable")],
    "no_moov_ftyp_mdat.mp4": [("damaged_tail", "not_openable")],
    "no_moov_malformed_free.mp4": [("damaged_tail", "not_openable")],
    "truncated_h264_aac.mkv": [("damaged_tail", "truncated")],
    "flir_thermal_vfr_gap.mp4": [("within_file", "forward_jump")],      # 1.9 s without a frame
    # bitflips_h264_aac.mp4: one frame's composition offset is flipped, the decode order is whole: no gap
}


def test_corpus_gaps(corpus):
    from pipeline.config import DemuxConfig, GapsConfig
    from pipeline.stages import demux
    from pipeline.stages.gaps import file_gaps
    from pipeline.stages.filekind import sniff

    found = {}
    for path in sorted(p for p in corpus.iterdir() if p.is_file()):
        outcome = demux.demux_file(path, "-", sniff(path.read_bytes()[:4096]), path.stat().st_size, DemuxConfig())
        found[path.name] = [(g.kind, g.reason) for g in file_gaps(outcome, GapsConfig())]
    assert {k: v for k, v in found.items() if v} == CORPUS_GAPS
