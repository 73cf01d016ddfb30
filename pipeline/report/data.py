"""The review report's facts: recordings, thumbnails, gaps and late uploads, read from the catalog.

Gaps and their explanations come from ``pipeline.records.gapstate`` (what ``fieldrec gaps`` lists), late
uploads from the compliance rule of ``pipeline.rules.custody``. Thumbnails are read straight from their
Parquet parts when the schema module does not know the table, and an absent or empty table just
leaves its part of the report empty. ``render`` (in ``pipeline.report.html``) turns a
``ReportData`` into one self-contained HTML file.
"""

from __future__ import annotations

import base64
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds

from catalog.store import Catalog
from pipeline.records import gapstate
from pipeline.rules import gap_events
from pipeline.config import ComplianceConfig, Config, ReportConfig
from pipeline.rules.custody import upload_lateness
from pipeline.native.rescale import ImageError, shrink_still
from pipeline.common.clock import now_utc

log = logging.getLogger(__name__)

RECORDING_COLUMNS = ["sha256", "source_name", "kind", "status", "device_id", "officer_id", "start_time",
                     "end_time", "duration_s", "size", "error_stage", "error_message", "ingested_at", "run_id"]


@dataclass
class Recording:
    sha256: str
    source_name: str
    kind: str
    status: str
    device_id: str | None
    officer_id: str | None
    start: datetime | None           # device time, naive
    end: datetime | None
    duration_s: float | None
    size: int
    error_stage: str | None = None
    error_message: str | None = None
    ingested_at: datetime | None = None
    late_by_s: float | None = None   # late uploads only: seconds from the recording's end to its ingest


@dataclass
class Thumb:
    pts_s: float
    data_uri: str
    width: int
    height: int


@dataclass
class Gap:
    gap_id: str
    kind: str                        # within_file | between_files | overlap | clock | damaged_tail
    device_id: str | None
    officer_id: str | None
    start: datetime | None           # device time, naive
    end: datetime | None
    duration_s: float | None
    reason: str | None = None
    detail: str | None = None        # one readable sentence from the gaps stage
    sha256: str | None = None
    before_sha256: str | None = None
    after_sha256: str | None = None
    explanation: str = "unexplained"   # explained | awaiting approval | unexplained
    explanation_reason: str | None = None
    explained_by: str | None = None
    approved_by: str | None = None

    @property
    def explained(self) -> bool:
        return self.explanation == "explained"


@dataclass
class ReportData:
    archive: str
    generated_at: datetime
    since: datetime | None
    devices: tuple[str, ...]
    recordings: list[Recording]
    thumbs: dict[str, list[Thumb]]
    gaps: list[Gap]
    unreadable_sources: list[dict]   # sightings that never became a recording (no bytes read)
    runs: list[dict]
    late_after_hours: float
    notes: list[str] = field(default_factory=list)

    @property
    def by_sha(self) -> dict[str, Recording]:
        return {r.sha256: r for r in self.recordings}


# -- reading whatever tables exist -----------------------------------------------------------------
def read_table(archive: Path, name: str, columns: list[str] | None = None, filter=None) -> pa.Table | None:
    """A catalog table (only the ``columns`` it has), or None when it has no part files."""
    folder = Path(archive) / "catalog" / name
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    if not files:
        return None
    dataset = Catalog(archive).dataset(name)
    if columns is not None:
        columns = [c for c in columns if c in dataset.schema.names]
    return dataset.to_table(columns=columns, filter=filter)


def _rows(table: pa.Table | None) -> list[dict]:
    return table.to_pylist() if table is not None else []


# -- late uploads: the compliance rule ----------------------------------------------------------------
def late_uploads(recordings: list[Recording], comp: ComplianceConfig) -> dict[str, float]:
    """sha256 -> seconds from the end of the recording to its ingest, for the late ones.

    The rule of ``fieldrec compliance``: device time to UTC with the device's offset, delay =
    ingest time - end (or start when the end is unknown), late when over ``late_after_hours``.
    """
    late = {}
    for rec in recordings:
        delay_h, is_late = upload_lateness(rec.end or rec.start, comp.offset_hours(rec.device_id), rec.ingested_at,
                                           comp.late_after_hours)
        if is_late:
            late[rec.sha256] = delay_h * 3600
    return late


# -- gaps: as `fieldrec gaps` lists them ----------------------------------------------------------------
def current_gaps(archive: Path, *, since: datetime | None, devices: tuple[str, ...]) -> list[Gap]:
    """The current gaps (closed ones left out), with their explanation status."""
    rows = gap_events.filter_rows(gapstate.listing(Catalog(archive)), since=since)
    return [Gap(gap_id=g["gap_id"], kind=g["kind"] or "unknown", device_id=g["device_id"], officer_id=g["officer_id"],
                start=g["start_time"], end=g["end_time"], duration_s=g["duration_s"], reason=g.get("reason"),
                detail=g.get("detail"), sha256=g["sha256"], before_sha256=g["before_sha256"],
                after_sha256=g["after_sha256"], explanation=g["explanation"],
                explanation_reason=g["explanation_reason"], explained_by=g["explained_by"],
                approved_by=g["approved_by"])
            for g in rows if not devices or g["device_id"] in devices]


