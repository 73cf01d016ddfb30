"""The device ledger and the 24-hour rule: who held a device when, and how late each upload was.

Pure logic, no I/O. Every time here is an instant (aware UTC): recordings are placed in time
from their device clock and zone before they reach these rules (``pipeline.rules.clocks``). Attribution is computed when
read, never written back into ``recordings``.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable

UTC = timezone.utc


@dataclass(frozen=True)
class Period:
    officer_id: str
    start: datetime                 # UTC, the handover to this officer
    end: datetime | None            # UTC, the next handover or the return; None: still held
    by: str | None = None
    ended_by: str | None = None     # handover | return | None (still held)

    def holds(self, when: datetime) -> bool:
        return self.start <= when and (self.end is None or when < self.end)


def holder_periods(handovers: Iterable[dict], returns: Iterable[dict] = ()) -> dict[str, list[Period]]:
    """Per device, who held it from each handover to the next handover or to its return (which
    ends a period: until the next handover nobody holds the device), in time order."""
    per_device: dict[str, list[dict]] = {}
    for h in handovers:
        per_device.setdefault(h["device_id"], []).append(h)
    returned: dict[str, list[datetime]] = {}
    for r in returns:
        returned.setdefault(r["device_id"], []).append(r["at"])
    periods: dict[str, list[Period]] = {}
    for device, rows in per_device.items():
        rows.sort(key=lambda r: (r["at"], r.get("recorded_at") or r["at"]))
        back = sorted(returned.get(device, ()))
        out = []
        for i, r in enumerate(rows):
            end, ended_by = (rows[i + 1]["at"], "handover") if i + 1 < len(rows) else (None, None)
            first_return = next((t for t in back if t > r["at"]), None)
            if first_return is not None and (end is None or first_return < end):
                end, ended_by = first_return, "return"
            out.append(Period(r["officer_id"], r["at"], end, r.get("by"), ended_by))
        periods[device] = out
    return periods


def holder_at(periods: list[Period], when: datetime) -> str | None:
    """The officer holding the device at ``when`` (UTC); None before the first handover and
    between a return and the next handover."""
    i = bisect_right(periods, when, key=lambda p: p.start) - 1
    return periods[i].officer_id if i >= 0 and periods[i].holds(when) else None


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


def upload_delay_s(end_utc: datetime | None, arrived: datetime | None) -> float | None:
    """Seconds from the end of recording to when the file reached the archive; never negative (a
    clock a little ahead makes a file "arrive" before it ended: that is no delay, not -3 s)."""
    if end_utc is None or arrived is None:
        return None
    return max(0.0, (arrived - end_utc).total_seconds())


def upload_delay_h(end_utc: datetime | None, arrived: datetime | None) -> float | None:
    delay = upload_delay_s(end_utc, arrived)
    return None if delay is None else delay / 3600


@dataclass(frozen=True)
class Lateness:
    delay_s: float | None           # None: unknown (no time, or a clock that cannot be right)
    late: bool
    clock_problem: str | None = None    # why the delay is unknown, when the clock is at fault

    @property
    def delay_h(self) -> float | None:
        return None if self.delay_s is None else self.delay_s / 3600


def upload_lateness(end_utc: datetime | None, arrived: datetime | None, late_after_hours: float,
                    clock_problem: str | None = None) -> Lateness:
    """The 24-hour rule, the one place it is computed: from the recording's end instant to its
    first sighting in the archive, late when over ``late_after_hours``. A recording whose clock
    cannot be right has no delay: it is a clock problem, not a 9,832-day late upload."""
    if clock_problem is not None:
        return Lateness(None, False, clock_problem)
    delay = upload_delay_s(end_utc, arrived)
    return Lateness(delay, delay is not None and delay > late_after_hours * 3600)
