"""Checks that pipeline.sample writes the media it promises, by decoding it back with PyAV."""

from __future__ import annotations

import hashlib
import re
import struct
import time
from dataclasses import replace
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from pipeline.sample.clips import ClipSpec, EncoderMissing, expected_keyframes, expected_pts, stream_time_base
from pipeline.sample.damage import corrupt_keyframe, random_bytes, top_level_boxes, truncate, write_no_moov
from pipeline.sample.encode import remux, write_audio, write_clip, write_wav
from pipeline.sample.frames import Picture, chroma
from pipeline.sample.photo import write_jpeg
from pipeline.sample import make_sample_drop

CREATED = "2026-03-01T10:00:00.000000Z"
SUFFIX = {"mp4": "mp4", "mov": "mov", "mpegts": "ts", "matroska": "mkv", "avi": "avi"}


def _encoder_available(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
    except Exception:
        return False
    return True


needs_x265 = pytest.mark.skipif(not _encoder_available("libx265"), reason="libx265 not in this FFmpeg")


def _write(tmp_path: Path, spec: ClipSpec, name: str = "clip") -> Path:
    return write_clip(tmp_path / f"{name}.{SUFFIX.get(spec.container, spec.container)}", spec)


def _packets(path: Path, kind: str = "video") -> list[av.Packet]:
    """Demuxed packets of the first ``kind`` stream, flush packets dropped."""
    with av.open(str(path)) as container:
        stream = next(s for s in container.streams if s.type == kind)
        return [p for p in container.demux(stream) if p.size]


def _seconds(packet: av.Packet) -> float:
    return float(packet.pts * packet.time_base)


def _decode_count(path: Path) -> tuple[int, int]:
    """(frames decoded, packets whose decode raised) for the video stream."""
    frames = errors = 0
    with av.open(str(path)) as container:
        for packet in container.demux(video=0):
            try:
                frames += len(packet.decode())
            except av.error.FFmpegError:
                errors += 1
    return frames, errors


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- keyframes and timestamps

KEYFRAME_SPECS = {
    "mp4": ClipSpec(),
    "mp4-bframes": ClipSpec(bframes=2),
    "mp4-gop0.5-25fps": ClipSpec(fps=25, gop_s=0.5, duration_s=1.5),
    "mp4-start5s-jump": ClipSpec(start_pts_s=5.0, pts_jumps=((1.0, 3.0),)),
    "mp4-bframes-jumps": ClipSpec(bframes=3, pts_jumps=((0.5, 2.0), (1.2, 7.0))),
    "mp4-noise-bitrate": ClipSpec(noise=True, bitrate=300_000),
    "mov": ClipSpec(container="mov"),
    "mov-mjpeg-pcm": ClipSpec(container="mov", video_codec="mjpeg", audio_codec="pcm_s16le", duration_s=0.5),
    "mpegts": ClipSpec(container="mpegts"),
    "mpegts-bframes": ClipSpec(container="mpegts", bframes=2),
    "mpegts-muxdelay0.5": ClipSpec(container="mpegts", ts_muxdelay_s=0.5),
    "mpegts-jump-back": ClipSpec(container="mpegts", pts_jumps=((1.0, -0.5),)),
    "mpegts-bframes-back-and-forth": ClipSpec(container="mpegts", bframes=2, pts_jumps=((0.5, -0.25), (1.5, 4.0))),
    "matroska": ClipSpec(container="matroska"),
    "matroska-bframes": ClipSpec(container="matroska", bframes=2),
    # 29 fps, gop 14.5 -> 15 frames, start 0.1234 s: exercises half-up rounding to ms.
    "matroska-29fps-start": ClipSpec(container="matroska", fps=29, gop_s=0.5, start_pts_s=0.1234),
    "mp4-bframes-offgrid-jump": ClipSpec(bframes=2, pts_jumps=((0.51, 0.25),)),
    "avi": ClipSpec(container="avi", audio_codec="pcm_s16le"),
    "hevc-bframes": pytest.param(ClipSpec(video_codec="libx265", bframes=2, duration_s=1.0), marks=needs_x265),
    "hevc-bframes-jump": pytest.param(
        ClipSpec(video_codec="hevc", bframes=2, duration_s=1.5, pts_jumps=((0.5, 1.0),)), marks=needs_x265
    ),
}


@pytest.mark.parametrize("spec", KEYFRAME_SPECS.values(), ids=KEYFRAME_SPECS.keys())
def test_keyframes_match_expected(tmp_path, spec):
    path = _write(tmp_path, spec)
    got = [_seconds(p) for p in _packets(path) if p.is_keyframe]
    assert got == pytest.approx(expected_keyframes(spec), abs=1e-6)
    # ...and every frame decodes cleanly, jumps and concatenated TS segments included.
    assert _decode_count(path) == (round(spec.duration_s * spec.fps), 0)


def test_keyframes_are_exactly_gop_apart_with_noise(tmp_path):
    # Noise would trigger x264 scene cuts if they were not disabled.
    spec = ClipSpec(noise=True, duration_s=3.0, gop_s=0.5)
    got = [_seconds(p) for p in _packets(_write(tmp_path, spec)) if p.is_keyframe]
    assert got == pytest.approx([0.5 * k for k in range(6)], abs=1e-9)


@pytest.mark.parametrize(
    "container,stream_tb",
    [("mp4", 90000), ("mov", 90000), ("mpegts", 90000), ("matroska", 1000), ("avi", 30)],
)
def test_video_time_base(tmp_path, container, stream_tb):
    spec = ClipSpec(container=container, audio_codec=None, duration_s=0.2)
    packet = _packets(_write(tmp_path, spec))[0]
    assert packet.time_base == stream_time_base(spec) == Fraction(1, stream_tb)


def test_mpegts_starts_at_twice_muxdelay(tmp_path):
    spec = ClipSpec(container="mpegts")
    video, audio = _packets(_write(tmp_path, spec)), _packets(tmp_path / "clip.ts", "audio")
    assert _seconds(video[0]) == pytest.approx(1.4, abs=1e-9)
    # AAC priming: the first audio packet is one frame (1024 samples) early.
    assert _seconds(audio[0]) == pytest.approx(1.4 - 1024 / 48000, abs=1e-4)


@pytest.mark.parametrize(
    "spec",
    [ClipSpec(), ClipSpec(container="mpegts"), ClipSpec(container="matroska"), ClipSpec(fps=25, duration_s=1.99),
     ClipSpec(container="mov", audio_codec="pcm_s16le"), ClipSpec(container="matroska", audio_codec="mp3")],
    ids=["mp4", "mpegts", "matroska", "mp4-25fps-1.99s", "mov-pcm", "matroska-mp3"],
)
def test_av_durations_match(tmp_path, spec):
    path = _write(tmp_path, spec)
    frame = 1 / spec.fps
    video = _packets(path)
    start = expected_pts(spec, 0)
    video_end = max(float((p.pts + p.duration) * p.time_base) for p in video)
    assert abs(video_end - start - spec.duration_s) <= frame + 1e-9
    audio = _packets(path, "audio")
    audio_frame = 1152 if spec.audio_codec == "mp3" else 1024
    audio_end = max(float((p.pts + p.duration) * p.time_base) for p in audio)
    # Encoders pad the last frame; matroska rounds to milliseconds.
    assert -1e-3 <= audio_end - start - spec.duration_s <= audio_frame / spec.audio_rate + 1e-3
    with av.open(str(path)) as container:
        samples = sum(f.samples for f in container.decode(audio=0))
    # Containers without edit lists (TS) also hand the priming frame to the decoder.
    assert 0 <= samples - round(spec.duration_s * spec.audio_rate) <= 2 * audio_frame


def _jumps(packets: list[av.Packet], limit: float) -> list[tuple[float, float]]:
    """Consecutive (before, after) pts, in demux order, that step back or further than ``limit``."""
    pts = [_seconds(p) for p in packets]
    return [(a, b) for a, b in zip(pts, pts[1:]) if b < a or b - a > limit]


@pytest.mark.parametrize("container", ["mp4", "mpegts", "matroska"])
def test_forward_jump_shows_in_video_and_audio(tmp_path, container):
    spec = ClipSpec(container=container, pts_jumps=((1.0, 5.0),))
    path = _write(tmp_path, spec)
    base = expected_pts(spec, 0)
    (before, after), = _jumps(_packets(path), 0.1)
    assert (before, after) == pytest.approx((base + 29 / 30, base + 6.0), abs=1e-3)
    (before, after), = _jumps(_packets(path, "audio"), 0.1)
    assert after - before == pytest.approx(5.0 + 1024 / 48000, abs=2e-3)
    assert 5.9 < after - base < 6.05  # jumps within one audio frame of the video


def test_backward_jump_in_mpegts(tmp_path):
    spec = ClipSpec(container="mpegts", pts_jumps=((1.0, -0.5),))
    path = _write(tmp_path, spec)
    (before, after), = _jumps(_packets(path), 0.1)
    assert (before, after) == pytest.approx((1.4 + 29 / 30, 1.4 + 0.5), abs=1e-6)
    (a_before, a_after), = _jumps(_packets(path, "audio"), 0.1)
    assert a_after < a_before
    dts = [p.dts for p in _packets(path)]
    assert any(b < a for a, b in zip(dts, dts[1:]))


@pytest.mark.parametrize("container", ["mp4", "matroska", "avi"])
def test_backward_jump_rejected_outside_mpegts(tmp_path, container):
    with pytest.raises(ValueError):
        write_clip(tmp_path / "x", ClipSpec(container=container, pts_jumps=((1.0, -0.5),)))


@pytest.mark.parametrize("container", ["mp4", "mpegts"])
def test_bframes_reorder(tmp_path, container):
    with_b = _packets(_write(tmp_path, ClipSpec(container=container, bframes=2), "b"))
    without = _packets(_write(tmp_path, ClipSpec(container=container), "p"))
    assert any(p.dts != p.pts for p in with_b)
    assert all(p.dts == p.pts for p in without)


# ---------------------------------------------------------------- rotation, tags, determinism


def _tkhd_matrix(path: Path) -> tuple[int, ...]:
    data = path.read_bytes()
    moov = next(off for kind, off, _ in top_level_boxes(data) if kind == "moov")
    at = data.find(b"tkhd", moov)
    version = data[at + 4]
    fixed = 4 + (32 if version == 1 else 20) + 16  # version/flags, times+id+duration, reserved..volume
    return struct.unpack(">9i", data[at + 4 + fixed : at + 4 + fixed + 36])


# clockwise spec rotation -> (PyAV frame.rotation, tkhd a, b, c, d in 16.16)
ROTATIONS = {90: (-90, (0, 1, -1, 0)), 180: (-180, (-1, 0, 0, -1)), 270: (90, (0, -1, 1, 0))}


@pytest.mark.parametrize("rotation", ROTATIONS, ids=[f"rot{r}" for r in ROTATIONS])
def test_rotation(tmp_path, rotation):
    spec = ClipSpec(rotation=rotation, audio_codec=None, duration_s=0.2)
    path = _write(tmp_path, spec)
    frame_rotation, abcd = ROTATIONS[rotation]
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    assert frame.rotation == frame_rotation
    matrix = _tkhd_matrix(path)
    assert (matrix[0], matrix[1], matrix[3], matrix[4]) == tuple(v * 65536 for v in abcd)
    # Remuxing keeps the display matrix.
    with av.open(str(remux(path, tmp_path / "remuxed.mp4"))) as container:
        assert next(container.decode(video=0)).rotation == frame_rotation


def test_no_rotation_is_identity_matrix(tmp_path):
    path = _write(tmp_path, ClipSpec(audio_codec=None, duration_s=0.2))
    assert _tkhd_matrix(path)[:5] == (65536, 0, 0, 0, 65536)


@pytest.mark.parametrize("container", ["mp4", "mov", "matroska"])
def test_creation_time_and_tags(tmp_path, container):
    spec = ClipSpec(container=container, creation_time=CREATED, metadata={"title": "BWC0001 shift", "comment": "OF4521"})
    with av.open(str(_write(tmp_path, spec))) as c:
        # matroska reads non-standard tag names back upper-cased (COMMENT).
        tags = {k.lower(): v for k, v in c.metadata.items()}
    assert tags["creation_time"] == CREATED
    assert tags["title"] == "BWC0001 shift"
    assert tags["comment"] == "OF4521"


@pytest.mark.parametrize(
    "spec",
    [
        ClipSpec(noise=True, creation_time=CREATED),
        ClipSpec(bframes=2, noise=True),
        ClipSpec(container="mpegts", bframes=2, pts_jumps=((1.0, -0.5),)),
        ClipSpec(container="matroska"),
        ClipSpec(container="mov", video_codec="mjpeg", audio_codec="pcm_s16le", duration_s=0.5),
        pytest.param(ClipSpec(video_codec="hevc", bframes=2, duration_s=1.0), marks=needs_x265),
    ],
    ids=["mp4-noise", "mp4-bframes-noise", "mpegts-bframes-jump-back", "matroska", "mov-mjpeg", "hevc-bframes"],
)
def test_deterministic(tmp_path, spec):
    assert _sha(_write(tmp_path, spec, "a")) == _sha(_write(tmp_path, spec, "b"))


def test_seed_changes_content(tmp_path):
    a = _packets(_write(tmp_path, ClipSpec(seed=1), "a"))
    b = _packets(_write(tmp_path, ClipSpec(seed=2), "b"))
    assert bytes(a[0]) != bytes(b[0])


def test_noise_frames_are_cheap_and_vary():
    picture = Picture(1920, 1080, noise=True, seed=0)
    first = picture.frame(0).copy()
    start = time.perf_counter()
    for i in range(1, 31):
        frame = picture.frame(i)
    elapsed = time.perf_counter() - start
    assert frame.shape == (1620, 1920)
    assert not np.array_equal(first, frame)
    # ~2 ms/frame measured; x264 needs ~30 ms for the same 1080p frame.
    assert elapsed < 1.0


@pytest.mark.parametrize("codec", ["video_codec", "audio_codec"])
def test_missing_encoder(tmp_path, codec):
    with pytest.raises(EncoderMissing):
        write_clip(tmp_path / "x.mp4", replace(ClipSpec(), **{codec: "libdoesnotexist"}))
    assert not (tmp_path / "x.mp4").exists()


def test_audio_only_clip(tmp_path):
    spec = ClipSpec(video_codec=None, duration_s=1.0)
    with av.open(str(_write(tmp_path, spec))) as c:
        assert [s.type for s in c.streams] == ["audio"]
    assert expected_keyframes(spec) == []


def test_faststart_puts_the_index_first_and_a_cut_copy_keeps_it(tmp_path):
    spec = ClipSpec(faststart=True, duration_s=1.0)
    path = _write(tmp_path, spec)
    kinds = [kind for kind, _, _ in top_level_boxes(path.read_bytes())]
    assert kinds.index("moov") < kinds.index("mdat")
    assert [_seconds(p) for p in _packets(path) if p.is_keyframe] == pytest.approx(expected_keyframes(spec))
    with av.open(str(truncate(path, tmp_path / "cut.mp4", keep_fraction=0.5))) as c:
        assert c.streams.video[0].frames == 30          # the index still lists every frame


def test_faststart_only_where_there_is_an_index(tmp_path):
    with pytest.raises(ValueError, match="faststart"):
        write_clip(tmp_path / "x.ts", ClipSpec(container="mpegts", faststart=True))


@pytest.mark.parametrize("rgb", [(40, 90, 160), (150, 70, 40)], ids=["blue", "brown"])
def test_colour_tints_every_frame(tmp_path, rgb):
    spec = ClipSpec(colour=rgb, audio_codec=None, duration_s=0.5, seed=7)
    with av.open(str(_write(tmp_path, spec))) as c:
        planes = [(f.height, f.to_ndarray()) for f in c.decode(video=0)]     # yuv420p: Y, then U and V rows
    means = [[float(a[h : h + h // 4].mean()), float(a[h + h // 4 :].mean())] for h, a in planes]
    assert np.allclose(means, [chroma(rgb)] * len(means), atol=1.5)
    other = replace(spec, colour=(120, 60, 140))
    assert _sha(_write(tmp_path, spec, "a")) != _sha(_write(tmp_path, other, "b"))


# ---------------------------------------------------------------- audio files and photos


@pytest.mark.parametrize("rate,channels", [(48000, 1), (16000, 2)], ids=["48k-mono", "16k-stereo"])
def test_write_wav(tmp_path, rate, channels):
    path = write_wav(tmp_path / "notes" / "note.wav", duration_s=1.5, rate=rate, channels=channels)
    assert path.read_bytes()[:4] == b"RIFF" and path.read_bytes()[8:12] == b"WAVE"
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        assert (stream.codec_context.name, stream.rate, stream.channels) == ("pcm_s16le", rate, channels)
        samples = np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1)
    # s16 is packed: one row of interleaved samples.
    assert samples.shape[-1] == round(1.5 * rate) * channels
    assert np.abs(samples).max() > 5000  # a tone, not silence


@pytest.mark.parametrize(
    "name,codec,format_name",
    [("note.m4a", "aac", "mov,mp4,m4a,3gp,3g2,mj2"), ("note.aac", "aac", "aac"), ("note.mp3", "mp3", "mp3")],
)
def test_write_audio(tmp_path, name, codec, format_name):
    path = write_audio(tmp_path / name, duration_s=1.0, codec=codec)
    with av.open(str(path)) as c:
        assert c.format.name == format_name
        assert c.streams.audio[0].codec_context.codec.id == av.codec.Codec(codec, "r").id
        assert sum(f.samples for f in c.decode(audio=0)) >= 48000


@pytest.mark.parametrize("orientation", [None, 1, 6, 8], ids=["no-orientation", "o1", "o6-portrait", "o8"])
def test_write_jpeg(tmp_path, orientation):
    path = write_jpeg(tmp_path / "IMG.JPG", orientation=orientation, datetime_original="2026:03:01 10:15:00")
    with Image.open(path) as img:
        assert img.format == "JPEG" and img.size == (320, 240)
        exif = img.getexif()
        assert exif.get(0x0112) == orientation
        assert exif[0x010F] == "FieldCam"
        assert exif.get_ifd(0x8769)[0x9003] == "2026:03:01 10:15:00"
        red, green, _ = img.getpixel((2, 2))
        assert red > 200 and green < 60  # marker in the stored top-left corner


# ---------------------------------------------------------------- broken and derived files


def test_write_no_moov(tmp_path):
    path = write_no_moov(tmp_path / "dead.MP4")
    data = path.read_bytes()
    boxes = [kind for kind, _, _ in top_level_boxes(data)]
    assert data[4:8] == b"ftyp" and boxes[0] == "ftyp"
    assert "mdat" in boxes and "moov" not in boxes
    assert data.find(b"mdat") > 0 and data[data.find(b"mdat") - 4 : data.find(b"mdat")] == b"\0\0\0\0"
    with pytest.raises(av.error.FFmpegError):
        av.open(str(path))


def test_truncate(tmp_path):
    good = _write(tmp_path, ClipSpec())
    cut = truncate(good, tmp_path / "cut.mp4", keep_fraction=0.6)
    assert cut.stat().st_size == int(good.stat().st_size * 0.6)
    assert good.read_bytes().startswith(cut.read_bytes())
    with pytest.raises(av.error.FFmpegError):
        av.open(str(cut))  # moov is at the end, so it went with the cut


def test_random_bytes(tmp_path):
    a = random_bytes(tmp_path / "a.MP4", size=5000, seed=3)
    b = random_bytes(tmp_path / "b.MP4", size=5000, seed=3)
    assert a.stat().st_size == 5000 and a.read_bytes() == b.read_bytes()
    assert random_bytes(tmp_path / "c.MP4", size=5000, seed=4).read_bytes() != a.read_bytes()
    with pytest.raises(av.error.FFmpegError):
        av.open(str(a))


@pytest.mark.parametrize("container", ["mp4", "mov", "mpegts", "matroska", "avi"])
def test_corrupt_keyframe(tmp_path, container):
    good = _write(tmp_path, ClipSpec(container=container, duration_s=3.0), "good")
    bad = corrupt_keyframe(good, tmp_path / f"bad.{SUFFIX[container]}", keyframe_index=1)
    assert bad.stat().st_size == good.stat().st_size
    if container in ("mp4", "mov"):
        # Same boxes at the same offsets, and moov untouched: only sample bytes changed.
        good_boxes = list(top_level_boxes(good.read_bytes()))
        assert list(top_level_boxes(bad.read_bytes())) == good_boxes
        off, size = next((o, s) for k, o, s in good_boxes if k == "moov")
        assert bad.read_bytes()[off : off + size] == good.read_bytes()[off : off + size]
    assert len(_packets(bad, "audio")) == len(_packets(good, "audio"))
    good_frames, good_errors = _decode_count(good)
    bad_frames, bad_errors = _decode_count(bad)
    assert (good_frames, good_errors) == (90, 0)
    assert bad_frames < good_frames or bad_errors > 0


def test_remux_changes_tags_not_payload(tmp_path):
    src = _write(tmp_path, ClipSpec(creation_time=CREATED))
    dst = remux(src, tmp_path / "copy.mp4", metadata={"creation_time": "2026-03-02T08:00:00.000000Z"})
    assert _sha(src) != _sha(dst)
    with av.open(str(dst)) as c:
        assert c.metadata["creation_time"] == "2026-03-02T08:00:00.000000Z"
    for kind in ("video", "audio"):
        assert [bytes(p) for p in _packets(src, kind)] == [bytes(p) for p in _packets(dst, kind)]
        assert [p.pts for p in _packets(src, kind)] == [p.pts for p in _packets(dst, kind)]


def test_remux_time_offset_and_container(tmp_path):
    src = _write(tmp_path, ClipSpec(bframes=2))
    dst = remux(src, tmp_path / "later.mkv", time_offset_s=10.0)
    with av.open(str(dst)) as c:
        assert c.format.name == "matroska,webm"
    src_keys = [_seconds(p) for p in _packets(src) if p.is_keyframe]
    dst_keys = [_seconds(p) for p in _packets(dst) if p.is_keyframe]
    assert dst_keys == pytest.approx([t + 10.0 for t in src_keys], abs=1e-3)
    assert _decode_count(dst) == (60, 0)


# ---------------------------------------------------------------- the demo dock drop

NAME = re.compile(r"^(BWC\d{4})_(OF\d{4})_(\d{14})(?:_(\d{4}))?\.(MP4|JPG|WAV)$")


def test_sample_drop(tmp_path):
    root = make_sample_drop(tmp_path / "drop")
    files = sorted(p for p in root.rglob("*") if p.is_file())
    rel = {p.relative_to(root).as_posix(): p for p in files}
    assert {Path(r).parts[0] for r in rel} == {"dock1", "dock2", "dock3"}
    assert "dock1/BWC0001/DEVICE.LOG" in rel
    assert "dock2/BWC0002/BWC0002_OF4522_20260301101500.JPG" in rel
    assert all(NAME.match(p.name) for p in files if p.name != "DEVICE.LOG")

    # The re-docked duplicate: same name, same bytes, two folders.
    by_name: dict[str, list[Path]] = {}
    for p in files:
        by_name.setdefault(p.name, []).append(p)
    dupes = [ps for ps in by_name.values() if len(ps) > 1]
    assert len(dupes) == 1 and len({_sha(p) for p in dupes[0]}) == 1

    empty = [p for p in files if p.stat().st_size == 0]
    assert len(empty) == 1 and empty[0].suffix == ".MP4"
    assert any(p.suffix == ".WAV" for p in files)

    segments: dict[str, list[tuple[datetime, float]]] = {}
    broken = []
    for p in files:
        if p.suffix != ".MP4" or p.stat().st_size == 0 or p in dupes[0][1:]:
            continue
        try:
            with av.open(str(p)) as c:
                created = datetime.strptime(c.metadata["creation_time"], "%Y-%m-%dT%H:%M:%S.%fZ")
                # creation_time is UTC; the name is the recorder's wall clock in Beijing time (UTC+8).
                assert (created + timedelta(hours=8)).strftime("%Y%m%d%H%M%S") == NAME.match(p.name)[3]
                assert (c.streams.video[0].width, c.streams.video[0].height) == (320, 240)
                assert c.streams.audio[0].codec_context.name == "aac"
                segments.setdefault(NAME.match(p.name)[1], []).append((created, c.duration / 1e6))
        except av.error.FFmpegError:
            broken.append(p)
    assert len(broken) == 1 and broken[0].read_bytes()[4:8] == b"ftyp"
    assert sorted(segments) == ["BWC0001", "BWC0002", "BWC0003"]
    gaps = []
    for device, segs in segments.items():
        assert 3 <= len(segs) <= 4
        segs.sort()
        for (start, dur), (nxt, _) in zip(segs, segs[1:]):
            assert 4 <= dur <= 6
            gaps.append((nxt - start - timedelta(seconds=round(dur))).total_seconds())
    assert sorted(gaps)[-1] == 37 and all(g == 0 for g in sorted(gaps)[:-1])

    with Image.open(rel["dock2/BWC0002/BWC0002_OF4522_20260301101500.JPG"]) as img:
        assert img.getexif().get_ifd(0x8769)[0x9003] == "2026:03:01 10:15:00"