# -- thumbnails: a few evenly spaced per recording, scaled down -------------------------------------
def spread(items: list, k: int) -> list:
    """``k`` items evenly spaced over ``items`` (first and last included)."""
    if k <= 0:
        return []
    if len(items) <= k:
        return list(items)
    if k == 1:
        return [items[len(items) // 2]]
    return [items[round(i * (len(items) - 1) / (k - 1))] for i in range(k)]


def load_thumbs(archive: Path, shas: list[str], cfg: ReportConfig) -> tuple[dict[str, list[Thumb]], int]:
    """Chosen thumbnails per sha256 as data URIs, and how many could not be read."""
    if not shas or cfg.thumbs_per_recording == 0 or cfg.max_thumbnails == 0:
        return {}, 0
    wanted_sha = pa.array(shas, pa.string())
    index = read_table(archive, "thumbnails", ["sha256", "pts_s"], filter=ds.field("sha256").isin(wanted_sha))
    if index is None or not index.num_rows or "pts_s" not in index.column_names:
        return {}, 0
    pts_by_sha: dict[str, list[float]] = defaultdict(list)
    for sha, pts in zip(index["sha256"].to_pylist(), index["pts_s"].to_pylist()):
        pts_by_sha[sha].append(pts)
    per = min(cfg.thumbs_per_recording, max(1, cfg.max_thumbnails // max(1, len(pts_by_sha))))
    chosen = {(sha, p) for sha, pts in pts_by_sha.items() for p in spread(sorted(set(pts)), per)}
    table = read_table(archive, "thumbnails", ["sha256", "pts_s", "image"],
                       filter=ds.field("sha256").isin(pa.array(sorted({s for s, _ in chosen}), pa.string())))
    picked = []
    for batch in table.to_batches():
        for sha, pts, image in zip(*(batch.column(c).to_pylist() for c in ("sha256", "pts_s", "image"))):
            if (sha, pts) in chosen and image is not None:
                chosen.discard((sha, pts))                  # a re-run may have stored it twice
                picked.append((sha, pts, image))
    thumbs: dict[str, list[Thumb]] = defaultdict(list)
    bad = 0
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:     # Pillow codecs release the GIL
        for (sha, pts, _), small in zip(picked, pool.map(lambda p: _shrink(p[2], cfg.thumb_width), picked)):
            if small is None:
                bad += 1
                continue
            data, mime, width, height = small
            uri = f"data:{mime};base64," + base64.b64encode(data).decode()
            thumbs[sha].append(Thumb(pts, uri, width, height))
    for items in thumbs.values():
        items.sort(key=lambda t: t.pts_s)
    return dict(thumbs), bad


def _shrink(image: bytes, width: int):
    try:
        return shrink_still(image, max_width=width)
    except ImageError:
        return None


# -- the whole report -------------------------------------------------------------------------------
def _recording(row: dict) -> Recording:
    return Recording(sha256=row["sha256"], source_name=row.get("source_name") or row["sha256"][:12],
                     kind=row.get("kind") or "other", status=row.get("status") or "ok",
                     device_id=row.get("device_id"), officer_id=row.get("officer_id"),
                     start=row.get("start_time"), end=row.get("end_time"), duration_s=row.get("duration_s"),
                     size=row.get("size") or 0, error_stage=row.get("error_stage"),
                     error_message=row.get("error_message"), ingested_at=row.get("ingested_at"))


def _keep(device: str | None, start: datetime | None, end: datetime | None,
          devices: tuple[str, ...], since: datetime | None) -> bool:
    if devices and device not in devices:
        return False
    if since is not None:
        last = end or start
        return last is not None and last >= since
    return True


def load(archive: Path, config: Config, *, since: datetime | None = None,
         devices: tuple[str, ...] = ()) -> ReportData:
    """Everything the report shows, filtered to ``devices`` and to what ends at or after ``since``."""
    archive = Path(archive)
    cfg = config.report
    notes: list[str] = []
    recordings = [_recording(r) for r in _rows(read_table(archive, "recordings", RECORDING_COLUMNS))]
    recordings = [r for r in recordings if _keep(r.device_id, r.start, r.end, devices, since)]
    recordings.sort(key=lambda r: (r.device_id or "\uffff", r.start or datetime.max, r.source_name))
    late = late_uploads(recordings, config.compliance)
    for rec in recordings:
        rec.late_by_s = late.get(rec.sha256)

    videos = [r.sha256 for r in recordings if r.kind in ("video", "photo")]
    if read_table(archive, "thumbnails", ["sha256"]) is None:
        notes.append("No thumbnails in this archive yet (the thumbnails stage has not run).")
    thumbs, bad = load_thumbs(archive, videos, cfg)
    if bad:
        notes.append(f"{bad} stored thumbnail(s) could not be decoded and are not shown.")

    if read_table(archive, "gaps", ["gap_id"]) is None and recordings:
        notes.append("No gaps recorded in this archive (none found, or ingested before gap detection).")
    gaps = current_gaps(archive, since=since, devices=devices)

    unreadable = []
    if not devices:
        sightings = read_table(archive, "sightings", ["sha256", "source_path", "status", "error_message", "seen_at"],
                               filter=ds.field("sha256").is_null())
        unreadable = _rows(sightings)
    runs = sorted(_rows(read_table(archive, "runs")), key=lambda r: str(r.get("started_at")))
    return ReportData(archive=str(archive.resolve()), generated_at=now_utc(), since=since,
                      devices=devices, recordings=recordings, thumbs=thumbs, gaps=gaps,
                      unreadable_sources=unreadable, runs=runs, late_after_hours=config.compliance.late_after_hours,
                      notes=notes)

