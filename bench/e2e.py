"""End-to-end benchmark: how fast this machine ingests body-camera footage, against its limit.

One invocation, one corpus (see ``corpus.py``), each run on a fresh output folder:

1. the limit L = max(F, C): F the floor's wall time (copy + fsync + SHA-256 of every byte, one
   thread per CPU, ``floor.py``), C the CPU floor (the floor's CPU seconds plus those of a bare
   decode of exactly the keyframes that get thumbnails, ``keyframes.py``, divided by the CPUs);
2. ``fieldrec ingest`` as an operator runs it (a subprocess of this tree's ``.venv/bin/fieldrec``)
   on each engine side by side (``--engine local``, ``--engine ray``): default stages, and with
   thumbnails turned off;
3. the fixed cost: a one-file ingest, and ``fieldrec verify`` of the demo archive, on each engine;
4. the per-file script people use instead (``baseline.sh``: cp, sha256sum, ffprobe, ffmpeg), one
   file at a time and one per CPU;
5. scaling: the default ingest with 1, 2, 4... workers up to every CPU (local engine);
6. memory: the same ingest over a tenth of the drop (and a drop ``--scale`` times larger).

Every run is measured over its whole process tree (``measure.py``: wall, CPU, peak PSS). The
table, every ratio of the goals (against L and F, in this one run) and the machine's description
(load average before and after) are printed and written as JSON to ``bench/results/``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
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

    def floor(self, direct: bool = False) -> Row:
        command = [sys.executable, BENCH / "floor.py", self.drop.root, self.work / "floor", "--jobs", self.cpus]
        if not self.args.fsync:
            command.append("--no-fsync")
        if direct:
            command.append("--direct")
        name = (f"floor: copy + SHA-256 ({self.cpus} threads)" + (", direct I/O" if direct else "")
                + ("" if self.args.fsync else ", no fsync"))
        return self.measure(name, "floor", command, self.work / "floor", self.drop)

    def fieldrec(self, name: str, drop: corpus.Drop, *, engine: str = "local", workers: int | None = None,
                 thumbnails: bool = True, proxies: bool = False, tag: str = "default") -> Row:
        archive = self.work / f"archive-{tag}-{engine}"
        name = f"{name} [{engine}]"
        command = [FIELDREC, "ingest", drop.root, "--archive", archive, "--json", "--engine", engine]
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
        ingest = ([] if self.args.fsync else ["fsync = false"]) + (["direct_io = false"] if self.args.buffered else [])
        if ingest:
            text += "[ingest]\n" + "".join(f"{line}\n" for line in ingest)
        if not thumbnails:
            text += "[thumbnails]\nenabled = false\n"
        if not text:
            return None
        path = self.work / f"config-{hashlib.sha1(text.encode()).hexdigest()[:8]}.toml"
        path.write_text(text)
        return path

    def keyframes(self) -> tuple[Row, float]:
        """The bare decode of the keyframes that get thumbnails: its CPU seconds (for C)."""
        command = [sys.executable, BENCH / "keyframes.py", self.drop.root, "--jobs", self.cpus]
        row = self.measure("bare decode of the thumbnails' keyframes", "floor", command,
                           self.work / "keyframes", self.drop)
        try:
            return row, float(json.loads(row.m.stdout)["decode_cpu_s"])
        except (ValueError, KeyError):
            row.problems.append(f"no JSON on stdout: {row.m.stdout[-300:]!r}")
            return row, 0.0

    def baseline(self, jobs: int) -> Row | None:
        missing = [t for t in ("ffmpeg", "ffprobe", "sha256sum", "xargs") if not shutil.which(t)]
        if missing:
            self.skipped.append(f"per-file ffmpeg script: {', '.join(missing)} not installed "
                                "(Debian/Ubuntu: apt-get install ffmpeg)")
            return None
        out = self.work / "baseline"
        # find | xargs -P: the per-file script, one at a time or on every core as a careful operator runs it
        # (-H: the drop's folder may be a link, as a cached drop shared between checkouts is; -r: no
        # file, no run).
        script = 'find -H "$0" -type f -print0 | xargs -0 -r -P "$2" -n 1 "$3" "$0" "$1"'
        command = ["bash", "-c", script, self.drop.root, out, jobs, BENCH / "baseline.sh"]
        what = "one at a time" if jobs == 1 else f"{jobs} at once"
        return self.measure(f"per-file ffmpeg script ({what})", "baseline", command, out, self.drop)

    def startup(self, engine: str) -> Row:
        """fieldrec on one 1-second file: the fixed cost of a run (imports, the engine's start and stop)."""
        root, rel = self.work / "startup-drop", "dock01/BWC1/BWC1_OF1_20260301080000_0001.MP4"
        if not (root / rel).exists():
            from pipeline.sample.clips import ClipSpec
            from pipeline.sample.encode import write_clip

            write_clip(root / rel, ClipSpec(duration_s=1.0))
        drop = corpus.Drop(root, (corpus.DropFile(rel, (root / rel).stat().st_size, 1.0, "160x120"),))
        return self.fieldrec("fieldrec start-up (one 1 s file)", drop, engine=engine, tag="startup")

    def demo_archive(self) -> Path:
        """The demo archive (``make demo``'s drop, ingested once, untimed): what verify reads."""
        archive = self.work / "demo-archive"
        if not archive.exists():
            drop = self.work / "demo-drop"
            subprocess.run([sys.executable, "-m", "pipeline.sample", str(drop), "--hours-ago", "3"],
                           check=True, capture_output=True)
            subprocess.run([str(FIELDREC), "ingest", str(drop), "--archive", str(archive), "--quiet"],
                           check=True, capture_output=True)
        return archive

    def verify(self, engine: str) -> Row:
        """``fieldrec verify`` of the demo archive: the fixed cost of a short command."""
        archive = self.demo_archive()
        files = sum(1 for p in (archive / "objects").rglob("*") if p.is_file())
        size = sum(p.stat().st_size for p in (archive / "objects").rglob("*") if p.is_file())
        command = [FIELDREC, "verify", "--archive", archive, "--engine", engine, "--format", "json"]
        m = measure.run([str(c) for c in command])
        _log(f"bench: verify of the demo archive [{engine}]: {m.wall_s:.2f} s wall")
        row = Row(f"fieldrec verify, demo archive [{engine}]", "fieldrec", files, size, None, m)
        if m.returncode != 0:
            row.problems.append(f"exit status {m.returncode}: {m.stderr.strip()[-300:]}")
        self.rows.append(row)
        return row

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
        engines = self.args.engines
        startup = {e: self.startup(e) for e in engines}
        verify = {e: self.verify(e) for e in engines}
        floor = self.floor()
        # fieldrec writes a synced copy with O_DIRECT: the floor written so too, for comparison (not in L).
        direct_floor = self.floor(direct=True) if self.args.fsync else None
        decode_row, decode_cpu_s = self.keyframes() if features["thumbnails"] else (None, 0.0)
        default = {e: self.fieldrec("fieldrec ingest (default stages)", self.drop, engine=e) for e in engines}
        no_thumbs = {}
        if features["thumbnails_switch"]:
            no_thumbs = {e: self.fieldrec("fieldrec ingest, thumbnails off", self.drop, engine=e, thumbnails=False,
                                          tag="nothumbs") for e in engines}
        else:
            self.skipped.append("thumbnails off: [thumbnails] in configs/default.toml has no `enabled` key")
        first = engines[0]
        tenth = corpus.subset(self.drop, 10, self.work / "drop-tenth")
        if self.args.proxies and features["proxies"]:
            # ~0.4 CPU-s per second of 1080p: on a tenth of the drop, so the bench stays short.
            self.fieldrec("fieldrec ingest --proxies, 1/10 of the drop", tenth, engine=first, proxies=True,
                          tag="proxies")
        baselines = {}
        if not self.args.no_baseline:
            for jobs in ([] if self.args.no_serial_baseline else [1]) + [self.args.baseline_jobs or self.cpus]:
                baselines[jobs] = self.baseline(jobs)
        else:
            self.skipped.append("per-file ffmpeg script: --no-baseline")
        if self.args.no_serial_baseline and not self.args.no_baseline:
            self.skipped.append("per-file ffmpeg script one at a time: --no-serial-baseline")

        scaling = {self.cpus: default[first]}
        for n in self.worker_counts():
            if n != self.cpus:
                scaling[n] = self.fieldrec(f"fieldrec ingest, {n} worker{'s' * (n > 1)}", self.drop,
                                           engine=first, workers=n, tag=f"w{n}")
        memory = {len(self.drop.files): default[first]}
        memory[len(tenth.files)] = self.fieldrec("fieldrec ingest, 1/10 of the drop", tenth, engine=first,
                                                 tag="tenth")
        if not self.args.keep:
            shutil.rmtree(tenth.root, ignore_errors=True)
        if self.args.scale:
            big = corpus.build(self.plan.scaled(self.args.scale))
            memory[len(big.files)] = self.fieldrec(f"fieldrec ingest, drop x{self.args.scale:g}", big,
                                                   engine=first, tag="scaled")
        limit = Limit.of(floor, decode_row, decode_cpu_s, self.cpus)
        summary = self.summarise(limit, startup, verify, default, no_thumbs, baselines, scaling, memory)
        if direct_floor is not None and direct_floor.m.returncode == 0:
            for e in engines:
                row = no_thumbs.get(e)
                if row is not None and row.m.returncode == 0 and not row.problems:
                    summary["goals"].append((f"thumbnails off / the floor with direct I/O [{e}]",
                                             row.m.wall_s / direct_floor.m.wall_s, "info", None))
        return summary

    def worker_counts(self) -> list[int]:
        if self.args.workers == "none":
            return []
        if self.args.workers:
            return sorted({int(n) for n in self.args.workers.split(",")})
        counts, n = [], 1
        while n < self.cpus:
            counts.append(n)
            n *= 2
        return counts + [self.cpus]

    def summarise(self, limit, startup, verify, default, no_thumbs, baselines, scaling, memory) -> dict:
        def ok(*rows) -> bool:
            return all(r is not None and r.m.returncode == 0 and not r.problems for r in rows)

        def over(a: Row | None, seconds: float | None) -> float | None:
            return a.m.wall_s / seconds if a is not None and seconds and ok(a) else None

        def ratio(a: Row | None, b: Row | None) -> float | None:
            return a.m.wall_s / b.m.wall_s if ok(a, b) else None

        def wall(a: Row | None) -> float | None:
            return a.m.wall_s if a is not None and ok(a) else None

        engines = self.args.engines
        local = "local" if "local" in engines else engines[0]
        one = scaling.get(1)
        speedups = {n: ratio(one, r) for n, r in sorted(scaling.items())}
        goals = []
        for e in engines:
            goals.append((f"default stages / L [{e}]", over(default.get(e), limit.l_s), "<=", 1.15))
        for e in engines:
            goals.append((f"thumbnails off / F [{e}]", over(no_thumbs.get(e), limit.f_s), "<=", 1.15))
        for e in engines:
            goals.append((f"one-file ingest, wall s [{e}]", wall(startup.get(e)), "<=", 0.8 if e == "local" else None))
        for e in engines:
            goals.append((f"verify of the demo archive, wall s [{e}]", wall(verify.get(e)), "<=",
                          1.5 if e == "local" else None))
        goals.append((f"speed-up from 1 to 2 workers [{local}]", speedups.get(2), ">=", 1.8))
        peak = default.get(local)
        goals.append((f"peak memory of the process tree, MiB [{local}]",
                      peak.m.peak_tree_mib if peak is not None and ok(peak) else None, "<=", 400.0))
        if "ray" in engines and "local" in engines:
            goals.append(("ray / local, default stages (wall)", ratio(default["ray"], default["local"]), "<=", 1.3))
        for jobs, row in sorted(baselines.items()):
            what = "one at a time" if jobs == 1 else f"{jobs} at once"
            goals.append((f"per-file ffmpeg script ({what}) / L", over(row, limit.l_s), "info", None))
            goals.append((f"per-file ffmpeg script ({what}) / fieldrec [{local}]",
                          ratio(row, default.get(local)), "info", None))
        return {"goals": goals, "speedups": speedups, "memory": memory, "limit": limit,
                "media_s": default[engines[0]].media_s}


@dataclass(frozen=True)
class Limit:
    """The machine's limit for this drop: L = max(F, C), measured in this run."""

    f_s: float                  # the floor's wall time
    floor_cpu_s: float          # the floor's CPU seconds
    decode_cpu_s: float         # CPU seconds of a bare decode of the thumbnails' keyframes
    cpus: int

    @property
    def c_s(self) -> float:
        return (self.floor_cpu_s + self.decode_cpu_s) / self.cpus

    @property
    def l_s(self) -> float:
        return max(self.f_s, self.c_s)

    @classmethod
    def of(cls, floor: Row, decode: Row | None, decode_cpu_s: float, cpus: int) -> "Limit":
        return cls(floor.m.wall_s, floor.m.cpu_s, decode_cpu_s if decode is None or not decode.problems else 0.0,
                   cpus)

    def describe(self) -> str:
        return (f"limit: F = {self.f_s:.1f} s (floor wall), C = ({self.floor_cpu_s:.1f} + {self.decode_cpu_s:.1f}) "
                f"CPU s / {self.cpus} CPUs = {self.c_s:.1f} s, L = max(F, C) = {self.l_s:.1f} s")

    def to_dict(self) -> dict:
        return {"F_s": round(self.f_s, 3), "floor_cpu_s": round(self.floor_cpu_s, 3),
                "keyframe_decode_cpu_s": round(self.decode_cpu_s, 3), "cpus": self.cpus,
                "C_s": round(self.c_s, 3), "L_s": round(self.l_s, 3)}


# -------------------------------------------------------------------- main


def warm(drop: corpus.Drop) -> None:
    """Read the drop once so every run starts from the same (warm) page cache."""
    buf = bytearray(8 * 1024 * 1024)
    for f in drop.files:
        with open(drop.root / f.path, "rb", buffering=0) as fh:
            while fh.readinto(buf):
                pass


def _engines(text: str) -> tuple[str, ...]:
    engines = tuple(dict.fromkeys(e.strip() for e in text.split(",") if e.strip()))
    if not engines or set(engines) - {"local", "ray"}:
        raise argparse.ArgumentTypeError(f"engines are local and ray, comma-separated: {text!r}")
    return engines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="See the Benchmarks section of README.md for how to read the table.")
    p.add_argument("--full", action="store_true", help="the bigger corpus: 3 GB from 1-minute segments")
    p.add_argument("--gb", type=float, help="grow the drop to this many GB (default 0.7, --full 3)")
    p.add_argument("--segment-s", type=float, help="seconds of each encoded segment (default 20, --full 60)")
    p.add_argument("--source", type=Path, help="benchmark on this folder of your own footage instead")
    p.add_argument("--scale", type=float, help="also ingest a drop this many times larger (memory check)")
    p.add_argument("--workers", help="worker counts for the scaling runs, e.g. 1,2,4 (default: 1, 2, 4... all; "
                                     "none: no scaling runs)")
    p.add_argument("--repeat", type=int, default=1, help="run each command N times, keep the fastest")
    p.add_argument("--engines", type=_engines, default=("local", "ray"),
                   help="engines to run side by side, the first for scaling and memory (default: local,ray)")
    p.add_argument("--baseline-jobs", type=int, help="files the per-file script runs at once (default: all CPUs)")
    p.add_argument("--no-baseline", action="store_true", help="skip the per-file ffmpeg script")
    p.add_argument("--no-serial-baseline", action="store_true",
                   help="skip the per-file script one file at a time (long on a big drop)")
    p.add_argument("--proxies", action="store_true", help="also ingest a tenth of the drop with --proxies")
    p.add_argument("--no-fsync", dest="fsync", action="store_false", help="neither fieldrec nor the floor fsyncs")
    p.add_argument("--buffered", action="store_true",
                   help="fieldrec writes its copies through the page cache (ingest.direct_io = false), "
                        "to compare with a run without it on the same disk")
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
    desc["load_average_end"] = [round(x, 2) for x in os.getloadavg()]      # the start's is in desc
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
