"""What one more nightly ingest adds at a million recordings (refresh, end summary, seal), alone.

    .venv/bin/python bench/one_night.py [--rounds 3] [--night both|plain|assigned] [--profile out.prof]

Needs the synthetic year ``bench/scale.py`` built and compacted (its ``bench/cache/scale-*/run``);
each round times ``scale.one_more_night`` on a fresh copy of that compacted archive. ``plain``: the
night alone (the old way); ``assigned``: first the cases and assignments the synthetic year adds
after each night (``sample.catalog._explain_and_assign``, on the newest night's recordings), as a
real archive has nearly every night, then the night: its summary follows them from the kept
``gap_waiting`` row. ``both`` (the default): each round times one of each, on copies of their own.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from pipeline.config import load_config  # noqa: E402
from pipeline.sample.catalog import Shape  # noqa: E402
from scale import one_more_night  # noqa: E402


def _cpu_of(module, name: str, spent: dict) -> None:
    """Count the CPU seconds (every thread's) of ``module.name``: on a shared machine they move less
    than wall time does."""
    work = getattr(module, name)

    def timed(*args, **kwargs):
        start = time.process_time()
        try:
            return work(*args, **kwargs)
        finally:
            spent[name] = round(spent.get(name, 0.0) + time.process_time() - start, 3)
    setattr(module, name, timed)


def _note_carried(spent: dict) -> None:
    """Note whether the end summary carried its counts from the kept row (``gapwaiting.Tally``)."""
    from pipeline.records import gapwaiting

    tally = gapwaiting.tally

    def noted(*args, **kwargs):
        out = tally(*args, **kwargs)
        spent["carried"] = out.carried
        spent["from_ahead"] = out.ahead
        return out
    gapwaiting.tally = noted


def _newest_day(archive: Path, config) -> date:
    """The site's day of the newest recording in ``archive``: the night already there."""
    import pyarrow.compute as pc

    from catalog.store import Catalog

    newest = pc.max(Catalog(archive).read("recordings", ["start_utc"])["start_utc"]).as_py()
    return newest.astimezone(config.zones().site_zone).date()


def assign_the_day(archive: Path, config, shape: Shape, day: date) -> int:
    """The cases and assignments the synthetic year adds after the night of ``day`` (on that
    night's recordings, its newest run's), committed as their own run: how many assignments."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    from catalog.store import Catalog
    from pipeline.sample.catalog import Built, _explain_and_assign, _Year

    catalog = Catalog(archive)
    newest = pc.max(catalog.read("recordings", ["run_id"])["run_id"]).as_py()
    recordings = catalog.read("recordings", ["sha256", "device_id", "start_utc"], filter=ds.field("run_id") == newest)
    year = _Year(dataclasses.replace(shape, seed=shape.seed + 1000 + day.toordinal()), config)
    done = Built()
    now = datetime.combine(day + timedelta(days=1), datetime.min.time(), timezone.utc)
    for _ in range(20):                       # a night with none is the old way: draw until one has
        _explain_and_assign(archive, config, year, shape, day, now, recordings, [], done)
        if done.assignments:
            break
    return done.assignments


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cache", type=Path, default=None, help="the scale-* folder (default: the newest in bench/cache)")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--night", choices=("both", "plain", "assigned"), default="both",
                   help="plain: the night alone; assigned: the day's cases and assignments first")
    p.add_argument("--profile", type=Path, default=None, help="write a cProfile of the last round here")
    args = p.parse_args()
    if not 1 <= args.rounds <= 100:
        p.error("--rounds must be between 1 and 100")
    runs = [args.cache / "run"] if args.cache else list((HERE / "cache").glob("scale-*/run"))
    if not runs or not all((r / "catalog").is_dir() and (r.parent / "built.json").is_file() for r in runs):
        p.error("no compacted synthetic year here: run bench/scale.py first (it leaves bench/cache/scale-*/run)")
    cached = max(runs, key=lambda f: f.stat().st_mtime).parent
    built = json.loads((cached / "built.json").read_text())
    config = load_config()
    config = dataclasses.replace(config, ingest=dataclasses.replace(config.ingest, fsync=False))
    recordings, devices, days, first = cached.name.split("-", 4)[1:]        # scale-R-D-N-YYYY-MM-DD
    shape = Shape(recordings=int(recordings), devices=int(devices), days=int(days), first_day=date.fromisoformat(first))
    # ``bench/scale.py`` adds its own night to the compacted copy: this one is the night after the newest
    day = max(date.fromisoformat(built["last_day"]), _newest_day(cached / "run", config)) + timedelta(days=1)
    from pipeline.records import gaprefresh
    from pipeline.runs import ingest

    spent: dict = {}
    _cpu_of(gaprefresh, "refresh", spent)
    _cpu_of(ingest, "_identities_and_gaps", spent)
    _cpu_of(ingest, "_seen", spent)
    _note_carried(spent)
    nights = ("plain", "assigned") if args.night == "both" else (args.night,)
    for i in range(args.rounds):
        for night in nights:
            with tempfile.TemporaryDirectory(dir=cached) as tmp:
                work = Path(tmp) / "archive"
                shutil.copytree(cached / "run", work)
                assigned = assign_the_day(work, config, shape, day - timedelta(days=1)) if night == "assigned" else 0
                profiler = cProfile.Profile() if args.profile and i == args.rounds - 1 else None
                if profiler:
                    profiler.enable()
                result = one_more_night(work, config, shape, day)
                if profiler:
                    profiler.disable()
                    profiler.dump_stats(str(args.profile.with_suffix(f".{night}.prof")) if len(nights) > 1
                                        else str(args.profile))
            total = round(result["refresh_s"] + result["summary_s"] + result["seal_s"], 3)
            print(json.dumps({"night": night, "assignments_added": assigned, "total_s": total, **result,
                              "cpu_s": dict(spent), "load": [round(x, 2) for x in os.getloadavg()]}))
            spent.clear()
    return 0


if __name__ == "__main__":
    sys.exit(main())
