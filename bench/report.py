"""The benchmark's output: one row per measured run, the table, the goals, the JSON file."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import corpus
import measure

RESULTS = Path(__file__).resolve().parent / "results"
GOAL_DROP_BYTES = 2_000_000_000      # the goals are stated for drops of at least this size


@dataclass
class Row:
    name: str
    kind: str                       # floor | fieldrec | baseline
    files: int
    bytes: int
    media_s: float | None
    m: measure.Measurement
    workers: int | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def mb_s(self) -> float:
        return self.bytes / 1e6 / self.m.wall_s

    @property
    def media_h_per_h(self) -> float | None:
        return self.media_s / self.m.wall_s if self.media_s else None

    @property
    def media_h_per_cpu_h(self) -> float | None:
        return self.media_s / self.m.cpu_s if self.media_s and self.m.cpu_s else None

    def to_dict(self) -> dict:
        m = self.m
        return {
            "name": self.name, "kind": self.kind, "workers": self.workers, "files": self.files,
            "bytes": self.bytes, "media_hours": (self.media_s or 0) / 3600, "wall_s": round(m.wall_s, 3),
            "cpu_s": round(m.cpu_s, 3), "cpu_source": m.cpu_source, "mb_per_s": round(self.mb_s, 1),
            "media_hours_per_hour": _round(self.media_h_per_h), "media_hours_per_cpu_hour": _round(self.media_h_per_cpu_h),
            "peak_tree_pss_mib": round(m.peak_tree_mib, 1), "peak_top_pss_mib": round(m.peak_top_mib, 1),
            "max_processes": m.max_processes, "returncode": m.returncode, "problems": self.problems,
            "command": [str(c) for c in m.command],
        }


def _round(x: float | None, digits: int = 2) -> float | None:
    return None if x is None else round(x, digits)

COLUMNS = (("run", 40, "s"), ("files", 6, "d"), ("GB", 6, ".2f"), ("wall s", 8, ".1f"), ("CPU s", 8, ".1f"),
           ("MB/s", 7, ".0f"), ("media h/h", 10, ".1f"), ("media h/CPU h", 14, ".1f"),
           ("peak MiB tree", 14, ".0f"), ("driver", 7, ".0f"))


def _cells(row: Row) -> list:
    m = row.m
    driver = m.peak_top_mib if row.kind == "fieldrec" else None
    return [row.name + (" !" if row.problems else ""), row.files, row.bytes / 1e9, m.wall_s, m.cpu_s, row.mb_s,
            row.media_h_per_h, row.media_h_per_cpu_h, m.peak_tree_mib, driver]


def table(rows: list[Row]) -> str:
    def fmt(value, width, spec, first):
        text = "-" if value is None else format(value, spec)
        return text.ljust(width) if first else text.rjust(width)

    lines = [" ".join(fmt(name, w, "s", i == 0) for i, (name, w, _) in enumerate(COLUMNS))]
    lines.append("-" * len(lines[0]))
    for row in rows:
        lines.append(" ".join(fmt(v, w, s, i == 0) for i, (v, (_, w, s)) in enumerate(zip(_cells(row), COLUMNS))))
    return "\n".join(lines)


def report(bench, summary: dict, desc: dict, drop: corpus.Drop) -> str:
    cache = "page cache warm" if drop.bytes < 0.5 * desc["memory_gb"] * 1e9 else "drop larger than the page cache"
    out = [f"fieldrec end-to-end benchmark on {desc['host']}: {desc['cpu']}, {desc['logical_cpus']} CPUs, "
           f"{desc['memory_gb']} GB RAM, disk {desc['disk']['device']} ({desc['disk']['fstype']})",
           f"drop: {len(drop.files)} files, {drop.bytes / 1e9:.2f} GB, "
           f"{(drop.media_s or summary['media_s'] or 0) / 3600:.2f} media hours; "
           f"fsync {'on' if bench.args.fsync else 'off'}; {cache}" + (f"; best of {bench.args.repeat}" if bench.args.repeat > 1 else ""),
           "", table(bench.rows), ""]
    for row in bench.rows:
        for problem in row.problems:
            out.append(f"! {row.name}: {problem}")
    out.append(summary["limit"].describe())
    out.append("goals (on a drop of at least 2 GB; ratios against L and F of this run):")
    for label, value, op, target in summary["goals"]:
        shown = "-" if value is None else f"{value:.2f}"
        if target is None:
            out.append(f"  {label:60s} {shown:>8s}")
            continue
        verdict = "not measured" if value is None else ("met" if _met(value, op, target) else "MISSED")
        out.append(f"  {label:60s} {shown:>8s}  goal {op} {target:g}  {verdict}")
    speedups = [f"{n} worker(s) x{s:.2f}" for n, s in summary["speedups"].items() if s]
    out.append("scaling (wall time of 1 worker / of N): " + (", ".join(speedups) or "not measured (no 1-worker run)"))
    by_files = sorted(summary["memory"].items())
    growth = by_files[-1][1].m.peak_tree_mib / by_files[0][1].m.peak_tree_mib if by_files[0][1].m.peak_tree_mib else 0
    out.append("memory (peak PSS, tree): " + ", ".join(f"{n} files {r.m.peak_tree_mib:.0f} MiB (driver "
                                                      f"{r.m.peak_top_mib:.0f})" for n, r in by_files)
               + f": x{growth:.2f} for x{by_files[-1][0] / by_files[0][0]:.0f} the files")
    if drop.bytes < GOAL_DROP_BYTES:
        out.append(f"note: this drop is {drop.bytes / 1e9:.2f} GB; the goals are stated for >= 2 GB "
                   "(make bench-full), where the fixed start-up cost weighs less.")
    out.append(f"load average (1, 5, 15 min): {desc['load_average']} at the start, "
               f"{desc.get('load_average_end')} at the end")
    out.extend(load_notes(desc))
    out.extend(f"skipped: {s}" for s in bench.skipped)
    return "\n".join(out)


def load_notes(desc: dict) -> list[str]:
    """What the report says of a loaded machine: that others shared the CPUs, and whether this run
    could have been put ahead of them (``bench/boost.sh``)."""
    if max(desc["load_average"][0], (desc.get("load_average_end") or [0])[0]) <= 0.5 * desc["logical_cpus"]:
        return []
    notes = ["note: the load average was high: other work shared the CPUs."]
    sched = desc.get("scheduling") or {}
    if sched.get("autogroups") and (sched.get("autogroup_nice") or 0) >= 0:
        notes.append("note: processes are grouped by session here (autogroups): nice alone does not put this run "
                     "ahead of other sessions' work; bench/boost.sh does.")
    return notes


def _met(value: float, op: str, target: float) -> bool:
    return value <= target if op == "<=" else value >= target


def write_json(bench, summary: dict, desc: dict, drop: corpus.Drop) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc)
    path = RESULTS / f"e2e-{stamp:%Y%m%dT%H%M%SZ}-{desc['host']}.json"
    data = {
        "finished_at": stamp.isoformat(), "machine": desc, "drop": drop.describe(),
        "settings": {"fsync": bench.args.fsync, "direct_io": not bench.args.buffered, "repeat": bench.args.repeat,
                     "full": bench.args.full,
                     "engines": list(bench.args.engines),
                     "memory": "peak of the sum of PSS over the process tree, sampled every 0.2 s",
                     "cpu": "user+system of the whole process tree: rusage of reaped descendants, plus the "
                            "last-sampled time of processes the kernel reaped (children of Ray's raylet)",
                     "page_cache": "warm: the drop was read once before the runs"},
        "rows": [r.to_dict() for r in bench.rows],
        "limit": summary["limit"].to_dict(),
        "goals": [{"goal": g.strip(), "value": _round(v, 3), "op": op if t is not None else None, "target": t,
                   "met": None if v is None or t is None else _met(v, op, t)}
                  for g, v, op, t in summary["goals"]],
        "speedup_by_workers": {str(n): _round(s, 3) for n, s in summary["speedups"].items()},
        "peak_memory_by_files": {str(n): round(r.m.peak_tree_mib, 1) for n, r in summary["memory"].items()},
        "skipped": bench.skipped,
    }
    path.write_text(json.dumps(data, indent=2))
    return path

