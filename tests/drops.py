"""Small dock drops for integrity and fault tests: a few real clips, some opaque blobs, a duplicate."""

from __future__ import annotations

import hashlib
from pathlib import Path

import av
import numpy as np


def write_clip(path: Path, frames: int, seed: int) -> None:
    """A tiny real MPEG-4 clip (160x120, 10 fps) of random pictures: distinct content per seed."""
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for _ in range(frames):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())


def make_drop(root: Path, *, clips: int = 3, blobs: int = 6, blob_bytes: int = 128 * 1024, seed: int = 0,
              duplicate: bool = True) -> list[Path]:
    """Write a drop under ``root``; return its files. Names follow the DEVICE_OFFICER_TIME pattern."""
    root.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(clips):
        path = root / f"BWC{seed:02d}{i:02d}_OF{i:04d}_2026030110{i:02d}00.MP4"
        write_clip(path, 8, seed * 100 + i)
        files.append(path)
    rng = np.random.default_rng(seed)
    for i in range(blobs):
        path = root / f"notes_{seed}_{i}.bin"
        path.write_bytes(rng.bytes(blob_bytes))
        files.append(path)
    if duplicate and files:
        copy = root / "copy_of_first.bin"
        copy.write_bytes(files[0].read_bytes())
        files.append(copy)
    return files


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
