"""Gaps inside one file: timestamp jumps and backwards steps per stream, and a lost tail.

Pure functions over the packet timing that the demux stage already read (no second pass over
the file). The device-wide kinds (between_files, overlap, clock) need every recording of a
device and are computed after a run by ``pipeline.rules.timeline``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Mapping

import numpy as np

from pipeline.common.clock import now_utc
from pipeline.common.i18n import _
from pipeline.config import GapsConfig
from pipeline.stages.contract import FileContext, StageOutput

if TYPE_CHECKING:       # the gap rules import this module: they need no media library
    from pipeline.native.media import MediaInfo, PacketTimes
    from pipeline.stages import demux

@dataclass(frozen=True)
class FileGap:
    kind: str                       # within_file | damaged_tail
    reason: str                     # forward_jump | backwards | truncated | not_openable | demux_stopped
    offset_s: float                 # seconds from the file's first timestamp
    duration_s: float | None        # None: the length cannot be known
    streams: tuple[int, ...] = ()
    detail: str = ""
    back_s: float = 0.0             # backwards: how far the timestamps went back


def gap_id(*parts) -> str:
    """A stable identifier: the same gap found again in a later run gets the same id."""
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Track:
    """One stream's packets that carry a timestamp, in demux order (seconds)."""
    index: int
    order: np.ndarray               # DTS when the container has them, else PTS: the decode order
    pts: np.ndarray                 # presentation times (the order times where a PTS is missing)
    dur: np.ndarray


def track(index: int, times: PacketTimes) -> Track | None:
    """A stream's timing; DTS give the decode order (PTS of B-frames do not) unless missing."""
    use_dts = bool(np.isfinite(times.dts).sum() >= max(1, 0.9 * len(times.dts)))
    order = times.dts if use_dts else times.pts
    ok = np.isfinite(order)
    if not ok.any():
        return None
    order = order[ok]
    pts = np.where(np.isfinite(times.pts[ok]), times.pts[ok], order)
    return Track(index, order, pts, times.duration[ok])


def frame_duration(t: np.ndarray, dur: np.ndarray) -> float | None:
    """The stream's usual packet duration: from the container, else the usual step."""
    good = dur[np.isfinite(dur) & (dur > 0)]
    if len(good):
        return median(good)
    steps = np.diff(np.sort(t))
    steps = steps[steps > 0]
    return median(steps) if len(steps) else None


def median(values: np.ndarray) -> float:
    """``np.median`` of values without NaN (the mean of the middle one or two sorted values: the
    same number), without its NaN check, which imports ``numpy.ma`` on a worker's first file."""
    ordered = np.sort(values)
    middle = len(ordered) // 2
    return float(ordered[middle] if len(ordered) % 2 else np.mean(ordered[middle - 1:middle + 1]))


def describe(g: FileGap) -> str:
    streams = ",".join(map(str, g.streams))
    where = (_("at {at} s (streams {streams})") if len(g.streams) > 1 else _("at {at} s (stream {streams})")).format(
        at=f"{g.offset_s:.2f}", streams=streams)
    if g.reason == "forward_jump":
        return _("timestamps jump forward {s} s {where}").format(s=f"{g.duration_s:.2f}", where=where)
    return _("timestamps go back {s} s {where}: two recordings joined or a clock reset; the length of the break "
             "is unknown").format(s=f"{g.back_s:.2f}", where=where)


