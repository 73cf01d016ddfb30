"""Recording sessions, and which interruptions need an explanation. Pure: no I/O.

A recorder splits one long recording into segments (5, 10 or 30 minutes) that follow each other
within a second or two; an officer who stops and starts again during an action (a battery or card
swap, a restart after a fault) leaves seconds to a minute or two; separate jobs are minutes to
hours apart. So a device's recordings that follow each other within ``session_break_s`` form one
session (one action), and:

- a pause inside a session is an interruption that needs an explanation (art. 9);
- a pause between sessions is shown, but needs none, unless a case assignment's window covers it,
  or both recordings around it belong to the same case, or both are marked important: that is
  the action, and every pause in it needs an explanation whatever its length;
- a gap inside a file, a lost tail, an overlap and a device clock that cannot be right always
  need one.

``sessions`` takes one device's recordings (the ones its timeline uses) and returns its sessions;
``need`` decides for one gap. Callers may run them device by device or over a whole archive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Iterable, Mapping

UTC = timezone.utc
NEEDED_ALWAYS = {
    "within_file": "a break inside a recording",
    "damaged_tail": "recording lost at the end of a file",
    "overlap": "two recordings of one device at once",
    "clock": "the device clock cannot be right",
}


@dataclass(frozen=True)
class Session:
    session_id: str              # DEVICE@YYYYMMDD-HHMMSS: the device and the session's start in site time
    device_id: str
    start: datetime              # aware UTC
    end: datetime
    members: tuple[str, ...]     # sha256 of its recordings, in time order

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()


def sessions(device_id: str, recordings: Iterable[dict], break_s: float, *, zone: tzinfo = UTC,
             tails: Mapping[str, datetime | None] | None = None) -> list[Session]:
    """One device's recordings (dicts with ``sha256``, ``start``, ``end`` as aware instants) grouped
    into sessions: a recording starting more than ``break_s`` after the furthest end reached so far
    begins a new one. ``tails``: where a damaged recording's content would have reached (the same
    reach the timeline's pause check uses, so a pause longer than ``break_s`` separates sessions
    exactly when the timeline reports it that long); a tail of unknown length reaches nowhere."""
    tails = tails or {}
    ordered = sorted((r for r in recordings if r.get("start") is not None), key=lambda r: (r["start"], r["sha256"]))
    out: list[Session] = []
    members: list[str] = []
    first = reach = None
    for r in ordered:
        start = r["start"]
        end = max(r.get("end") or start, start)
        if r["sha256"] in tails:
            tail = tails[r["sha256"]]
            end = max(end, tail) if tail is not None else start
        if reach is not None and (start - reach).total_seconds() > break_s:
            out.append(_session(device_id, first, reach, members, zone))
            members, first, reach = [], None, None
        first = start if first is None else first
        reach = end if reach is None else max(reach, end)
        members.append(r["sha256"])
    if members:
        out.append(_session(device_id, first, reach, members, zone))
    return out


def _session(device_id: str, start: datetime, end: datetime, members: list[str], zone: tzinfo) -> Session:
    label = f"{device_id}@{start.astimezone(zone):%Y%m%d-%H%M%S}"
    return Session(label, device_id, start, end, tuple(members))


@dataclass(frozen=True)
class Window:
    """A stretch of time a case (or a permanent/other class) assignment names for a device or an
    officer: the law-enforcement action, in which every pause needs an explanation."""
    label: str                   # "case INC-17" or "class permanent"
    device_id: str | None
    officer_id: str | None
    start: datetime              # aware UTC
    end: datetime

    def covers(self, device_id: str | None, officer_id: str | None, start: datetime, end: datetime) -> bool:
        who = (self.device_id is not None and self.device_id == device_id) or \
              (self.officer_id is not None and self.officer_id == officer_id)
        return who and start < self.end and end > self.start


@dataclass(frozen=True)
class Need:
    needed: bool
    why: str                     # a readable reason either way
    session_id: str | None       # the session the gap lies in (None: between sessions, or no session)


@dataclass(frozen=True)
class Context:
    """What ``need`` looks at beyond the gap itself."""
    break_s: float
    session_of: Mapping[str, str]                      # sha256 -> session_id
    important: frozenset[str] = frozenset()            # sha256 of recordings marked important
    groups: Mapping[str, frozenset[str]] | None = None  # sha256 -> labels of the cases/classes holding it
    windows: tuple[Window, ...] = ()


def need(gap: dict, ctx: Context) -> Need:
    """Whether ``gap`` (a ``gaps`` row with ``start_utc``/``end_utc`` placed) needs an explanation."""
    kind = gap["kind"]
    if kind != "between_files":
        sha = gap["sha256"] if kind != "overlap" else gap["before_sha256"]
        return Need(True, NEEDED_ALWAYS.get(kind, "an interruption"), ctx.session_of.get(sha) if sha else None)
    before, after = gap["before_sha256"], gap["after_sha256"]
    duration = gap["duration_s"]
    if duration is None or duration <= ctx.break_s:
        session = ctx.session_of.get(before) or ctx.session_of.get(after)
        return Need(True, f"a pause inside recording session {session}" if session else "a pause inside a session",
                    session)
    if before in ctx.important and after in ctx.important:
        return Need(True, "a pause between recordings marked important", None)
    groups = ctx.groups or {}
    shared = sorted(groups.get(before, frozenset()) & groups.get(after, frozenset()))
    if shared:
        return Need(True, f"a pause inside {shared[0]}", None)
    start, end = gap.get("start_utc"), gap.get("end_utc")
    if start is not None:
        end = end or start + timedelta(seconds=duration)
        for w in ctx.windows:
            if w.covers(gap["device_id"], gap["officer_id"], start, end):
                return Need(True, f"a pause inside the window of {w.label}", None)
    return Need(False, "a pause between recording sessions", None)
