"""Time zones, and the one way times are read from people and shown to them.

Instants are aware UTC datetimes everywhere inside fieldrec. A person types a time in the
site's zone unless the text names a zone (``Z``, ``+08:00``); a person reads every time in the
site's zone with its offset (``2026-12-01 06:00:00 +08:00``; JSON: ISO 8601 with the offset).
A device's clock is a wall-clock reading in the device's own zone: ``place`` turns what a
recorder wrote into an instant, ``Reading`` carries a wall-clock reading out to be shown as it
was read. Pure functions over ``zoneinfo`` (IANA data; ``tzdata`` where the system has none).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipeline.common.i18n import N_, _

UTC = timezone.utc
FIXED_OFFSET = re.compile(r"([+-])(\d{1,2})(?::?(\d{2}))?")
# What a person may type: a date, optionally a time (T or a space), optionally a zone (Z, ±HH:MM),
# with or without a space before the zone (as times are shown), or a span back from now (36h, 7d).
TYPED = re.compile(r"^(?P<date>\d{4}-\d{2}-\d{2})(?:[T ](?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?))?"
                   r"\s*(?P<zone>Z|UTC|[+-]\d{2}(?::?\d{2})?)?$", re.IGNORECASE)
SPAN = re.compile(r"^(\d+(?:\.\d+)?)\s*([hd])$")
TYPED_HELP = N_("a date or time such as 2026-12-01, '2026-12-01 06:00' or 2026-12-01T06:00:00, read in the "
              "site's time zone (site.time_zone) unless it ends with Z or an offset like +08:00; or a span "
              "back from now such as 36h or 7d")


class TimeProblem(ValueError):
    """A zone name or a typed time that cannot be used; the message says why."""


# -- zones -----------------------------------------------------------------------------------------
@lru_cache(maxsize=64)
def zone_named(name: str) -> tzinfo:
    """An IANA zone (``Asia/Shanghai``), ``UTC``, or a fixed offset (``+08:00``, ``-0530``)."""
    text = (name or "").strip()
    if text.upper() in ("Z", "UTC"):
        return ZoneInfo("UTC")
    m = FIXED_OFFSET.fullmatch(text)
    if m:
        hours, minutes = int(m.group(2)), int(m.group(3) or 0)
        if hours > 14 or minutes >= 60 or hours * 60 + minutes > 14 * 60:
            raise TimeProblem(_("not a UTC offset: {text!r} (offsets run from -14:00 to +14:00)").format(text=text))
        delta = timedelta(hours=hours, minutes=minutes)
        return timezone(delta if m.group(1) == "+" else -delta, offset_label(delta if m.group(1) == "+" else -delta))
    if not text or ".." in text or text.startswith("/"):
        raise TimeProblem(_("not a time zone: {text!r} (give an IANA name such as Asia/Shanghai, or +08:00)")
                          .format(text=text))
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise TimeProblem(_("unknown time zone {text!r} (give an IANA name such as Asia/Shanghai, or +08:00)")
                          .format(text=text)) from None


def zone_label(zone: tzinfo) -> str:
    """The name a zone was given by: ``Asia/Shanghai``, ``UTC``, ``+08:00``."""
    return getattr(zone, "key", None) or zone.tzname(None) or str(zone)


def offset_label(offset: timedelta | None) -> str:
    """``+08:00``, ``-05:30``."""
    seconds = int((offset or timedelta(0)).total_seconds())
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    return f"{sign}{hours:02d}:{rest // 60:02d}"


@dataclass(frozen=True)
class Zones:
    """The site's zone and the zone of each device clock (one per device, else the default)."""

    site: str = "Asia/Shanghai"
    devices: tuple[tuple[str, str, str], ...] = ()     # (device id, zone name, where it was set)
    device_default: str | None = None                  # every other device; None: the site's zone
    device_default_source: str = "site"

    @property
    def site_zone(self) -> tzinfo:
        return zone_named(self.site)

    def device(self, device_id: str | None) -> tuple[tzinfo, str]:
        """(zone, where it was set: site | device | legacy) of the device's clock."""
        for device, name, source in self.devices:
            if device == device_id:
                return zone_named(name), source
        if self.device_default is not None:
            return zone_named(self.device_default), self.device_default_source
        return self.site_zone, "site"


# -- device clocks ---------------------------------------------------------------------------------
def wall_to_utc(wall: datetime, zone: tzinfo) -> datetime:
    """A naive wall-clock reading in ``zone`` as an instant (the earlier one when a clock fell back)."""
    if wall.tzinfo is not None:
        return wall.astimezone(UTC)
    return wall.replace(tzinfo=zone).astimezone(UTC)


def utc_to_wall(instant: datetime, zone: tzinfo) -> datetime:
    """The naive wall-clock reading in ``zone`` at ``instant``."""
    return as_utc(instant).astimezone(zone).replace(tzinfo=None)


