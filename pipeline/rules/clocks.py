"""Which device clocks can be believed, and where an old catalog row lies in time.

Pure logic. A recording's instant comes from its device clock placed in the device's zone
(``pipeline.common.times.place``); a clock that was reset (2000-01-01), or that runs ahead of
the archive, cannot be right: such a recording is reported as a clock problem, its upload delay
is unknown, and its retention counts from when it was first ingested.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from functools import lru_cache

from pipeline.common.i18n import _
from pipeline.common.times import UTC, show, wall_to_utc, zone_label
from pipeline.config import GapsConfig


@lru_cache(maxsize=16)
def earliest_plausible(text: str, zone: tzinfo) -> datetime:
    """``gaps.earliest_plausible`` (a date) as the instant it begins in ``zone``."""
    return wall_to_utc(datetime.combine(date.fromisoformat(text), time(0)), zone)


def implausible(start_utc: datetime | None, arrived: datetime | None, cfg: GapsConfig,
                zone: tzinfo) -> tuple[str, str] | None:
    """(reason, sentence) when a recording that started at ``start_utc`` and reached the archive
    at ``arrived`` cannot have been timed by a right clock; None when it can (or is untimed)."""
    if start_utc is None:
        return None
    if start_utc < earliest_plausible(cfg.earliest_plausible, zone):
        return "before_earliest", _("starts {start}, before {earliest}: the clock was not set").format(
            start=show(start_utc, zone), earliest=cfg.earliest_plausible)
    if arrived is not None and start_utc > arrived + timedelta(seconds=cfg.future_tolerance_s):
        return "after_ingest", _("starts {start}, after it reached the archive ({arrived})").format(
            start=show(start_utc, zone), arrived=show(arrived, zone))
    return None


def read_as_local(row: dict) -> bool:
    """Whether the row's start time is a wall-clock reading in the device's zone (a file name,
    EXIF, or a container stamp of a recorder that writes local time), not a UTC stamp."""
    if row.get("time_source") == "creation_time":
        return row.get("container_time_zone") == "local"
    return True


def placed_start(row: dict, zone: tzinfo) -> datetime | None:
    """A recordings row's start instant in the device's ``zone`` as now configured: ``start_utc``
    as ingest placed it; re-placed from the device's wall clock when the row's zone is no longer
    the device's (a setting corrected since) and the time was a wall-clock reading; for a row
    written before ``start_utc`` existed, its ``start_time`` placed by its ``time_source``."""
    if row.get("start_time") is None:
        return row.get("start_utc")
    stored = row.get("start_utc")
    local = read_as_local(row)
    if stored is not None and (not local or row.get("time_zone") in (None, zone_label(zone))):
        return stored
    return wall_to_utc(row["start_time"], zone) if local else row["start_time"].replace(tzinfo=UTC)


def placed_end(row: dict, zone: tzinfo, start: datetime | None = None) -> datetime | None:
    """The end instant (``start``: the row's placed start, when the caller has it already)."""
    start = start if start is not None else placed_start(row, zone)
    if start is None:
        return None
    if row.get("end_utc") is not None and start == row.get("start_utc"):
        return row["end_utc"]
    return start + timedelta(seconds=row.get("duration_s") or 0.0)
