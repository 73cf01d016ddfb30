"""One source file through every per-file stage, in one pass. No Ray here: the runner calls this."""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

from pipeline.common.clock import now_utc
from pipeline.config import Config
from pipeline.runs.discover import SourceFile
from pipeline.stages import demux, naming, thumbnails
from pipeline.archive.objects import ObjectStore
from pipeline.common.errors import ArchiveWriteError
from pipeline.stages.checksum import store_source
from pipeline.stages.filekind import sniff
from pipeline.stages.gaps import file_gaps, gap_rows


@dataclass(frozen=True)
class Context:
    archive: str
    run_id: str
    config: Config


@dataclass
class FileResult:
    source: SourceFile
    sighting: dict
    recording: dict | None = None                 # None when the source could not be read
    dependents: dict[str, list[dict] | pa.Table] = field(default_factory=dict)  # rows keyed to the recording
    bytes_read: int = 0
    new_object: bool = False

    @property
    def sha256(self) -> str | None:
        return self.sighting["sha256"]

    @property
    def status(self) -> str:
        return self.recording["status"] if self.recording else self.sighting["status"]


def _sighting(src: SourceFile, ctx: Context, sha256: str | None, status: str, message: str | None) -> dict:
    return {
        "sha256": sha256, "source_path": src.path, "size": src.size,
        "mtime": datetime.fromtimestamp(src.mtime_ns / 1e9, timezone.utc),
        "mtime_ns": src.mtime_ns, "status": status, "error_message": message,
        "run_id": ctx.run_id, "seen_at": now_utc(),
    }


def unreadable(src: SourceFile, ctx: Context, message: str) -> FileResult:
    """A source that could not be read at all: a sighting with the reason, no object."""
    return FileResult(src, _sighting(src, ctx, None, "unreadable", f"{src.path}: {message}"))


def failed(src: SourceFile, ctx: Context, exc: BaseException) -> FileResult:
    """The guard's result for an unexpected error: the file fails alone, with a traceback."""
    text = "".join(traceback.format_exception(exc)).strip()
    return unreadable(src, ctx, f"internal error, please report: {text}")


def process_file(src: SourceFile, ctx: Context, node: str | None = None) -> FileResult:
    """Store, hash, identify, demux and thumbnail one file. Raises only ``ArchiveWriteError``."""
    if src.problem:
        return unreadable(src, ctx, src.problem)
    cfg = ctx.config
    store = ObjectStore(Path(ctx.archive), fsync=cfg.ingest.fsync)
    try:
        stored = store_source(Path(src.path), store, chunk_bytes=cfg.ingest.chunk_bytes,
                              retries=cfg.ingest.change_retries)
    except ArchiveWriteError:
        raise
    except OSError as exc:
        return unreadable(src, ctx, f"cannot read: {exc.strerror or exc} (errno {exc.errno})")

    digest = stored.digest
    object_path = store.path(digest.sha256)
    signature = sniff(digest.head)
    outcome = demux.demux_file(object_path, digest.sha256, signature, digest.size, cfg.demux)
    exif_time = outcome.photo.datetime_original if outcome.photo else None
    tags = outcome.media.tags if outcome.media else {}
    who = naming.identify(Path(src.path).name, tags, exif_time, cfg.identity, cfg.zones())

    thumbs = thumbnails.make_thumbnails(object_path, digest.sha256, outcome, cfg.thumbnails)

    status, stage, message = outcome.status, ("demux" if outcome.status != "ok" else None), outcome.error_message
    if thumbs is not None and thumbs.decode_errors:
        status, stage = ("damaged" if status == "ok" else status), stage or "thumbnails"
        message = "; ".join(m for m in (message, thumbs.problem) if m)
    if stored.changed_while_read:
        status, stage = ("damaged" if status == "ok" else status), "checksum"
        message = "; ".join(m for m in (stored.changed_while_read, message) if m)
    if message:
        message = f"{Path(src.path).name}: {message}"
    duration = outcome.fields.get("duration_s")
    recording = {
        "sha256": digest.sha256, "xxh3_128": digest.xxh3_128, "size": digest.size,
        "kind": outcome.kind, **outcome.fields,
        "device_id": who.device_id, "officer_id": who.officer_id, "sequence": who.sequence,
        "start_time": who.start_time, "end_time": who.end_time(duration),
        "start_utc": who.start_utc, "end_utc": who.end_utc(duration),
        "utc_offset_s": who.utc_offset_s, "time_zone": who.time_zone, "zone_source": who.zone_source,
        "container_time_zone": who.container_time_zone, "naming_profile": who.profile,
        "time_source": who.time_source, "identity_source": who.identity_source,
        "name_time": who.name_time, "container_time": who.container_time,
        "source_name": Path(src.path).name,
        "status": status, "error_stage": stage, "error_message": message,
        "archive_path": stored.archive_path, "processed_on": node,
        "run_id": ctx.run_id, "ingested_at": now_utc(),
    }
    dependents: dict[str, list[dict] | pa.Table] = {"streams": outcome.streams}
    if outcome.keyframes is not None:
        dependents["keyframes"] = outcome.keyframes
    found = file_gaps(outcome, cfg.gaps)
    if found:
        dependents["gaps"] = gap_rows(digest.sha256, found, device_id=who.device_id, officer_id=who.officer_id,
                                      start_time=who.start_time, start_utc=who.start_utc, run_id=ctx.run_id,
                                      detected_at=now_utc())
    if thumbs is not None:
        recording["decode_errors"], recording["thumbnail_count"] = thumbs.decode_errors, len(thumbs.rows)
        dependents["thumbnails"] = thumbs.rows
    return FileResult(
        src, _sighting(src, ctx, digest.sha256, status, message), recording, dependents,
        bytes_read=digest.size, new_object=stored.newly_stored,
    )
