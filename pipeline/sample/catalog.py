"""A synthetic catalog: a county's months of recordings, gaps, cases and handovers, no media.

For benchmarks and scale tests (``bench/scale.py``): every row goes through the real catalog writer
(``writing_run``: journal, commit, seal), a nightly ingest at a time, so the archive has the
parts, manifests and seal index a real one would. Devices record in sessions of back-to-back
segments; the pauses between sessions (and nights) are the between_files gaps a refresh would
find, written with the ids ``timeline`` gives them; a few devices have reset clocks (clock gaps), a
few files are cut short (damaged tails), some uploads are late, most gaps get explained, cases are
opened, assigned, closed. Deterministic for a given ``Shape``.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa

from pipeline.archive.writer import writing_run
from pipeline.common.times import show, zone_label, zone_named
from pipeline.config import Config
from pipeline.records.gaprefresh import basis
from pipeline.stages.gaps import gap_id

UTC = timezone.utc


@dataclass(frozen=True)
class Shape:
    recordings: int = 1_000_000
    devices: int = 500
    days: int = 365
    first_day: date = date(2025, 12, 1)
    seed: int = 7
    commit_rows: int = 500             # rows per catalog commit (ingest's commit_every_files)
    cases_per_day: float = 8.0
    explained: float = 0.85            # share of gaps explained (most of them within days)
    late: float = 0.03                 # share of uploads over 24 h


@dataclass
class Built:
    recordings: int = 0
    gaps: int = 0
    cases: int = 0
    assignments: int = 0
    explanations: int = 0
    runs: int = 0
    wall_s: float = 0.0
    last_day: date | None = None
    devices: list[str] = field(default_factory=list)


def _hexes(rng: np.random.Generator, n: int) -> list[str]:
    raw = rng.bytes(32 * n).hex()
    return [raw[i * 64:(i + 1) * 64] for i in range(n)]


class _Year:
    """The generator's state across days: each device's officer, sequence, last recording."""

    def __init__(self, shape: Shape, config: Config):
        self.shape, self.config = shape, config
        self.rng = np.random.default_rng(shape.seed)
        self.zone = config.zones().site_zone
        self.label = zone_label(self.zone)
        self.devices = [f"BWC{i:04d}" for i in range(shape.devices)]
        self.officer = {d: f"OF{i:04d}" for i, d in enumerate(self.devices)}
        self.numbered = {d: bool(self.rng.random() < 0.3) for d in self.devices}     # recorders that number files
        self.sequence = {d: 0 for d in self.devices}
        self.reset = set(self.rng.choice(self.devices, size=max(1, shape.devices // 100), replace=False).tolist())
        self.last: dict[tuple[str, str], tuple[datetime, str, str, str]] = {}   # (device, kind) -> (reach, sha, name, officer)
        self.per_device_day = shape.recordings / (shape.devices * shape.days * 0.85)
        self.gap_ids: list[tuple[str, datetime]] = []   # gaps detected, for explanations and cases

    def day(self, d: date, run_id: str, ingested: datetime) -> tuple[pa.Table, pa.Table, list[dict], list[dict]]:
        """One nightly ingest: recordings, sightings, gaps and their open events."""
        rng, offset = self.rng, timedelta(hours=8) if self.label == "Asia/Shanghai" else timedelta(0)
        cols: dict[str, list] = {k: [] for k in ("device_id", "officer_id", "kind", "start", "duration", "sequence",
                                                 "status", "lost", "reset")}
        for device in self.devices:
            if rng.random() > 0.85:
                continue
            count = max(1, int(rng.poisson(self.per_device_day)))
            sessions = max(1, min(count, int(rng.integers(1, 5))))
            cuts = np.sort(rng.choice(np.arange(1, count), size=sessions - 1, replace=False)) if sessions > 1 else []
            sizes = np.diff(np.concatenate([[0], cuts, [count]])).astype(int)
            at = datetime.combine(d, datetime.min.time()) + timedelta(hours=7, minutes=int(rng.integers(0, 120)))
            officer = self.officer[device]
            for size in sizes:
                kind = "audio" if rng.random() < 0.03 else "video"
                for k in range(size):
                    duration = float(rng.integers(120, 900)) + 0.5
                    damaged = k == size - 1 and rng.random() < 0.004
                    cols["device_id"].append(device)
                    cols["officer_id"].append(officer)
                    cols["kind"].append(kind)
                    cols["start"].append(at)
                    cols["duration"].append(duration)
                    self.sequence[device] += 1
                    cols["sequence"].append(self.sequence[device] if self.numbered[device] else None)
                    cols["status"].append("damaged" if damaged else "ok")
                    cols["lost"].append(float(rng.integers(5, 60)) if damaged else None)
                    cols["reset"].append(device in self.reset and rng.random() < 0.05)
                    at += timedelta(seconds=int(duration) + int(rng.integers(0, 2)))       # back to back
                at += timedelta(minutes=int(rng.integers(20, 180)))                       # then a pause
        n = len(cols["device_id"])
        shas = _hexes(rng, n)
        late_by = np.where(rng.random(n) < self.shape.late, rng.uniform(26, 240, n), 0.0)
        rows, sightings, gaps, states = [], [], [], []
        for i in range(n):
            device, kind, wall = cols["device_id"][i], cols["kind"][i], cols["start"][i]
            if cols["reset"][i]:
                wall = datetime(2000, 1, 1) + (wall - datetime.combine(d, datetime.min.time()))
            duration = cols["duration"][i]
            start_utc = (wall - offset).replace(tzinfo=UTC)
            arrived = ingested + timedelta(hours=float(late_by[i]))
            seq = cols["sequence"][i]
            name = f"{device}_{cols['officer_id'][i]}_{wall:%Y%m%d%H%M%S}" + (f"_{seq:04d}" if seq else "") + \
                (".MP4" if kind == "video" else ".WAV")
            rows.append({
                "sha256": shas[i], "size": int(duration * 1_000_000), "kind": kind, "container": "mp4" if kind == "video"
                else "wav", "duration_s": duration, "device_id": device, "officer_id": cols["officer_id"][i],
                "start_time": wall, "end_time": wall + timedelta(seconds=duration), "time_source": "filename",
                "identity_source": "filename", "sequence": seq, "name_time": wall, "source_name": name,
                "status": cols["status"][i], "error_stage": "demux" if cols["status"][i] != "ok" else None,
                "error_message": f"{name}: file ends early" if cols["status"][i] != "ok" else None,
                "archive_path": f"objects/{shas[i][:2]}/{shas[i][2:4]}/{shas[i]}", "run_id": run_id,
                "ingested_at": arrived, "start_utc": start_utc, "end_utc": start_utc + timedelta(seconds=duration),
                "utc_offset_s": int(offset.total_seconds()), "time_zone": self.label, "zone_source": "site",
                "container_time_zone": "UTC", "video_codec": "h264" if kind == "video" else None,
                "width": 1920 if kind == "video" else None, "height": 1080 if kind == "video" else None})
            sightings.append({"sha256": shas[i], "source_path": f"/mnt/dock/{device}/{name}", "size": rows[-1]["size"],
                              "mtime": start_utc, "mtime_ns": 0, "status": cols["status"][i], "run_id": run_id,
                              "seen_at": arrived})
            gaps += self._gaps(rows[-1], cols["lost"][i], run_id, ingested, states)
        return _table(rows), _table(sightings), gaps, states

    def _gaps(self, r: dict, lost: float | None, run_id: str, now: datetime, states: list[dict]) -> list[dict]:
        """The gaps a refresh finds for this recording: its own clock or tail, and the pause before it."""
        out = []
        meta = {"detected_run_id": run_id, "detected_at": now, "run_id": run_id}
        offset = timedelta(seconds=r["utc_offset_s"])
        if r["start_time"].year == 2000:
            out.append({"gap_id": gap_id("clock", r["device_id"], r["sha256"], None, None), "kind": "clock",
                        "reason": "before_earliest", "device_id": r["device_id"], "officer_id": r["officer_id"],
                        "start_time": r["start_time"], "end_time": r["end_time"], "sha256": r["sha256"],
                        "start_utc": r["start_utc"], "end_utc": r["end_utc"],
                        "detail": f"{r['source_name']}: starts {show(r['start_utc'], self.zone)}, before "
                                  f"{self.config.gaps.earliest_plausible}: the clock was not set; left out of the "
                                  "device's timeline", **meta})
        else:
            reach = r["end_utc"]
            if lost is not None:
                reach = r["end_utc"] + timedelta(seconds=lost)
                out.append({"gap_id": gap_id("damaged_tail", r["sha256"], "truncated", "", f"{r['duration_s']:.3f}"),
                            "kind": "damaged_tail", "reason": "truncated", "device_id": r["device_id"],
                            "officer_id": r["officer_id"], "start_time": r["end_time"],
                            "end_time": r["end_time"] + timedelta(seconds=lost), "duration_s": lost,
                            "sha256": r["sha256"], "offset_s": r["duration_s"], "start_utc": r["end_utc"],
                            "end_utc": reach, "detail": f"file ends early: {lost:.2f} s lost", **meta})
            key = (r["device_id"], r["kind"])
            before = self.last.get(key)
            if before is not None:
                pause = (r["start_utc"] - before[0]).total_seconds()
                if pause > self.config.gaps.between_files_tolerance_s:
                    out.append({"gap_id": gap_id("between_files", r["device_id"], None, before[1], r["sha256"]),
                                "kind": "between_files", "reason": "pause", "device_id": r["device_id"],
                                "officer_id": before[3], "start_utc": before[0], "end_utc": r["start_utc"],
                                "start_time": (before[0] + offset).replace(tzinfo=None), "end_time": r["start_time"],
                                "duration_s": pause, "before_sha256": before[1], "after_sha256": r["sha256"],
                                "detail": f"nothing recorded for {pause:.1f} s between {before[2]} and "
                                          f"{r['source_name']}", **meta})
            self.last[key] = (reach, r["sha256"], r["source_name"], r["officer_id"])
        for g in out:
            states.append({"gap_id": g["gap_id"], "state": "open", "run_id": run_id, "evaluated_at": now})
            self.gap_ids.append((g["gap_id"], now))
        return out


def _table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows)


def build(archive: Path, config: Config, shape: Shape = Shape(),
          progress: Callable[[str], None] | None = None) -> Built:
    """Write the synthetic catalog into ``archive`` (a new folder): one nightly ingest per day, the
    day's explanations and cases as runs of their own."""
    t0 = time.monotonic()
    year = _Year(shape, config)
    done = Built(devices=year.devices)
    here = basis(config)
    zone = zone_named(config.site.time_zone)
    with writing_run(archive, config, "synthetic handovers") as run:
        start = datetime.combine(shape.first_day, datetime.min.time(), zone).astimezone(UTC) - timedelta(days=1)
        run.catalog.commit({"handovers": [{"device_id": d, "officer_id": year.officer[d], "at": start, "by": "Desk",
                                           "recorded_at": start} for d in year.devices]}, tag=run.run_id)
    cases_open: list[tuple[str, datetime]] = []
    recorded_runs: list[str] = []
    for day_number in range(shape.days):
        d = shape.first_day + timedelta(days=day_number)
        ingested = datetime.combine(d + timedelta(days=1), datetime.min.time(), zone).astimezone(UTC) + timedelta(hours=2)
        run_id = f"{ingested:%Y%m%dT%H%M%SZ}-{day_number:06x}"
        recordings, sightings, gaps, states = year.day(d, run_id, ingested)
        with writing_run(archive, config, "ingest", run_id=run_id) as run:
            for i in range(0, recordings.num_rows, shape.commit_rows):
                run.catalog.commit({"recordings": recordings.slice(i, shape.commit_rows),
                                    "sightings": sightings.slice(i, shape.commit_rows)}, tag=run_id)
            done.recordings += recordings.num_rows
            recorded_runs.append(run_id)
            run.catalog.commit({"gaps": gaps, "gap_state": states, "gap_refreshes": [{
                "run_id": run_id, "refreshed_at": ingested, "mode": "incremental", "basis": here,
                "recordings": done.recordings, "runs": [run_id], "devices": shape.devices, "new_gaps": len(gaps),
                "events": len(states), "wall_s": 0.0}],
                "runs": [{"run_id": run_id, "command": "ingest", "started_at": ingested, "finished_at": ingested,
                          "outcome": "finished", "files_seen": recordings.num_rows, "files_new": recordings.num_rows}]},
                tag=run_id)
        done.gaps += len(gaps)
        done.runs += 1
        _explain_and_assign(archive, config, year, shape, d, ingested, recordings, cases_open, done)
        if progress and (day_number % 30 == 29 or day_number == shape.days - 1):
            progress(f"day {day_number + 1}/{shape.days}: {done.recordings:,} recordings, {done.gaps:,} gaps, "
                     f"{time.monotonic() - t0:.0f} s")
    done.last_day = shape.first_day + timedelta(days=shape.days - 1)
    done.wall_s = time.monotonic() - t0
    return done


