"""Keyframe thumbnails: only the chosen keyframes are decoded, pictures stay upright, damage is counted."""

from __future__ import annotations

import dataclasses
import io
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from pipeline.config import ConfigError, load_config
from pipeline.native import media
from pipeline.stages import demux, thumbnails
from pipeline.stages.identify import sniff
from tests.helpers import by_name, ingest, table

W, H = 160, 120
RED = (255, 0, 0)


# -- generated media ------------------------------------------------------------------------
def picture(i: int) -> np.ndarray:
    """A red band across the top quarter (to check orientation) over a moving grey bar."""
    img = np.full((H, W, 3), 40, np.uint8)
    img[H // 4:, (i * 3) % W:] = 170
    img[: H // 4] = RED
    return img


def write_clip(path: Path, *, codec="libx264", fps=10, duration_s=25.0, gop_s=1.0, bframes=0) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height = W, H
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        if codec == "libx264":
            gop = max(1, round(gop_s * fps))
            stream.codec_context.gop_size = gop
            stream.codec_context.max_b_frames = bframes
            stream.codec_context.options = {"preset": "ultrafast", "bf": str(bframes), "keyint_min": str(gop),
                                            "sc_threshold": "0", "crf": "30"}
        for i in range(round(fps * duration_s)):
            frame = av.VideoFrame.from_ndarray(picture(i), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def set_display_rotation(path: Path, degrees: int) -> None:
    """Write a counter-clockwise rotation (FFmpeg's convention) into the video track's tkhd matrix."""
    data = bytearray(path.read_bytes())
    at = data.index(b"tkhd") + 4                                # the box's content
    matrix_at = at + (4 + 8 + 4 + 4 + 4 + 8 if data[at] == 0 else 4 + 16 + 4 + 4 + 8 + 8) + 8
    cos, sin = {90: (0, 1), 180: (-1, 0), 270: (0, -1)}[degrees]
    struct.pack_into(">ii", data, matrix_at, cos * 65536, -sin * 65536)        # a, b
    struct.pack_into(">ii", data, matrix_at + 12, sin * 65536, cos * 65536)    # c, d
    path.write_bytes(bytes(data))


def corrupt_keyframe(path: Path, index: int) -> float:
    """Overwrite the payload of the index-th video keyframe with noise; returns its time."""
    info = media.demux(path)
    times = info.packets[0]
    pos, size = int(times.pos[times.key][index]), int(times.size[times.key][index])
    data = bytearray(path.read_bytes())
    data[pos + 8: pos + size] = np.random.default_rng(7).integers(0, 256, size - 8, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return float(times.pts[times.key][index])


def write_photo(path: Path, orientation: int) -> Path:
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(picture(0)).save(path, "JPEG", quality=90, exif=exif)
    return path


def run_stage(path: Path, config, **overrides):
    cfg = dataclasses.replace(config.thumbnails, **overrides)
    outcome = demux.demux_file(path, "0" * 64, sniff(path.read_bytes()[:64]), path.stat().st_size, config.demux)
    return outcome, thumbnails.make_thumbnails(path, "0" * 64, outcome, cfg)


def decoded(row) -> Image.Image:
    return Image.open(io.BytesIO(row["image"])).convert("RGB")


def is_red(pixel) -> bool:
    r, g, b = pixel
    return r > 180 and g < 90 and b < 90


# -- choosing keyframes ---------------------------------------------------------------------
@pytest.mark.parametrize("pts, interval, expected", [
    pytest.param(np.arange(0, 35, 1.0), 10, [0, 10, 20, 30], id="gop-1s"),
    pytest.param(np.arange(0, 35, 0.5), 10, [0, 10, 20, 30], id="gop-0.5s"),
    pytest.param(np.round(np.arange(0, 25, 0.04), 2), 10, [0, 10, 20], id="mjpeg-every-frame"),
    pytest.param(np.arange(0, 35, 10.0), 10, [0, 10, 20, 30], id="gop-10s"),
    pytest.param(np.arange(0, 35, 7.0), 10, [0, 14, 28], id="gop-7s"),
    pytest.param(np.array([3.0, 1.0, np.nan, 12.5, 11.0]), 10, [1.0, 11.0], id="unsorted-with-nan"),
    pytest.param(np.array([-0.5, 0.5, 9.4, 9.6]), 10, [-0.5, 9.6], id="negative-start"),
    pytest.param(np.arange(0, 3, 1.0), 0, [0, 1, 2], id="interval-0-every-keyframe"),
    pytest.param(np.array([]), 10, [], id="none"),
])
def test_choose_keyframes(pts, interval, expected):
    assert pts[thumbnails.choose_keyframes(pts, interval)].tolist() == expected


# -- generated clips ------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    clip: dict
    keyframes: int                     # every one stays in the keyframes table
    chosen: list[float]
    size: tuple[int, int]
    rotation: int = 0


CASES = [
    pytest.param(Case(dict(gop_s=1.0), 25, [0, 10, 20], (160, 120)), id="gop-1s"),
    pytest.param(Case(dict(gop_s=10.0), 3, [0, 10, 20], (160, 120)), id="gop-10s"),
    pytest.param(Case(dict(codec="mjpeg", fps=5), 125, [0, 10, 20], (160, 120)), id="mjpeg"),
    pytest.param(Case(dict(gop_s=1.0, bframes=2), 25, [0, 10, 20], (160, 120)), id="b-frames"),
    pytest.param(Case(dict(gop_s=1.0), 25, [0, 10, 20], (120, 160), rotation=90), id="rotated-90"),
    pytest.param(Case(dict(gop_s=1.0), 25, [0, 10, 20], (120, 160), rotation=270), id="rotated-270"),
]


@pytest.mark.parametrize("case", CASES)
def test_only_chosen_keyframes_are_decoded(tmp_path, config, case: Case):
    path = write_clip(tmp_path / ("clip.avi" if case.clip.get("codec") == "mjpeg" else "clip.mp4"), **case.clip)
    if case.rotation:
        set_display_rotation(path, case.rotation)
    outcome, thumbs = run_stage(path, config)
    assert outcome.keyframes.num_rows == case.keyframes
    assert outcome.fields["rotation"] == case.rotation
    assert thumbs.decode_errors == 0
    assert thumbs.frames_decoded == len(case.chosen)         # the decoder handed out nothing else
    assert [r["pts_s"] for r in thumbs.rows] == pytest.approx(case.chosen)
    for row in thumbs.rows:
        image = decoded(row)
        assert (row["width"], row["height"]) == image.size == case.size
        assert row["format"] == "webp"
    image = decoded(thumbs.rows[0])
    w, h = image.size
    # The red band was along the top; turned counter-clockwise by 90 it lies along the left.
    where = {0: (w // 2, 2), 90: (2, h // 2), 270: (w - 3, h // 2)}[case.rotation]
    assert is_red(image.getpixel(where))
    assert not is_red(image.getpixel((w // 2, h - 3)))


def test_long_side_is_capped_and_jpeg_is_configurable(tmp_path, config):
    path = write_clip(tmp_path / "clip.mp4", duration_s=2)
    _, thumbs = run_stage(path, config, max_side=80, format="jpeg", quality=60)
    (row,) = thumbs.rows
    assert (row["width"], row["height"]) == (80, 60)
    assert row["format"] == "jpeg" and row["image"][:2] == b"\xff\xd8"


def test_corrupt_keyframe_is_counted_and_the_rest_kept(tmp_path, config):
    path = write_clip(tmp_path / "clip.mp4", duration_s=5)
    bad = corrupt_keyframe(path, 2)
    outcome, thumbs = run_stage(path, config, interval_s=1.0)
    assert outcome.keyframes.num_rows == 5
    assert thumbs.chosen == 5
    assert thumbs.decode_errors == 1
    assert "2.000 s" in thumbs.first_error
    assert [r["pts_s"] for r in thumbs.rows] == pytest.approx([t for t in (0, 1, 2, 3, 4) if t != bad])


@pytest.mark.parametrize("orientation, size, red_at", [
    pytest.param(1, (160, 120), "top", id="upright"),
    pytest.param(6, (120, 160), "right", id="exif-6-portrait"),
    pytest.param(8, (120, 160), "left", id="exif-8-portrait"),
])
def test_photo_gets_one_upright_thumbnail(tmp_path, config, orientation, size, red_at):
    path = write_photo(tmp_path / "photo.jpg", orientation)
    _, thumbs = run_stage(path, config)
    (row,) = thumbs.rows
    image = decoded(row)
    assert image.size == size and row["pts_s"] == 0.0
    w, h = size
    assert is_red(image.getpixel({"top": (w // 2, 2), "right": (w - 3, h // 2), "left": (2, h // 2)}[red_at]))


def test_audio_gets_none_and_disabled_stage_does_nothing(tmp_path, config):
    path = tmp_path / "a.wav"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=8000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 8000), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)
    outcome, thumbs = run_stage(path, config)
    assert outcome.kind == "audio" and thumbs.rows == [] and thumbs.decode_errors == 0
    assert run_stage(path, config, enabled=False)[1] is None


def test_bad_thumbnail_config_names_the_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[thumbnails]\nformat = "gif"\n')
    with pytest.raises(ConfigError, match="thumbnails.format"):
        load_config(bad)


# -- the corpus -----------------------------------------------------------------------------
UNDECODABLE = {"vp9_invalid_bitstream.webm", "ts_junk_prefix_dts_backwards.ts"}


def test_corpus_videos_and_photos_get_thumbnails(corpus, config):
    for path in sorted(p for p in corpus.iterdir() if p.is_file()):
        outcome, thumbs = run_stage(path, config)
        if outcome.kind not in ("video", "photo") or (outcome.media is None and outcome.photo is None):
            assert thumbs.rows == [], path.name
            continue
        if path.name in UNDECODABLE:
            assert thumbs.decode_errors >= 1, path.name
            continue
        assert thumbs.decode_errors == 0, (path.name, thumbs.first_error)
        assert thumbs.rows and thumbs.frames_decoded == thumbs.chosen == len(thumbs.rows), path.name
        for row in thumbs.rows:
            assert max(row["width"], row["height"]) <= 320
        if outcome.fields.get("rotation") in (90, 270):
            assert thumbs.rows[0]["height"] > thumbs.rows[0]["width"], path.name


# -- through ingest and the CLI -------------------------------------------------------------
def test_ingest_catalogs_thumbnails_and_cli_writes_them(tmp_path, fast_config, ray_local, capsys):
    from pipeline.cli import main

    drop = tmp_path / "drop"
    drop.mkdir()
    write_clip(drop / "clip.mp4", duration_s=21)
    write_photo(drop / "photo.jpg", 6)
    corrupt_keyframe(write_clip(drop / "corrupt.mp4", duration_s=12, gop_s=10.0), 1)
    archive = tmp_path / "archive"
    ingest([drop], archive, fast_config)
    rec = by_name(archive)
    assert (rec["clip.mp4"]["thumbnail_count"], rec["clip.mp4"]["decode_errors"]) == (3, 0)
    assert rec["photo.jpg"]["thumbnail_count"] == 1
    bad = rec["corrupt.mp4"]
    assert (bad["status"], bad["error_stage"], bad["decode_errors"], bad["thumbnail_count"]) == ("damaged", "thumbnails", 1, 1)
    assert "corrupt.mp4" in bad["error_message"] and "10.000 s" in bad["error_message"]
    rows = table(archive, "thumbnails")
    assert sorted((r["sha256"] == rec["clip.mp4"]["sha256"], r["pts_s"]) for r in rows) == [
        (False, 0.0), (False, 0.0), (True, 0.0), (True, 10.0), (True, 20.0)]
    assert len([k for k in table(archive, "keyframes") if k["sha256"] == rec["clip.mp4"]["sha256"]]) == 21

    sha = rec["clip.mp4"]["sha256"]
    assert main(["thumbs", "--archive", str(archive), sha[:10], "--out", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "0-00-00.000.webp", "0-00-10.000.webp", "0-00-20.000.webp"]
    assert main(["thumbs", "--archive", str(archive), sha, "--out", str(tmp_path / "sheet"), "--sheet"]) == 0
    (sheet,) = (tmp_path / "sheet").iterdir()
    with Image.open(sheet) as image:
        assert image.format == "JPEG" and image.width > 3 * 160
    capsys.readouterr()
    assert main(["thumbs", "--archive", str(archive), "ffff" if not sha.startswith("ffff") else "0000",
                 "--out", str(tmp_path / "x")]) == 2
    assert "no recording" in capsys.readouterr().err
