"""Who recorded a file and when: device, officer and start time from name, container or EXIF."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Mapping

from pipeline.config import IdentityConfig
from pipeline.stages.contract import FileContext, StageOutput

CREATION_TAGS = ("creation_time", "com.apple.quicktime.creationdate", "date")


@dataclass(frozen=True)
class Identity:
    device_id: str | None = None
    officer_id: str | None = None
    sequence: int | None = None
    start_time: datetime | None = None       # device time, naive: as the device wrote it
    time_source: str = "none"                 # filename | creation_time | exif | none
    identity_source: str = "none"             # filename | none
    name_time: datetime | None = None
    container_time: datetime | None = None


@lru_cache(maxsize=16)
def _compiled(patterns: tuple[str, ...]) -> tuple[re.Pattern, ...]:
    return tuple(re.compile(p) for p in patterns)


def parse_name(name: str, cfg: IdentityConfig) -> dict:
    """The named groups of the first pattern that matches ``name``; {} when none does."""
    for pattern in _compiled(cfg.name_patterns):
        m = pattern.match(name)
        if m:
            groups = {k: v for k, v in m.groupdict().items() if v is not None}
            if "time" in groups:
                try:
                    groups["time"] = datetime.strptime(groups["time"], cfg.time_format)
                except ValueError:
                    groups.pop("time")      # 20261399… is not a time: keep the IDs, drop it
            return groups
    return {}


def parse_device_time(text: str | None) -> datetime | None:
    """An ISO 8601 or EXIF timestamp, kept as written: the zone designator is dropped, not applied."""
    if not text:
        return None
    text = text.strip().strip("\x00")
    if re.match(r"^\d{4}:\d{2}:\d{2} \d{2}:\d{2}:\d{2}", text):          # EXIF
        text = text[:10].replace(":", "-") + "T" + text[11:19]
    try:
        value = datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        return None
    return value.replace(tzinfo=None)


def identify(name: str, tags: dict[str, str], exif_datetime: str | None, cfg: IdentityConfig) -> Identity:
    """File name first, then the container's creation time, then EXIF DateTimeOriginal."""
    parsed = parse_name(name, cfg)
    container_time = next((t for t in (parse_device_time(tags.get(k)) for k in CREATION_TAGS) if t), None)
    exif_time = parse_device_time(exif_datetime)
    start, source = None, "none"
    for value, origin in ((parsed.get("time"), "filename"), (container_time, "creation_time"), (exif_time, "exif")):
        if value is not None:
            start, source = value, origin
            break
    return Identity(
        device_id=parsed.get("device"),
        officer_id=parsed.get("officer"),
        sequence=int(parsed["seq"]) if parsed.get("seq") else None,
        start_time=start,
        time_source=source,
        identity_source="filename" if parsed.get("device") else "none",
        name_time=parsed.get("time"),
        container_time=container_time or exif_time,
    )


class Naming:
    """Stage: who recorded the file and when, from its name, then its container or EXIF."""
    name, needs = "naming", ("checksum",)

    def run(self, file: FileContext, found: Mapping) -> StageOutput:
        outcome = found.get("demux")            # optional: a file the demux stage failed on keeps its name
        exif_time = outcome.photo.datetime_original if outcome is not None and outcome.photo else None
        tags = outcome.media.tags if outcome is not None and outcome.media else {}
        who = identify(file.name, tags, exif_time, file.config.identity)
        duration = outcome.fields.get("duration_s") if outcome is not None else None
        end = who.start_time + timedelta(seconds=duration) if who.start_time and duration else who.start_time
        return StageOutput(who, {
            "device_id": who.device_id, "officer_id": who.officer_id, "sequence": who.sequence,
            "start_time": who.start_time, "end_time": end, "time_source": who.time_source,
            "identity_source": who.identity_source, "name_time": who.name_time,
            "container_time": who.container_time,
        })
