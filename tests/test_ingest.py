"""Ingest of generated dock drops: hashes, byte-identical copies, keyframes, identity, bad input."""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import xxhash

from pipeline.sample.clips import ClipSpec, EncoderMissing, expected_keyframes, require_encoder
from pipeline.sample.damage import random_bytes, write_no_moov
from pipeline.sample.encode import write_clip, write_wav
from pipeline.sample.photo import write_jpeg
from tests.helpers import by_name, ingest, table


@dataclass(frozen=True)
class Expected:
    kind: str
    status: str
    container: str | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    message: str | None = None        # a fragment the error message must contain


def _hevc_available() -> bool:
    try:
        require_encoder("libx265")
        return True
    except EncoderMissing:
        return False


@pytest.fixture(scope="module")
def drop(tmp_path_factory):
    """A dock drop with one of every kind of file a recorder or a careless copy leaves."""
    root = tmp_path_factory.mktemp("drop")
    d1 = root / "dock1" / "BWC0001"
    specs = {
        "BWC0001_OF4521_20260301100000_0001.MP4": ClipSpec(container="mp4", duration_s=2.0, gop_s=1.0,
                                                                creation_time="2026-03-01T10:00:00.000000Z"),
        "BWC0001_OF4521_20260301100002_0002.TS": ClipSpec(container="mpegts", duration_s=2.0, gop_s=0.5),
        "BWC0001_OF4521_20260301100004_0003.AVI": ClipSpec(container="avi", video_codec="mjpeg",
                                                                audio_codec="pcm_s16le", fps=10, duration_s=1.0),
        "BWC0001_OF4521_20260301100006_0004.MP4": ClipSpec(container="mp4", duration_s=2.0, bframes=2),
        "clip_without_pattern.mov": ClipSpec(container="mov", duration_s=1.0,
                                                   creation_time="2026-03-02T08:30:00.000000Z"),
    }
    if _hevc_available():
        specs["BWC0001_OF4521_20260301100008_0005.MP4"] = ClipSpec(container="mp4", video_codec="libx265",
                                                                        duration_s=1.0, gop_s=0.5)
    for name, spec in specs.items():
        write_clip(d1 / name, spec)
    write_wav(d1 / "BWC0001_OF4521_20260301101000.WAV", duration_s=1.0)
    write_jpeg(root / "dock1" / "photos" / "IMG_0001.JPG", datetime_original="2026:03:01 10:15:00")
    # Bad input.
    (d1 / "BWC0001_OF4521_20260301102000_0009.MP4").write_bytes(b"")
    random_bytes(d1 / "BWC0001_OF4521_20260301102100_0010.MP4", size=50_000)
    write_no_moov(d1 / "BWC0001_OF4521_20260301102200_0011.MP4", ClipSpec(duration_s=2.0))
    (d1 / "DEVICE.LOG").write_text("battery 87%\nfirmware 4.2\n")
    (d1 / "notes.xyz").write_bytes(bytes(range(256)) * 4)
    # A re-dock: the same bytes again, in another folder.
    (root / "dock2" / "BWC0001").mkdir(parents=True)
    shutil.copy2(d1 / "BWC0001_OF4521_20260301100000_0001.MP4", root / "dock2" / "BWC0001")
    # Links: a loop, a broken one, and a link to a folder.
    links = root / "dock1" / "links"
    links.mkdir()
    os.symlink("loop_b", links / "loop_a")
    os.symlink("loop_a", links / "loop_b")
    os.symlink("does_not_exist.mp4", links / "broken.mp4")
    os.symlink(str(d1), links / "folder_link")
    return root, specs


@pytest.fixture(scope="module")
def ingested(drop, tmp_path_factory, engine):
    from pipeline.config import load_config
    import dataclasses

    cfg = load_config()
    cfg = dataclasses.replace(cfg, ingest=dataclasses.replace(cfg.ingest, fsync=False))
    root, specs = drop
    archive = tmp_path_factory.mktemp("archive")
    summary = ingest([root], archive, cfg, engine=engine)
    assert summary.engine == engine
    return root, specs, archive, summary, cfg


