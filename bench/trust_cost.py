"""What archive trust costs: a catalog commit recorded in the run's intent journal, and a seal.

    .venv/bin/python bench/trust_cost.py [COMMITS] [MANIFESTS]

Times COMMITS commits of 500 sightings rows with fsync, bare and inside a writing run (whose
journal records each part, synced, before its commit point); then a writing command's seal on an
archive that already has MANIFESTS manifests. Prints the median of three.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from catalog.store import Catalog
from pipeline.archive.writer import writing_run
from pipeline.config import load_config

ROWS = [{"sha256": f"{i:064x}", "source_path": f"/dock/CAM1_O1_20260301{i:06d}.mp4", "size": i,
         "mtime": datetime(2026, 3, 1, tzinfo=timezone.utc), "mtime_ns": i, "status": "ok", "run_id": "bench"}
        for i in range(500)]


def commits(archive: Path, n: int, journaled: bool) -> float:
    start = time.perf_counter()
    if journaled:
        with writing_run(archive, load_config(), "bench") as run:
            for _ in range(n):
                run.catalog.commit({"sightings": ROWS}, tag=run.run_id)
    else:
        catalog = Catalog(archive, fsync=True).create()
        for _ in range(n):
            catalog.commit({"sightings": ROWS}, tag="bare")
    return time.perf_counter() - start


def seal_after(archive: Path, manifests: int) -> float:
    for i in range(manifests - len(list((archive / "manifests").glob("*.json")))):
        with writing_run(archive, load_config(), f"filler {i}") as run:
            run.catalog.commit({"cases": [{"case_id": f"C{i}", "event": "open",
                                           "at": datetime.now(timezone.utc), "by": "bench"}]}, tag=run.run_id)
    start = time.perf_counter()
    with writing_run(archive, load_config(), "case open X") as run:
        run.catalog.commit({"cases": [{"case_id": "X", "event": "open", "at": datetime.now(timezone.utc),
                                       "by": "bench"}]}, tag=run.run_id)
    return time.perf_counter() - start


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    m = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    with tempfile.TemporaryDirectory() as tmp:
        for label, journaled in (("bare commits", False), ("commits in a writing run", True)):
            times = [commits(Path(tmp) / f"{label}-{i}", n, journaled) for i in range(3)]
            print(f"{label:28s} {n} x 500 rows, fsync: {statistics.median(times) * 1000 / n:7.1f} ms a commit")
        archive = Path(tmp) / "sealed"
        times = [seal_after(archive, m) for _ in range(3)]
        print(f"{'a writing command':28s} on {m} manifests: {statistics.median(times) * 1000:7.1f} ms "
              "(lock, settings check, journal, commit, seal)")


if __name__ == "__main__":
    main()