def stream_gaps(tr: Track, origin: float, cfg: GapsConfig) -> list[FileGap]:
    """Forward jumps and backward steps of one stream's timestamps.

    Decode order (DTS) is monotonic in a good stream even with B-frames; Matroska and WebM give
    DTS equal to PTS, which step back a few frames wherever frames are reordered, so a step
    back counts when it exceeds the same threshold as a jump forward. The stream is split at
    such steps; in each part a jump is where the sorted presentation times skip (B-frames make
    the decode order reach past it), confirmed by a jump of the same size in decode order (a
    bad presentation time on one frame, e.g. a bit flip in an MP4's composition offsets, is
    not a gap). A packet's own duration is trusted up to the threshold: MP4 spells a jump as
    one sample lasting the whole pause.
    """
    if len(tr.order) < 2:
        return []
    frame = frame_duration(tr.pts, tr.dur)
    if frame is None:
        return []
    threshold = max(cfg.min_jump_s, cfg.jump_frames * frame)
    usual = np.where(np.isfinite(tr.dur) & (tr.dur > 0) & (tr.dur <= threshold), tr.dur, frame)
    decode_missing = np.diff(tr.order) - usual[:-1]
    cuts = np.flatnonzero(decode_missing < -threshold) + 1
    found = []
    for lo, hi in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [len(tr.order)]])):
        jumps = list(decode_missing[lo:hi - 1][decode_missing[lo:hi - 1] > threshold])
        order = np.argsort(tr.pts[lo:hi], kind="stable")
        pts, expected = tr.pts[lo:hi][order], usual[lo:hi][order]
        missing = np.diff(pts) - expected[:-1]
        for i in np.flatnonzero(missing > threshold):
            match = next((j for j in jumps if abs(j - missing[i]) <= threshold), None)
            if match is None:
                continue
            jumps.remove(match)
            found.append(FileGap("within_file", "forward_jump", float(pts[i] + expected[i] - origin),
                                 float(missing[i]), (tr.index,)))
        if hi < len(tr.order):
            end = float(pts[-1] + expected[-1])
            found.append(FileGap("within_file", "backwards", end - origin, None, (tr.index,),
                                 back_s=float(-decode_missing[hi - 1])))
    return found


def merge(gaps: list[FileGap], slack: float) -> list[FileGap]:
    """One gap per break: the same jump seen in video and audio is merged across streams."""
    merged: list[FileGap] = []
    for g in sorted(gaps, key=lambda g: (g.reason, g.offset_s)):
        last = merged[-1] if merged else None
        end = g.offset_s + (g.duration_s or 0.0)
        if last and last.reason == g.reason and g.offset_s <= last.offset_s + (last.duration_s or 0.0) + slack:
            last_end = last.offset_s + (last.duration_s or 0.0)
            duration = None if last.duration_s is None else max(last_end, end) - last.offset_s
            streams = tuple(sorted(set(last.streams) | set(g.streams)))
            merged[-1] = FileGap(last.kind, last.reason, last.offset_s, duration, streams,
                                 back_s=max(last.back_s, g.back_s))
        else:
            merged.append(g)
    return sorted((dataclasses.replace(g, detail=describe(g)) for g in merged), key=lambda g: g.offset_s)


def within_file_gaps(info: MediaInfo, cfg: GapsConfig) -> list[FileGap]:
    """Every forward jump and backward step in the file's audio and video timestamps.

    MPEG-TS clock wraps were undone when the packets were read (``media.unwrap_timestamps``).
    """
    streams = [s for s in info.streams if s.type in ("video", "audio") and not s.attached_pic]
    tracks = [t for t in (track(s.index, info.packets[s.index]) for s in streams if s.index in info.packets) if t]
    if not tracks:
        return []
    videos = [t for t in tracks if t.index in {s.index for s in streams if s.type == "video"}]
    # Offsets count from where the picture starts (the audio's encoder priming is not "the start").
    origin = float(min(t.pts.min() for t in (videos or tracks)))
    found = []
    for tr in tracks:
        found += stream_gaps(tr, origin, cfg)
    return merge(found, cfg.min_jump_s)


