"""Small dock drops for integrity and fault tests: a few real clips, some opaque blobs, a duplicate."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np

from pipeline.sample.clips import ClipSpec
from pipeline.sample.encode import write_clip

# A tiny real clip (160x120, 10 fps, 8 noisy frames, no audio): distinct content per seed.
CLIP = ClipSpec(fps=10, duration_s=0.8, audio_codec=None, noise=True, preset="ultrafast")


def make_drop(root: Path, *, clips: int = 3, blobs: int = 6, blob_bytes: int = 128 * 1024, seed: int = 0,
              duplicate: bool = True) -> list[Path]:
    """Write a drop under ``root``; return its files. Names follow the DEVICE_OFFICER_TIME pattern."""
    root.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(clips):
        path = root / f"BWC{seed:02d}{i:02d}_OF{i:04d}_2026030110{i:02d}00.MP4"
        write_clip(path, replace(CLIP, seed=seed * 100 + i))
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
