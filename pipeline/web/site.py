"""The site's clock: every time the service shows or reads is in the site time zone (Asia/Shanghai).

One place decides the zone (``site_zone``) and one function formats (``show``), so switching the
zone, or reading it from the archive's settings once they exist, is a change here only.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from pipeline.common.i18n import _
from pipeline.common.inputs import InputError
from pipeline.common.times import wall_to_utc

DEFAULT_ZONE = "Asia/Shanghai"
UTC = timezone.utc


def site_zone(config) -> ZoneInfo:
    """The archive's zone setting when there is one (``[site] time_zone``), else Asia/Shanghai."""
    name = getattr(getattr(config, "site", None), "time_zone", None) or DEFAULT_ZONE
    return ZoneInfo(name)


def show(value: datetime | None, zone: ZoneInfo, *, seconds: bool = False) -> str:
    """``YYYY-MM-DD HH:MM +08:00`` in the site zone; aware times only (device times are converted first)."""
    if value is None:
        return "—"
    if value.tzinfo is None:
        raise ValueError("a naive time reached the display; convert device times with device_to_site first")
    local = value.astimezone(zone)
    offset = local.strftime("%z")
    return local.strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else "")) + f" {offset[:3]}:{offset[3:]}"


def device_to_site(value: datetime | None, device_id: str | None, config) -> datetime | None:
    """A device-clock time (naive, in the device's zone: ``Config.zones``) as an aware UTC time."""
    if value is None:
        return None
    return wall_to_utc(value, config.zones().device(device_id)[0])


def wall(value: datetime | None, zone: ZoneInfo) -> datetime | None:
    """The site's wall-clock time of an aware time, naive (for the timeline's axis)."""
    return value.astimezone(zone).replace(tzinfo=None) if value is not None else None


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants where the site's calendar ``day`` begins and ends."""
    start = datetime.combine(day, time(0), zone)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def today(now: datetime, zone: ZoneInfo) -> date:
    return now.astimezone(zone).date()


def parse_day(text: str | None, zone: ZoneInfo, now: datetime) -> date:
    if not text:
        return today(now, zone)
    try:
        value = date.fromisoformat(text.strip()[:10])
    except ValueError:
        raise InputError(_("day must be a date like 2026-03-01")) from None
    if not 2000 <= value.year <= 2100:
        raise InputError(_("day must be a date like 2026-03-01"))
    return value


def parse_typed(text: str | None, field: str, zone: ZoneInfo) -> datetime:
    """A typed date or time (``2026-03-01T10:00`` from a form) read in the site zone, as aware UTC."""
    raw = (text or "").strip()
    if not raw or len(raw) > 40:
        raise InputError(_("{field} must be a date and time like 2026-03-01 10:00").format(field=field))
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InputError(_("{field} must be a date and time like 2026-03-01 10:00").format(field=field)) from None
    if not 2000 <= value.year <= 2100:
        raise InputError(_("{field} must be a date and time like 2026-03-01 10:00").format(field=field))
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def typed(value: datetime, zone: ZoneInfo) -> str:
    """The value a ``datetime-local`` input shows for an aware time."""
    return value.astimezone(zone).strftime("%Y-%m-%dT%H:%M")
