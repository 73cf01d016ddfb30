"""Who recorded a file and when: device, officer, start time and the importance mark from the
file name, then the container or EXIF for the time.

A naming profile is a recorder model's way of naming files: its patterns (named groups device,
officer, time, seq, important), its time format, and how it writes container times. Profiles are
tried in order (``IdentityConfig.order``, or a site's own profiles, the shipped ones, then
``default``); the first whose pattern matches names the file.

Each source of a time is in a known zone. A file-name time is the device's wall clock (in the
device's zone); EXIF DateTimeOriginal is too; MP4/MOV ``creation_time`` is UTC by the format's
definition, unless the recorder's profile says it writes its wall clock there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Mapping

from pipeline.common.times import UTC, Zones, place, zone_label
from pipeline.config import IdentityConfig
from pipeline.stages.contract import FileContext, StageOutput

CREATION_TAGS = ("creation_time", "com.apple.quicktime.creationdate", "date")
DEFAULT_PROFILE = "default"


@dataclass(frozen=True)
class Profile:
    name: str
    patterns: tuple[str, ...]
    time_format: str = "%Y%m%d%H%M%S"
    container_time_local: bool = False       # the recorder writes its wall clock into creation_time
    example: str | None = None               # a file name this profile recognises (checked at start-up)


@dataclass(frozen=True)
class Identity:
    device_id: str | None = None
    officer_id: str | None = None
    sequence: int | None = None
    start_time: datetime | None = None       # the device's wall clock at the start, naive
    time_source: str = "none"                 # filename | creation_time | exif | none
    identity_source: str = "none"             # filename | none
    important: bool = False                   # the recorder marked the file important in its name
    name_time: datetime | None = None         # as written: the device's wall clock
    container_time: datetime | None = None    # as written: UTC, or wall clock under a "local" profile
    profile: str | None = None                # the profile whose pattern matched the name
    start_utc: datetime | None = None         # the instant the recording started
    utc_offset_s: int | None = None           # the device's clock ran at UTC + this
    time_zone: str | None = None              # the device's zone the offset came from
    zone_source: str | None = None            # site | device | legacy (which setting named the zone)
    container_time_zone: str | None = None    # how container_time was read: UTC | local

    def end_utc(self, duration_s: float | None) -> datetime | None:
        if self.start_utc is None:
            return None
        return self.start_utc + timedelta(seconds=duration_s or 0.0)

    def end_time(self, duration_s: float | None) -> datetime | None:
        if self.start_time is None:
            return None
        return self.start_time + timedelta(seconds=duration_s or 0.0)


def profiles(cfg: IdentityConfig) -> tuple[Profile, ...]:
    """The profiles in the order they are tried: ``cfg.order`` when given, else every named
    profile as configured (a site's own first, then the shipped ones), then ``default``."""
    every = {name: Profile(name, tuple(p["patterns"]), p.get("time_format", cfg.time_format),
                           p.get("container_time", "utc") == "local", p.get("example"))
             for name, p in cfg.profiles.items()}
    every[DEFAULT_PROFILE] = Profile(DEFAULT_PROFILE, tuple(cfg.name_patterns), cfg.time_format,
                                     cfg.container_time == "local")
    return tuple(every[name] for name in (cfg.order or every))


@lru_cache(maxsize=16)
def _compiled(patterns: tuple[str, ...]) -> tuple[re.Pattern, ...]:
    return tuple(re.compile(p) for p in patterns)


def match_name(name: str, cfg: IdentityConfig) -> tuple[Profile | None, dict]:
    """The profile whose pattern matches ``name`` first, and the pattern's named groups (``time``
    parsed, ``important`` a bool); (None, {}) when none does."""
    for profile in profiles(cfg):
        for pattern in _compiled(profile.patterns):
            m = pattern.match(name)
            if m:
                groups = {k: v for k, v in m.groupdict().items() if v is not None}
                if "time" in groups:
                    try:
                        groups["time"] = datetime.strptime(groups["time"], profile.time_format)
                    except ValueError:
                        groups.pop("time")      # 20261399… is not a time: keep the IDs, drop it
                groups["important"] = bool(groups.get("important"))
                return profile, groups
    return None, {}


def parse_name(name: str, cfg: IdentityConfig) -> dict:
    """The named groups of the first pattern that matches ``name``; {} when none does."""
    return match_name(name, cfg)[1]


def parse_device_time(text: str | None) -> datetime | None:
    """An ISO 8601 or EXIF timestamp as written, naive. A zone designator other than Z (which
    the caller's zone rule covers) is applied: the value is returned aware."""
    if not text:
        return None
    text = text.strip().strip("\x00")
    if re.match(r"^\d{4}:\d{2}:\d{2} \d{2}:\d{2}:\d{2}", text):          # EXIF
        text = text[:10].replace(":", "-") + "T" + text[11:19]
    zulu = text.endswith(("Z", "z"))
    try:
        value = datetime.fromisoformat(text.replace(" ", "T", 1).rstrip("Zz"))
    except ValueError:
        return None
    if zulu or (value.tzinfo is not None and not value.utcoffset()):
        return value.replace(tzinfo=None)
    return value


def identify(name: str, tags: dict[str, str], exif_datetime: str | None, cfg: IdentityConfig,
             zones: Zones | None = None) -> Identity:
    """File name first, then the container's creation time, then EXIF DateTimeOriginal; each
    placed in time by its own zone rule (``zones``: the site's settings; default Asia/Shanghai)."""
    zones = zones or Zones()
    profile, parsed = match_name(name, cfg)
    container_time = next((t for t in (parse_device_time(tags.get(k)) for k in CREATION_TAGS) if t), None)
    exif_time = parse_device_time(exif_datetime)
    zone, zone_source = zones.device(parsed.get("device"))
    placed, source = None, "none"
    container_local = profile.container_time_local if profile else cfg.container_time == "local"
    for value, origin, local in ((parsed.get("time"), "filename", True),
                                 (container_time, "creation_time", container_local),
                                 (exif_time, "exif", True)):
        if value is not None:
            placed, source = place(value, local=local, zone=zone), origin
            break
    container_zone = None
    if container_time is not None:
        container_zone = "local" if container_local and container_time.tzinfo is None else "UTC"
    elif exif_time is not None:
        container_zone = "local"
    return Identity(
        device_id=parsed.get("device"),
        officer_id=parsed.get("officer"),
        sequence=int(parsed["seq"]) if parsed.get("seq") else None,
        start_time=placed.wall if placed else None,
        time_source=source,
        identity_source="filename" if parsed.get("device") else "none",
        important=parsed.get("important", False),
        name_time=parsed.get("time"),
        container_time=_naive_as_written(container_time or exif_time),
        profile=profile.name if profile else None,
        start_utc=placed.instant if placed else None,
        utc_offset_s=placed.utc_offset_s if placed else None,
        time_zone=zone_label(zone) if placed else None,
        zone_source=zone_source if placed else None,
        container_time_zone=container_zone,
    )


def _naive_as_written(value: datetime | None) -> datetime | None:
    """A container time with an explicit offset, as the UTC it names (the column is naive)."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)



class Naming:
    """Stage: who recorded the file and when, from its name, then its container or EXIF, placed in time."""
    name, needs = "naming", ("checksum",)

    def run(self, file: FileContext, found: Mapping) -> StageOutput:
        outcome = found.get("demux")            # optional: a file the demux stage failed on keeps its name
        exif_time = outcome.photo.datetime_original if outcome is not None and outcome.photo else None
        tags = outcome.media.tags if outcome is not None and outcome.media else {}
        who = identify(file.name, tags, exif_time, file.config.identity, file.config.zones())
        duration = outcome.fields.get("duration_s") if outcome is not None else None
        return StageOutput(who, identity_columns(who, duration))


def identity_columns(who: Identity, duration_s: float | None) -> dict:
    """The `recordings` columns an identity fills."""
    return {
        "device_id": who.device_id, "officer_id": who.officer_id, "sequence": who.sequence,
        "start_time": who.start_time, "end_time": who.end_time(duration_s),
        "start_utc": who.start_utc, "end_utc": who.end_utc(duration_s),
        "utc_offset_s": who.utc_offset_s, "time_zone": who.time_zone, "zone_source": who.zone_source,
        "container_time_zone": who.container_time_zone, "naming_profile": who.profile,
        "important": who.important,
        "time_source": who.time_source, "identity_source": who.identity_source,
        "name_time": who.name_time, "container_time": who.container_time,
    }
