"""End-to-end benchmark: how fast this machine ingests body-camera footage, against the floor.

One invocation, one corpus (see ``corpus.py``), each run on a fresh output folder:

1. the floor: copy every byte once into a folder while hashing it with SHA-256 (``floor.py``);
2. ``fieldrec ingest`` as an operator runs it (a subprocess of this tree's ``.venv/bin/fieldrec``):
   default stages, with thumbnails turned off, and with ``--proxies`` (each where the stage exists);
3. the per-file script people use instead (``baseline.sh``: cp, sha256sum, ffprobe, ffmpeg);
4. scaling: the same ingest with 1, 2, 4... workers up to every CPU;
5. memory: the same ingest over a tenth of the drop (and a drop ``--scale`` times larger).

Every run is measured over its whole process tree (``measure.py``: wall, CPU, peak PSS). The
table, the ratios against the goals and the machine's description are printed and written as JSON
to ``bench/results/``. ``make bench`` runs the quick default (a few minutes on 2 cores including
building the corpus the first time); ``make bench-full`` a drop of 3 GB from 1-minute segments.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
import tomllib
from datetime import datetime, timezone
from pathlib import Path

import corpus
import machine
import measure
from report import RESULTS, Row, report, write_json

BENCH = Path(__file__).resolve().parent
FIELDREC = Path(sys.executable).with_name("fieldrec")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def stage_features() -> dict[str, bool]:
    """Which optional stages this tree has, read from configs/default.toml (and the catalog schema)."""
    from catalog.schema import TABLES
    from pipeline.config import DEFAULT_CONFIG

    sections = tomllib.loads(Path(DEFAULT_CONFIG).read_text())
    return {
        "thumbnails": "thumbnails" in sections,
        "thumbnails_switch": "enabled" in sections.get("thumbnails", {}),
        "proxies": "transcode" in sections or "derivatives" in TABLES,
    }


class Bench:
    def __init__(self, args: argparse.Namespace, plan: corpus.Plan, drop: corpus.Drop, work: Path):
        self.args, self.plan, self.drop, self.work = args, plan, drop, work
        self.cpus = os.cpu_count() or 1
        self.rows: list[Row] = []
        self.skipped: list[str] = []
        self.profile_path: Path | None = None

    # ---------------------------------------------------------------- runs

    def measure(self, name: str, kind: str, command: list, out: Path, drop: corpus.Drop,
                workers: int | None = None) -> Row:
        """Run ``command`` ``--repeat`` times on a fresh ``out`` each; keep the fastest."""
        best = None
        for attempt in range(self.args.repeat):
            shutil.rmtree(out, ignore_errors=True)
            os.sync()                  # the previous run's dirty pages are not this run's cost
            _log(f"bench: {name}" + (f" (repeat {attempt + 1})" if self.args.repeat > 1 else ""))
            m = measure.run([str(c) for c in command])
            if m.returncode != 0:
                _log(f"bench:   exit {m.returncode}: {m.stderr.strip()[-2000:]}")
            if best is None or (m.returncode == 0 and m.wall_s < best.wall_s):
                best = m
            _log(f"bench:   {m.wall_s:.1f} s wall, {m.cpu_s:.1f} s CPU, peak {m.peak_tree_mib:.0f} MiB")
        if not self.args.keep:
            shutil.rmtree(out, ignore_errors=True)
        row = Row(name, kind, len(drop.files), drop.bytes, drop.media_s or None, best, workers)
        if best.returncode != 0:
            row.problems.append(f"exit status {best.returncode}: {best.stderr.strip()[-300:]}")
        if best.leftovers:
            row.problems.append(f"processes still alive {measure.ORPHAN_TIMEOUT_S:g} s after the end, "
                                f"killed: {best.leftovers}")
        self.rows.append(row)
        return row

    def floor(self) -> Row:
        command = [sys.executable, BENCH / "floor.py", self.drop.root, self.work / "floor", "--jobs", self.cpus]
        if not self.args.fsync:
            command.append("--no-fsync")
        name = f"floor: copy + SHA-256 ({self.cpus} threads)" + ("" if self.args.fsync else ", no fsync")
        return self.measure(name, "floor", command, self.work / "floor", self.drop)

    def fieldrec(self, name: str, drop: corpus.Drop, *, workers: int | None = None, thumbnails: bool = True,
                 proxies: bool = False, tag: str = "default") -> Row:
        archive = self.work / f"archive-{tag}"
        command = [FIELDREC, "ingest", drop.root, "--archive", archive, "--json"]
        config = self.config(thumbnails=thumbnails)
        if config:
            command += ["--config", config]
        if workers:
            command += ["--workers", workers]
        if proxies:
            command.append("--proxies")
        row = self.measure(name, "fieldrec", command, archive, drop, workers or self.cpus)
        if row.m.returncode == 0:
            try:
                summary = json.loads(row.m.stdout)
            except json.JSONDecodeError:
                row.problems.append(f"no JSON summary on stdout: {row.m.stdout[-300:]!r}")
                return row
            ok = summary["files_by_status"].get("ok", 0)
            if summary["files_seen"] != len(drop.files) or ok != len(drop.files):
                row.problems.append(f"{summary['files_seen']} files seen, {ok} ok, of {len(drop.files)}: "
                                    f"{summary['problems'][:3]}")
            row.media_s = row.media_s or sum(summary["media_hours_by_status"].values()) * 3600
            row.workers = summary.get("cluster_cpus") or row.workers
        return row

    def config(self, *, thumbnails: bool) -> Path | None:
        """A --config file for this run's settings, or None for the defaults."""
        text = ""
        if not self.args.fsync:
            text += "[ingest]\nfsync = false\n"
        if not thumbnails:
            text += "[thumbnails]\nenabled = false\n"
        if not text:
            return None
        path = self.work / f"config-{hashlib.sha1(text.encode()).hexdigest()[:8]}.toml"
        path.write_text(text)
        return path

    def baseline(self) -> Row | None:
        missing = [t for t in ("ffmpeg", "ffprobe", "sha256sum", "xargs") if not shutil.which(t)]
        if missing:
            self.skipped.append(f"per-file ffmpeg script: {', '.join(missing)} not installed "
                                "(Debian/Ubuntu: apt-get install ffmpeg)")
            return None
        out, jobs = self.work / "baseline", self.args.baseline_jobs or self.cpus
        # find | xargs -P: the per-file script on every core, as a careful operator would run it.
        script = 'find "$0" -type f -print0 | xargs -0 -P "$2" -n 1 "$3" "$0" "$1"'
        command = ["bash", "-c", script, self.drop.root, out, jobs, BENCH / "baseline.sh"]
        return self.measure(f"per-file ffmpeg script ({jobs} at once)", "baseline",
                            command, out, self.drop)

    def startup(self) -> Row:
        """fieldrec on one 1-second file: the fixed cost of a run (imports, Ray start and stop)."""
        from pipeline.sample.clips import ClipSpec
        from pipeline.sample.encode import write_clip

        root, rel = self.work / "startup-drop", "dock01/BWC1/BWC1_OF1_20260301080000_0001.MP4"
        size = write_clip(root / rel, ClipSpec(duration_s=1.0)).stat().st_size
        drop = corpus.Drop(root, (corpus.DropFile(rel, size, 1.0, "160x120"),))
        return self.fieldrec("fieldrec start-up (one 1 s file)", drop, tag="startup")

    def profile(self) -> None:
        """One untimed default ingest under py-spy, Ray workers included; a speedscope file."""
        spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(FIELDREC.parent))
        if not spy:
            self.skipped.append("profile: py-spy not found (.venv/bin/python -m pip install py-spy)")
            return
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / f"profile-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.speedscope.json"
        archive = self.work / "archive-profile"
        shutil.rmtree(archive, ignore_errors=True)
        command = [spy, "record", "--subprocesses", "--rate", "50", "--format", "speedscope", "-o", out, "--",
                   FIELDREC, "ingest", self.drop.root, "--archive", archive, "--json"]
        _log(f"bench: profiling one ingest with py-spy -> {out}")
        m = measure.run([str(c) for c in command])
        if m.returncode != 0:
            self.skipped.append(f"profile: py-spy failed: {m.stderr.strip()[-300:]}")
        else:
            self.profile_path = out
        shutil.rmtree(archive, ignore_errors=True)

    # ---------------------------------------------------------------- the whole run

    def run(self, features: dict[str, bool]) -> dict:
        self.features = features
        startup = self.startup()
        floor = self.floor()
        default = self.fieldrec("fieldrec ingest (default stages)", self.drop)
        no_thumbs = default
        if features["thumbnails_switch"]:
            no_thumbs = self.fieldrec("fieldrec ingest, thumbnails off", self.drop, thumbnails=False, tag="nothumbs")
        elif features["thumbnails"]:
            no_thumbs = None
            self.skipped.append("thumbnails off: [thumbnails] in configs/default.toml has no `enabled` key")
        else:
            self.skipped.append("thumbnails off: this tree has no [thumbnails] stage, so the default run has none")
        # Proxies cost ~0.4 CPU-s per second of 1080p: on a tenth of the drop, so the bench stays short.
        tenth = corpus.subset(self.drop, 10, self.work / "drop-tenth")
        if features["proxies"]:
            self.fieldrec("fieldrec ingest --proxies, 1/10 of the drop", tenth, proxies=True, tag="proxies")
        else:
            self.skipped.append("--proxies: this tree has no transcode stage yet (the flag is a no-op)")
        baseline = None if self.args.no_baseline else self.baseline()

        scaling = {self.cpus: default}
        for n in self.worker_counts():
            if n != self.cpus:
                scaling[n] = self.fieldrec(f"fieldrec ingest, {n} worker{'s' * (n > 1)}", self.drop,
                                           workers=n, tag=f"w{n}")
        memory = {len(self.drop.files): default}
        memory[len(tenth.files)] = self.fieldrec("fieldrec ingest, 1/10 of the drop", tenth, tag="tenth")
        if not self.args.keep:
            shutil.rmtree(tenth.root, ignore_errors=True)
        if self.args.scale:
            big = corpus.build(self.plan.scaled(self.args.scale))
            memory[len(big.files)] = self.fieldrec(f"fieldrec ingest, drop x{self.args.scale:g}", big, tag="scaled")
        return self.summarise(startup, floor, default, no_thumbs, baseline, scaling, memory)

    def worker_counts(self) -> list[int]:
        if self.args.workers:
            return sorted({int(n) for n in self.args.workers.split(",")})
        counts, n = [], 1
        while n < self.cpus:
            counts.append(n)
            n *= 2
        return counts + [self.cpus]

    def summarise(self, startup, floor, default, no_thumbs, baseline, scaling, memory) -> dict:
        def ratio(a: Row | None, b: Row | None) -> float | None:
            ok = a and b and a.m.returncode == 0 and b.m.returncode == 0
            return a.m.wall_s / b.m.wall_s if ok else None

        one = scaling.get(1)
        speedups = {n: ratio(one, r) for n, r in sorted(scaling.items())}
        peak = max((r.m.peak_tree_mib for r in self.rows if r.kind == "fieldrec"), default=None)
        # Negative when the start-up run alone was slower than a whole ingest: a noisy machine.
        pipeline_s = no_thumbs.m.wall_s - startup.m.wall_s if no_thumbs else 0
        marginal = pipeline_s / floor.m.wall_s if pipeline_s > 0 and floor.m.wall_s else None
        goals = [
            ("ingest without thumbnails / floor (wall)", ratio(no_thumbs, floor), "<=", 1.2),
            ("  the same, start-up subtracted", marginal, "<=", 1.2),
            ("per-file script / ingest with thumbnails (wall)" if self.features["thumbnails"]
             else "per-file script / ingest (no thumbnail stage yet)", ratio(baseline, default), ">=", 10.0),
            ("speed-up from 1 to 2 workers", speedups.get(2), ">=", 1.8),
            ("peak memory of any ingest (MiB, tree PSS)", peak, "<=", 1024.0),
        ]
        return {"goals": goals, "speedups": speedups, "memory": memory, "media_s": default.media_s}


