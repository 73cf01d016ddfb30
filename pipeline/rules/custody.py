"""The device ledger and the 24-hour rule: who held a device when, and how late each upload was.

Pure logic, no I/O. Device clocks are naive (as the device wrote them) and run at UTC plus the
device's configured offset; handovers and ingest times are UTC. Attribution is computed when
read, never written back into ``recordings``.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterable

UTC = timezone.utc


def device_to_utc(device_time: datetime | None, offset_hours: float) -> datetime | None:
    """A naive device-clock time as an aware UTC time."""
    if device_time is None:
        return None
    if device_time.tzinfo is not None:
        return device_time.astimezone(UTC)
    return (device_time - timedelta(hours=offset_hours)).replace(tzinfo=UTC)


@dataclass(frozen=True)
class Period:
    officer_id: str
    start: datetime                 # UTC, the handover to this officer
    end: datetime | None            # UTC, the next handover; None: still held
    by: str | None = None


def holder_periods(handovers: Iterable[dict]) -> dict[str, list[Period]]:
    """Per device, who held it from each handover to the next, in time order."""
    per_device: dict[str, list[dict]] = {}
    for h in handovers:
        per_device.setdefault(h["device_id"], []).append(h)
    periods: dict[str, list[Period]] = {}
    for device, rows in per_device.items():
        rows.sort(key=lambda r: (r["at"], r.get("recorded_at") or r["at"]))
        out = []
        for i, r in enumerate(rows):
            end = rows[i + 1]["at"] if i + 1 < len(rows) else None
            out.append(Period(r["officer_id"], r["at"], end, r.get("by")))
        periods[device] = out
    return periods


def holder_at(periods: list[Period], when: datetime) -> str | None:
    """The officer holding the device at ``when`` (UTC); None before the first handover."""
    i = bisect_right(periods, when, key=lambda p: p.start) - 1
    return periods[i].officer_id if i >= 0 else None


@dataclass(frozen=True)
class Attribution:
    officer_id: str | None          # the officer the recording is attributed to
    source: str                     # filename | ledger | none
    ledger_officer: str | None      # the holder the ledger names at the recording's start
    mismatch: bool                  # the file name names someone other than the ledger's holder


def attribute(name_officer: str | None, start_utc: datetime | None, periods: list[Period] | None) -> Attribution:
    """The file name's officer if it has one, else the ledger's holder at the recording's start."""
    ledger = holder_at(periods, start_utc) if periods and start_utc is not None else None
    if name_officer:
        return Attribution(name_officer, "filename", ledger, ledger is not None and ledger != name_officer)
    if ledger:
        return Attribution(ledger, "ledger", ledger, False)
    return Attribution(None, "none", None, False)


def upload_delay_h(end_utc: datetime | None, ingested_at: datetime | None) -> float | None:
    """Hours from the end of recording to its ingest; None when the recording time is unknown."""
    if end_utc is None or ingested_at is None:
        return None
    return (ingested_at - end_utc).total_seconds() / 3600


def upload_lateness(device_end: datetime | None, offset_hours: float, ingested_at: datetime | None,
                    late_after_hours: float) -> tuple[float | None, bool]:
    """The 24-hour rule, the one place it is computed: (hours from the recording's end, on the
    device clock at ``offset_hours``, to its ingest; whether that is over ``late_after_hours``)."""
    delay = upload_delay_h(device_to_utc(device_end, offset_hours), ingested_at)
    return delay, delay is not None and delay > late_after_hours
