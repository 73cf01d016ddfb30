"""Demux a media file with PyAV without decoding: container facts, streams and packet timing."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from pipeline.common.i18n import _
from pipeline.native import isobmff

av.logging.set_level(av.logging.PANIC)   # FFmpeg's chatter is not ours; errors come back as data
log = logging.getLogger(__name__)

MediaError = (av.error.FFmpegError, OSError, ValueError, UnicodeDecodeError)
ISO_FORMATS = ("mov", "mp4", "m4a", "3gp", "3g2", "mj2")
# MPEG-TS/PS timestamps are 33-bit counts of a 90 kHz clock: they wrap every 26.5 h, and a
# slightly negative start (AAC priming) reads as a time near the top of the range.
TS_WRAP_S = 2 ** 33 / 90000
WRAPPING_FORMATS = ("mpegts", "mpegtsraw", "mpeg", "mpegvideo")


@dataclass
class StreamInfo:
    index: int
    type: str                   # video | audio | subtitle | data | attachment
    codec: str | None
    profile: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    rotation: int = 0
    sample_rate: int | None = None
    channels: int | None = None
    bit_rate: int | None = None
    time_base: Fraction | None = None
    attached_pic: bool = False


@dataclass
class PacketTimes:
    """One stream's packets in demux order; times in seconds, NaN where the packet had none."""
    pts: np.ndarray
    dts: np.ndarray
    duration: np.ndarray
    key: np.ndarray
    pos: np.ndarray
    size: np.ndarray
    corrupt: int = 0


@dataclass
class MediaInfo:
    format_name: str
    format_long: str
    duration_s: float | None
    start_s: float | None
    bit_rate: int | None
    tags: dict[str, str]
    streams: list[StreamInfo]
    packets: dict[int, PacketTimes] = field(default_factory=dict)
    demux_error: str | None = None     # set when demuxing stopped early on an error
    file_size: int = 0


# For indexed containers (MP4/MOV) every stream fact is in the index: probing packets is waste.
INDEXED_PROBE = {"probesize": "32", "analyzeduration": "0", "fpsprobesize": "0"}


def open_input(path: Path, *, skip_probe_decode: bool = True, indexed: bool = False):
    """Open a container for reading; optionally without the probe decode of a frame.

    ``skip_frame=all`` makes the probe in avformat_find_stream_info discard frames instead of
    decoding them (about 40 ms saved per 1080p file); stream dimensions still come from the
    container and the parsers. ``indexed`` also skips reading packets to probe (MP4/MOV):
    about 5 ms less CPU a file.
    """
    options = {"skip_frame": "all", "threads": "1"} if skip_probe_decode else None
    return av.open(str(path), options=options, container_options=INDEXED_PROBE if indexed else None,
                   metadata_errors="replace")


def _incomplete(container) -> bool:
    """True when a cheap open left stream facts unknown (e.g. MPEG-4 Part 2 sizes in 3GP)."""
    for s in container.streams:
        cc = s.codec_context
        if cc is None:
            continue
        if s.type == "video" and not (cc.width and cc.height):
            return True
        if s.type == "audio" and not cc.sample_rate:
            return True
    return False


def is_indexed(format_name: str) -> bool:
    """The demuxer reads an MP4/MOV index: every stream fact is in it (see ``INDEXED_PROBE``)."""
    return any(name in format_name.split(",") for name in ISO_FORMATS)


def open_checked(path: Path, *, skip_probe_decode: bool = True, indexed: bool = False):
    """``open_input``; for an indexed file, opened again with a full probe when the index left a
    stream's size or rate unknown."""
    container = open_input(path, skip_probe_decode=skip_probe_decode, indexed=indexed)
    if indexed and _incomplete(container):
        container.close()
        container = open_input(path, skip_probe_decode=skip_probe_decode)
    return container


