"""A/B of a one-file ingest: two checkouts' `fieldrec`, alternately, each as bench/e2e.py measures it.

    .venv/bin/python bench/startup_ab.py /work/main . --runs 11

Each run: a fresh archive, `os.sync()`, then `A/.venv/bin/fieldrec ingest DROP --archive NEW --json
--engine local` from A's folder (then B's; the order swaps every pair), measured over its whole
process tree (``measure.py``). The drop is one 1 s clip, as e2e.py's start-up row has it, or a
folder given with ``--drop`` (e.g. e2e.py's cached 2.25 GB drop, with ``--workers 2``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import measure

CLIP = "dock01/BWC1/BWC1_OF1_20260301080000_0001.MP4"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trees", nargs=2, type=Path, help="two checkouts, each with its .venv")
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--drop", type=Path, help="ingest this folder instead of one generated 1 s clip")
    ap.add_argument("--workers", type=int, help="--workers for every run")
    args = ap.parse_args()
    from pipeline.sample.clips import ClipSpec
    from pipeline.sample.encode import write_clip

    work = Path(tempfile.mkdtemp(prefix="startup-ab-"))
    drop = args.drop.resolve() if args.drop else work / "drop"
    if not args.drop:
        write_clip(drop / CLIP, ClipSpec(duration_s=1.0))
    extra = ["--workers", str(args.workers)] if args.workers else []
    trees = [t.resolve() for t in args.trees]
    runs: dict[Path, list] = {t: [] for t in trees}
    for i in range(args.runs):
        for tree in trees if i % 2 == 0 else trees[::-1]:
            archive = work / "archive"
            shutil.rmtree(archive, ignore_errors=True)
            os.sync()
            os.chdir(tree)
            m = measure.run([str(tree / ".venv/bin/fieldrec"), "ingest", str(drop), "--archive", str(archive),
                             "--json", "--engine", "local", *extra])
            if m.returncode != 0:
                sys.exit(f"{tree}: exit {m.returncode}: {m.stderr[-500:]}")
            runs[tree].append(m)
            print(f"{tree.name}: {m.wall_s:.3f} s wall, {m.cpu_s:.3f} s CPU, peak {m.peak_tree_mib:.0f} MiB, "
                  f"load {os.getloadavg()[0]:.2f}", flush=True)
    for tree, ms in runs.items():
        wall, cpu = [m.wall_s for m in ms], [m.cpu_s for m in ms]
        print(f"{tree}: wall median {statistics.median(wall):.3f} s (min {min(wall):.3f}), "
              f"CPU median {statistics.median(cpu):.3f} s (min {min(cpu):.3f}), "
              f"peak {max(m.peak_tree_mib for m in ms):.0f} MiB, {len(ms)} runs")
    print(f"load average {os.getloadavg()}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
