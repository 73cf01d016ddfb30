"""A generated dock drop for the report: a few devices, a 37 s gap, a damaged file, a late upload.

Also writes the rows the thumbnails and gaps stages would write (those stages live in other
modules): thumbnails decoded from the archived clips, and gap/explanation rows computed from the
recordings. Their schemas below are the agreed ones; tables the schema module does not know are
written straight as Parquet parts, as a stage's commit would leave them.

    python -m tests.report_drop OUT_DIR [--long]   # a drop + archive + report.html in OUT_DIR
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

TS = pa.timestamp("us")
TS_UTC = pa.timestamp("us", tz="UTC")

THUMBNAILS = pa.schema([("sha256", pa.string()), ("pts_s", pa.float64()), ("width", pa.int32()),
                        ("height", pa.int32()), ("format", pa.string()), ("image", pa.binary())])
GAPS = pa.schema([("gap_id", pa.string()), ("device_id", pa.string()), ("officer_id", pa.string()),
                  ("kind", pa.string()), ("start_time", TS), ("end_time", TS), ("duration_s", pa.float64()),
                  ("sha256", pa.string()), ("before_sha256", pa.string()), ("after_sha256", pa.string()),
                  ("offset_s", pa.float64()), ("detected_run_id", pa.string()), ("current", pa.bool_())])
EXPLANATIONS = pa.schema([("gap_id", pa.string()), ("reason", pa.string()), ("by", pa.string()),
                          ("approved_by", pa.string()), ("explained_at", TS_UTC)])
GAP_37 = "gap-BWC101-0001"


@dataclass(frozen=True)
class Clip:
    device: str
    officer: str
    start: datetime
    duration_s: float
    colour: tuple[int, int, int]
    fps: int = 10
    truncate: bool = False

    @property
    def name(self) -> str:
        return f"{self.device}_{self.officer}_{self.start:%Y%m%d%H%M%S}.MP4"


def drop_clips(now: datetime, *, long: bool = False) -> list[Clip]:
    """The drop: event ~3 h before ``now``; BWC104's previous shift ~27 h before (a late upload)."""
    base = (now - timedelta(hours=3)).replace(tzinfo=None, microsecond=0, second=0)
    unit = 60.0 if long else 1.0             # seconds per "minute" of the story
    fps = 2 if long else 10
    at = lambda minutes: base + timedelta(seconds=round(minutes * unit))     # noqa: E731
    clips = [
        Clip("BWC101", "OF17", at(0), 3 * unit, (40, 90, 160), fps),
        Clip("BWC101", "OF17", at(3) + timedelta(seconds=37), 3 * unit, (40, 90, 160), fps),
        Clip("BWC102", "OF23", at(1), 4 * unit, (150, 70, 40), fps),
        Clip("BWC102", "OF23", at(5), 3 * unit, (150, 70, 40), fps),
        Clip("BWC102", "OF23", at(14), 3 * unit, (150, 70, 40), fps, truncate=True),
        Clip("BWC103", "OF5", at(2), 5 * unit, (60, 130, 70), fps),
        Clip("BWC103", "OF5", at(7.5), 4 * unit, (60, 130, 70), fps),
        Clip("BWC104", "OF9", base - timedelta(hours=24) + timedelta(seconds=round(2 * unit)), 3 * unit, (120, 60, 140), fps),
    ]
    if long:
        clips += [Clip("BWC101", "OF17", at(9), 6 * unit, (40, 90, 160), fps),
                  Clip("BWC103", "OF5", at(12), 3 * unit, (60, 130, 70), fps),
                  Clip("BWC104", "OF9", base - timedelta(hours=24) + timedelta(seconds=round(6 * unit)), 2 * unit,
                       (120, 60, 140), fps)]
    return clips