def _explain_and_assign(archive: Path, config: Config, year: _Year, shape: Shape, d: date, now: datetime,
                        recordings: pa.Table, cases_open: list, done: Built) -> None:
    """The day's explanations of recent gaps, and its cases: opened, assigned, some closed."""
    rng = year.rng
    due = [(gid, at) for gid, at in year.gap_ids if at <= now - timedelta(hours=int(rng.integers(6, 72)))]
    year.gap_ids = [(gid, at) for gid, at in year.gap_ids if (gid, at) not in set(due)]
    explanations = []
    for gid, at in due:
        if rng.random() > shape.explained:
            continue
        spoken = rng.random() < 0.6
        explanations.append({"explanation_id": hashlib.sha1(gid.encode()).hexdigest()[:16], "gap_id": gid,
                             "source": "spoken" if spoken else "report", "reason": "battery swap" if spoken else
                             "end of incident", "explained_by": "PC", "approved_by": None if spoken or rng.random() < 0.1
                             else "Sgt", "explained_at": now + timedelta(hours=8)})
    cases, assignments = [], []
    shas = recordings["sha256"].to_pylist()
    devices = recordings["device_id"].to_pylist()
    starts = recordings["start_utc"].to_pylist()
    for _ in range(int(rng.poisson(shape.cases_per_day))):
        cid = f"C{d:%y%m%d}-{len(cases):02d}"
        cls = "permanent" if rng.random() < 0.02 else "case"
        cases.append({"case_id": cid, "event": "open", "retention_class": cls, "title": "incident", "at": now,
                      "by": "Sgt", "recorded_at": now})
        for _k in range(int(rng.integers(1, 4))):
            if not shas:
                break
            i = int(rng.integers(0, len(shas)))
            if rng.random() < 0.5:
                assignments.append({"assignment_id": f"{cid}-{len(assignments)}", "case_id": cid,
                                    "retention_class": cls, "selector": "sha256", "sha256": shas[i], "at": now,
                                    "by": "Sgt"})
            else:
                assignments.append({"assignment_id": f"{cid}-{len(assignments)}", "case_id": cid,
                                    "retention_class": cls, "selector": "device", "device_id": devices[i],
                                    "range_start": starts[i], "range_end": starts[i] + timedelta(hours=2), "at": now,
                                    "by": "Sgt"})
        if cls == "case":
            cases_open.append((cid, now + timedelta(days=int(rng.integers(10, 120)))))
    if shas and rng.random() < 0.1:                 # now and then a file kept longer by class
        i = int(rng.integers(0, len(shas)))
        assignments.append({"assignment_id": f"O{d:%y%m%d}", "case_id": None, "retention_class": "other",
                            "duration_days": int(rng.integers(100, 400)), "selector": "sha256", "sha256": shas[i],
                            "at": now, "by": "Sgt"})
    closing = [c for c in cases_open if c[1] <= now]
    cases_open[:] = [c for c in cases_open if c[1] > now]
    cases += [{"case_id": cid, "event": "close", "at": now, "by": "Sgt", "recorded_at": now} for cid, _ in closing]
    if explanations or cases or assignments:
        with writing_run(archive, config, "explain and cases") as run:
            run.catalog.commit({"explanations": explanations, "cases": cases, "assignments": assignments},
                               tag=run.run_id)
    done.explanations += len(explanations)
    done.cases += sum(c["event"] == "open" for c in cases)
    done.assignments += len(assignments)
