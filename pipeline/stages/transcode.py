"""Review proxies: decide per recording, make one from the stored original, publish it by rename.

A proxy is a derived record: a new file under ``ARCHIVE/proxies/ab/<parent>.<params>.mp4`` (or
``.m4a``) with its own SHA-256 and a ``derivatives`` row; the original is only ever read. A proxy
is written as a hidden temporary, synced, then renamed into place, so a killed run leaves no half
proxy under a final name; the driver's ``sweep`` removes abandoned temporaries.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.config import TranscodeConfig
from pipeline.native import media
from pipeline.native.hashing import sha256_path
from pipeline.native.transcode import ProxyError, ProxySettings, make_proxy
from pipeline.archive.proxies import PROXIES, TMP
from pipeline.archive.publish import publish
from pipeline.common.errors import ArchiveWriteError
from pipeline.common import vocabulary
from pipeline.common.i18n import _
from pipeline.stages.demux import stream_span
from pipeline.common.clock import now_utc

PROXY_KINDS = {"video": "proxy-video", "audio": "proxy-audio"}
SUFFIX = {"proxy-video": ".mp4", "proxy-audio": ".m4a"}
# Writing the proxy failed because of the archive itself: the run stops instead of failing every file.
ARCHIVE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT}

@dataclass(frozen=True)
class ProxyJob:
    """What a worker needs to make (or decline) one recording's proxy: small, cheap to ship."""
    parent_sha256: str
    kind: str                          # proxy-video | proxy-audio
    archive_path: str                  # the original, relative to the archive root
    size: int = 0
    rotation: int = 0
    parent_duration_s: float | None = None
    source_name: str | None = None
    skip_reason: str | None = None     # set: record why, make nothing

def job_for(recording: dict) -> ProxyJob | None:
    """The proxy a recording should get, or None when it is not audio or video at all."""
    kind = PROXY_KINDS.get(recording.get("kind"))
    if kind is None:
        return None                    # photos and other files are reviewed as they are
    reason = None
    status = recording.get("status")
    if status != "ok":
        reason = _("no proxy: the original is {status} ({detail}); review the original itself").format(
            status=vocabulary.value("status", status or ""), detail=recording.get("error_message") or _("no detail"))
    return ProxyJob(recording["sha256"], kind, recording["archive_path"], int(recording.get("size") or 0),
                    int(recording.get("rotation") or 0), recording.get("duration_s"),
                    recording.get("source_name"), reason)

def settings(cfg: TranscodeConfig) -> ProxySettings:
    threads = cfg.threads or max(1, int(round(cfg.cpus_per_task)))
    return ProxySettings(long_side=cfg.long_side, crf=cfg.crf, preset=cfg.preset,
                         audio_bitrate=cfg.audio_bitrate, faststart=cfg.faststart, threads=threads,
                         max_decode_errors=cfg.max_decode_errors, audio_gap_s=cfg.audio_gap_s)

def params(kind: str, cfg: TranscodeConfig) -> dict:
    """The settings that shape a proxy of ``kind`` (threads and scheduling do not)."""
    audio = {"audio_codec": "aac", "audio_bitrate": cfg.audio_bitrate, "audio_gap_s": cfg.audio_gap_s,
             "faststart": cfg.faststart}
    if kind == "proxy-audio":
        return {"kind": kind, **audio}
    return {"kind": kind, "video_codec": "libx264", "long_side": cfg.long_side, "crf": cfg.crf,
            "preset": cfg.preset, **audio}

def params_json(kind: str, cfg: TranscodeConfig) -> str:
    return json.dumps(params(kind, cfg), sort_keys=True, separators=(",", ":"))

def params_hash(kind: str, cfg: TranscodeConfig) -> str:
    return hashlib.sha256(params_json(kind, cfg).encode()).hexdigest()[:12]

def proxy_relpath(parent_sha256: str, kind: str, cfg: TranscodeConfig) -> str:
    return f"{PROXIES}/{parent_sha256[:2]}/{parent_sha256}.{params_hash(kind, cfg)}{SUFFIX[kind]}"

def sweep(archive: Path) -> int:
    """Delete temporaries of proxies a killed run left half written. Only the lock holder calls this."""
    tmp = Path(archive) / PROXIES / TMP
    removed = 0
    if tmp.exists():
        for stray in tmp.iterdir():
            stray.unlink(missing_ok=True)
            removed += 1
    return removed

