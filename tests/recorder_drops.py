"""Dock drops as several recorder makes leave them, with known answers.

``profiles_drop``: one file per shipped naming profile (and the forms of the default one), a file
no profile attributes, identical bytes under two names that disagree and under two that agree, and
a site's own recorder profile. ``sessions_drop``: devices recording in sessions through a day (10
minute segments), restarted sequence numbers, a pause a case window covers, recordings marked
important. ``ledger_drop``: one device's recordings around its holders' periods.

Segments are real MP4s (tiny pictures at 1 frame a second, so ten minutes cost a tenth of a
second to encode); each file's name and its UTC creation_time carry the same clock.
"""

from __future__ import annotations

import shutil
import zlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pipeline.common.times import zone_named
from pipeline.sample.clips import ClipSpec
from pipeline.sample.encode import write_clip

UTC = timezone.utc
SHANGHAI = zone_named("Asia/Shanghai")
TINY = ClipSpec(width=32, height=32, fps=1, gop_s=60, audio_codec=None, preset="ultrafast")
DAY = datetime(2025, 6, 2)                  # the sessions drop's first day, Beijing wall clock


def beijing(wall: datetime) -> datetime:
    """A Beijing wall-clock reading as the instant it names."""
    return wall.replace(tzinfo=SHANGHAI).astimezone(UTC)


def clip(folder: Path, name: str, wall: datetime, seconds: float, *, local_stamp: bool = False) -> Path:
    """A recording named ``name``, recorded from ``wall`` (Beijing wall clock) for ``seconds``; its
    creation_time is UTC, or (``local_stamp``) the wall clock as some recorders write it."""
    instant = beijing(wall)
    stamp = (wall.strftime("%Y-%m-%dT%H:%M:%S") if local_stamp
             else instant.strftime("%Y-%m-%dT%H:%M:%S.000000Z"))
    spec = replace(TINY, duration_s=seconds, creation_time=stamp, seed=zlib.crc32(name.encode()) % 100_000)
    return write_clip(folder / name, spec)


# -- naming profiles ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Named:
    """What a file's name must give: device, officer, wall-clock start, sequence, mark, profile."""
    device: str | None
    officer: str | None
    start: datetime | None
    seq: int | None
    important: bool
    profile: str | None


T = datetime(2025, 6, 2, 9, 0, 0)
PROFILE_FILES = {
    "CAMA_OF7_20250602090000_0001.MP4": Named("CAMA", "OF7", T, 1, False, "default"),
    "CAMB_张三_20250602090000_0003_I.MP4": Named("CAMB", "张三", T, 3, True, "default"),
    "CAMB_张三_20250602091000_0004重要.MP4": Named("CAMB", "张三", T + timedelta(minutes=10), 4, True, "default"),
    "CAMC_20250602090000_IMP.MP4": Named("CAMC", None, T, None, True, "default"),
    "ZFJLY_A8012345_李四_20250602_090000_IMP.MP4": Named("A8012345", "李四", T, None, True, "prefixed"),
    "ZFJLY_A8012345_李四_20250602_091000_0002.MP4": Named("A8012345", "李四", T + timedelta(minutes=10), 2, False,
                                                      "prefixed"),
    "DSJ-A8_012345_20250602090000_0001.MP4": Named("DSJ-A8", "012345", T, 1, False, "vendor"),
    "DSJ-B2_20250602090000_0007_IMP.MP4": Named("DSJ-B2", None, T, 7, True, "vendor"),
    "ZFY0042-20250602090000.MP4": Named("ZFY0042", None, T, None, False, "zfy"),        # the site's own profile
    "MOV0001.MP4": Named(None, None, None, None, False, None),                           # no profile: unattributed
}
CONFLICTING_COPY = "CAMZ_OF9_20250602120000_0009.MP4"     # the bytes of CAMA_..._0001 under another identity
AGREEING_COPY = "DSJ-A8_012345_20250602090000_0001.MP4"   # the same name docked again from another dock
SITE_CONFIG = """\
[identity.profiles.zfy]
# A site's own recorder: device and time only, its wall clock in the container.
patterns = ['^(?P<device>ZFY\\d+)-(?P<time>\\d{14})\\.MP4$']
container_time = "local"
example = "ZFY0042-20250602090000.MP4"

[ingest]
fsync = false

[thumbnails]
enabled = false
"""


def profiles_drop(root: Path) -> Path:
    """The naming-profile drop under ``root`` (dock1, and dock2 with the two copies); returns root."""
    dock1, dock2 = root / "dock1", root / "dock2"
    for name, named in PROFILE_FILES.items():
        clip(dock1, name, named.start or T, 2.0, local_stamp=name.startswith("ZFY"))
    dock2.mkdir(parents=True)
    shutil.copyfile(dock1 / "CAMA_OF7_20250602090000_0001.MP4", dock2 / CONFLICTING_COPY)
    shutil.copyfile(dock1 / AGREEING_COPY, dock2 / AGREEING_COPY)
    return root


