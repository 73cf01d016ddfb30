"""Gaps across a device's recordings: pauses between files, overlaps, and clocks that cannot be right.

Pure over the ``recordings`` table (every run's rows, so a late-docked file is placed among the
ones docked before it). Recordings whose time cannot be right get a ``clock`` gap and are left
out of their device's timeline instead of producing absurd pauses.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.common.times import UTC, Zones, show, utc_to_wall
from pipeline.config import GapsConfig
from pipeline.rules.clocks import implausible, placed_end, placed_start
from pipeline.stages.gaps import gap_id

COLUMNS = ["sha256", "kind", "status", "device_id", "officer_id", "start_time", "end_time", "duration_s",
           "sequence", "name_time", "container_time", "time_source", "ingested_at", "source_name",
           "start_utc", "end_utc", "time_zone", "container_time_zone"]
ZONE_STEP_S = 15 * 60            # time-zone offsets are whole quarter hours…
ZONE_MAX_S = 14 * 3600           # …between UTC-12 and UTC+14


@dataclass(frozen=True)
class Tail:
    """What the file-level damaged_tail says about where a recording really ends."""
    end: datetime | None         # the instant (aware UTC) its content would have reached; None: unknown


def _is_zone_offset(diff_s: float, tolerance: float) -> bool:
    rest = abs(diff_s) % ZONE_STEP_S
    return abs(diff_s) <= ZONE_MAX_S + tolerance and min(rest, ZONE_STEP_S - rest) <= tolerance


def clock_problem(r: dict, cfg: GapsConfig, zone=UTC) -> tuple[str, str] | None:
    """(reason, sentence) when this recording's device time cannot be right, else None.
    ``r["start_time"]`` is the start instant here (``device_gaps`` places it), ``zone`` the site's."""
    start = r["start_time"]
    if start is None:
        return "no_time", "no start time in the file name, the container or EXIF: it cannot be placed"
    problem = implausible(_aware(start), _aware(r["ingested_at"]), cfg, zone)
    if problem:
        return problem
    name, container = r["name_time"], r["container_time"]
    if name is not None and container is not None:
        diff = (container - name).total_seconds()
        length = r["duration_s"] or 0.0
        tol = cfg.name_container_tolerance_s
        candidates = (diff, diff - length)              # stamped at the start, or when the file was closed
        if not any(abs(d) <= tol or (cfg.allow_zone_offsets and _is_zone_offset(d, tol)) for d in candidates):
            return "name_container_mismatch", (f"file name says {name:%Y-%m-%d %H:%M:%S}, the container "
                                               f"{container:%Y-%m-%d %H:%M:%S} ({diff:+.0f} s)")
    return None


def _rising_lengths(values: list[float]) -> list[int]:
    """For each position, the length of the longest non-decreasing run of values ending there."""
    tails: list[float] = []
    lengths = []
    for v in values:
        k = bisect_right(tails, v)
        tails[k:k + 1] = [v]
        lengths.append(k + 1)
    return lengths


def restarts(rows: list[dict], zone=UTC) -> list[list[dict]]:
    """A device's numbered recordings (start_time: naive UTC) split where its count starts over.

    Recorders number their files again from the start on a new day or with a new card. In time
    order, the count has started over where the number does not rise and either the device's
    wall-clock day changed, or it went back to the lowest number used since the last restart (and
    that number was used). A number that merely falls back on the same day (seq 3 an hour before
    seq 1) is no restart: ``out_of_sequence`` judges it.
    """
    numbered = sorted((r for r in rows if r["sequence"] is not None),
                      key=lambda r: (r["start_time"], r["sequence"], r["sha256"]))
    day = lambda r: utc_to_wall(_aware(r["start_time"]), zone).date()      # noqa: E731
    runs: list[list[dict]] = []
    used: set[int] = set()
    for r in numbered:
        if runs and r["sequence"] <= runs[-1][-1]["sequence"] and (
                day(r) != day(runs[-1][-1]) or (r["sequence"] in used and r["sequence"] <= min(used))):
            runs.append([])
            used = set()
        if not runs:
            runs.append([])
        runs[-1].append(r)
        used.add(r["sequence"])
    return runs


def out_of_sequence(rows: list[dict], zone=UTC) -> list[dict]:
    """Recordings whose start times run against their sequence numbers, between restarts of the
    count (``restarts``: a new day or a new card is not a clock problem).

    In each run, the longest runs of recordings whose times rise with their sequence numbers are
    taken as right. A recording on every such run is kept; the others are flagged: one odd
    recording in a long sequence is flagged alone, two that only contradict each other are both
    flagged.
    """
    return [r for run in restarts(rows, zone) for r in _against_the_count(run)]


def _against_the_count(rows: list[dict]) -> list[dict]:
    numbered = sorted(rows, key=lambda r: (r["sequence"], r["start_time"], r["sha256"]))
    if len(numbered) < 2:
        return []
    x = [(r["start_time"] - datetime(1970, 1, 1)).total_seconds() for r in numbered]
    ending = _rising_lengths(x)
    starting = _rising_lengths([-v for v in reversed(x)])[::-1]
    longest = max(ending)
    on_some = [e + s - 1 == longest for e, s in zip(ending, starting)]
    per_length: dict[int, int] = defaultdict(int)
    for e, on in zip(ending, on_some):
        per_length[e] += on
    return [r for r, e, on in zip(numbered, ending, on_some) if not (on and per_length[e] == 1)]


