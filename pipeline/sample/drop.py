"""Build the demo "dock drop": what three body-worn cameras leave on the docks.

Layout (all names follow ``DEVICE_OFFICER_YYYYMMDDhhmmss[_SEQ].EXT`` in Beijing time, UTC+8, as
the recorders of a town office in China name them; ``creation_time`` tags are UTC, as MP4 defines)::

    dock1/BWC0001/  4 consecutive segments (5+4+6+5 s), a zero-byte 5th
                    segment (recording aborted at once) and DEVICE.LOG
    dock2/BWC0001/  segment 0002 again, byte-identical (re-docked device)
    dock2/BWC0002/  3 segments, 37 s gap before 0003 (battery swap), and
                    a portrait photo BWC0002_OF4522_20260301101500.JPG (EXIF
                    orientation 6)
    dock3/BWC0003/  3 consecutive segments, a 4th cut off mid-write (no
                    moov: the battery died) and a WAV voice note

Segments are H.264/AAC MP4 at 320x240; each one's ``creation_time`` tag and
name time (the same instant) equal the previous one's start plus its whole-second duration.
Run ``python -m pipeline.sample DIR`` to build it.
"""

from __future__ import annotations

import argparse
import shutil
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pipeline.common.clock import now_utc
from pipeline.sample.clips import ClipSpec
from pipeline.sample.damage import write_no_moov
from pipeline.sample.encode import write_clip, write_wav
from pipeline.sample.photo import write_jpeg

# superfast: the drop is rebuilt by tests and the demo, and looks the same to a demuxer.
_SEGMENT = ClipSpec(width=320, height=240, fps=30, gop_s=1.0, preset="superfast")


@dataclass(frozen=True)
class _Device:
    dock: str
    device: str
    officer: str
    start: datetime
    durations: tuple[int, ...]
    gaps: dict[int, int]  # segment index -> seconds of silence before it


BEIJING = timezone(timedelta(hours=8), "+08:00")      # China Standard Time: no daylight saving

_DEVICES = (
    _Device("dock1", "BWC0001", "OF4521", datetime(2026, 3, 1, 10, 0, 0, tzinfo=BEIJING), (5, 4, 6, 5), {}),
    _Device("dock2", "BWC0002", "OF4522", datetime(2026, 3, 1, 10, 5, 0, tzinfo=BEIJING), (5, 4, 6), {2: 37}),
    _Device("dock3", "BWC0003", "OF4523", datetime(2026, 3, 1, 10, 10, 0, tzinfo=BEIJING), (5, 5, 4), {}),
)


def _name(dev: _Device, when: datetime, seq: int | None, ext: str) -> str:
    stamp = when.astimezone(BEIJING).strftime("%Y%m%d%H%M%S")       # the device's wall clock
    tail = f"_{seq:04d}" if seq is not None else ""
    return f"{dev.device}_{dev.officer}_{stamp}{tail}.{ext}"


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def _segments(root: Path, dev: _Device, shift: timedelta) -> tuple[list[Path], datetime]:
    """Write the device's good segments; returns them and when the next would start."""
    folder = root / dev.dock / dev.device
    when, paths = dev.start + shift, []
    for i, seconds in enumerate(dev.durations):
        when += timedelta(seconds=dev.gaps.get(i, 0))
        # Distinct seeds: separate recordings must not share media bytes.
        seed = 100 * int(dev.device[-4:]) + i
        spec = replace(_SEGMENT, duration_s=float(seconds), creation_time=_iso(when), seed=seed)
        paths.append(write_clip(folder / _name(dev, when, i + 1, "MP4"), spec))
        when += timedelta(seconds=seconds)
    return paths, when


def make_sample_drop(root: Path, recorded_at: datetime | None = None) -> Path:
    """Build the dock drop described in the module docstring under ``root``; returns root.

    ``recorded_at``: when the event began (an instant; naive: UTC); default 2026-03-01 10:00 Beijing
    time, so the drop is the same bytes every time. The demo passes a recent time, so its uploads
    are on time.
    """
    root = Path(root)
    bwc1, bwc2, bwc3 = _DEVICES
    if recorded_at is not None and recorded_at.tzinfo is None:
        recorded_at = recorded_at.replace(tzinfo=timezone.utc)
    shift = (recorded_at.replace(microsecond=0) - bwc1.start) if recorded_at else timedelta(0)
    bwc1 = replace(bwc1, start=bwc1.start + shift)

    paths, next_start = _segments(root, bwc1, timedelta(0))
    folder = root / bwc1.dock / bwc1.device
    (folder / _name(bwc1, next_start, len(paths) + 1, "MP4")).write_bytes(b"")
    (folder / "DEVICE.LOG").write_text(
        f"{_iso(bwc1.start)} BOOT {bwc1.device} fw=2.4.1\n"
        f"{_iso(bwc1.start)} LOGIN {bwc1.officer}\n"
        f"{_iso(next_start)} DOCK slot=1 battery=41%\n"
    )
    duplicate = root / "dock2" / bwc1.device / paths[1].name
    duplicate.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(paths[1], duplicate)

    _segments(root, bwc2, shift)
    photo_time = datetime(2026, 3, 1, 10, 15, 0, tzinfo=BEIJING) + shift
    write_jpeg(
        root / bwc2.dock / bwc2.device / _name(bwc2, photo_time, None, "JPG"),
        orientation=6,
        datetime_original=photo_time.astimezone(BEIJING).strftime("%Y:%m:%d %H:%M:%S"),     # EXIF: wall clock
    )

    paths, next_start = _segments(root, bwc3, shift)
    folder = root / bwc3.dock / bwc3.device
    broken = replace(_SEGMENT, duration_s=5.0, creation_time=_iso(next_start), seed=999)
    write_no_moov(folder / _name(bwc3, next_start, len(paths) + 1, "MP4"), broken, keep_fraction=0.7)
    note_time = datetime(2026, 3, 1, 10, 20, 0, tzinfo=BEIJING) + shift
    write_wav(folder / _name(bwc3, note_time, None, "WAV"), duration_s=3.0, rate=16000)
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.sample", description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path, help="where to build the drop (created if missing)")
    parser.add_argument("--hours-ago", type=float, metavar="H",
                        help="date the recordings H hours before now instead of 2026-03-01 10:00 Beijing time")
    args = parser.parse_args(argv)
    when = None
    if args.hours_ago is not None:
        when = now_utc() - timedelta(hours=args.hours_ago)
    make_sample_drop(args.dir, when)
    return 0


