"""Review proxies: they play, keep duration, gaps and rotation, skip damaged originals, resume after a kill."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import psutil
import pytest

from pipeline.cli import main
from pipeline.native.transcode import display_rotation, proxy_size
from pipeline.sample.clips import ClipSpec
from pipeline.sample.encode import write_clip
from pipeline.stages import transcode as stage
from tests.helpers import by_name, ingest, table


# -- media made here (tiny, known answers) ---------------------------------------------------------
@dataclass(frozen=True)
class Clip:
    width: int = 320
    height: int = 240
    fps: int = 30
    duration_s: float = 2.0
    video: bool = True
    audio: bool = True
    rotation: int = 0
    gap: tuple[float, float] | None = None      # (at_s, jump_s): timestamps jump forward at at_s
    container: str = "mp4"
    start_s: float = 0.0                        # the first timestamp (MPEG-TS clocks start anywhere)

    @property
    def spec(self) -> ClipSpec:
        """What pipeline.sample encodes: H.264 and 48 kHz AAC, timestamps exactly as above."""
        return ClipSpec(container=self.container, video_codec="libx264" if self.video else None,
                        audio_codec="aac" if self.audio else None, width=self.width, height=self.height,
                        fps=self.fps, duration_s=self.duration_s,
                        rotation=-self.rotation % 360,  # ours counter-clockwise (as read back), ClipSpec's clockwise
                        pts_jumps=(self.gap,) if self.gap else (), start_pts_s=self.start_s,
                        ts_muxdelay_s=0.0, preset="ultrafast")  # no mux delay: a TS clock starts at start_s


CLIPS = {
    "BWC1_OF1_20260301100000.MP4": Clip(),
    "BWC1_OF1_20260301100010.MP4": Clip(rotation=90),                       # held sideways: portrait
    "BWC1_OF1_20260301100020.MP4": Clip(gap=(1.0, 2.0), duration_s=3.0),    # recorder paused 2 s
    "BWC1_OF1_20260301100030.MKV": Clip(container="matroska", audio=False, width=640, height=360),
    "BWC1_OF1_20260301100040.M4A": Clip(video=False, container="mp4"),
    "BWC1_OF1_20260301100060.TS": Clip(container="mpegts", start_s=10.0),  # its clock starts at 10 s
}
DAMAGED = "BWC1_OF1_20260301100050.MP4"


@pytest.fixture(scope="module")
def drop(tmp_path_factory):
    root = tmp_path_factory.mktemp("drop")
    for name, clip in CLIPS.items():
        write_clip(root / name, clip.spec)
    whole = (root / "BWC1_OF1_20260301100000.MP4").read_bytes()
    (root / DAMAGED).write_bytes(whole[: len(whole) // 2])          # cut before the index: no moov
    (root / "notes.txt").write_text("not media\n")
    return root


@pytest.fixture(scope="module")
def proxied(drop, tmp_path_factory, engine):
    from pipeline.config import load_config

    cfg = load_config()
    cfg = dataclasses.replace(cfg, ingest=dataclasses.replace(cfg.ingest, fsync=False))
    archive = tmp_path_factory.mktemp("archive")
    summary = ingest([drop], archive, cfg, proxies=True, engine=engine)
    return archive, summary, cfg


def decoded_timeline(path: Path) -> dict:
    """Decode every frame (the file plays end to end) and return its video times and span."""
    video_pts, ends, starts = [], [], []
    with av.open(str(path)) as container:
        fps = None
        if container.streams.video:
            rate = container.streams.video[0].average_rate
            fps = float(rate) if rate else None
        audio_end = None
        for frame in container.decode(*container.streams.video, *container.streams.audio):
            if isinstance(frame, av.VideoFrame):
                t = float(frame.pts * frame.time_base)
                video_pts.append(t)
                ends.append(t + 1 / fps)
            else:                       # some decoders (AMR) leave audio frames without timestamps
                t = float(frame.pts * frame.time_base) if frame.pts is not None else (audio_end or 0.0)
                audio_end = t + frame.samples / frame.sample_rate
                ends.append(audio_end)
            starts.append(t)
    return {"video_pts": np.array(sorted(video_pts)), "duration": max(ends) - min(starts),
            "fps": fps}


def proxies_of(archive: Path) -> dict[str, dict]:
    names = {r["sha256"]: r["source_name"] for r in table(archive, "recordings")}
    return {names[r["parent_sha256"]]: r for r in table(archive, "derivatives")}


# -- the acceptance -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(CLIPS), ids=["plain", "rotated", "gap", "mkv-video-only", "audio-only", "ts"])
def test_proxy_plays_and_keeps_duration_timestamps_and_rotation(proxied, drop, name):
    archive, _summary, _cfg = proxied
    clip = CLIPS[name]
    row = proxies_of(archive)[name]
    assert row["status"] == "ok", row["error_message"]
    assert row["kind"] == ("proxy-video" if clip.video else "proxy-audio")
    path = archive / row["archive_path"]
    assert path.suffix == (".mp4" if clip.video else ".m4a")
    assert row["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest() and row["size"] == path.stat().st_size

    original, proxy = decoded_timeline(drop / name), decoded_timeline(path)
    frame = 1 / clip.fps
    assert abs(proxy["duration"] - original["duration"]) <= frame
    assert abs(row["duration_s"] - by_name(archive)[name]["duration_s"]) <= frame
    if clip.video:
        # Same pictures at the same times: a gap in the original is the same gap in the proxy.
        assert np.allclose(proxy["video_pts"], original["video_pts"] - row["time_offset_s"], atol=1e-3)
        assert display_rotation(path) == clip.rotation == row["rotation"]
        assert (row["width"], row["height"]) == proxy_size(clip.width, clip.height, 640)
        with av.open(str(path)) as c:
            assert c.streams.video[0].codec_context.name == "h264"
            assert (c.streams.video[0].width, c.streams.video[0].height) == (row["width"], row["height"])
            assert [s.codec_context.name for s in c.streams.audio] == (["aac"] if clip.audio else [])
    else:
        with av.open(str(path)) as c:
            assert not c.streams.video and c.streams.audio[0].codec_context.name == "aac"


def test_a_clock_that_starts_late_starts_the_proxy_at_zero(proxied):
    archive, _summary, _cfg = proxied
    rows = proxies_of(archive)
    ts = rows["BWC1_OF1_20260301100060.TS"]
    assert ts["time_offset_s"] == pytest.approx(10.0, abs=0.05)     # the audio's AAC priming starts it early
    assert rows["BWC1_OF1_20260301100000.MP4"]["time_offset_s"] == 0.0
    first_picture = decoded_timeline(archive / ts["archive_path"])["video_pts"][0]
    assert first_picture == pytest.approx(10.0 - ts["time_offset_s"], abs=1e-3)


def test_gap_stays_a_gap(proxied):
    archive, _summary, _cfg = proxied
    row = proxies_of(archive)["BWC1_OF1_20260301100020.MP4"]
    steps = np.diff(decoded_timeline(archive / row["archive_path"])["video_pts"])
    assert steps.max() == pytest.approx(2.0 + 1 / 30, abs=1e-3)
    assert row["silence_s"] == pytest.approx(2.0, abs=0.05)          # audio hole filled, sync kept


def test_damaged_original_gets_no_proxy_and_a_clear_reason(proxied):
    archive, _summary, _cfg = proxied
    row = proxies_of(archive)[DAMAGED]
    assert row["status"] == "skipped" and row["archive_path"] is None and row["sha256"] is None
    assert DAMAGED in row["error_message"] and "damaged" in row["error_message"] and "moov" in row["error_message"]
    parent = row["parent_sha256"]
    assert not list((archive / "proxies").rglob(f"{parent}*"))


def test_proxies_are_derived_records_and_originals_are_untouched(proxied, drop):
    archive, summary, cfg = proxied
    rows = table(archive, "derivatives")
    recordings = by_name(archive)
    assert "notes.txt" not in proxies_of(archive)                        # not media: no decision needed
    assert sorted(r["parent_sha256"] for r in rows) == sorted(recordings[n]["sha256"] for n in [*CLIPS, DAMAGED])
    for name in CLIPS:
        original = recordings[name]
        assert (archive / original["archive_path"]).read_bytes() == (drop / name).read_bytes()
        row = proxies_of(archive)[name]
        kind = row["kind"]
        assert row["archive_path"] == stage.proxy_relpath(original["sha256"], kind, cfg.transcode)
        assert row["params_hash"] == stage.params_hash(kind, cfg.transcode)
        assert ('"crf":28' in row["params"]) == (kind == "proxy-video")
        assert row["run_id"] == summary.run_id
        for stored in (original["archive_path"], row["archive_path"]):     # the archive's owner and group only
            assert stat.S_IMODE((archive / stored).stat().st_mode) == cfg.ingest.file_mode == 0o440
    assert summary.proxies == {"ok": len(CLIPS), "skipped": 1}
    assert not list((archive / "proxies" / ".tmp").iterdir())


def test_transcode_missing_catches_up_later_and_only_once(drop, tmp_path, fast_config, engine):
    from pipeline.runs.transcode import transcode

    archive = tmp_path / "archive"
    ingest([drop], archive, fast_config, proxies=False, engine=engine)
    assert table(archive, "derivatives") == []
    first = transcode(archive, fast_config, progress=False, engine=engine)
    assert (first.by_status["ok"], first.by_status["skipped"], first.already) == (len(CLIPS), 1, 0)
    assert first.engine == engine
    again = transcode(archive, fast_config, progress=False, engine=engine)
    assert (again.selected, again.already, sum(again.by_status.values())) == (0, len(CLIPS) + 1, 0)
    assert len(table(archive, "derivatives")) == len(CLIPS) + 1
    # New settings make new proxies beside the old ones; the audio proxy does not depend on CRF.
    sharper = dataclasses.replace(fast_config, transcode=dataclasses.replace(fast_config.transcode, crf=23))
    third = transcode(archive, sharper, progress=False, engine=engine)
    assert third.by_status["ok"] == len([c for c in CLIPS.values() if c.video])
    runs = [r for r in table(archive, "runs") if r["command"] == "transcode"]
    assert len(runs) == 3 and {r["outcome"] for r in runs} == {"finished"}


@pytest.mark.slow
def test_kill_then_resume_leaves_no_half_proxy_and_no_duplicate(drop, tmp_path, fast_config):
    from pipeline.runs.transcode import transcode

    archive = tmp_path / "archive"
    ingest([drop], archive, fast_config, proxies=False)
    slow = tmp_path / "slow.toml"            # slow enough to be caught half way on any machine
    slow.write_text('[ingest]\nfsync = false\n[transcode]\npreset = "veryslow"\ncpus_per_task = 1.0\n')
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "transcode", "--archive", str(archive),
                             "--missing", "--workers", "1", "--quiet", "--config", str(slow)],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    tmp_dir = archive / "proxies" / ".tmp"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if tmp_dir.is_dir() and any(tmp_dir.iterdir()):
            break
        time.sleep(0.005)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
    session = os.getsid(proc.pid)
    doomed = [p for p in psutil.process_iter() if _session(p) == session]
    for p in doomed:
        p.kill()                                # SIGKILL the driver and its workers, nothing else
    proc.wait()
    psutil.wait_procs(doomed, timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert not [r for r in table(archive, "runs") if r["command"] == "transcode"]   # it did not finish

    resumed = transcode(archive, fast_config, progress=False)
    assert resumed.outcome == "finished"
    assert not list(tmp_dir.iterdir())
    rows = table(archive, "derivatives")
    parents = [r["parent_sha256"] for r in rows]
    assert len(parents) == len(set(parents)) == len(CLIPS) + 1
    made = sorted(p for p in (archive / "proxies").rglob("*") if p.is_file() and ".tmp" not in p.parts)
    assert made == sorted(archive / r["archive_path"] for r in rows if r["status"] == "ok")
    for r in rows:
        if r["status"] == "ok":
            assert hashlib.sha256((archive / r["archive_path"]).read_bytes()).hexdigest() == r["sha256"]
            decoded_timeline(archive / r["archive_path"])


def _session(p: psutil.Process) -> int | None:
    try:
        return os.getsid(p.pid)
    except (ProcessLookupError, PermissionError):
        return None


# -- the stage on its own, without Ray -------------------------------------------------------------
def test_job_fails_if_the_original_cannot_be_decoded(tmp_path, config):
    archive = tmp_path / "archive"
    (archive / "objects").mkdir(parents=True)
    (archive / "objects" / "fake").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(20000))
    job = stage.ProxyJob("ab" * 32, "proxy-video", "objects/fake", source_name="CAM.MP4")
    row = stage.make(job, archive, config.transcode, "run-1", fsync=False)
    assert row["status"] == "failed" and row["error_message"].startswith("CAM.MP4: no proxy:")
    assert row.get("sha256") is None and not list((archive / "proxies").rglob("*.mp4"))
    assert not list((archive / "proxies" / ".tmp").iterdir())


@pytest.mark.parametrize("recording,expected", [
    pytest.param({"kind": "video", "status": "ok"}, ("proxy-video", None), id="video"),
    pytest.param({"kind": "audio", "status": "ok"}, ("proxy-audio", None), id="audio"),
    pytest.param({"kind": "video", "status": "damaged", "error_message": "truncated"}, ("proxy-video", "truncated"),
                 id="damaged"),
    pytest.param({"kind": "photo", "status": "ok"}, None, id="photo"),
    pytest.param({"kind": "other", "status": "unreadable"}, None, id="other"),
])
def test_what_each_recording_gets(recording, expected):
    job = stage.job_for({"sha256": "cd" * 32, "archive_path": "objects/x", **recording})
    if expected is None:
        assert job is None
    else:
        assert job.kind == expected[0]
        assert (job.skip_reason is None) if expected[1] is None else (expected[1] in job.skip_reason)


@pytest.mark.parametrize("size,expected", [
    pytest.param((1920, 1080), (640, 360), id="1080p"),
    pytest.param((1080, 1920), (360, 640), id="portrait-coded"),
    pytest.param((320, 240), (320, 240), id="never-upscaled"),
    pytest.param((1440, 1080), (640, 480), id="4:3"),
    pytest.param((1000, 563), (640, 360), id="odd-rounded-even"),
])
def test_proxy_size(size, expected):
    assert proxy_size(*size, 640) == expected


def test_a_resource_no_node_offers_is_a_clear_error(drop, tmp_path, fast_config, engine):
    from pipeline.runs.transcode import TranscodeError, transcode

    archive = tmp_path / "archive"
    ingest([drop / "BWC1_OF1_20260301100000.MP4"], archive, fast_config, proxies=False, engine=engine)
    cfg = dataclasses.replace(fast_config, transcode=dataclasses.replace(fast_config.transcode,
                                                                         resources={"transcode_node": 1}))
    with pytest.raises(TranscodeError, match="transcode_node"):
        transcode(archive, cfg, progress=False, engine=engine)
    assert table(archive, "derivatives") == []                 # refused before anything was written
    assert [r["outcome"] for r in table(archive, "runs") if r["command"] == "transcode"] == ["failed"]


def test_transcode_needs_a_selection(tmp_path, capsys):
    (tmp_path / "catalog").mkdir()
    assert main(["transcode", "--archive", str(tmp_path)]) == 2
    assert "--missing" in capsys.readouterr().err


def test_bad_transcode_config_names_the_key(tmp_path):
    from pipeline.config import ConfigError, load_config

    cfg = tmp_path / "c.toml"
    cfg.write_text('[transcode]\npreset = "warp"\n')
    with pytest.raises(ConfigError, match="transcode.preset"):
        load_config(cfg)


# -- real recorders' files ------------------------------------------------------------------------
@dataclass(frozen=True)
class RealCase:
    name: str
    audio_only: bool = False
    rotation: int = 0
    fails_with: str | None = None       # a fragment of the reason, when no proxy can be made


REAL = [
    RealCase("android12_4k60_portrait.mp4", rotation=270),
    RealCase("iphone6_gps.mov"),                            # audio before video in the file
    RealCase("mpeg4_amrnb.3gp"),
    RealCase("vp9_10bit_profile2.webm"),
    RealCase("kodak_mjpeg_pcm.AVI"),
    RealCase("pcm_s16le.wav", audio_only=True),
    RealCase("amr_nb.amr", audio_only=True),
    RealCase("ts_pts_rollover_negstart.ts"),                # starts at -10 s: no picture may hide before 0
    RealCase("sony_a7m3_avchd.mts"),                        # starts at +1 s
    RealCase("bitflips_h264_aac.mp4", fails_with="could not be decoded"),
]


@pytest.mark.parametrize("case", REAL, ids=[c.name for c in REAL])
def test_real_files_get_a_playable_proxy_or_a_reason(case, corpus, tmp_path):
    from pipeline.native.transcode import ProxyError, ProxySettings, make_proxy

    src, dst = corpus / case.name, tmp_path / "proxy.mp4"
    if case.fails_with:
        with pytest.raises(ProxyError, match=case.fails_with):
            make_proxy(src, dst, ProxySettings(threads=1), audio_only=case.audio_only)
        return
    make_proxy(src, dst, ProxySettings(threads=1), rotation=case.rotation, audio_only=case.audio_only)
    original, proxy = decoded_timeline(src), decoded_timeline(dst)
    frame = 1 / (original["fps"] or 30) if not case.audio_only else 1024 / 44100    # an AAC frame
    assert abs(proxy["duration"] - original["duration"]) <= frame
    if not case.audio_only:
        assert len(proxy["video_pts"]) == len(original["video_pts"])
        assert display_rotation(dst) == case.rotation


def test_only_damaged_originals_need_no_engine(tmp_path, fast_config, drop, engine):
    from pipeline.runs.transcode import transcode

    archive = tmp_path / "archive"
    ingest([drop / DAMAGED], archive, fast_config, proxies=False, engine=engine)
    summary = transcode(archive, fast_config, progress=False, engine=engine)
    assert (summary.engine, summary.ray_address, dict(summary.by_status)) == ("none", "none", {"skipped": 1})


def test_a_disc_plan_with_derivatives_carries_the_proxy(proxied, tmp_path, capsys):
    import json

    archive, _summary, _cfg = proxied
    name = "BWC1_OF1_20260301100000.MP4"
    row = proxies_of(archive)[name]
    plan = tmp_path / "plan.json"
    assert main(["disc", "plan", "--archive", str(archive), "--sha", row["parent_sha256"], "--media", "dvd",
                 "--with-derivatives", "--out", str(plan), "--format", "json"]) == 0
    files = json.loads(capsys.readouterr().out)["discs"][0]["files"]
    assert [(f["role"], f["source"]) for f in files][1:] == [("proxy", row["archive_path"])]