def _row(kind: str, reason: str, *, device: str, officer: str | None, start, end, duration, detail: str,
         run_id: str, detected_at: datetime, sha256=None, before=None, after=None) -> dict:
    return {
        "gap_id": gap_id(kind, device, sha256, before, after),
        "kind": kind, "reason": reason, "device_id": device, "officer_id": officer,
        "start_time": start, "end_time": end, "duration_s": duration, "sha256": sha256,
        "before_sha256": before, "after_sha256": after, "offset_s": None, "stream": None,
        "detail": detail, "detected_run_id": run_id, "detected_at": detected_at,
    }


def _name(r: dict) -> str:
    return r["source_name"] or r["sha256"][:12]


def timeline_gaps(rows: list[dict], tails: dict[str, Tail], cfg: GapsConfig, **meta) -> list[dict]:
    """between_files and overlap gaps of one device's recordings of one kind, clocks already right."""
    found = []
    rows = sorted(rows, key=lambda r: (r["start_time"], r["sequence"] if r["sequence"] is not None else -1, r["sha256"]))
    reach, reach_by, open_ended = None, None, False     # the furthest any earlier recording got
    for r in rows:
        start = r["start_time"]
        end = max(r["end_time"] or start, start)
        tail = tails.get(r["sha256"])
        if reach is not None and not open_ended:
            pause = (start - reach).total_seconds()
            if pause > cfg.between_files_tolerance_s:
                found.append(_row("between_files", "pause", device=r["device_id"], officer=reach_by["officer_id"],
                                  start=reach, end=start, duration=pause,
                                  detail=f"nothing recorded for {pause:.1f} s between {_name(reach_by)} and {_name(r)}",
                                  before=reach_by["sha256"], after=r["sha256"], **meta))
            elif -pause > cfg.overlap_tolerance_s:
                until = min(reach, end)
                length = (until - start).total_seconds()
                found.append(_row("overlap", "overlap", device=r["device_id"], officer=reach_by["officer_id"],
                                  start=start, end=until, duration=length,
                                  detail=f"{_name(r)} starts {-pause:.1f} s before {_name(reach_by)} ends: "
                                         "two recordings of one device at the same time",
                                  before=reach_by["sha256"], after=r["sha256"], **meta))
        if tail is not None and tail.end is None:
            # Content lost to an unknown length: the damaged_tail gap stands for everything up
            # to the device's next recording, so no pause is reported after this one.
            reach, reach_by, open_ended = max(reach or start, start), r, True
            continue
        if tail is not None:
            end = max(end, tail.end)
        if open_ended or reach is None or end >= reach:
            reach, reach_by = end, r
        open_ended = False
    return found


def _aware(t: datetime | None) -> datetime | None:
    return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t


def _naive(t: datetime | None) -> datetime | None:
    return t.astimezone(UTC).replace(tzinfo=None) if t is not None and t.tzinfo is not None else t


def device_gaps(recordings: pa.Table, tails: dict[str, Tail], cfg: GapsConfig, *, run_id: str,
                detected_at: datetime, zones: Zones | None = None) -> list[dict]:
    """Every between_files, overlap and clock gap of every device in ``recordings``.

    Recordings are placed in time as instants (their device clocks in their devices' zones), so
    a device's files timed by their names and by UTC container stamps line up; the gaps found
    are written with both the instants and the device's wall clock.
    """
    zones = zones or Zones()
    meta = {"run_id": run_id, "detected_at": detected_at}
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    wanted = recordings.select(COLUMNS).filter(
        pc.and_(pc.is_valid(recordings["device_id"]),
                pc.is_in(recordings["kind"], value_set=pa.array(list(cfg.timeline_kinds), pa.string()))))
    for r in wanted.to_pylist():
        zone, _ = zones.device(r["device_id"])
        # The timeline's arithmetic runs on naive UTC instants; _on_device_clock turns its rows back.
        r["start_time"], r["end_time"] = _naive(placed_start(r, zone)), _naive(placed_end(r, zone))
        r["ingested_at"] = _naive(r["ingested_at"])
        groups[(r["device_id"], r["kind"])].append(r)
    naive_tails = {sha: Tail(_naive(t.end)) for sha, t in tails.items()}
    found = []
    for (device, _kind), rows in sorted(groups.items()):
        zone, _ = zones.device(device)
        found += [_on_device_clock(g, zone) for g in _device_gaps(device, rows, naive_tails, cfg, zones.site_zone, meta,
                                                                  zone)]
    return found


def _on_device_clock(gap: dict, zone) -> dict:
    start, end = _aware(gap["start_time"]), _aware(gap["end_time"])
    return {**gap, "start_utc": start, "end_utc": end,
            "start_time": utc_to_wall(start, zone) if start else None, "end_time": utc_to_wall(end, zone) if end else None}


def _device_gaps(device: str, rows: list[dict], tails: dict[str, Tail], cfg: GapsConfig, site, meta: dict,
                 zone=UTC) -> list[dict]:
    """One device's clock gaps, then its timeline's between_files and overlap gaps."""
    flagged: dict[str, tuple[str, str]] = {}
    for r in rows:
        problem = clock_problem(r, cfg, site)
        if problem:
            flagged[r["sha256"]] = problem
    if cfg.check_sequence:
        for r in out_of_sequence([r for r in rows if r["sha256"] not in flagged], zone):
            flagged[r["sha256"]] = ("sequence_order", f"sequence number {r['sequence']} and start "
                                    f"{show(_aware(r['start_time']), site)} run against the device's other recordings")
    found = []
    for r in rows:
        if r["sha256"] in flagged:
            reason, text = flagged[r["sha256"]]
            found.append(_row("clock", reason, device=device, officer=r["officer_id"], start=r["start_time"],
                              end=r["end_time"], duration=None, sha256=r["sha256"],
                              detail=f"{_name(r)}: {text}; left out of the device's timeline", **meta))
    found += timeline_gaps([r for r in rows if r["sha256"] not in flagged], tails, cfg, **meta)
    return found
