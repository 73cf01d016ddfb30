"""The review report's facts: recordings, thumbnails, gaps and late uploads, read from the catalog.

Gaps and their explanations come from ``pipeline.records.gapstate`` (what ``fieldrec gaps`` lists), late
uploads and clock problems from ``pipeline.records.state`` (what ``fieldrec compliance`` counts). Every
time is an aware datetime in the site's zone (site.time_zone): the page shows site time with its offset. Thumbnails are read straight from their
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
from pipeline.config import Config, ReportConfig
from pipeline.native.rescale import ImageError, shrink_still
from pipeline.common.clock import now_utc
from pipeline.common.times import as_utc

log = logging.getLogger(__name__)

@dataclass
class Recording:
    sha256: str
    source_name: str
    kind: str
    status: str
    device_id: str | None
    officer_id: str | None
    start: datetime | None           # in the site's zone (aware)
    end: datetime | None
    duration_s: float | None
    size: int
    error_stage: str | None = None
    error_message: str | None = None
    ingested_at: datetime | None = None   # first sighting, in the site's zone
    late_by_s: float | None = None   # late uploads only: seconds from the recording's end to its first sighting
    clock_problem: str | None = None  # the device clock cannot be right: shown apart from the timelines


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
    start: datetime | None           # in the site's zone (aware)
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
    session_id: str | None = None      # the recording session the gap lies in (None: between sessions)
    needs_explanation: bool = True     # False: a pause between recording sessions (see pipeline.rules.sessions)
    need_reason: str | None = None

    @property
    def explained(self) -> bool:
        return self.explanation == "explained"

    @property
    def waiting(self) -> bool:
        """Needs an explanation and has no accepted one (what `fieldrec gaps --unexplained` lists)."""
        return self.needs_explanation and not self.explained


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
    zone: object = None              # the site's zone (tzinfo) every time above is in
    notes: list[str] = field(default_factory=list)
    conflicts: list[dict] = field(default_factory=list)   # identical bytes under names that disagree

    @property
    def unattributed(self) -> list[Recording]:
        """Pictures and sound no naming profile, other name or person attributed to a device."""
        return [r for r in self.recordings if r.device_id is None and r.kind in ("video", "audio", "photo")]

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


# -- gaps: as `fieldrec gaps` lists them ----------------------------------------------------------------
def current_gaps(archive: Path, *, since: datetime | None, devices: tuple[str, ...], zones=None,
                 config: Config | None = None) -> list[Gap]:
    """The current gaps (closed ones left out), with their explanation status and whether they need
    one, in the site's zone."""
    from pipeline.common.times import Zones

    zones = zones or (config.zones() if config else Zones())
    site = zones.site_zone
    local = lambda t: as_utc(t).astimezone(site) if t is not None else None        # noqa: E731
    rows = gap_events.filter_rows(gapstate.listing(Catalog(archive), zones, config), since=since)
    return [Gap(gap_id=g["gap_id"], kind=g["kind"] or "unknown", device_id=g["device_id"], officer_id=g["officer_id"],
                start=local(g["start_utc"]), end=local(g["end_utc"]), duration_s=g["duration_s"], reason=g.get("reason"),
                detail=g.get("detail"), sha256=g["sha256"], before_sha256=g["before_sha256"],
                after_sha256=g["after_sha256"], explanation=g["explanation"],
                explanation_reason=g["explanation_reason"], explained_by=g["explained_by"],
                approved_by=g["approved_by"], session_id=g["session_id"], needs_explanation=g["needs_explanation"],
                need_reason=g["need_reason"])
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
def _recording(record, site) -> Recording:
    """A recording as the report shows it, from ``pipeline.records.state``'s view of it."""
    row = record.row
    local = lambda t: as_utc(t).astimezone(site) if t is not None else None        # noqa: E731
    late = record.lateness.delay_s if record.late else None
    return Recording(sha256=row["sha256"], source_name=row.get("source_name") or row["sha256"][:12],
                     kind=row.get("kind") or "other", status=row.get("status") or "ok",
                     device_id=row.get("device_id"), officer_id=row.get("officer_id"),
                     start=local(record.subject.start), end=local(record.subject.end), duration_s=row.get("duration_s"),
                     size=row.get("size") or 0, error_stage=row.get("error_stage"),
                     error_message=row.get("error_message"), ingested_at=local(record.first_seen),
                     late_by_s=late, clock_problem=record.clock[1] if record.clock else None)


def _keep(device: str | None, start: datetime | None, end: datetime | None,
          devices: tuple[str, ...], since: datetime | None) -> bool:
    if devices and device not in devices:
        return False
    if since is not None:
        last = end or start
        return last is not None and as_utc(last) >= as_utc(since)
    return True


def load(archive: Path, config: Config, *, since: datetime | None = None,
         devices: tuple[str, ...] = ()) -> ReportData:
    """Everything the report shows, filtered to ``devices`` and to what ends at or after ``since``."""
    from pipeline.records.state import load as load_state

    archive = Path(archive)
    cfg = config.report
    notes: list[str] = []
    zones = config.zones()
    site = zones.site_zone
    state = load_state(archive, config, now_utc())
    recordings = [_recording(r, site) for r in state.records]
    # A recording whose clock cannot be right is filtered by when it reached the archive (as
    # `fieldrec gaps` filters clock gaps by when they were found): its own times say nothing.
    recordings = [r for r in recordings if _keep(r.device_id, r.ingested_at if r.clock_problem else r.start,
                                                 r.ingested_at if r.clock_problem else r.end, devices, since)]
    recordings.sort(key=lambda r: (r.device_id or "\uffff", r.start is None, as_utc(r.start) if r.start else 0,
                                   r.source_name))

    videos = [r.sha256 for r in recordings if r.kind in ("video", "photo")]
    if read_table(archive, "thumbnails", ["sha256"]) is None:
        notes.append("No thumbnails in this archive yet (the thumbnails stage has not run).")
    thumbs, bad = load_thumbs(archive, videos, cfg)
    if bad:
        notes.append(f"{bad} stored thumbnail(s) could not be decoded and are not shown.")

    if read_table(archive, "gaps", ["gap_id"]) is None and recordings:
        notes.append("No gaps recorded in this archive (none found, or ingested before gap detection).")
    gaps = current_gaps(archive, since=since, devices=devices, zones=zones, config=config)
    shown = {r.sha256 for r in recordings}
    conflicts = [{"sha256": c.sha256, "fields": c.fields,
                  "names": [(n.source, n.device_id, n.officer_id, n.name_time) for n in c.names]}
                 for c in (state.identities.conflicts() if state.identities else []) if c.sha256 in shown]

    unreadable = []
    if not devices:
        sightings = read_table(archive, "sightings", ["sha256", "source_path", "status", "error_message", "seen_at"],
                               filter=ds.field("sha256").is_null())
        unreadable = _rows(sightings)
    runs = sorted(_rows(read_table(archive, "runs")), key=lambda r: str(r.get("started_at")))
    return ReportData(archive=str(archive.resolve()), generated_at=now_utc(), since=since,
                      devices=devices, recordings=recordings, thumbs=thumbs, gaps=gaps,
                      unreadable_sources=unreadable, runs=runs, late_after_hours=config.compliance.late_after_hours,
                      zone=site, notes=notes, conflicts=conflicts)

