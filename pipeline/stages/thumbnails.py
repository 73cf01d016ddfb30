"""Keyframe thumbnails: choose keyframes by interval, decode only those, encode small previews."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from pipeline.common.i18n import _
from pipeline.config import ThumbnailsConfig
from pipeline.native import images, media, thumbs
from pipeline.stages.contract import FileContext, Problem, StageOutput
from pipeline.stages.demux import DemuxOutcome


@dataclass
class ThumbnailOutcome:
    rows: list[dict] = field(default_factory=list)   # `thumbnails` table rows
    chosen: int = 0                                  # keyframes chosen for a thumbnail
    frames_decoded: int = 0                          # frames the decoder handed out
    decode_errors: int = 0
    first_error: str | None = None

    @property
    def problem(self) -> str | None:
        """The damage in words, for the recording's error message."""
        if not self.decode_errors:
            return None
        return _("{n} of {chosen} keyframes chosen for thumbnails could not be decoded (first: {first})").format(
            n=self.decode_errors, chosen=self.chosen, first=self.first_error)


def choose_keyframes(pts_s, interval_s: float) -> np.ndarray:
    """Indices into ``pts_s`` of the keyframes that get a thumbnail, in time order.

    The first keyframe, then the first one at least ``interval_s`` after the last chosen: at most
    one per ``interval_s`` of media however short the GOP. Keyframes without a time are skipped.
    """
    pts = np.asarray(pts_s, dtype=np.float64)
    order = np.argsort(pts, kind="stable")
    order = order[np.isfinite(pts[order])]
    if interval_s <= 0:
        return order.astype(np.int64)
    ordered = pts[order]
    chosen = []
    i = 0
    while i < len(order):                 # one step per thumbnail, not per keyframe (MJPEG: every frame)
        chosen.append(order[i])
        i = int(np.searchsorted(ordered, ordered[i] + interval_s, side="left"))
    return np.asarray(chosen, dtype=np.int64)


def _row(sha256: str, pts_s: float, image, cfg: ThumbnailsConfig) -> dict:
    return {"sha256": sha256, "pts_s": pts_s, "width": image.width, "height": image.height,
            "format": cfg.format, "image": thumbs.encode(image, cfg.format, cfg.quality, cfg.webp_method)}


def _photo(path: Path, sha256: str, cfg: ThumbnailsConfig) -> ThumbnailOutcome:
    try:
        image = thumbs.photo_preview(path, cfg.max_side)
    except images.ImageError as exc:
        why = _("photo cannot be decoded: {why}").format(why=exc)
        return ThumbnailOutcome(chosen=1, decode_errors=1, first_error=why)
    return ThumbnailOutcome([_row(sha256, 0.0, image, cfg)], chosen=1, frames_decoded=1)


def make_thumbnails(path: Path, sha256: str, outcome: DemuxOutcome, cfg: ThumbnailsConfig) -> ThumbnailOutcome | None:
    """Thumbnails of one stored original; None when the stage is off. Audio and other files get none."""
    if not cfg.enabled:
        return None
    if outcome.kind == "photo" and outcome.photo is not None:
        return _photo(path, sha256, cfg)
    info = outcome.media
    if outcome.kind not in ("video", "photo") or info is None:
        return ThumbnailOutcome()
    video = [s for s in info.streams if s.type == "video" and not s.attached_pic]
    if not video:
        return ThumbnailOutcome()
    stream = video[0]
    times = info.packets[stream.index]
    key_pts = np.where(np.isfinite(times.pts), times.pts, times.dts)[times.key]
    chosen = choose_keyframes(key_pts, cfg.interval_s)
    picked = key_pts[chosen]
    thumbs.prefetch(path, zip(times.pos[times.key][chosen], times.size[times.key][chosen]))
    rows: list[dict] = []
    decoded = thumbs.decode_keyframes(path, stream.index, picked, max_side=cfg.max_side, rotation=stream.rotation,
                                      fast=cfg.fast_decode, indexed=media.is_indexed(info.format_name),
                                      keep=lambda p: rows.append(_row(sha256, p.pts_s, p.image, cfg)))
    return ThumbnailOutcome(rows, chosen=len(picked), frames_decoded=decoded.frames_decoded,
                            decode_errors=decoded.errors, first_error=decoded.first_error)


class Thumbnails:
    """Stage: keyframe thumbnails (a photo's one); keyframes that do not decode make the file damaged."""
    name, needs = "thumbnails", ("demux",)

    def run(self, file: FileContext, found: Mapping) -> StageOutput:
        copy = found["checksum"]
        thumbs = make_thumbnails(copy.path, copy.digest.sha256, found["demux"], file.config.thumbnails)
        if thumbs is None:
            return StageOutput()
        return StageOutput(thumbs, {"decode_errors": thumbs.decode_errors, "thumbnail_count": len(thumbs.rows)},
                           {"thumbnails": thumbs.rows},
                           Problem("damaged", thumbs.problem) if thumbs.decode_errors else None)
