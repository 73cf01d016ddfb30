"""Tiny clips with known timing faults, encoded with PyAV, for the gap tests.

Kept apart from ``pipeline.sample.synth`` (arriving from another branch) so these tests do not
wait for it; the options mirror ClipSpec's names where they overlap.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


@dataclass(frozen=True)
class Clip:
    container: str = "mp4"                  # mp4 | mpegts
    duration_s: float = 2.0
    fps: int = 10
    width: int = 160
    height: int = 120
    bframes: int = 0
    audio: bool = False
    creation_time: datetime | None = None
    pts_jumps: tuple[tuple[float, float], ...] = ()   # (at_s, jump_s): timestamps skip jump_s at at_s
    faststart: bool = False                 # MP4 index at the front (a cut file keeps its index)
    start_s: float = 0.0                    # first timestamp (near 95443.7 s an MPEG-TS clock wraps)
    seed: int = 0                           # picture content: distinct seeds make distinct files
    comment: str | None = None              # a container tag: distinct comments make distinct files


def _shift(t: float, jumps) -> float:
    return t + sum(j for at, j in jumps if t >= at)


def write_clip(path: Path, clip: Clip) -> Path:
    path = Path(path)
    options = {"movflags": "+faststart"} if clip.faststart and clip.container == "mp4" else {}
    with av.open(str(path), "w", format=clip.container, options=options) as out:
        if clip.creation_time:
            out.metadata["creation_time"] = clip.creation_time.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        if clip.comment:
            out.metadata["comment"] = clip.comment
        v = out.add_stream("libx264", rate=clip.fps)
        v.width, v.height, v.pix_fmt = clip.width, clip.height, "yuv420p"
        v.codec_context.time_base = Fraction(1, clip.fps * 100)
        v.codec_context.options = {"bf": str(clip.bframes), "g": str(clip.fps), "preset": "ultrafast"}
        if clip.bframes == 0:
            v.codec_context.options |= {"tune": "zerolatency"}
        a = None
        if clip.audio:
            a = out.add_stream("aac", rate=8000)
            a.layout = "mono"
        frames = int(round(clip.duration_s * clip.fps))
        image = np.zeros((clip.height, clip.width, 3), dtype=np.uint8)
        for i in range(frames):
            image[:] = (i * 23 + clip.seed * 7) % 255
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = int(round((clip.start_s + _shift(i / clip.fps, clip.pts_jumps)) * clip.fps * 100))
            frame.time_base = Fraction(1, clip.fps * 100)
            for packet in v.encode(frame):
                out.mux(packet)
        for packet in v.encode():
            out.mux(packet)
        if a is not None:
            n = 1024
            for k in range(int(clip.duration_s * 8000) // n):
                samples = (np.sin(np.arange(n) / 5.0) * 0.1).astype(np.float32).reshape(1, n)
                frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
                frame.sample_rate = 8000
                frame.pts = int(round((clip.start_s + _shift(k * n / 8000, clip.pts_jumps)) * 8000))
                frame.time_base = Fraction(1, 8000)
                for packet in a.encode(frame):
                    out.mux(packet)
            for packet in a.encode():
                out.mux(packet)
    return path


def concatenate(path: Path, *parts: Path) -> Path:
    """Byte-wise join (MPEG-TS survives it): the second part's timestamps start over."""
    Path(path).write_bytes(b"".join(Path(p).read_bytes() for p in parts))
    return Path(path)


def truncate(path: Path, fraction: float) -> Path:
    """Cut the file's tail off, as a recorder losing power does."""
    size = os.path.getsize(path)
    with open(path, "r+b") as fh:
        fh.truncate(int(size * fraction))
    return Path(path)