def _stream_info(stream, rotations: list[int]) -> StreamInfo:
    cc = stream.codec_context
    info = StreamInfo(
        index=stream.index,
        type=stream.type,
        codec=cc.codec.canonical_name if cc is not None else None,
        profile=getattr(stream, "profile", None),
        time_base=stream.time_base,
        bit_rate=(cc.bit_rate or None) if cc is not None else None,
    )
    if stream.type == "video":
        info.width = cc.width or None
        info.height = cc.height or None
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        info.fps = float(rate) if rate else None
        info.attached_pic = bool(stream.disposition & av.stream.Disposition.attached_pic)
        if stream.index < len(rotations):
            info.rotation = rotations[stream.index]
    elif stream.type == "audio":
        info.sample_rate = cc.sample_rate or None
        info.channels = cc.channels or None
    return info


def demux(path: Path, *, skip_probe_decode: bool = True, indexed: bool = False) -> MediaInfo:
    """Read every packet header of ``path`` (no decoding). Raises only if it cannot be opened.

    ``indexed``: the file claims to be MP4/MOV, whose index holds what probing would find.
    """
    path = Path(path)
    with open_checked(path, skip_probe_decode=skip_probe_decode, indexed=indexed) as container:
        fmt = container.format
        moov = isobmff.read_moov(path) if is_indexed(fmt.name) else None
        info = MediaInfo(
            format_name=fmt.name,
            format_long=fmt.long_name,
            duration_s=container.duration / 1e6 if container.duration is not None else None,
            start_s=container.start_time / 1e6 if container.start_time is not None else None,
            bit_rate=container.bit_rate or None,
            tags=dict(container.metadata),
            streams=[_stream_info(s, moov.rotations if moov else []) for s in container.streams],
            file_size=path.stat().st_size,
        )
        from_index = _index_packets(container, moov, info.file_size)
        if from_index is not None:
            info.packets = from_index
        else:
            _read_packets(container, info)
    unwrap_timestamps(info)
    return info


# Codecs the MP4/MOV demuxer hands out sample by sample, as the index lists them (no parser
# re-cuts their packets): their packet times can be taken from the index without reading a byte.
INDEX_CODECS = ("h264", "hevc", "aac", "data")      # data: timed metadata (GPS, timecode), no codec


def _codec(stream) -> str | None:
    if stream.type == "data":
        return "data"
    cc = stream.codec_context
    return cc.codec.canonical_name if cc is not None else None


def _index_packets(container, moov: isobmff.Moov | None, file_size: int) -> dict[int, PacketTimes] | None:
    """Packet times of an MP4/MOV read from its index alone, exactly as reading every packet gives
    them; None unless the file is simple enough for that to be certain. The MP4/MOV demuxer sets a
    packet's times from its index entry: DTS the entry's, PTS the same when the track has no
    composition offsets (ctts), duration the sample's own (stts). Reading the packets costs ~30 ms
    a minute of 1080p (every byte goes through FFmpeg); this, a few ms. Anything else (B-frames,
    fragments, several sample descriptions, constant-size samples, other codecs, an edit list that
    drops samples, a sample beyond the end of the file or empty) is read."""
    streams = list(container.streams)
    if (moov is None or not is_indexed(container.format.name) or moov.fragmented
            or len(streams) != len(moov.tracks)):
        return None
    packets = {}
    for stream, track in zip(streams, moov.tracks):
        if (_codec(stream) not in INDEX_CODECS or track.composition_offsets
                or track.descriptions != 1 or track.sample_size != 0 or not stream.time_base):
            return None
        entries = stream.index_entries
        n = len(entries)
        if n != track.samples or n != track.timed_samples:
            return None
        dts = np.empty(n, dtype=np.int64)
        pos = np.empty(n, dtype=np.int64)
        size = np.empty(n, dtype=np.int64)
        key = np.empty(n, dtype=bool)
        for i, entry in enumerate(entries):
            dts[i], pos[i], size[i], key[i] = entry.timestamp, entry.pos, entry.size, entry.is_keyframe
        duration = np.repeat(np.array([d for _c, d in track.durations], dtype=np.int64),
                             np.array([c for c, _d in track.durations], dtype=np.int64))
        if n and (pos.min() < 0 or size.min() <= 0 or (pos + size).max() > file_size or duration.min() <= 0):
            return None
        tb = float(stream.time_base)
        times = dts * tb
        packets[stream.index] = PacketTimes(pts=times, dts=times.copy(), duration=duration * tb, key=key,
                                            pos=pos, size=size)
    return packets


