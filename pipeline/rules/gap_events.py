"""Gap events, pure: which gaps are current and explained, from append-only history rows.

``gap_state`` holds an event each time a refresh finds a gap's state changed; a gap is current
when its latest event is ``open`` (or it has none yet). A gap is explained by a spoken note, or by
a written report once a team lead approved it. ``pipeline.records.gapstate`` reads and writes the
catalog around these rules.
"""

from __future__ import annotations

from datetime import datetime

from pipeline.common.times import Zones, as_utc, wall_to_utc
from pipeline.rules import timeline

PER_FILE_KINDS = ("within_file", "damaged_tail")


def latest_states(events: list[dict]) -> dict[str, str]:
    """gap_id -> the state of its latest ``gap_state`` event."""
    latest: dict[str, tuple] = {}
    for e in events:
        gid, state, at = e["gap_id"], e["state"], e["evaluated_at"]
        if gid not in latest or at >= latest[gid][1]:
            latest[gid] = (state, at)
    return {gid: state for gid, (state, _) in latest.items()}


def state_changes(current: set[str], known: set[str], states: dict[str, str], *, run_id: str,
                  now: datetime) -> list[dict]:
    """The ``gap_state`` events a refresh writes: ``open`` for a current gap not open yet,
    ``closed`` for an open one no longer found (a late-docked file filled it)."""
    events = [{"gap_id": gid, "state": "open", "run_id": run_id, "evaluated_at": now}
              for gid in sorted(current) if states.get(gid) != "open"]
    events += [{"gap_id": gid, "state": "closed", "run_id": run_id, "evaluated_at": now}
               for gid, state in sorted(states.items()) if state == "open" and gid not in current]
    # A gap detected before any refresh ran and not found now (none should exist) is closed too.
    events += [{"gap_id": gid, "state": "closed", "run_id": run_id, "evaluated_at": now}
               for gid in sorted(known - current - set(states))]
    return events


def damaged_tails(gaps_rows: list[dict], zones: Zones | None = None) -> dict[str, timeline.Tail]:
    """Where each damaged recording's content would have reached, as an instant (rows written
    before gaps had ``end_utc`` are placed from the device's clock in its zone)."""
    zones = zones or Zones()
    tails = {}
    for g in gaps_rows:
        if g["kind"] == "damaged_tail" and g["sha256"]:
            known = g["duration_s"] is not None and g["end_time"] is not None
            end = g.get("end_utc")
            if known and end is None:
                end = wall_to_utc(g["end_time"], zones.device(g.get("device_id"))[0])
            tails[g["sha256"]] = timeline.Tail(end if known else None)
    return tails


def explanation_status(rows: list[dict]) -> str:
    if any(r["source"] == "spoken" or r["approved_by"] for r in rows):
        return "explained"
    return "awaiting approval" if rows else "unexplained"


def waiting(g: dict) -> bool:
    """A current gap that needs an explanation (``needs_explanation``, see pipeline.rules.sessions)
    and has no accepted one yet."""
    return g["current"] and g.get("needs_explanation", True) and g["explanation"] != "explained"


def unexplained(rows: list[dict]) -> list[dict]:
    return [g for g in rows if waiting(g)]


def placed(rows: list[dict], zones: Zones) -> list[dict]:
    """Gap rows with ``start_utc`` and ``end_utc`` filled in: rows written before gaps had those
    columns are placed from the device's clock in its zone."""
    out = []
    for g in rows:
        if g.get("start_utc") is None and g.get("start_time") is not None:
            zone, _ = zones.device(g.get("device_id"))
            g = {**g, "start_utc": wall_to_utc(g["start_time"], zone),
                 "end_utc": wall_to_utc(g["end_time"], zone) if g.get("end_time") is not None else None}
        out.append(g)
    return out


def filter_rows(rows: list[dict], *, device: str | None = None, since: datetime | None = None,
                include_closed: bool = False, only_unexplained: bool = False) -> list[dict]:
    """The ``fieldrec gaps`` filters. ``since`` is an instant, compared with each gap's start
    (``start_utc``, see ``placed``); clock gaps, whose device time is what is wrong, are kept when
    they were detected at or after it."""
    out = []
    for g in rows:
        if not include_closed and not g["current"]:
            continue
        if only_unexplained and not waiting(g):
            continue
        if device and g["device_id"] != device:
            continue
        if since is not None:
            since = as_utc(since)
            if g["kind"] == "clock":
                if g["detected_at"] < since:
                    continue
            elif g.get("start_utc") is None or g["start_utc"] < since:
                continue
        out.append(g)
    return out