def damaged_tail(outcome: "demux.DemuxOutcome") -> FileGap | None:
    """The part of a damaged recording that is lost: from the last good timestamp on.

    Same facts as the demux stage's verdict: packets ending before the declared duration
    (truncated), no packets at all because the container has no index (an MP4 without a 'moov' index),
    or demuxing that stopped on an error.
    """
    if outcome.kind not in ("video", "audio") or outcome.status != "damaged":
        return None
    info = outcome.media
    if info is None:
        return FileGap("damaged_tail", "not_openable", 0.0, None, (),
                       _("the container cannot be opened (e.g. an MP4 never finalised): all of it is lost; "
                         "its length is unknown, the device's next recording bounds it"))
    measured = outcome.fields.get("duration_s")
    declared = info.duration_s
    if measured is not None and declared and math.isfinite(declared):
        from pipeline.stages.demux import TRUNCATION_TOLERANCE_FRACTION, TRUNCATION_TOLERANCE_S

        tolerance = max(TRUNCATION_TOLERANCE_S, TRUNCATION_TOLERANCE_FRACTION * declared)
        if measured < declared - tolerance:
            return FileGap("damaged_tail", "truncated", float(measured), float(declared - measured), (),
                           _("file ends after {measured} s of a declared {declared} s: {lost} s lost").format(
                               measured=f"{measured:.2f}", declared=f"{declared:.2f}",
                               lost=f"{declared - measured:.2f}"))
    if info.demux_error:
        at = float(measured or 0.0)
        return FileGap("damaged_tail", "demux_stopped", at, None, (),
                       _("reading stopped at {at} s ({error}); the rest is lost, length unknown").format(
                           at=f"{at:.2f}", error=info.demux_error))
    return None


def file_gaps(outcome: "demux.DemuxOutcome", cfg: GapsConfig) -> list[FileGap]:
    gaps = within_file_gaps(outcome.media, cfg) if outcome.media is not None and outcome.kind in ("video", "audio") else []
    tail = damaged_tail(outcome)
    return gaps + ([tail] if tail else [])


def gap_rows(sha256: str, gaps: list[FileGap], *, device_id: str | None, officer_id: str | None,
             start_time: datetime | None, run_id: str, detected_at: datetime,
             start_utc: datetime | None = None) -> list[dict]:
    """``gaps`` table rows for one file's gaps, placed from its start: on the device's clock
    (``start_time``) and as instants (``start_utc``)."""
    rows = []
    for g in gaps:
        start, end = _span(start_time, g)
        start_at, end_at = _span(start_utc, g)
        rows.append({
            "gap_id": gap_id(g.kind, sha256, g.reason, ",".join(map(str, g.streams)), f"{g.offset_s:.3f}"),
            "kind": g.kind, "reason": g.reason, "device_id": device_id, "officer_id": officer_id,
            "start_time": start, "end_time": end, "duration_s": g.duration_s, "sha256": sha256,
            "offset_s": g.offset_s, "stream": ",".join(map(str, g.streams)) or None, "detail": g.detail,
            "detected_run_id": run_id, "detected_at": detected_at, "start_utc": start_at, "end_utc": end_at,
        })
    return rows


def _span(origin: datetime | None, g: FileGap) -> tuple[datetime | None, datetime | None]:
    start = origin + timedelta(seconds=g.offset_s) if origin else None
    end = start + timedelta(seconds=g.duration_s) if start and g.duration_s is not None else None
    return start, end


class Gaps:
    """Stage: gaps inside the file, placed by the naming stage's start (device clock and instant)."""
    name, needs = "gaps", ("demux", "naming")

    def run(self, file: FileContext, found: Mapping) -> StageOutput:
        who, sha256 = found["naming"], found["checksum"].digest.sha256
        gaps = file_gaps(found["demux"], file.config.gaps)
        if not gaps:
            return StageOutput(gaps)
        return StageOutput(gaps, rows={"gaps": gap_rows(
            sha256, gaps, device_id=who.device_id, officer_id=who.officer_id, start_time=who.start_time,
            start_utc=who.start_utc, run_id=file.run_id, detected_at=now_utc())})
