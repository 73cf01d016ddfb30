"""How big and how slow is `fieldrec report` for a mass event? Catalog rows only, no media.

    python bench/report_scale.py [RECORDINGS] [DEVICES]    # default 3000 recordings, 200 devices
"""

from __future__ import annotations

import io
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from catalog.store import Catalog  # noqa: E402
from pipeline.config import load_config  # noqa: E402
from pipeline.report.html import write_report  # noqa: E402
from tests.report_drop import THUMBNAILS, write_part  # noqa: E402


def still(seed: int) -> bytes:
    """A 320x240 WebP with smooth shapes and sensor-like noise (about the size of a real thumbnail)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:240, 0:320]
    img = np.stack([(x * rng.uniform(0.2, 0.8) + y * rng.uniform(0.1, 0.5)) % 255,
                    (np.sin(x / rng.uniform(8, 30)) * 60 + 120 + y * 0.2),
                    (np.cos(y / rng.uniform(8, 30)) * 50 + 100)], axis=-1)
    img += rng.normal(0, 6, img.shape)
    out = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(out, format="WEBP", quality=75)
    return out.getvalue()


def main(n: int = 3000, devices: int = 200) -> None:
    rng = random.Random(1)
    archive = Path(tempfile.mkdtemp(prefix="report-scale-")) / "archive"
    base = datetime(2026, 3, 1, 8)
    stills = [still(i) for i in range(24)]
    recordings, thumbs, gaps = [], [], []
    per_device = max(1, n // devices)
    for d in range(devices):
        t = base + timedelta(minutes=rng.uniform(0, 120))
        for k in range(per_device):
            sha = f"{d:05d}{k:05d}".ljust(64, "0")
            dur = rng.uniform(60, 1200)
            end = t + timedelta(seconds=dur)
            recordings.append({"sha256": sha, "source_name": f"BWC{d:03d}_OF{d:03d}_{t:%Y%m%d%H%M%S}.MP4",
                               "kind": "video", "status": "ok" if rng.random() > 0.02 else "damaged",
                               "device_id": f"BWC{d:03d}", "officer_id": f"OF{d:03d}", "start_time": t,
                               "end_time": end, "duration_s": dur, "size": int(dur * 1.2e6), "run_id": "R1",
                               "ingested_at": datetime(2026, 3, 1, 20, tzinfo=timezone.utc)})
            for i in range(int(dur // 60) + 1):                     # one thumbnail a minute
                thumbs.append({"sha256": sha, "pts_s": i * 60.0, "width": 320, "height": 240, "format": "webp",
                               "image": stills[(d + k + i) % len(stills)]})
            hole = rng.choice([2, 5, 37, 300, 900])
            if hole >= 37:
                gaps.append({"gap_id": f"gap-{d}-{k}", "device_id": f"BWC{d:03d}", "kind": "between_files",
                             "reason": "pause", "start_time": end, "end_time": end + timedelta(seconds=hole),
                             "duration_s": float(hole), "before_sha256": sha, "detected_run_id": "R1"})
            t = end + timedelta(seconds=hole)
    Catalog(archive, fsync=False).create().commit({"recordings": recordings, "gaps": gaps}, tag="bench")
    for i in range(0, len(thumbs), 20000):
        write_part(archive, "thumbnails", thumbs[i:i + 20000], THUMBNAILS, tag="bench")
    out = archive.parent / "report.html"
    t0 = time.perf_counter()
    data = write_report(archive, out, load_config())
    wall = time.perf_counter() - t0
    shown = sum(len(v) for v in data.thumbs.values())
    print(f"{len(recordings)} recordings, {devices} devices, {len(thumbs)} stored thumbnails, {len(gaps)} gaps")
    print(f"report: {out.stat().st_size / 1e6:.1f} MB, {shown} thumbnails shown, written in {wall:.1f} s -> {out}")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
