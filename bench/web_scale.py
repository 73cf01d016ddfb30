"""How fast do the review service's busiest pages answer with a large catalog? Catalog rows only, no media.

    python bench/web_scale.py [RECORDINGS]          # default 100,000 recordings in 500-row parts (as ingest commits)

Builds a synthetic archive (recordings over 30 days from 500 devices, a few thousand docked today,
gaps, explanations, thumbnails, derivatives, an access log of 200,000 rows, requests), signs in
through the real application (Starlette TestClient: routing, session, templates, DuckDB) and prints
each page's median and worst time over 7 requests after one warm-up. Exit 1 when a median is over 300 ms.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from catalog.store import Catalog  # noqa: E402
from tests.webkit import add_accounts, fast_config, grant, sign_in  # noqa: E402

UTC = timezone.utc
BUDGET_MS = 300.0
PART_ROWS = 500


def build(archive: Path, n: int) -> dict:
    rng = np.random.default_rng(7)
    catalog = Catalog(archive, fsync=False).create()
    now = datetime.now(UTC).replace(microsecond=0)
    devices = [f"BWC{d:04d}" for d in range(500)]
    shas = [f"{i:064x}" for i in rng.integers(0, 2**62, n)]
    shas = [f"{i:016x}".rjust(64, "a") for i in range(n)]
    start0 = (now - timedelta(days=30)).replace(tzinfo=None)
    for lo in range(0, n, PART_ROWS):
        rows = []
        for i in range(lo, min(n, lo + PART_ROWS)):
            start = start0 + timedelta(seconds=int(i * (30 * 86400 / n)))
            dur = float(rng.uniform(60, 1800))
            docked_today = i >= n - 3000
            ingested = now - timedelta(hours=float(rng.uniform(0, 6))) if docked_today else \
                start.replace(tzinfo=UTC) + timedelta(hours=float(rng.uniform(1, 40)))
            rows.append({"sha256": shas[i], "size": int(dur * 1_000_000), "kind": "video", "container": "mp4",
                         "duration_s": dur, "device_id": devices[i % 500], "officer_id": f"OF{i % 700}",
                         "start_time": start, "end_time": start + timedelta(seconds=dur), "status": "ok",
                         "source_name": f"{devices[i % 500]}_OF{i % 700}_{start:%Y%m%d%H%M%S}.MP4",
                         "archive_path": f"objects/{shas[i][:2]}/{shas[i][2:4]}/{shas[i]}", "run_id": "bench",
                         "ingested_at": ingested, "video_codec": "h264", "width": 1920, "height": 1080})
        gaps = [{"gap_id": f"gap-{i:08d}", "kind": "between_files", "reason": "pause", "device_id": r["device_id"],
                 "officer_id": r["officer_id"], "start_time": r["end_time"],
                 "end_time": r["end_time"] + timedelta(seconds=40), "duration_s": 40.0, "before_sha256": r["sha256"],
                 "detail": "pause", "detected_run_id": "bench", "detected_at": now}
                for i, r in enumerate(rows) if i % 10 == 0]
        thumbs = [{"sha256": r["sha256"], "pts_s": float(t * 10), "width": 320, "height": 180, "format": "webp",
                   "image": b"RIFF....WEBP"} for r in rows for t in range(6)]
        derivs = [{"parent_sha256": r["sha256"], "kind": "proxy-video", "status": "ok",
                   "archive_path": f"proxies/{r['sha256'][:2]}/{r['sha256']}.p.mp4", "created_at": now} for r in rows]
        log = [{"access_id": f"acc-{lo}-{k}", "action": "view", "sha256": rows[k % len(rows)]["sha256"], "size": 1000,
                "by": "pc.li", "at": now - timedelta(minutes=k), "content": "proxy", "byte_range": "0-999",
                "client": "127.0.0.1", "request_id": "REQ-x"} for k in range(1000)]
        catalog.commit({"recordings": rows, "gaps": gaps, "gap_state": [
            {"gap_id": g["gap_id"], "state": "open", "run_id": "bench", "evaluated_at": now} for g in gaps],
            "explanations": [{"explanation_id": f"e-{g['gap_id']}", "gap_id": g["gap_id"], "source": "spoken",
                              "reason": "battery", "explained_by": "pc.li", "explained_at": now} for g in gaps[::2]],
            "thumbnails": thumbs, "derivatives": derivs, "access_log": log}, tag=f"bench-{lo:07d}")
    add_accounts(archive)
    for k in range(200):
        grant(archive, "view", "recording", shas[k], by="pc.li")
    return {"sha": shas[-1], "device": devices[(n - 1) % 500], "day": f"{now.astimezone(timezone(timedelta(hours=8))):%Y-%m-%d}"}


def measure(archive: Path, facts: dict, runs: int = 7) -> dict[str, tuple[float, float]]:
    from starlette.testclient import TestClient

    from pipeline.web.app import create_app

    app = create_app(archive, fast_config(), fsync=False, start_flusher=False)
    pages = {"today's docking": ("pc.li", "/"), "device timeline (one day)": ("pc.li", f"/devices/{facts['device']}"),
             "recording": ("pc.li", f"/recordings/{facts['sha']}"), "interruptions": ("pc.li", "/gaps"),
             "access requests": ("sgt.wang", "/requests"), "access log": ("audit.chen", "/audit"),
             "latest verify": ("audit.chen", "/audit/verify"), "cases": ("clerk.zhao", "/cases")}
    out = {}
    with TestClient(app, base_url="http://127.0.0.1") as client:
        for label, (user, path) in pages.items():
            client.cookies.clear()
            sign_in(client, user)
            assert client.get(path).status_code == 200, path
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                r = client.get(path)
                times.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200
            out[label] = (statistics.median(times), max(times))
    return out


def main(n: int = 100_000) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "archive"
        t = time.perf_counter()
        facts = build(archive, n)
        print(f"built {n} recordings in {len(list((archive / 'catalog' / 'recordings').glob('*.parquet')))} parts "
              f"in {time.perf_counter() - t:.0f} s")
        results = measure(archive, facts)
    print(f"{'page':<28} {'median ms':>10} {'worst ms':>10}")
    for label, (median, worst) in results.items():
        print(f"{label:<28} {median:>10.1f} {worst:>10.1f}")
    over = [k for k, (m, _) in results.items() if m > BUDGET_MS]
    if over:
        print(f"over {BUDGET_MS:.0f} ms: {', '.join(over)}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