EXPECTED = {
    "BWC0001_OF4521_20260301100000_0001.MP4": Expected("video", "ok", "mov,mp4,m4a,3gp,3g2,mj2", "h264", "aac"),
    "BWC0001_OF4521_20260301100002_0002.TS": Expected("video", "ok", "mpegts", "h264", "aac"),
    "BWC0001_OF4521_20260301100004_0003.AVI": Expected("video", "ok", "avi", "mjpeg", "pcm_s16le"),
    "BWC0001_OF4521_20260301100006_0004.MP4": Expected("video", "ok", "mov,mp4,m4a,3gp,3g2,mj2", "h264", "aac"),
    "clip_without_pattern.mov": Expected("video", "ok"),
    "BWC0001_OF4521_20260301101000.WAV": Expected("audio", "ok", "wav", None, "pcm_s16le"),
    "IMG_0001.JPG": Expected("photo", "ok"),
    # Read and kept, but no media: a recorder's name makes them damaged recordings, others are fine.
    "BWC0001_OF4521_20260301102000_0009.MP4": Expected("other", "damaged", message="named as media (.mp4) but empty file"),
    "BWC0001_OF4521_20260301102100_0010.MP4": Expected("other", "damaged", message="not a recognised media file"),
    "BWC0001_OF4521_20260301102200_0011.MP4": Expected("video", "damaged", message="moov"),
    "DEVICE.LOG": Expected("other", "ok", message="not a recognised media file"),
    "notes.xyz": Expected("other", "ok", message="not a recognised media file"),
}


@pytest.mark.parametrize("name", list(EXPECTED), ids=lambda n: n.split("_")[-1] if n.startswith("BWC") else n)
def test_each_file_gets_its_kind_status_and_reason(ingested, name):
    _root, _specs, archive, _summary, _cfg = ingested
    row = by_name(archive)[name]
    want = EXPECTED[name]
    assert (row["kind"], row["status"]) == (want.kind, want.status), row["error_message"]
    for column in ("container", "video_codec", "audio_codec"):
        if getattr(want, column):
            assert row[column] == getattr(want, column)
    if want.message:
        assert want.message in row["error_message"] and name in row["error_message"]
    else:
        assert row["error_message"] is None


