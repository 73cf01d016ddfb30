"""Realistic body-camera dock drops for the benchmarks, cached under ``bench/cache/``.

A few segments are really encoded (1080p30 H.264 at about 8 Mb/s with sensor-like noise, so the
encoder and every decoder downstream really work; GOP 1 s; AAC 128 kb/s stereo; also 720p and
HEVC). Encoding 1080p costs about 1.5 min per minute of footage on 2 cores, so a drop of several
GB is grown from them by remuxing (packet copy, at disk speed) into files with other names and
tags: every file has its own bytes (its own SHA-256) as on a real dock.

Layout, as recorders' docks leave it::

    DROP/dock01/X60391001/X60391001_OF2001_20260301080000_0001.MP4   (consecutive segments)

Run ``python bench/corpus.py --gb 1`` to build one and print its manifest path.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import av

from pipeline.sample.clips import ClipSpec
from pipeline.sample.encode import remux, write_clip

CACHE = Path(__file__).resolve().parent / "cache"
LAYOUT_VERSION = 1          # bump when the drop layout or naming changes: caches are rebuilt
START = datetime(2026, 3, 1, 8, 0, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Segment:
    """One really encoded clip; drops reuse it by packet copy."""

    codec: str              # libx264 | libx265
    width: int
    height: int
    seconds: float
    bitrate: int
    seed: int

    @property
    def label(self) -> str:
        return f"{self.height}p-{'hevc' if self.codec == 'libx265' else 'h264'}"

    def spec(self) -> ClipSpec:
        return ClipSpec(container="mp4", video_codec=self.codec, width=self.width, height=self.height,
                              fps=30, duration_s=self.seconds, gop_s=1.0, noise=True, bitrate=self.bitrate,
                              audio_codec="aac", audio_channels=2, audio_bitrate=128_000,
                              preset="veryfast", seed=self.seed)

    def key(self) -> str:
        return _key(self.spec(), av.__version__)

    def with_seconds(self, seconds: float) -> "Segment":
        return Segment(self.codec, self.width, self.height, seconds, self.bitrate, self.seed)


def h264_1080(seconds: float, seed: int) -> Segment:
    return Segment("libx264", 1920, 1080, seconds, 8_000_000, seed)


def h264_720(seconds: float, seed: int) -> Segment:
    return Segment("libx264", 1280, 720, seconds, 4_000_000, seed)


def hevc_1080(seconds: float, seed: int) -> Segment:
    return Segment("libx265", 1920, 1080, seconds, 6_000_000, seed)


@dataclass(frozen=True)
class Plan:
    """A drop: which segments, grown to how many bytes, over how many recorders."""

    segments: tuple[Segment, ...]
    target_bytes: int
    devices: int = 8

    def key(self) -> str:
        return _key([s.key() for s in self.segments], self.target_bytes, self.devices, LAYOUT_VERSION)

    def scaled(self, factor: float) -> "Plan":
        return Plan(self.segments, int(self.target_bytes * factor), max(self.devices, int(self.devices * factor)))


# Mostly 1080p H.264 as on most fleets, some 720p, a little HEVC (slow to encode: kept short).
QUICK = Plan((h264_1080(20, 1), h264_1080(20, 2), h264_1080(20, 3), h264_720(20, 4), hevc_1080(4, 5)),
             target_bytes=700_000_000, devices=8)
FULL = Plan((h264_1080(60, 1), h264_1080(60, 2), h264_1080(60, 3), h264_1080(60, 4), h264_720(60, 5),
             hevc_1080(10, 6)), target_bytes=3_000_000_000, devices=24)


@dataclass(frozen=True)
class DropFile:
    path: str               # relative to the drop folder
    size: int
    duration_s: float
    segment: str            # Segment.label it was copied from


@dataclass(frozen=True)
class Drop:
    root: Path
    files: tuple[DropFile, ...]

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def media_s(self) -> float:
        return sum(f.duration_s for f in self.files)

    def describe(self) -> dict:
        counts: dict[str, int] = {}
        for f in self.files:
            counts[f.segment] = counts.get(f.segment, 0) + 1
        return {"path": str(self.root), "files": len(self.files), "bytes": self.bytes,
                "media_hours": self.media_s / 3600, "files_by_kind": counts}


def _key(*parts) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ encoded segments


def _encode(segment: Segment, path: Path) -> float:
    t0 = time.monotonic()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write_clip(tmp, segment.spec())
    os.replace(tmp, path)
    return time.monotonic() - t0


def encoded_segments(segments: tuple[Segment, ...], cache: Path = CACHE) -> dict[Segment, Path]:
    """The encoded file of every segment, encoding (in parallel) only those not cached yet."""
    folder = cache / "segments"
    folder.mkdir(parents=True, exist_ok=True)
    paths = {s: folder / f"{s.label}-{s.seconds:g}s-{s.key()}.mp4" for s in segments}
    missing = [s for s, p in paths.items() if not p.exists()]
    if missing:
        footage = sum(s.seconds for s in missing)
        _log(f"corpus: encoding {len(missing)} segment(s), {footage:g} s of footage "
             f"(cached in {folder} for later runs)")
        t0 = time.monotonic()
        with ProcessPoolExecutor(max_workers=min(len(missing), os.cpu_count() or 1)) as pool:
            for s, took in zip(missing, pool.map(_encode, missing, [paths[s] for s in missing])):
                _log(f"corpus:   {s.label} {s.seconds:g} s (seed {s.seed}) in {took:.0f} s")
        _log(f"corpus: encoded in {time.monotonic() - t0:.0f} s")
    return paths


# ------------------------------------------------------------------ drops


def _device_ids(n: int) -> list[tuple[str, str]]:
    """(device serial, officer badge) pairs in the style of real recorders' file names."""
    prefixes = ("X6039", "D0115", "BWC4")   # three makes on one fleet
    return [(f"{prefixes[i % len(prefixes)]}{1001 + i}", f"OF{2001 + i}") for i in range(n)]


