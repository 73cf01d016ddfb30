"""Demux a stored original without decoding: kind, streams, keyframes, status and a clear error."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from pipeline.config import DemuxConfig
from pipeline.native import images, isobmff, media
from pipeline.common.i18n import _
from pipeline.stages.contract import Columns, FileContext, Problem, StageOutput
from pipeline.stages.filekind import Signature, media_extension, sniff

IMAGE_DEMUXERS = ("image2", "jpeg_pipe", "png_pipe", "webp_pipe", "tiff_pipe", "gif", "bmp_pipe")
# A file whose packets end this much before its declared duration was cut off.
TRUNCATION_TOLERANCE_S = 1.0
TRUNCATION_TOLERANCE_FRACTION = 0.02


@dataclass
class DemuxOutcome:
    kind: str                               # video | audio | photo | other
    status: str = "ok"                      # ok | damaged
    error_message: str | None = None
    fields: dict = field(default_factory=dict)     # recording columns this stage fills
    streams: list[dict] = field(default_factory=list)
    keyframes: Columns | None = None         # the ``keyframes`` table's rows
    media: media.MediaInfo | None = None    # packet timing, for later stages in the same pass
    photo: images.PhotoInfo | None = None


def stream_span(times: media.PacketTimes) -> tuple[float | None, float | None]:
    """First presentation time and the end of the last packet, in seconds."""
    pts = np.where(np.isfinite(times.pts), times.pts, times.dts)
    ok = np.isfinite(pts)
    if not ok.any():
        return None, None
    ends = pts[ok] + np.nan_to_num(times.duration[ok], nan=0.0)
    return float(pts[ok].min()), float(ends.max())


def keyframe_table(sha256: str, info: media.MediaInfo) -> Columns:
    """The keyframes of each video stream (not a cover picture), in the order the streams come."""
    parts = []
    for s in info.streams:
        if s.type != "video" or s.attached_pic:
            continue
        t = info.packets[s.index]
        key = t.key
        pts = np.where(np.isfinite(t.pts[key]), t.pts[key], t.dts[key])
        n = int(key.sum())
        parts.append({
            "sha256": [sha256] * n,
            "stream_index": np.full(n, s.index, dtype=np.int32),
            "pts_s": pts,
            "byte_pos": t.pos[key],
            "size": t.size[key],
        })
    return Columns("keyframes", parts)


def _stream_rows(sha256: str, info: media.MediaInfo) -> list[dict]:
    rows = []
    for s in info.streams:
        t = info.packets.get(s.index)
        start, end = stream_span(t) if t is not None and len(t.pts) else (None, None)
        rows.append({
            "sha256": sha256, "stream_index": s.index, "type": s.type, "codec": s.codec,
            "profile": s.profile, "width": s.width, "height": s.height, "fps": s.fps,
            "rotation": s.rotation, "sample_rate": s.sample_rate, "channels": s.channels,
            "bit_rate": s.bit_rate, "time_base": str(s.time_base) if s.time_base else None,
            "start_s": start, "end_s": end,
            "packets": int(len(t.pts)) if t is not None else 0,
            "keyframes": int(t.key.sum()) if t is not None else 0,
            "bytes": int(t.size.sum()) if t is not None else 0,
        })
    return rows


def _open_failure(path: Path, signature: Signature, size: int, exc: BaseException) -> DemuxOutcome:
    """Why a container cannot be opened. A file that is no media at all was still read and kept:
    kind ``other``, status ``ok``, and the reason as its message (the per-file pass decides whether
    a name that claims media makes it ``damaged``)."""
    reason = media.describe_error(exc)
    if size == 0:
        return DemuxOutcome("other", "ok", _("empty file (0 bytes): nothing was recorded"))
    if signature.family == "unknown":
        return DemuxOutcome("other", "ok",
                            _("not a recognised media file (no known container signature; FFmpeg: {reason})").format(
                                reason=reason))
    if signature.format == "isobmff":
        boxes = [b[0] for b in isobmff.top_level_boxes(path)]
        if "moov" not in boxes:
            return DemuxOutcome(signature.family, "damaged",
                                _("MP4/MOV without a 'moov' index (top-level boxes: {boxes}): the recorder did not "
                                  "finalise the file (power loss or removal mid-recording); the bytes are preserved "
                                  "but cannot be played as they are").format(boxes=", ".join(boxes) or _("none")))
    return DemuxOutcome(signature.family, "damaged",
                        _("{format} container cannot be opened: {reason}").format(format=signature.format,
                                                                                   reason=reason))


def _photo(path: Path, signature: Signature) -> DemuxOutcome:
    try:
        photo = images.photo_info(path)
    except images.ImageError as exc:
        return DemuxOutcome("photo", "damaged", _("{format} image cannot be read: {why}").format(
            format=signature.format, why=exc))
    return DemuxOutcome("photo", fields={
        "container": photo.format, "width": photo.width, "height": photo.height,
        "rotation": {3: 180, 6: 270, 8: 90}.get(photo.orientation, 0),
    }, photo=photo)


def demux_file(path: Path, sha256: str, signature: Signature, size: int, cfg: DemuxConfig) -> DemuxOutcome:
    """Everything the container says about ``path`` without decoding a frame."""
    if signature.family == "photo":
        return _photo(path, signature)
    try:
        info = media.demux(path, skip_probe_decode=cfg.skip_probe_decode,
                           indexed=signature.format == "isobmff")
    except media.MediaError as exc:
        return _open_failure(path, signature, size, exc)

    video = [s for s in info.streams if s.type == "video" and not s.attached_pic]
    audio = [s for s in info.streams if s.type == "audio"]
    if info.format_name in IMAGE_DEMUXERS:
        kind = "photo"
    elif video:
        kind = "video"
    elif audio:
        kind = "audio"
    else:
        kind = "other"
    spans = [stream_span(info.packets[s.index]) for s in video + audio if len(info.packets[s.index].pts)]
    starts = [a for a, _ in spans if a is not None]
    ends = [b for _, b in spans if b is not None]
    media_start = min(starts) if starts else None
    media_end = max(ends) if ends else None
    measured = media_end - media_start if starts and ends else None
    duration = measured if measured is not None else info.duration_s

    outcome = DemuxOutcome(kind, media=info)
    problems = []
    if info.demux_error:
        problems.append(info.demux_error)
    corrupt = sum(t.corrupt for t in info.packets.values())
    if corrupt:
        problems.append(_("{n} packets flagged corrupt by the demuxer").format(n=corrupt))
    if not spans and kind in ("video", "audio"):
        problems.append(_("no audio or video packets could be read"))
    declared = info.duration_s
    if measured is not None and declared and declared > 0 and math.isfinite(declared):
        tolerance = max(TRUNCATION_TOLERANCE_S, TRUNCATION_TOLERANCE_FRACTION * declared)
        if measured < declared - tolerance:
            problems.append(_("truncated: media ends after {measured} s of a declared {declared} s").format(
                measured=f"{measured:.2f}", declared=f"{declared:.2f}"))
    if problems:
        outcome.status = "damaged"
        outcome.error_message = _("; ").join(problems)

    first_video = video[0] if video else None
    first_audio = audio[0] if audio else None
    outcome.fields = {
        "container": info.format_name,
        "duration_s": duration,
        "media_start_s": media_start,
        "video_codec": first_video.codec if first_video else None,
        "width": first_video.width if first_video else None,
        "height": first_video.height if first_video else None,
        "fps": first_video.fps if first_video else None,
        "rotation": first_video.rotation if first_video else None,
        "audio_codec": first_audio.codec if first_audio else None,
        "sample_rate": first_audio.sample_rate if first_audio else None,
        "channels": first_audio.channels if first_audio else None,
        "bit_rate": info.bit_rate,
        "packet_count": int(sum(len(t.pts) for t in info.packets.values())),
        "keyframe_count": int(sum(int(info.packets[s.index].key.sum()) for s in video)),
        "creation_time": info.tags.get("creation_time"),
        "tags_json": json.dumps(info.tags, ensure_ascii=False, sort_keys=True),
    }
    outcome.streams = _stream_rows(sha256, info)
    outcome.keyframes = keyframe_table(sha256, info)
    return outcome


class Demux:
    """Stage: kind, streams and keyframes of the stored copy; a file that is no media is kept as ``other``."""
    name, needs = "demux", ("checksum",)

    def run(self, file: FileContext, found: Mapping) -> StageOutput:
        copy = found["checksum"]
        digest = copy.digest
        outcome = demux_file(copy.path, digest.sha256, sniff(digest.head), digest.size, file.config.demux)
        rows = {"streams": outcome.streams}
        if outcome.keyframes is not None:
            rows["keyframes"] = outcome.keyframes
        problem = None
        if outcome.status != "ok":
            problem = Problem(outcome.status, outcome.error_message or "")
        elif outcome.error_message:
            # Read and kept, but no media. Under a media name (a recorder's .MP4 of zeros) it is a
            # recording that plays nothing: damaged. Otherwise (a log, notes) it is fine as it is.
            ext = media_extension(file.name)
            problem = (Problem("damaged", _("named as media (.{ext}) but {why}").format(ext=ext, why=outcome.error_message))
                       if ext else Problem("ok", outcome.error_message))
        return StageOutput(outcome, {"kind": outcome.kind, **outcome.fields}, rows, problem)