def test_hashes_match_hashlib_and_copies_are_byte_identical(ingested):
    root, _specs, archive, _summary, _cfg = ingested
    rows = by_name(archive)
    for path in (p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        data = path.read_bytes()
        row = rows.get(path.name)
        assert row is not None, path
        assert row["sha256"] == hashlib.sha256(data).hexdigest()
        assert row["xxh3_128"] == xxhash.xxh3_128(data).hexdigest()
        assert row["size"] == len(data)
        stored = archive / row["archive_path"]
        assert stored.read_bytes() == data
        assert not os.access(stored, os.W_OK) or os.geteuid() == 0
        assert stored.stat().st_mode & 0o222 == 0


def test_keyframes_are_what_the_encoder_produced(ingested):
    _root, specs, archive, _summary, _cfg = ingested
    rows = by_name(archive)
    keyframes = table(archive, "keyframes")
    for name, spec in specs.items():
        got = sorted(k["pts_s"] for k in keyframes if k["sha256"] == rows[name]["sha256"])
        assert got == pytest.approx(expected_keyframes(spec), abs=1e-6), name
        assert rows[name]["keyframe_count"] == len(got)


def test_identity_from_name_then_container_then_exif(ingested):
    _root, _specs, archive, _summary, _cfg = ingested
    rows = by_name(archive)
    first = rows["BWC0001_OF4521_20260301100000_0001.MP4"]
    assert (first["device_id"], first["officer_id"], first["sequence"]) == ("BWC0001", "OF4521", 1)
    assert first["start_time"].isoformat() == "2026-03-01T10:00:00"
    assert first["time_source"] == "filename"
    assert first["end_time"] > first["start_time"]
    mov = rows["clip_without_pattern.mov"]
    assert (mov["device_id"], mov["time_source"]) == (None, "creation_time")
    # creation_time is UTC: the instant is 08:30 UTC, the device's wall clock (Beijing) read 16:30.
    assert mov["start_utc"].isoformat() == "2026-03-02T08:30:00+00:00"
    assert (mov["start_time"].isoformat(), mov["container_time"].isoformat()) == ("2026-03-02T16:30:00", "2026-03-02T08:30:00")
    assert (mov["utc_offset_s"], mov["time_zone"], mov["container_time_zone"]) == (28800, "Asia/Shanghai", "UTC")
    assert first["start_utc"].isoformat() == "2026-03-01T02:00:00+00:00"          # named in Beijing time
    photo = rows["IMG_0001.JPG"]
    assert (photo["time_source"], photo["start_time"].isoformat()) == ("exif", "2026-03-01T10:15:00")


def test_duplicates_are_stored_once_and_every_sighting_is_kept(ingested):
    root, _specs, archive, summary, _cfg = ingested
    name = "BWC0001_OF4521_20260301100000_0001.MP4"
    sha = by_name(archive)[name]["sha256"]
    assert sum(1 for r in table(archive, "recordings") if r["sha256"] == sha) == 1
    seen = sorted(s["source_path"] for s in table(archive, "sightings") if s["sha256"] == sha)
    assert seen == sorted([str(root / "dock1" / "BWC0001" / name), str(root / "dock2" / "BWC0001" / name)])
    assert summary.files_duplicate == 1


def test_links_that_cannot_be_read_are_recorded_with_a_reason(ingested):
    root, _specs, archive, _summary, _cfg = ingested
    sightings = {Path(s["source_path"]).name: s for s in table(archive, "sightings")}
    assert sightings["loop_a"]["status"] == "unreadable" and "loop" in sightings["loop_a"]["error_message"]
    assert "broken symbolic link" in sightings["broken.mp4"]["error_message"]
    assert "not followed" in sightings["folder_link"]["error_message"]
    assert sightings["loop_a"]["sha256"] is None


def test_every_file_in_the_drop_has_a_sighting(ingested):
    root, _specs, archive, summary, _cfg = ingested
    entries = {str(p) for p in root.rglob("*") if p.is_file() or p.is_symlink()}
    entries -= {str(p) for p in (root / "dock1" / "links" / "folder_link").rglob("*")}
    assert {s["source_path"] for s in table(archive, "sightings")} == entries
    assert summary.files_seen == len(entries)


def test_rerun_of_a_finished_run_adds_nothing(ingested, engine):
    root, _specs, archive, _summary, cfg = ingested
    counts = {t: len(table(archive, t)) for t in ("recordings", "sightings", "keyframes", "streams")}
    never_stored = sum(1 for s in table(archive, "sightings") if s["sha256"] is None)
    again = ingest([root], archive, cfg, engine=engine)
    # The links that led nowhere are looked at again (they may have been fixed), and add nothing.
    assert again.files_skipped == again.files_seen - never_stored and again.files_new == 0
    assert dict(again.by_status) == {"unreadable": never_stored}
    assert {t: len(table(archive, t)) for t in counts} == counts
    assert len(table(archive, "runs")) == 2


def test_transport_stream_with_aac_priming_has_its_real_duration(tmp_path):
    """AAC's negative start wraps the 33-bit TS clock; the length must not become 26.5 hours."""
    from pipeline.config import DemuxConfig
    from pipeline.stages import demux
    from pipeline.stages.filekind import sniff

    clip = write_clip(tmp_path / "a.ts", ClipSpec(container="mpegts", duration_s=2.0))
    outcome = demux.demux_file(clip, "x", sniff(clip.read_bytes()[:4096]), clip.stat().st_size, DemuxConfig())
    assert outcome.status == "ok"
    assert outcome.fields["duration_s"] == pytest.approx(2.0, abs=0.1)


def test_an_archive_inside_the_drop_folder_is_not_ingested_again(tmp_path, fast_config, engine):
    drop = tmp_path / "drop"
    write_wav(drop / "BWC1_OF1_20260301100000.WAV", duration_s=0.3)
    archive = drop / "archive"
    first = ingest([drop], archive, fast_config, engine=engine)
    again = ingest([drop], archive, fast_config, engine=engine)
    assert first.files_seen == 1 and again.files_seen == 1 and again.files_skipped == 1
    assert [s["source_path"] for s in table(archive, "sightings")] == [str(drop / "BWC1_OF1_20260301100000.WAV")]