def _read_packets(container, info: MediaInfo) -> None:
    """Every packet header, read in demux order (the packets' bytes are read too: FFmpeg has no other way)."""
    columns = {s.index: ([], [], [], [], [], [], [0]) for s in container.streams}
    bases = {s.index: float(s.time_base) if s.time_base else 0.0 for s in container.streams}
    nan = float("nan")
    try:
        for packet in container.demux():
            if packet.size == 0 and packet.pts is None:
                continue                      # the flush packet at the end of each stream
            idx = packet.stream_index
            pts, dts, dur = packet.pts, packet.dts, packet.duration
            col = columns[idx]
            tb = bases[idx]
            col[0].append(pts * tb if pts is not None else nan)
            col[1].append(dts * tb if dts is not None else nan)
            col[2].append(dur * tb if dur else nan)
            col[3].append(packet.is_keyframe)
            col[4].append(packet.pos if packet.pos is not None else -1)
            col[5].append(packet.size)
            if packet.is_corrupt:
                col[6][0] += 1
    except MediaError as exc:
        info.demux_error = _("demux stopped: {why}").format(why=describe_error(exc))
    for idx, (pts, dts, dur, key, pos, size, corrupt) in columns.items():
        info.packets[idx] = PacketTimes(
            pts=np.asarray(pts, dtype=np.float64),
            dts=np.asarray(dts, dtype=np.float64),
            duration=np.asarray(dur, dtype=np.float64),
            key=np.asarray(key, dtype=bool),
            pos=np.asarray(pos, dtype=np.int64),
            size=np.asarray(size, dtype=np.int64),
            corrupt=corrupt[0],
        )


def _unwrap(t: np.ndarray) -> np.ndarray:
    """Undo 33-bit wraps in one stream: a step of more than half the range is a wrap."""
    ok = np.flatnonzero(np.isfinite(t))
    if len(ok) < 2:
        return t
    values = t[ok]
    steps = np.diff(values)
    fix = np.where(steps < -TS_WRAP_S / 2, TS_WRAP_S, np.where(steps > TS_WRAP_S / 2, -TS_WRAP_S, 0.0))
    out = t.copy()
    out[ok] = np.concatenate([values[:1], values[1:] + np.cumsum(fix)])
    return out


def _first(t: np.ndarray) -> float | None:
    ok = t[np.isfinite(t)]
    return float(ok[0]) if len(ok) else None


def _near(value: float, anchor: float) -> float:
    """The whole number of wraps that brings ``value`` next to ``anchor``, in seconds."""
    return round((anchor - value) / TS_WRAP_S) * TS_WRAP_S


def unwrap_timestamps(info: MediaInfo) -> None:
    """Make a wrapping container's timestamps continuous: DTS next to PTS, streams next to the
    first video stream. Every reader of ``MediaInfo`` then sees one clock."""
    if not any(name in info.format_name.split(",") for name in WRAPPING_FORMATS):
        return
    firsts = {}
    for idx, t in info.packets.items():
        t.pts, t.dts = _unwrap(t.pts), _unwrap(t.dts)
        p0, d0 = _first(t.pts), _first(t.dts)
        if p0 is not None and d0 is not None:
            t.dts = t.dts + _near(d0, p0)
        first = p0 if p0 is not None else d0
        if first is not None:
            firsts[idx] = first
    if not firsts:
        return
    video = [s.index for s in info.streams if s.type == "video" and s.index in firsts]
    anchor = firsts[video[0] if video else next(iter(firsts))]
    for idx, first in firsts.items():
        shift = _near(first, anchor)
        if shift:
            t = info.packets[idx]
            t.pts, t.dts = t.pts + shift, t.dts + shift


def describe_error(exc: BaseException) -> str:
    """A one-line readable description of an FFmpeg or OS error."""
    if isinstance(exc, av.error.FFmpegError):
        text = exc.strerror or type(exc).__name__
        return f"{text} (FFmpeg {type(exc).__name__}, code {exc.errno})"
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc} (errno {exc.errno})"
    return f"{type(exc).__name__}: {exc}"
