"""What deciding which gaps need an explanation costs with a large catalog. Catalog rows only, no media.

    python bench/gaps_scale.py [RECORDINGS]     # default 100,000 recordings (500 devices, 30 days, 10 % with a gap)

Builds the review-service benchmark's synthetic archive (bench/web_scale.py) and times (median of
3 after a warm-up) what every gap listing now does: the
listing with recording sessions and needs_explanation (`fieldrec gaps`, the report, the ledger and
the ingest summary call it), the sessions alone, and the service's waiting list in DuckDB.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from catalog.store import Catalog  # noqa: E402
from bench.web_scale import build  # noqa: E402
from tests.webkit import fast_config  # noqa: E402


def timed(fn, runs: int = 3) -> float:
    fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main(n: int) -> int:
    from pipeline.records import gapstate, sessions
    from pipeline.web.app import Service

    config = fast_config()
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "archive"
        t0 = time.perf_counter()
        build(archive, n)
        print(f"built {n} recordings in {time.perf_counter() - t0:.1f} s")
        catalog = Catalog(archive)
        rows = gapstate.listing(catalog, config=config)
        print(f"{len(rows)} gaps, {sum(g['needs_explanation'] for g in rows)} need an explanation")
        listing = timed(lambda: gapstate.listing(catalog, config=config))
        only = timed(lambda: sessions.of_devices(catalog, rows, config))
        service = Service(archive, config, fsync=False)
        try:
            waiting = timed(lambda: service.reader().waiting_gaps(200))
        finally:
            service.outbox.close()
    print(f"gap listing with sessions and needs_explanation  {listing * 1000:8.0f} ms")
    print(f"recording sessions of every device               {only * 1000:8.0f} ms")
    print(f"service: interruptions waiting (DuckDB)          {waiting * 1000:8.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