def media_span(path: Path) -> tuple[float | None, dict]:
    """Duration of a written proxy from its packets (no decoding) and its codecs.

    Video packets carry their durations in decode order, so with B-frames the long one that spans a
    gap sits on another picture than the one before it, and x264's first decode time is early by
    as much as the gap: the span is the last picture's time plus a typical frame.
    """
    info = media.demux(path)
    starts, ends, codecs = [], [], {}
    for s in info.streams:
        t = info.packets.get(s.index)
        if t is None or not len(t.pts):
            continue
        codecs.setdefault(f"{s.type}_codec", s.codec)
        if s.type == "video":
            step = float(np.nanmedian(t.duration)) if np.isfinite(t.duration).any() else 0.0
            starts.append(float(np.nanmin(t.pts)))
            ends.append(float(np.nanmax(t.pts)) + step)
        else:
            start, end = stream_span(t)
            if start is not None:
                starts.append(start)
                ends.append(end)
    return (max(ends) - min(starts) if starts else None), codecs

def row(job: ProxyJob, cfg: TranscodeConfig, run_id: str, node: str | None, status: str,
         message: str | None = None, **fields) -> dict:
    return {
        "parent_sha256": job.parent_sha256, "kind": job.kind, "params": params_json(job.kind, cfg),
        "params_hash": params_hash(job.kind, cfg), "status": status,
        "error_message": f"{job.source_name or job.parent_sha256}: {message}" if message else None,
        "parent_duration_s": job.parent_duration_s, "processed_on": node, "run_id": run_id,
        "created_at": now_utc(), **fields,
    }

def make(job: ProxyJob, archive: Path, cfg: TranscodeConfig, run_id: str, node: str | None = None,
         *, fsync: bool = True, mode: int = 0o440) -> dict:
    """Make ``job``'s proxy and return its ``derivatives`` row. Raises only ``ArchiveWriteError``."""
    if job.skip_reason:
        return row(job, cfg, run_id, node, "skipped", job.skip_reason)
    archive = Path(archive)
    tmp_dir = archive / PROXIES / TMP
    try:
        tmp_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ArchiveWriteError(exc.errno, _("cannot write to the archive: {why}").format(why=exc.strerror),
                                str(tmp_dir)) from exc
    tmp = tmp_dir / f"{os.getpid()}-{uuid.uuid4().hex}{SUFFIX[job.kind]}"
    try:
        return _make(job, archive, tmp, cfg, run_id, node, fsync, mode)
    finally:
        tmp.unlink(missing_ok=True)       # whatever happened, no temporary outlives its job

def _make(job: ProxyJob, archive: Path, tmp: Path, cfg: TranscodeConfig, run_id: str, node: str | None,
          fsync: bool, mode: int) -> dict:
    t0, cpu0 = time.monotonic(), time.process_time()
    try:
        facts = make_proxy(archive / job.archive_path, tmp, settings(cfg), rotation=job.rotation,
                           audio_only=job.kind == "proxy-audio")
        try:
            duration, codecs = media_span(tmp)
        except media.MediaError as exc:
            raise ProxyError(_("the proxy written cannot be read back: {why}").format(
                why=media.describe_error(exc))) from None
    except ProxyError as exc:
        code = abs(getattr(exc.__cause__, "errno", None) or 0)
        if code in ARCHIVE_ERRNOS:
            raise ArchiveWriteError(code, _("cannot write a proxy: {why}").format(why=exc), str(tmp)) from exc
        return row(job, cfg, run_id, node, "failed", _("no proxy: {why}").format(why=exc),
                    cpu_s=time.process_time() - cpu0, wall_s=time.monotonic() - t0)
    final_rel = proxy_relpath(job.parent_sha256, job.kind, cfg)
    try:
        digest, size = sha256_path(tmp), tmp.stat().st_size
        publish(tmp, archive / final_rel, fsync=fsync, sync_file=True, mode=mode)   # a killed run's leftover is replaced
    except OSError as exc:
        raise ArchiveWriteError(exc.errno, _("cannot write a proxy: {why}").format(why=exc.strerror),
                                str(tmp)) from exc
    return row(job, cfg, run_id, node, "ok", sha256=digest, size=size, archive_path=final_rel,
                width=facts.width, height=facts.height, rotation=facts.rotation if facts.width else None,
                duration_s=duration, video_frames=facts.video_frames, decode_errors=facts.decode_errors,
                silence_s=facts.silence_s, time_offset_s=facts.time_offset_s, cpu_s=time.process_time() - cpu0, wall_s=time.monotonic() - t0,
                container=SUFFIX[job.kind][1:], **codecs)