# -------------------------------------------------------------------- main


def warm(drop: corpus.Drop) -> None:
    """Read the drop once so every run starts from the same (warm) page cache."""
    buf = bytearray(8 * 1024 * 1024)
    for f in drop.files:
        with open(drop.root / f.path, "rb", buffering=0) as fh:
            while fh.readinto(buf):
                pass


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="See the Benchmarks section of README.md for how to read the table.")
    p.add_argument("--full", action="store_true", help="the bigger corpus: 3 GB from 1-minute segments")
    p.add_argument("--gb", type=float, help="grow the drop to this many GB (default 0.7, --full 3)")
    p.add_argument("--segment-s", type=float, help="seconds of each encoded segment (default 20, --full 60)")
    p.add_argument("--source", type=Path, help="benchmark on this folder of your own footage instead")
    p.add_argument("--scale", type=float, help="also ingest a drop this many times larger (memory check)")
    p.add_argument("--workers", help="worker counts for the scaling runs, e.g. 1,2,4 (default: 1, 2, 4... all)")
    p.add_argument("--repeat", type=int, default=1, help="run each command N times, keep the fastest")
    p.add_argument("--baseline-jobs", type=int, help="files the per-file script runs at once (default: all CPUs)")
    p.add_argument("--no-baseline", action="store_true", help="skip the per-file ffmpeg script")
    p.add_argument("--no-fsync", dest="fsync", action="store_false", help="neither fieldrec nor the floor fsyncs")
    p.add_argument("--work", type=Path, default=corpus.CACHE / "work",
                   help="where outputs are written (put it on the archive's disk)")
    p.add_argument("--keep", action="store_true", help="keep every run's output under --work")
    p.add_argument("--profile", action="store_true",
                   help="after the timed runs, profile one default ingest with py-spy (all processes) "
                        "into bench/results/ (pip install py-spy)")
    return p.parse_args(argv)


