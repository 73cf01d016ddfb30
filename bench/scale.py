"""A year of a county on one archive: every routine command, timed at a million recordings.

    .venv/bin/python bench/scale.py                      # 1,000,000 recordings, 500 devices, 365 days
    .venv/bin/python bench/scale.py --recordings 100000  # smaller; --smoke: a tiny one (seconds)

Builds a synthetic catalog through the real catalog writer (``pipeline.sample.catalog``: one sealed
nightly ingest a day, gaps, explanations, cases, assignments; no media), cached under
``bench/cache/`` by its shape, then times in fresh processes: ``fieldrec compact`` (parts per table
before and after), ``retention --all``, ``compliance``, ``ledger``, ``gaps --unexplained`` and more
(wall time and peak RSS of each), opening the catalog, a read of one device's day (how many part
files it touches), and what one more nightly ingest adds: the gap refresh and the seal. Results
go to ``bench/results/scale-<time>-<host>.json``; the goals are checked at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pyarrow.dataset as ds

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from catalog.query import connect  # noqa: E402
from catalog.schema import TABLES  # noqa: E402
from catalog.store import Catalog  # noqa: E402
from pipeline.config import load_config  # noqa: E402
from pipeline.sample.catalog import Shape, build  # noqa: E402

FIELDREC = [sys.executable, "-m", "pipeline.cli"]
GOALS = {"retention --all": 3.0, "compliance": 3.0, "ledger": 3.0, "gaps --unexplained": 3.0}
MEMORY_GOAL_MIB = 1024


def run(argv: list[str], archive: Path) -> dict:
    """``fieldrec ARGV --archive A`` in a fresh process, output to /dev/null: wall s, peak RSS MiB, rc."""
    with open(os.devnull, "wb") as sink:
        start = time.perf_counter()
        proc = subprocess.Popen(FIELDREC + argv + ["--archive", str(archive)], stdout=sink,
                                stderr=subprocess.PIPE, cwd=HERE.parent)
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        print(f"  ! {' '.join(argv)} exited {code}: {err.decode(errors='replace')[-400:]}", file=sys.stderr)
    return {"command": " ".join(argv), "wall_s": round(wall, 3), "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
            "peak_mib": round(usage.ru_maxrss / 1024, 1), "rc": code}


def parts(archive: Path) -> dict[str, int]:
    catalog = Catalog(archive)
    return {t: len(catalog.visible_parts(t)) for t in TABLES if catalog.visible_parts(t)}


def device_day(archive: Path, device: str, day: date) -> dict:
    """Read one device's day of recordings with a filter; count the part files whose data it reads
    (files with a row group the statistics cannot rule out)."""
    start = datetime.combine(day, datetime.min.time(), timezone(timedelta(hours=8))).astimezone(timezone.utc)
    expr = (ds.field("device_id") == device) & (ds.field("start_utc") >= start) \
        & (ds.field("start_utc") < start + timedelta(days=1))
    catalog = Catalog(archive)
    t0 = time.perf_counter()
    rows = catalog.read("recordings", ["sha256", "start_utc"], filter=expr).num_rows
    wall = time.perf_counter() - t0
    touched = 0
    for fragment in catalog.dataset("recordings").get_fragments():
        if any(True for _ in fragment.split_by_row_group(expr)):
            touched += 1
    return {"rows": rows, "files_touched": touched, "wall_s": round(wall, 3)}


def opening(archive: Path) -> dict:
    """What any reader does first: list every table's parts; and DuckDB's views over all of them."""
    t0 = time.perf_counter()
    catalog = Catalog(archive)
    for table in TABLES:
        catalog.visible_parts(table)
    listed = time.perf_counter() - t0
    t0 = time.perf_counter()
    con = connect(archive)
    con.execute("SELECT count(*) FROM recordings").fetchone()
    con.close()
    return {"list_parts_s": round(listed, 3), "duckdb_views_and_count_s": round(time.perf_counter() - t0, 3)}


def one_more_night(archive: Path, config, shape: Shape, day: date) -> dict:
    """One more nightly ingest's catalog work, timed: what the ingest reads and counts while its
    files are stored (``runs.ahead``: waited for before the commits and timed apart, ``ahead_s``),
    what earlier runs saw of the night's files (``seen_s``), its commits, then the gap refresh, the
    run's end summary (its gaps, and how many wait for an explanation), then the seal. The summary
    carries its counts from the last run's kept ``gap_waiting`` row (``records.gapwaiting``), or,
    where that does not fit or there is none (the first night after a build, as here after
    ``build``), from the count made ahead."""
    from pipeline.archive.writer import writing_run
    from pipeline.records import gaprefresh
    from pipeline.runs.ahead import Ahead
    from pipeline.runs.ingest import RunSummary, _identities_and_gaps, _known_contents, _seen
    from pipeline.sample.catalog import _Year

    # Each night after the year its own draw: a second extra night must not dock the first one's files again.
    after_year = (day - (shape.first_day + timedelta(days=shape.days))).days
    year = _Year(dataclasses.replace(shape, seed=shape.seed + 1 + max(after_year, 0)), config)
    ingested = datetime.combine(day + timedelta(days=1), datetime.min.time(), timezone.utc)
    run_id = f"{ingested:%Y%m%dT%H%M%SZ}-bench"
    recordings, sightings, _, _ = year.day(day, run_id, ingested)
    walked = [os.fsencode(p) for p in sightings["source_path"].to_pylist()]
    with writing_run(archive, config, "ingest", run_id=run_id) as run:
        t_known = time.perf_counter()
        known = _known_contents(run.catalog)             # as the ingest reads them before its walk
        t_ahead = time.perf_counter()
        # what the ingest reads and counts in a thread while its files are stored (``runs.ahead``):
        # waited for here, before the night's commits, and timed apart (``ahead_s``)
        early = Ahead(run.catalog, config, run_id, read_after_s=0)     # the night's copies take minutes
        early.wait()
        t_seen = time.perf_counter()
        _seen(run.catalog, walked)
        t0 = time.perf_counter()
        for i in range(0, recordings.num_rows, shape.commit_rows):
            run.catalog.commit({"recordings": recordings.slice(i, shape.commit_rows),
                                "sightings": sightings.slice(i, shape.commit_rows)}, tag=run_id)
        t1 = time.perf_counter()
        result = gaprefresh.refresh(run.catalog, run_id, config, cache=early.parts, survey=early.survey)
        t2 = time.perf_counter()
        summary = RunSummary(run_id=run_id, archive=str(archive), started_at=ingested)
        _identities_and_gaps(summary, run.catalog, config, repeated=getattr(known, "repeated", False), early=early)
        t2b = time.perf_counter()
    t3 = time.perf_counter()
    return {"recordings": recordings.num_rows, "known_s": round(t_ahead - t_known, 3), "ahead_s": round(t_seen - t_ahead, 3), "seen_s": round(t0 - t_seen, 3), "commits_s": round(t1 - t0, 3),
            "refresh_s": round(t2 - t1, 3), "summary_s": round(t2b - t2, 3), "summary_gaps": summary.gaps,
            "seal_s": round(t3 - t2b, 3), "refresh_plus_seal_s": round(t3 - t1, 3), "refresh_mode": result.mode,
            "devices_walked": result.devices, "whole": result.whole, "widened": result.widened,
            "new_gaps": result.new, "events": result.opened + result.closed}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recordings", type=int, default=1_000_000)
    p.add_argument("--devices", type=int, default=500)
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--smoke", action="store_true", help="a tiny catalog (3,000 recordings): checks the bench runs")
    p.add_argument("--work", type=Path, default=HERE / "cache", help="where the synthetic archive is kept")
    p.add_argument("--rebuild", action="store_true", help="build the catalog again even if cached")
    p.add_argument("--out", type=Path, default=HERE / "results")
    args = p.parse_args()
    if args.smoke:
        args.recordings, args.devices, args.days = 3000, 10, 20
    config = load_config()
    config = dataclasses.replace(config, ingest=dataclasses.replace(config.ingest, fsync=False))
    today = datetime.now(timezone.utc).date()
    shape = Shape(recordings=args.recordings, devices=args.devices, days=args.days,
                  first_day=today - timedelta(days=args.days + 3))
    cached = args.work / f"scale-{shape.recordings}-{shape.devices}-{shape.days}-{shape.first_day}"
    if args.rebuild or not (cached / "built.json").is_file():
        shutil.rmtree(cached, ignore_errors=True)
        print(f"building {cached} ...", file=sys.stderr)
        built = build(cached / "archive", config, shape, progress=lambda m: print("  " + m, file=sys.stderr))
        (cached / "built.json").write_text(json.dumps(dataclasses.asdict(built), default=str))
    built = json.loads((cached / "built.json").read_text())
    work = cached / "run"                                  # each bench run on a fresh copy of the built archive
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(cached / "archive", work)
    # The machine may be shared: the load average before the timings says how far to trust them.
    result: dict = {"host": socket.gethostname(), "cpus": os.cpu_count(), "load_before": os.getloadavg(),
                    "shape": dataclasses.asdict(shape),
                    "built": built, "parts_before": parts(work)}
    result["compact"] = run(["compact", "--format", "json"], work)
    result["parts_after"] = parts(work)
    commands = [["retention", "--all", "--format", "csv"], ["retention", "--format", "csv"],
                ["retention", "--all", "--format", "table"], ["compliance", "--format", "csv"],
                ["compliance", "--late", "--format", "csv"], ["ledger", "--format", "csv"],
                ["gaps", "--unexplained", "--format", "csv"], ["gaps", "--unexplained"],
                ["gaps", "--format", "csv"],           # the whole year's listing: the memory goal's largest
                ["gaps", "--device", built["devices"][1], "--format", "csv"],
                ["sql", "SELECT count(*) FROM recordings"], ["compact"]]
    result["commands"] = [run(argv, work) for argv in commands]
    result["opening"] = opening(work)
    last_day = date.fromisoformat(built["last_day"])
    result["device_day"] = device_day(work, built["devices"][1], last_day - timedelta(days=100))
    result["one_more_night"] = one_more_night(work, config, shape, last_day + timedelta(days=1))
    # and the night after it: its end summary carries the counts that night kept (``gap_waiting``),
    # as every night's does but the first after the synthetic build (which keeps none)
    result["next_night"] = one_more_night(work, config, shape, last_day + timedelta(days=2))
    report(result)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"scale-{datetime.now():%Y%m%dT%H%M%S}-{socket.gethostname()}.json"
    out.write_text(json.dumps(result, indent=2, default=str))
    print(f"\nresults: {out}")
    return 0


def report(r: dict) -> None:
    b = r["built"]
    print(f"load average before the timings: {', '.join(f'{x:.1f}' for x in r['load_before'])} on {r['cpus']} CPUs")
    print(f"synthetic catalog: {b['recordings']:,} recordings, {b['gaps']:,} gaps, {b['cases']:,} cases, "
          f"{b['assignments']:,} assignments, {b['explanations']:,} explanations, {b['runs']} nightly runs "
          f"(built in {float(b['wall_s']):.0f} s)")
    c = r["compact"]
    worst_before = max(r["parts_before"].items(), key=lambda kv: kv[1])
    worst_after = max(r["parts_after"].items(), key=lambda kv: kv[1])
    print(f"compact: {c['wall_s']:.1f} s, peak {c['peak_mib']:.0f} MiB; most parts in a table: "
          f"{worst_before[1]} ({worst_before[0]}) before, {worst_after[1]} ({worst_after[0]}) after")
    print(f"\n{'command':48s} {'wall s':>8s} {'CPU s':>8s} {'peak MiB':>9s}")
    for c in r["commands"]:
        print(f"{c['command'][:48]:48s} {c['wall_s']:8.2f} {c['cpu_s']:8.2f} {c['peak_mib']:9.0f}"
              + ("" if c["rc"] == 0 else "  FAILED"))
    o, d, n = r["opening"], r["device_day"], r["one_more_night"]
    print(f"\nopening the catalog: list every table's parts {o['list_parts_s']:.3f} s; DuckDB views + a count "
          f"{o['duckdb_views_and_count_s']:.3f} s")
    print(f"one device's day: {d['rows']} rows in {d['wall_s']:.3f} s, {d['files_touched']} part file(s) touched")
    for label, n in (("one more nightly ingest", n), ("the night after it", r.get("next_night"))):
        if n is None:
            continue
        print(f"{label} ({n['recordings']} recordings): gap refresh {n['refresh_s']:.3f} s "
              f"({n['refresh_mode']}, {n['devices_walked']} devices, {n['whole']} whole, {n['widened']} widened), "
              f"end summary {n['summary_s']:.3f} s, seal {n['seal_s']:.3f} s: {n['refresh_plus_seal_s']:.3f} s"
              + (f" (and the count ahead, while the files are stored: {n['ahead_s']:.3f} s)" if n.get("ahead_s") else ""))
    n = r["one_more_night"]
    checks = [(f"{k} <= {v} s", next(c["wall_s"] for c in r["commands"] if c["command"].startswith(k)) <= v)
              for k, v in GOALS.items()]
    checks += [("refresh + end summary + seal <= 1 s", n["refresh_plus_seal_s"] <= 1.0),
               ("the same the night after <= 1 s", (r.get("next_night") or n)["refresh_plus_seal_s"] <= 1.0),
               ("opening the catalog <= 0.5 s", o["list_parts_s"] <= 0.5),
               ("<= 64 parts per table after compaction", worst_after[1] <= 64),
               ("one device's day touches <= 2 files", d["files_touched"] <= 2),
               (f"every command <= {MEMORY_GOAL_MIB} MiB",
                max(c["peak_mib"] for c in r["commands"] + [r["compact"]]) <= MEMORY_GOAL_MIB)]
    print("\ngoals: " + "; ".join(f"{name}: {'met' if ok else 'NOT MET'}" for name, ok in checks))


if __name__ == "__main__":
    sys.exit(main())
