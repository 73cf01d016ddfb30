"""Keyframe thumbnails: only the chosen keyframes are decoded, pictures stay upright, damage is counted."""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageChops, ImageStat

from pipeline.config import ConfigError, load_config
from pipeline.native import media
from pipeline.sample.clips import ClipSpec
from pipeline.sample.encode import write_clip, write_wav
from pipeline.sample.photo import write_jpeg
from pipeline.stages import demux, thumbnails
from pipeline.stages.filekind import sniff
from tests.helpers import by_name, ingest, table

# -- generated media ------------------------------------------------------------------------
def clip(path: Path, **spec) -> Path:
    """A small silent clip: 160x120 at 10 fps, 25 s, GOP 1 s unless told otherwise."""
    base = dict(container="mp4", audio_codec=None, fps=10, duration_s=25.0, preset="ultrafast")
    return write_clip(path, ClipSpec(**{**base, **spec}))


def damage_keyframe(path: Path, index: int) -> float:
    """Noise over the slice data of the index-th keyframe of an MP4, keeping its first 8 bytes.

    The NAL length and header survive (as with bit rot inside a large sample), so the demuxer
    still lists the keyframe and only decoding it fails. (``damage.corrupt_keyframe`` overwrites
    the header too: FFmpeg's H.264 parser then no longer calls the packet a keyframe at all.)
    """
    times = media.demux(path).packets[0]
    pos, size = int(times.pos[times.key][index]), int(times.size[times.key][index])
    data = bytearray(path.read_bytes())
    data[pos + 8: pos + size] = np.random.default_rng(7).integers(0, 256, size - 8, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return float(times.pts[times.key][index])


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
    spec: dict
    keyframes: int                     # every one stays in the keyframes table
    chosen: list[float]
    size: tuple[int, int]
    rotation: int = 0                  # the `rotation` column: counter-clockwise degrees


CASES = [
    pytest.param(Case(dict(gop_s=1.0), 25, [0, 10, 20], (160, 120)), id="gop-1s"),
    pytest.param(Case(dict(gop_s=10.0), 3, [0, 10, 20], (160, 120)), id="gop-10s"),
    pytest.param(Case(dict(gop_s=0.5), 50, [0, 10, 20], (160, 120)), id="gop-0.5s"),
    pytest.param(Case(dict(container="avi", video_codec="mjpeg", fps=5), 125, [0, 10, 20], (160, 120)), id="mjpeg"),
    pytest.param(Case(dict(container="avi", video_codec="mjpeg", fps=2, width=1280, height=720), 50, [0, 10, 20],
                      (320, 180)), id="mjpeg-720p-decoded-at-quarter-size"),
    pytest.param(Case(dict(gop_s=1.0, bframes=2), 25, [0, 10, 20], (160, 120)), id="b-frames"),
    pytest.param(Case(dict(gop_s=1.0, rotation=90), 25, [0, 10, 20], (120, 160), rotation=270), id="rotated-90"),
    pytest.param(Case(dict(gop_s=1.0, rotation=270), 25, [0, 10, 20], (120, 160), rotation=90), id="rotated-270"),
    pytest.param(Case(dict(gop_s=1.0, rotation=180), 25, [0, 10, 20], (160, 120), rotation=180), id="rotated-180"),
]
TRANSPOSE = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}


def turned(image: Image.Image, ccw: int) -> Image.Image:
    return image.transpose(TRANSPOSE[ccw]) if ccw else image


