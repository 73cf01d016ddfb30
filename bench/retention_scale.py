"""How long `fieldrec retention` / `ledger` take on a large synthetic catalog (no media).

    .venv/bin/python bench/retention_scale.py [RECORDINGS] [ASSIGNMENTS]
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from catalog.store import Catalog
from pipeline.cli import main

UTC = timezone.utc


def build(archive: Path, n: int, n_assign: int) -> None:
    catalog = Catalog(archive, fsync=False).create()
    t0 = datetime(2025, 1, 1)
    recs = []
    for i in range(n):
        sha = hashlib.sha256(str(i).encode()).hexdigest()
        start = t0 + timedelta(minutes=7 * i)
        recs.append({"sha256": sha, "size": 1000, "kind": "video", "duration_s": 300.0, "device_id": f"CAM{i % 500}",
                     "officer_id": f"O{i % 700}" if i % 10 else None, "start_time": start,
                     "end_time": start + timedelta(seconds=300), "status": "ok", "source_name": f"f{i}.mp4",
                     "archive_path": f"objects/{sha[:2]}/{sha[2:4]}/{sha}",
                     "ingested_at": (start + timedelta(hours=3 + i % 40)).replace(tzinfo=UTC)})
    now = datetime.now(UTC)
    catalog.commit({
        "recordings": recs,
        "cases": [{"case_id": "BIG", "event": "open", "retention_class": "case", "at": now, "recorded_at": now}],
        "assignments": [{"assignment_id": f"a{i}", "case_id": "BIG", "retention_class": "case", "selector": "sha256",
                         "sha256": recs[i * (n // n_assign)]["sha256"], "at": now} for i in range(n_assign)],
        "handovers": [{"device_id": f"CAM{d}", "officer_id": f"O{d}", "at": datetime(2024, 1, 1, tzinfo=UTC),
                       "recorded_at": now} for d in range(500)],
    }, tag="bench")


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    n_assign = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "archive"
        build(archive, n, n_assign)
        for argv in (["retention", "--all"], ["compliance"], ["ledger"]):
            t = time.perf_counter()
            with open("/dev/null", "w") as sink:
                stdout, sys.stdout = sys.stdout, sink
                try:
                    main([*argv, "--archive", str(archive), "--format", "csv"])
                finally:
                    sys.stdout = stdout
            print(f"{' '.join(argv):16s} {n} recordings, {n_assign} assignments: {time.perf_counter() - t:.2f} s")