def _manifest_path(root: Path) -> Path:
    return root.parent / f"{root.name}.manifest.json"


def _load(root: Path) -> Drop | None:
    manifest = _manifest_path(root)
    if not manifest.exists():
        return None
    data = json.loads(manifest.read_text())
    files = tuple(DropFile(**f) for f in data["files"])
    for f in files:        # a drop someone edited or half-deleted is rebuilt, not trusted
        p = root / f.path
        if not p.is_file() or p.stat().st_size != f.size:
            return None
    return Drop(root, files)


def _save(drop: Drop) -> None:
    manifest = _manifest_path(drop.root)
    tmp = manifest.with_suffix(".tmp")
    tmp.write_text(json.dumps({"files": [asdict(f) for f in drop.files]}, indent=1))
    os.replace(tmp, manifest)      # written last: a drop without a manifest is incomplete


def build(plan: Plan, cache: Path = CACHE) -> Drop:
    """The drop of ``plan``, from the cache when an identical one was built before."""
    root = cache / "drops" / plan.key()
    drop = _load(root)
    if drop is not None:
        _log(f"corpus: cached drop {root} ({drop.bytes / 1e9:.2f} GB, {len(drop.files)} files)")
        return drop
    free = shutil.disk_usage(cache if cache.exists() else cache.parent).free
    if free < plan.target_bytes * 1.1:
        raise SystemExit(f"corpus: {plan.target_bytes / 1e9:.1f} GB drop needs that much free disk under "
                         f"{cache}, only {free / 1e9:.1f} GB free; pass a smaller --gb")
    sources = encoded_segments(plan.segments, cache)
    shutil.rmtree(root, ignore_errors=True)
    _manifest_path(root).unlink(missing_ok=True)
    _log(f"corpus: growing a {plan.target_bytes / 1e9:.2f} GB drop over {plan.devices} recorders by remux")
    t0 = time.monotonic()
    devices = _device_ids(plan.devices)
    clocks = {d: START + timedelta(minutes=7 * i) for i, d in enumerate(devices)}
    files: list[DropFile] = []
    total = 0
    i = 0
    while total < plan.target_bytes:
        segment = plan.segments[i % len(plan.segments)]
        (device, officer) = devices[i % len(devices)]
        seq = i // len(devices) + 1
        when = clocks[(device, officer)]
        dock = f"dock{1 + (i % len(devices)) % 4:02d}"
        rel = f"{dock}/{device}/{device}_{officer}_{when:%Y%m%d%H%M%S}_{seq:04d}.MP4"
        tags = {"creation_time": when.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
                "comment": f"serial {device} officer {officer} segment {seq}"}
        remux(sources[segment], root / rel, metadata=tags)
        size = (root / rel).stat().st_size
        files.append(DropFile(rel, size, segment.seconds, segment.label))
        clocks[(device, officer)] = when + timedelta(seconds=segment.seconds)
        total += size
        i += 1
    drop = Drop(root, tuple(files))
    _save(drop)
    took = time.monotonic() - t0
    _log(f"corpus: {len(files)} files, {total / 1e9:.2f} GB in {took:.0f} s ({total / 1e6 / max(took, 1e-9):.0f} MB/s)")
    return drop


def subset(drop: Drop, every: int, root: Path) -> Drop:
    """Every ``every``-th file of ``drop`` under ``root``, as hard links (copies across disks)."""
    shutil.rmtree(root, ignore_errors=True)
    files = drop.files[::every]
    for f in files:
        dst = root / f.path
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(drop.root / f.path, dst)
        except OSError:
            shutil.copy2(drop.root / f.path, dst)
    return Drop(root, files)


def from_folder(root: Path) -> Drop:
    """An operator's own footage as a drop (durations unknown here: fieldrec reports them)."""
    files = []
    for dirpath, _, names in os.walk(root):
        for name in sorted(names):
            p = Path(dirpath) / name
            if p.is_file():
                files.append(DropFile(str(p.relative_to(root)), p.stat().st_size, 0.0, "own"))
    return Drop(root, tuple(files))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="the bench-full segments (1 min each)")
    parser.add_argument("--gb", type=float, help="grow the drop to this many GB")
    args = parser.parse_args()
    plan = FULL if args.full else QUICK
    if args.gb:
        plan = Plan(plan.segments, int(args.gb * 1e9), plan.devices)
    drop = build(plan)
    print(json.dumps(drop.describe(), indent=2))


if __name__ == "__main__":
    main()
