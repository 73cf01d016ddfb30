"""A generated dock drop for the report: a few devices, a 37 s gap, a damaged file, a late upload,
a clock that disagrees with its file name.

Ingest finds the gaps; ``add_stage_rows`` explains one (as `fieldrec explain` would) and writes
the rows the thumbnails stage would write (that stage lives in another branch): thumbnails
decoded from the archived clips, in the agreed schema below, as a Parquet part.

    python -m tests.report_drop OUT_DIR [--long]   # a drop + archive + report.html in OUT_DIR
"""

from __future__ import annotations

import io
import sys
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import av
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.sample.clips import ClipSpec
from pipeline.sample.damage import truncate
from pipeline.sample.encode import write_clip

TS = pa.timestamp("us")
TS_UTC = pa.timestamp("us", tz="UTC")

THUMBNAILS = pa.schema([("sha256", pa.string()), ("pts_s", pa.float64()), ("width", pa.int32()),
                        ("height", pa.int32()), ("format", pa.string()), ("image", pa.binary())])


@dataclass(frozen=True)
class Clip:
    device: str
    officer: str
    start: datetime
    duration_s: float
    colour: tuple[int, int, int]
    fps: int = 10
    truncate: bool = False
    clock_skew_s: float = 0.0        # container creation_time this far from the file name's time

    @property
    def name(self) -> str:
        return f"{self.device}_{self.officer}_{self.start:%Y%m%d%H%M%S}.MP4"

    @property
    def spec(self) -> ClipSpec:
        """A tiny H.264 MP4 in the device's colour, a keyframe every 2 s, distinct content per clip (no dedup)."""
        stamp = None
        if self.clock_skew_s:
            stamp = f"{self.start + timedelta(seconds=self.clock_skew_s):%Y-%m-%dT%H:%M:%S}.000000Z"
        return ClipSpec(fps=self.fps, duration_s=self.duration_s, gop_s=2.0, audio_codec=None, colour=self.colour,
                        creation_time=stamp, seed=zlib.crc32(self.name.encode()), preset="ultrafast")


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
        Clip("BWC103", "OF5", at(7.5), 4 * unit, (60, 130, 70), fps, clock_skew_s=437.0),
        Clip("BWC104", "OF9", base - timedelta(hours=24) + timedelta(seconds=round(2 * unit)), 3 * unit, (120, 60, 140), fps),
    ]
    if long:
        clips += [Clip("BWC101", "OF17", at(9), 6 * unit, (40, 90, 160), fps),
                  Clip("BWC103", "OF5", at(12), 3 * unit, (60, 130, 70), fps),
                  Clip("BWC104", "OF9", base - timedelta(hours=24) + timedelta(seconds=round(6 * unit)), 2 * unit,
                       (120, 60, 140), fps)]
    return clips


def make_drop(folder: Path, now: datetime, *, long: bool = False) -> list[Clip]:
    clips = drop_clips(now, long=long)
    for clip in clips:
        path = write_clip(folder / clip.device / clip.name, clip.spec)
        if clip.truncate:
            truncate(path, path, keep_fraction=2 / 3)
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


def add_stage_rows(archive: Path, *, every_s: float = 1.0) -> dict:
    """Explain BWC102's gap and write thumbnails for what is in the archive; returns what was written."""
    from catalog.store import Catalog
    from pipeline.records import gapstate

    catalog = Catalog(archive, fsync=False)
    recordings = catalog.rows("recordings")
    thumbs = thumbnail_rows(archive, recordings, every_s)
    write_part(archive, "thumbnails", thumbs, THUMBNAILS)
    explained = [gapstate.explain(catalog, g["gap_id"], reason="battery swap at the van", by="PC Ortiz", spoken=True)[0]
                 for g in gapstate.listing(catalog) if g["device_id"] == "BWC102" and g["kind"] == "between_files"][:1]
    return {"thumbnails": thumbs, "explanations": explained}


def gap_37(archive: Path) -> dict:
    """The 37 s between-files gap of BWC101, as `fieldrec gaps` lists it."""
    from catalog.store import Catalog
    from pipeline.records import gapstate

    found = [g for g in gapstate.listing(Catalog(archive)) if g["device_id"] == "BWC101" and g["kind"] == "between_files"
             and abs((g["duration_s"] or 0) - 37) < 0.5]
    assert len(found) == 1, found
    return found[0]


def main(argv: list[str]) -> int:
    """Build a drop, ingest it, add stage rows and write OUT/report.html (for the README screenshot)."""
    from pipeline.config import load_config
    from pipeline.runs.ingest import ingest
    from pipeline.report.html import write_report

    out = Path(argv[0])
    long = "--long" in argv
    make_drop(out / "drop", datetime.now(timezone.utc), long=long)
    config = load_config()
    ingest([out / "drop"], out / "archive", config, workers=2, progress=False)
    add_stage_rows(out / "archive", every_s=30.0 if long else 1.0)
    write_report(out / "archive", out / "report.html", config)
    print(out / "report.html")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