def make_plan(args: argparse.Namespace) -> corpus.Plan:
    plan = corpus.FULL if args.full else corpus.QUICK
    if args.segment_s:
        plan = corpus.Plan(tuple(s.with_seconds(min(args.segment_s, s.seconds)) for s in plan.segments),
                           plan.target_bytes, plan.devices)
    if args.gb:
        plan = corpus.Plan(plan.segments, int(args.gb * 1e9), plan.devices)
    return plan


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not FIELDREC.exists():
        _log(f"bench: {FIELDREC} not found: run `make venv` first (or run this with .venv/bin/python)")
        return 2
    if args.source and (args.scale or args.full or args.gb or args.segment_s):
        _log("bench: --source benchmarks your folder as it is; --scale, --full, --gb and --segment-s build "
             "a synthetic drop instead")
        return 2
    plan = make_plan(args)
    drop = corpus.from_folder(args.source.resolve()) if args.source else corpus.build(plan)
    work = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    free = shutil.disk_usage(work).free
    if free < 2.2 * drop.bytes:
        _log(f"bench: {work} has {free / 1e9:.1f} GB free; the runs need about {2.2 * drop.bytes / 1e9:.1f} GB")
        return 2
    desc = machine.describe(work)
    t0 = time.monotonic()
    warm(drop)
    bench = Bench(args, plan, drop, work)
    summary = bench.run(stage_features())
    if not drop.media_s:               # own footage: durations as fieldrec measured them
        media = next((r.media_s for r in bench.rows if r.kind == "fieldrec" and r.files == len(drop.files)), None)
        for row in bench.rows:
            if row.files == len(drop.files):
                row.media_s = row.media_s or media
    desc["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    if args.profile:
        bench.profile()
    print(report(bench, summary, desc, drop))
    path = write_json(bench, summary, desc, drop)
    print(f"\nresults: {path}  ({time.monotonic() - t0:.0f} s of runs)")
    if bench.profile_path:
        print(f"profile: {bench.profile_path}  (speedscope format)")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if any(r.m.returncode != 0 for r in bench.rows) else 0


if __name__ == "__main__":
    sys.exit(main())