# -- recording sessions ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pause:
    """A pause between two files of a device, and whether it must be explained."""
    device: str
    before: str
    after: str
    seconds: float
    needs: bool
    why: str


SEGMENT_S = 600.0


def _at(day: int, hh: int, mm: int, ss: int = 0) -> datetime:
    return DAY + timedelta(days=day, hours=hh, minutes=mm, seconds=ss)


def _plan() -> tuple[list[tuple[str, datetime, float]], list[Pause]]:
    """Every file (name, wall-clock start, seconds) and every pause the drop holds."""
    files: list[tuple[str, datetime, float]] = []
    pauses: list[Pause] = []

    def device(name_of, starts: list[tuple[datetime, int | None]], device_id: str, needs: dict[int, tuple[bool, str]],
               lengths: dict[int, float] | None = None):
        names = []
        for i, (start, seq) in enumerate(starts):
            names.append(name_of(start, seq))
            files.append((names[-1], start, (lengths or {}).get(i, SEGMENT_S)))
        for i in range(1, len(starts)):
            prev_end = starts[i - 1][0] + timedelta(seconds=(lengths or {}).get(i - 1, SEGMENT_S))
            gap = (starts[i][0] - prev_end).total_seconds()
            if gap > 2:
                need, why = needs.get(i, (False, "between recording sessions"))
                pauses.append(Pause(device_id, names[i - 1], names[i], gap, need, why))

    # SES1: three sessions a day of 10-minute segments, then the next day (its count starts over).
    default = lambda dev, off: lambda t, seq: f"{dev}_{off}_{t:%Y%m%d%H%M%S}_{seq:04d}.MP4"   # noqa: E731
    device(default("SES1", "OF1"),
           [(_at(0, 8, 0), 1), (_at(0, 8, 10), 2), (_at(0, 8, 20, 40), 3),          # 40 s battery swap
            (_at(0, 11, 0), 4), (_at(0, 11, 10, 5), 5),                            # a 5 s stop
            (_at(0, 15, 0), 6), (_at(0, 15, 10), 7),
            (_at(1, 9, 0), 1), (_at(1, 9, 10), 2)], "SES1",
           {2: (True, "inside recording session SES1@20250602-080000"),
            4: (True, "inside recording session SES1@20250602-110000")})
    # SES2: a new card the same afternoon: the count starts over (vendor-prefixed names).
    device(lambda t, seq: f"DSJ-S2_010203_{t:%Y%m%d%H%M%S}_{seq:04d}.MP4",
           [(_at(0, 9, 0), 1), (_at(0, 9, 10), 2), (_at(0, 13, 0), 1), (_at(0, 13, 10), 2)], "DSJ-S2", {})
    # SES4: a 5-minute pause between two sessions, inside the window a case assigns (09:55-10:20).
    device(default("SES4", "OF4"), [(_at(0, 10, 0), 1), (_at(0, 10, 15), 2), (_at(0, 14, 0), 3)], "SES4",
           {1: (True, "inside case INC-S")})
    # SES5: the recorder marked two files important: the pause between them is the action's.
    device(lambda t, seq: f"ZFJLY_SES5_王五_{t:%Y%m%d_%H%M%S}" + ("_IMP" if seq else "") + ".MP4",
           [(_at(0, 9, 0), 1), (_at(0, 9, 15), 1), (_at(0, 10, 0), None)], "SES5",
           {1: (True, "between recordings marked important")})
    return files, pauses


CASE_WINDOW = (_at(0, 9, 55), _at(0, 10, 20))           # Beijing wall clock, as a person types it


def sessions_drop(root: Path) -> list[Pause]:
    """Write the sessions drop under ``root``; returns every pause with its expected verdict."""
    files, pauses = _plan()
    for name, start, seconds in files:
        clip(root, name, start, seconds)
    return pauses


# -- the device ledger -------------------------------------------------------------------------------
def ledger_drop(root: Path, day: datetime) -> dict[str, str]:
    """LED1's recordings on ``day`` (Beijing wall-clock midnight), named without an officer: before
    the first handover, two in OF1's period with a 30 s pause, one in OF2's, one after the return."""
    at = lambda hh, mm=0, ss=0: day + timedelta(hours=hh, minutes=mm, seconds=ss)     # noqa: E731
    plan = {"before": (at(7), 60.0), "of1_a": (at(9), SEGMENT_S), "of1_b": (at(9, 10, 30), SEGMENT_S),
            "of2": (at(13), SEGMENT_S), "after_return": (at(18), 60.0)}
    names = {}
    for key, (start, seconds) in plan.items():
        names[key] = f"LED1_{start:%Y%m%d%H%M%S}.MP4"
        clip(root, names[key], start, seconds)
    return names