def as_utc(value: datetime) -> datetime:
    """An instant as aware UTC; a naive value is taken to be UTC already (catalog instants)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def offset_s(instant: datetime, zone: tzinfo) -> int:
    return int(as_utc(instant).astimezone(zone).utcoffset().total_seconds())


@dataclass(frozen=True)
class Placed:
    """Where a recorded time lies: the instant, the device's wall clock, and the offset used."""

    instant: datetime                  # aware UTC
    wall: datetime                     # naive, the device's clock
    utc_offset_s: int
    read_as: str                       # local (a wall-clock reading in the device's zone) | UTC


def place(written: datetime, *, local: bool, zone: tzinfo) -> Placed:
    """A time as a recorder wrote it. ``local``: a wall-clock reading in the device's ``zone``
    (file names, EXIF, containers of recorders that write local time); else UTC (MP4/MOV
    ``creation_time`` by the format's definition)."""
    if written.tzinfo is not None:              # the text carried its own offset: that decides
        instant = written.astimezone(UTC)
        local = False
    elif local:
        instant = wall_to_utc(written, zone)
    else:
        instant = written.replace(tzinfo=UTC)
    return Placed(instant, utc_to_wall(instant, zone), offset_s(instant, zone), "local" if local else "UTC")


# -- what people type ------------------------------------------------------------------------------
def parse_typed(text: str, zone: tzinfo, *, now: datetime | None = None) -> datetime:
    """A typed time as an aware UTC instant: in ``zone`` unless it names its own; spans count back
    from ``now``. Raises ``TimeProblem`` naming what is wrong."""
    raw = (text or "").strip()
    span = SPAN.match(raw)
    if span:
        if now is None:
            raise TimeProblem(_("a span such as {raw!r} needs a time to count back from").format(raw=raw))
        amount = float(span.group(1))
        return as_utc(now) - (timedelta(hours=amount) if span.group(2).lower() == "h" else timedelta(days=amount))
    m = TYPED.match(raw)
    if not m:
        raise TimeProblem(_("{raw!r} is not a date or time; give {help}").format(raw=raw, help=_(TYPED_HELP)))
    try:
        day = date.fromisoformat(m.group("date"))
        clock = time.fromisoformat(m.group("time")) if m.group("time") else time(0)
    except ValueError as exc:
        raise TimeProblem(_("{raw!r} is not a valid date or time ({why})").format(raw=raw, why=exc)) from None
    wall = datetime.combine(day, clock)
    given = m.group("zone")
    if given:
        return wall.replace(tzinfo=zone_named(given)).astimezone(UTC)
    instant = wall_to_utc(wall, zone)
    if utc_to_wall(instant, zone) != wall:
        raise TimeProblem(_("{raw!r} does not exist in {zone} (the clocks skip it); give an offset such as "
                            "+08:00").format(raw=raw, zone=zone_label(zone)))
    return instant


# -- what people read ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reading:
    """A clock reading to show as that clock read it (a device's wall clock with its offset)."""

    instant: datetime
    zone: tzinfo

    def __str__(self) -> str:
        return show(self.instant, self.zone)


def show(value: datetime | None, zone: tzinfo, *, seconds: bool = True) -> str:
    """``2026-12-01 06:00:00 +08:00``: an instant in ``zone`` with its offset."""
    if value is None:
        return ""
    local = as_utc(value).astimezone(zone)
    return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") + " " + offset_label(local.utcoffset())


def iso(value: datetime | None, zone: tzinfo) -> str | None:
    """``2026-12-01T06:00:00+08:00``: ISO 8601 with the offset, for JSON."""
    if value is None:
        return None
    local = as_utc(value).astimezone(zone)
    return local.replace(microsecond=0).isoformat() if not local.microsecond else local.isoformat()


def local_day(value: datetime, zone: tzinfo) -> date:
    return as_utc(value).astimezone(zone).date()


# -- calendar arithmetic in a zone -----------------------------------------------------------------
def end_of_day(day: date, zone: tzinfo) -> datetime:
    """24:00 local time of ``day`` in ``zone``: the instant the next day begins."""
    return wall_to_utc(datetime.combine(day + timedelta(days=1), time(0)), zone)


def add_months_day(day: date, months: int) -> date:
    """The same calendar day ``months`` later, clamped to the month's end (31 Aug + 6 = 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def months_later(when: datetime, months: int, zone: tzinfo) -> datetime:
    """``months`` calendar months after ``when``, to the end of that calendar day in ``zone``:
    recorded 2026-11-30 06:00 +08:00, 3 months end at 2027-02-28 24:00 +08:00."""
    return _months_end(local_day(when, zone), months, zone)


@lru_cache(maxsize=8192)
def _months_end(day: date, months: int, zone: tzinfo) -> datetime:
    # Cached: an archive's recordings fall on a few hundred days, retention asks for each file.
    return end_of_day(add_months_day(day, months), zone)


def days_later(when: datetime, days: int, zone: tzinfo) -> datetime:
    """``days`` days after ``when``, to the end of that calendar day in ``zone``."""
    return end_of_day(local_day(when, zone) + timedelta(days=days), zone)