def difference(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


@pytest.mark.parametrize("case", CASES)
def test_only_chosen_keyframes_are_decoded(tmp_path, config, case: Case):
    suffix = ".avi" if case.spec.get("container") == "avi" else ".mp4"
    path = clip(tmp_path / f"clip{suffix}", **case.spec)
    outcome, thumbs = run_stage(path, config)
    assert outcome.keyframes.num_rows == case.keyframes
    assert outcome.fields["rotation"] == case.rotation
    assert thumbs.decode_errors == 0
    assert thumbs.frames_decoded == len(case.chosen)         # the decoder handed out nothing else
    assert [r["pts_s"] for r in thumbs.rows] == pytest.approx(case.chosen)
    for row in thumbs.rows:
        assert (row["width"], row["height"]) == decoded(row).size == case.size
        assert row["format"] == "webp"
    if case.rotation:
        # The same pictures without the display matrix, turned by hand, look the same.
        plain = clip(tmp_path / f"plain{suffix}", **{**case.spec, "rotation": 0})
        first = decoded(run_stage(plain, config)[1].rows[0])
        right, wrong = turned(first, case.rotation), turned(first, (case.rotation + 180) % 360)
        assert difference(decoded(thumbs.rows[0]), right) < 4 < difference(decoded(thumbs.rows[0]), wrong)


def test_long_side_is_capped_and_jpeg_is_configurable(tmp_path, config):
    path = clip(tmp_path / "clip.mp4", duration_s=2)
    _, thumbs = run_stage(path, config, max_side=80, format="jpeg", quality=60)
    (row,) = thumbs.rows
    assert (row["width"], row["height"]) == (80, 60)
    assert row["format"] == "jpeg" and row["image"][:2] == b"\xff\xd8"


def test_corrupt_keyframe_is_counted_and_the_rest_kept(tmp_path, config):
    path = clip(tmp_path / "clip.mp4", duration_s=5)
    assert damage_keyframe(path, 2) == 2.0
    outcome, thumbs = run_stage(path, config, interval_s=1.0)
    assert outcome.keyframes.num_rows == 5
    assert thumbs.chosen == 5
    assert thumbs.decode_errors == 1
    assert "2.000 s" in thumbs.first_error
    assert [r["pts_s"] for r in thumbs.rows] == pytest.approx([0, 1, 3, 4])


@pytest.mark.parametrize("orientation, size, mark_at", [
    pytest.param(None, (160, 120), "top-left", id="no-exif-orientation"),
    pytest.param(6, (120, 160), "top-right", id="exif-6-portrait"),
    pytest.param(8, (120, 160), "bottom-left", id="exif-8-portrait"),
    pytest.param(3, (160, 120), "bottom-right", id="exif-3-upside-down"),
])
def test_photo_gets_one_upright_thumbnail(tmp_path, config, orientation, size, mark_at):
    path = write_jpeg(tmp_path / "photo.jpg", 160, 120, orientation=orientation)   # red mark: stored top-left
    _, thumbs = run_stage(path, config)
    (row,) = thumbs.rows
    image = decoded(row)
    assert image.size == size and row["pts_s"] == 0.0
    w, h = size
    corners = {"top-left": (2, 2), "top-right": (w - 3, 2), "bottom-left": (2, h - 3), "bottom-right": (w - 3, h - 3)}
    red = {name: is_red(image.getpixel(xy)) for name, xy in corners.items()}
    assert red == {name: name == mark_at for name in corners}


def test_audio_gets_none_and_disabled_stage_does_nothing(tmp_path, config):
    path = write_wav(tmp_path / "a.wav", duration_s=1.0)
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
def test_ingest_catalogs_thumbnails_and_cli_writes_them(tmp_path, fast_config, capsys):
    from pipeline.cli import main

    drop = tmp_path / "drop"
    drop.mkdir()
    clip(drop / "clip.mp4", duration_s=21, audio_codec="aac")
    write_jpeg(drop / "photo.jpg", orientation=6)
    damage_keyframe(clip(drop / "corrupt.mp4", duration_s=12, gop_s=10.0, seed=1), 1)
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
    assert main(["thumbs", "--archive", str(archive), "ffffff" if not sha.startswith("ffffff") else "000000",
                 "--out", str(tmp_path / "x")]) == 2
    assert "no recording" in capsys.readouterr().err


@pytest.mark.parametrize("ranges, asked", [([], 0), ([(0, 10)], 1), ([(-1, 10), (0, 0), (0, -5)], 0),
                                           ([(10 ** 15, 10)], 1), ([(0, 10 ** 15)], 1)],
                         ids=["none", "one", "negative-or-empty", "past-the-end", "huge"])
def test_prefetching_keyframes_is_a_hint_that_never_fails(tmp_path, ranges, asked):
    from pipeline.native import thumbs

    path = tmp_path / "f.MP4"
    path.write_bytes(b"x" * 100)
    assert thumbs.prefetch(path, ranges) == asked
    assert thumbs.prefetch(tmp_path / "missing.MP4", [(0, 10)]) == 0
