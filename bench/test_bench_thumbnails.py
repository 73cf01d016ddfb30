"""Micro-benchmarks of keyframe thumbnails (``make bench``); the full cost study is thumbs_cost.py."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.config import load_config
from pipeline.native import thumbs
from pipeline.sample.clips import ClipSpec
from pipeline.sample.encode import write_clip
from pipeline.stages import demux, thumbnails
from pipeline.stages.filekind import sniff


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """30 s of noisy 640x360 at 30 fps, GOP 1 s: 30 keyframes, 3 of them chosen."""
    spec = ClipSpec(width=640, height=360, fps=30, duration_s=30, gop_s=1.0, noise=True,
                          bitrate=2_000_000, audio_codec=None, preset="ultrafast")
    return write_clip(tmp_path_factory.mktemp("thumbs") / "clip.mp4", spec)


@pytest.fixture(scope="module")
def demuxed(clip):
    config = load_config()
    outcome = demux.demux_file(clip, "0" * 64, sniff(clip.read_bytes()[:64]), clip.stat().st_size, config.demux)
    return config, outcome


def test_choose_keyframes_of_an_hour_of_mjpeg(benchmark):
    pts = np.arange(0, 3600, 1 / 30)                          # every frame a keyframe
    chosen = benchmark(thumbnails.choose_keyframes, pts, 10.0)
    assert len(chosen) == 360


def test_thumbnails_stage(benchmark, clip, demuxed):
    config, outcome = demuxed
    made = benchmark(thumbnails.make_thumbnails, clip, "0" * 64, outcome, config.thumbnails)
    assert made.frames_decoded == made.chosen == len(made.rows) == 3


def test_bare_decode_of_the_same_keyframes(benchmark, clip, demuxed):
    _, outcome = demuxed
    times = outcome.media.packets[0]
    keys = times.pts[times.key]
    chosen = keys[thumbnails.choose_keyframes(keys, 10.0)]
    got = benchmark(thumbs.decode_keyframes, clip, 0, chosen, max_side=320, fast=False, previews=False)
    assert got.frames_decoded == 3