def write_clip(path: Path, clip: Clip, width: int = 160, height: int = 120) -> None:
    """A tiny H.264 MP4: the device's colour with a moving bar and a second counter in blocks."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = int(round(clip.duration_s * clip.fps))
    marker = sum(clip.name.encode()) % (width - 40)          # distinct content per clip (no dedup)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=clip.fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "g": str(clip.fps * 2)}
        for i in range(frames):
            img = np.empty((height, width, 3), np.uint8)
            img[:] = clip.colour
            img[4:12, marker:marker + 40] = (20, 20, 20)
            x = int((i / max(1, frames - 1)) * (width - 20))
            img[20:100, x:x + 20] = (235, 235, 235)
            for b in range(min(i // clip.fps, 12)):              # one block per second elapsed
                img[height - 12:height - 4, 4 + b * 12:12 + b * 12] = (250, 210, 60)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    if clip.truncate:
        data = path.read_bytes()
        path.write_bytes(data[: len(data) * 2 // 3])


def make_drop(folder: Path, now: datetime, *, long: bool = False) -> list[Clip]:
    clips = drop_clips(now, long=long)
    for clip in clips:
        write_clip(folder / clip.device / clip.name, clip)
    (folder / "BWC102" / "notes.txt").write_text("not media\n")
    return clips


# -- rows of the later stages --------------------------------------------------------------------------
def write_part(archive: Path, table: str, rows: list[dict], schema: pa.Schema, tag: str = "test") -> Path:
    folder = archive / "catalog" / table
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"part-{tag}-{len(list(folder.glob('*.parquet'))):05d}.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


def thumbnail_rows(archive: Path, recordings: list[dict], every_s: float) -> list[dict]:
    rows = []
    for rec in recordings:
        if rec["kind"] != "video" or rec["status"] != "ok":
            continue
        wanted = every_s
        next_pts = 0.0
        with av.open(str(archive / rec["archive_path"])) as container:
            for frame in container.decode(video=0):
                if frame.time is None or frame.time + 1e-6 < next_pts:
                    continue
                buf = io.BytesIO()
                frame.to_image().save(buf, format="WEBP", quality=70)
                rows.append({"sha256": rec["sha256"], "pts_s": round(frame.time, 3), "width": frame.width,
                             "height": frame.height, "format": "webp", "image": buf.getvalue()})
                next_pts = frame.time + wanted
    return rows


def gap_rows(recordings: list[dict], run_id: str) -> tuple[list[dict], list[dict]]:
    """Between-file gaps over 5 s per device, a clock anomaly on BWC103, one gap explained."""
    by_device: dict[str, list[dict]] = {}
    for rec in recordings:
        if rec["start_time"] is not None:
            by_device.setdefault(rec["device_id"], []).append(rec)
    gaps = []
    for device, recs in sorted(by_device.items()):
        recs.sort(key=lambda r: r["start_time"])
        n = 0
        for before, after in zip(recs, recs[1:]):
            ended = before["end_time"] or before["start_time"]
            hole = (after["start_time"] - ended).total_seconds()
            if hole > 5 and hole < 6 * 3600:
                n += 1
                gaps.append({"gap_id": f"gap-{device}-{n:04d}", "device_id": device, "officer_id": before["officer_id"],
                             "kind": "between_files", "start_time": ended, "end_time": after["start_time"],
                             "duration_s": hole, "before_sha256": before["sha256"], "after_sha256": after["sha256"],
                             "detected_run_id": run_id, "current": True})
    bwc103 = by_device.get("BWC103", [])
    if len(bwc103) > 1:
        rec = bwc103[1]
        gaps.append({"gap_id": "gap-BWC103-clock", "device_id": "BWC103", "officer_id": rec["officer_id"],
                     "kind": "clock", "start_time": rec["start_time"], "end_time": rec["start_time"],
                     "duration_s": 0.0, "sha256": rec["sha256"], "offset_s": 3600.0,
                     "detected_run_id": run_id, "current": True})
    explanations = [{"gap_id": g["gap_id"], "reason": "battery swap at the van", "by": "sgt.miller",
                     "approved_by": None, "explained_at": datetime.now(timezone.utc)}
                    for g in gaps if g["device_id"] == "BWC102" and g["kind"] == "between_files"][:1]
    return gaps, explanations


def add_stage_rows(archive: Path, *, every_s: float = 1.0) -> dict:
    """Write thumbnails, gaps and explanations for what is in the archive; returns what was written."""
    from catalog.store import Catalog

    recordings = Catalog(archive).rows("recordings")
    run_id = max(r["run_id"] for r in recordings)
    thumbs = thumbnail_rows(archive, recordings, every_s)
    gaps, explanations = gap_rows(recordings, run_id)
    write_part(archive, "thumbnails", thumbs, THUMBNAILS)
    write_part(archive, "gaps", gaps, GAPS)
    if explanations:
        write_part(archive, "explanations", explanations, EXPLANATIONS)
    return {"thumbnails": thumbs, "gaps": gaps, "explanations": explanations}


def main(argv: list[str]) -> int:
    """Build a drop, ingest it, add stage rows and write OUT/report.html (for the README screenshot)."""
    from pipeline.config import load_config
    from pipeline.ingest import ingest
    from pipeline.report import write_report

    out = Path(argv[0])
    long = "--long" in argv
    make_drop(out / "drop", datetime.now(timezone.utc), long=long)
    config = load_config()
    ingest([out / "drop"], out / "archive", config, workers=2, progress=False)
    add_stage_rows(out / "archive", every_s=30.0 if long else 1.0)
    write_report(out / "archive", out / "report.html", config.report)
    print(out / "report.html")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
