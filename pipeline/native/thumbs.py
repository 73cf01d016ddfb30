"""Decode chosen keyframes only (seek, one packet, drain) and turn them into small preview images.

Decoding is the whole cost of a thumbnail, so nothing here decodes a frame that is not wanted:
for each chosen keyframe the demuxer seeks to it, the keyframe's packet alone goes to the decoder,
the decoder is drained (so delayed-output codecs hand that one frame back) and reset. The decoder
is also told to skip non-key frames, to skip the loop filter and to take non-compliant shortcuts:
for a 320-pixel preview the difference is invisible and the decode is cheaper.
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import av
import av.video.reformatter
from PIL import Image, ImageOps
# The WebP encoder registered now: without it, the first WebP save makes Pillow import every one of
# its ~40 image plugins (``Image.init``), 0.03-0.05 CPU s inside a worker's first file.
from PIL import WebPImagePlugin  # noqa: F401

from pipeline.common.i18n import _
from pipeline.native import media

# Targets closer than this after the last packet read are reached by reading on, not by seeking.
READ_ON_S = 2.0
# Matching a packet to a keyframe time from the demux pass (same arithmetic, so exact in practice).
PTS_TOLERANCE_S = 1e-6
# Decoders that can decode at 1/2, 1/4 or 1/8 size directly (far cheaper than full size + scaling).
LOWRES_CODECS = ("mjpeg", "jpeg2000")
# A keyframe packet that gives no picture alone is retried with this many packets after it.
FOLLOW_PACKETS = 3
TRANSPOSE = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}
FORMATS = ("webp", "jpeg")

DecodeError = (av.error.FFmpegError, OSError, ValueError, MemoryError)


@dataclass(frozen=True)
class Preview:
    pts_s: float
    image: Image.Image            # RGB, upright, long side at most max_side


Keep = Callable[[Preview], None]


@dataclass
class KeyframeDecode:
    previews: list[Preview] = field(default_factory=list)   # unless a ``keep`` took them
    pictures: int = 0             # chosen keyframes that gave a good picture
    frames_decoded: int = 0       # frames the decoder handed out (exactly one per chosen keyframe)
    errors: int = 0               # chosen keyframes that did not give a picture
    first_error: str | None = None
    seeks: int = 0

    def fail(self, pts_s: float, reason: str) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = _("keyframe at {at} s: {reason}").format(at=f"{pts_s:.3f}", reason=reason)


def fit(width: int, height: int, max_side: int) -> tuple[int, int]:
    """The size that keeps the aspect ratio with the long side at most ``max_side`` (never larger)."""
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def upright(image: Image.Image, rotation: int) -> Image.Image:
    """Rotate counter-clockwise by ``rotation`` degrees (FFmpeg display-matrix convention)."""
    quarter = (round(rotation / 90) * 90) % 360
    return image.transpose(TRANSPOSE[quarter]) if quarter else image


def _configure(stream, *, fast: bool, width: int, height: int, max_side: int) -> None:
    decoder = stream.codec_context
    decoder.skip_frame = "NONKEY"
    decoder.thread_count = 1          # one frame at a time: threads add CPU, not throughput (Ray does that)
    options = {}
    if fast:
        options = {"skip_loop_filter": "all", "flags2": "+fast"}
        if decoder.name in LOWRES_CODECS and width and height:
            target = fit(width, height, max_side)
            lowres = 0
            while lowres < 3 and (width >> (lowres + 1)) >= target[0] and (height >> (lowres + 1)) >= target[1]:
                lowres += 1
            if lowres:
                options["lowres"] = str(lowres)
    decoder.options = options


class _KeyframeReader:
    """Finds the packets of given keyframes, in increasing time, seeking or reading on."""

    def __init__(self, container, stream, *, seek: bool):
        self.container, self.stream, self.seek = container, stream, seek
        self.tb = float(stream.time_base)
        self.packets = None
        self.held = None              # a packet read past one target that may be the next one
        self.last = -math.inf
        self.seeks = 0

    def find(self, target: float):
        """The keyframe packet at ``target``, or None when the stream went past it (or ended)."""
        if self.seek and (self.packets is None or target - self.last > READ_ON_S):
            self.container.seek(int(round(target / self.tb)), stream=self.stream, backward=True, any_frame=False)
            self.packets, self.held = self.container.demux(self.stream), None
            self.seeks += 1
        elif self.packets is None:
            self.packets = self.container.demux(self.stream)
        while True:
            packet, self.held = self.held or next(self.packets, None), None
            if packet is None:
                return None
            ts = packet.pts if packet.pts is not None else packet.dts
            if ts is None:
                if packet.size == 0:
                    return None       # the flush packet: end of stream
                continue
            self.last = t = ts * self.tb
            if not packet.is_keyframe:
                continue
            if abs(t - target) <= PTS_TOLERANCE_S:
                return packet
            if t > target:
                self.held = packet
                return None

    def following(self, limit: int):
        """Up to ``limit`` packets after the one just found, stopping before the next keyframe."""
        for _step in range(limit):
            packet = next(self.packets, None)
            if packet is None or packet.size == 0:
                return
            if packet.is_keyframe:
                self.held = packet
                return
            yield packet


def _seconds(frame) -> float:
    ts = frame.pts if frame.pts is not None else frame.dts
    return ts * float(frame.time_base) if ts is not None and frame.time_base else math.inf


def _decodable(packet):
    """The packet itself, or a copy without the edit list's discard flag.

    Keyframes before the start of an edit list are flagged discard and decoders drop their
    pictures; such a keyframe may be the only one near the start, and as a preview it is fine.
    """
    if not packet.is_discard:
        return packet
    copy = av.Packet(bytes(packet))
    copy.pts, copy.dts, copy.time_base, copy.is_keyframe = packet.pts, packet.dts, packet.time_base, True
    return copy


def _decode(decoder, packets) -> list:
    """The frames of these packets alone: send them, drain the decoder, reset it for the next ones."""
    try:
        frames = []
        for packet in packets:
            frames += decoder.decode(packet)
        return frames + list(decoder.decode(None))
    finally:
        decoder.flush_buffers()


def _decode_keyframe(decoder, packet, reader: "_KeyframeReader") -> list:
    """Frames from the keyframe's packet; if it holds only half a picture (one field of an
    interlaced frame, as AVCHD stores them), again with the few packets that follow it."""
    packet = _decodable(packet)
    frames = _decode(decoder, [packet])
    if not frames:
        frames = _decode(decoder, [packet, *reader.following(FOLLOW_PACKETS)])
    return frames


class _Scaler:
    """Frame to small upright RGB picture. Keeps its two swscale contexts: building one for a
    1080p source costs more than using it, and ``frame.reformat`` builds one per frame."""

    def __init__(self, max_side: int, rotation: int, aspect: float):
        self.max_side, self.rotation, self.aspect = max_side, rotation, aspect
        self.scale = av.video.reformatter.VideoReformatter()
        self.convert = av.video.reformatter.VideoReformatter()

    def __call__(self, frame) -> Image.Image:
        width, height = fit(round(frame.width * self.aspect), frame.height, self.max_side)
        # Scaling in the decoder's own pixel format, then converting the small picture, costs half
        # of scaling and converting in one step (0.5 + 0.2 ms against 1.1 ms from 1080p).
        small = self.scale.reformat(frame, width=width, height=height, interpolation="AREA")
        rgb = self.convert.reformat(small, format="rgb24")
        return upright(rgb.to_image(), frame.rotation % 360 or self.rotation)


def _decode_pass(path: Path, stream_index: int, targets: list[float], result: KeyframeDecode, *,
                 seek: bool, max_side: int, rotation: int, fast: bool, previews: bool,
                 keep: Keep, indexed: bool) -> list[float]:
    """Decode the keyframes at ``targets``; return those a seeking pass should leave to a sequential one."""
    try:
        container = media.open_checked(path, indexed=indexed)
    except DecodeError as exc:
        for target in targets:
            result.fail(target, _("cannot open: {why}").format(why=media.describe_error(exc)))
        return []
    with container:
        stream = container.streams[stream_index]
        decoder = stream.codec_context
        _configure(stream, fast=fast, width=decoder.width, height=decoder.height, max_side=max_side)
        sar = decoder.sample_aspect_ratio
        scaler = _Scaler(max_side, rotation, float(sar) if sar else 1.0)
        reader = _KeyframeReader(container, stream, seek=seek)
        try:
            for i, target in enumerate(targets):
                try:
                    packet = reader.find(target)
                except DecodeError as exc:
                    if seek:
                        return targets[i:]
                    for rest in targets[i:]:
                        result.fail(rest, _("demuxing stopped: {why}").format(why=media.describe_error(exc)))
                    return []
                if packet is None:
                    if seek:
                        return targets[i:]   # the index misled the seek: read the rest in order
                    result.fail(target, _("its packet was not found when the file was read again"))
                    continue
                try:
                    frames = _decode_keyframe(decoder, packet, reader)
                except DecodeError as exc:
                    result.fail(target, media.describe_error(exc))
                    continue
                result.frames_decoded += len(frames)
                good = sorted((f for f in frames if not f.is_corrupt), key=lambda f: abs(_seconds(f) - target))
                if not good:
                    result.fail(target, _("the decoder flagged the picture corrupt") if frames
                                else _("the decoder gave no picture"))
                    continue
                if previews:
                    try:
                        image = scaler(good[0])
                    except DecodeError as exc:
                        result.fail(target, _("cannot convert the picture: {why}").format(
                            why=media.describe_error(exc)))
                        continue
                    keep(Preview(target, image))
                result.pictures += 1
        finally:
            result.seeks += reader.seeks
    return []


def decode_keyframes(path: Path, stream_index: int, pts_s: Sequence[float], *, max_side: int,
                     rotation: int = 0, fast: bool = True, previews: bool = True, keep: Keep | None = None,
                     seek: bool = True, indexed: bool = False) -> KeyframeDecode:
    """Decode exactly the keyframes at ``pts_s`` (seconds, from the demux pass) into previews:
    small upright pictures in ``result.previews``, or handed to ``keep`` as soon as each is made
    (an hour of footage gives 360; the stage encodes them at once rather than hold them all).

    A keyframe that fails to decode is counted and skipped; the others are still decoded.
    ``rotation`` (counter-clockwise degrees) is used when frames carry no display matrix.
    With ``previews=False`` frames are decoded and dropped (the bare-decode baseline of the bench);
    with ``seek=False`` the file is read in order instead (every packet demuxed, the chosen decoded).
    ``indexed``: the file is MP4/MOV (``media.is_indexed``), opened from its index without probing
    packets (6-7 ms less CPU a 1080p file).
    """
    result = KeyframeDecode()
    options = dict(max_side=max_side, rotation=rotation, fast=fast, previews=previews,
                   keep=keep or result.previews.append, indexed=indexed)
    targets = sorted({float(p) for p in pts_s if math.isfinite(p)})
    left = _decode_pass(Path(path), stream_index, targets, result, seek=seek, **options)
    if left and seek:
        _decode_pass(Path(path), stream_index, left, result, seek=False, **options)
    return result


def prefetch(path: Path, ranges) -> int:
    """Ask the kernel to start reading these ``(offset, size)`` byte ranges of ``path`` now, all
    at once (the chosen keyframes' packets, from the demux pass): a copy written with direct I/O
    is not in the page cache, and reading its keyframes one seek at a time would leave the CPU
    waiting on each. A hint only; returns how many ranges were asked for."""
    if not hasattr(os, "posix_fadvise"):
        return 0
    asked = 0
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return 0
    try:
        for offset, size in ranges:
            if offset >= 0 and size > 0:
                try:
                    os.posix_fadvise(fd, int(offset), int(size), os.POSIX_FADV_WILLNEED)
                    asked += 1
                except OSError:
                    pass
    finally:
        os.close(fd)
    return asked


def photo_preview(path: Path, max_side: int) -> Image.Image:
    """A photo reduced to ``max_side`` and turned upright by its EXIF orientation.

    JPEGs are decoded at 1/2..1/8 size directly (``draft``), which is most of the saving.
    Raises one of ``images.ImageError`` when the file is not a readable image.
    """
    with Image.open(path) as img:
        img.draft("RGB", (max_side, max_side))
        img = ImageOps.exif_transpose(img).convert("RGB")
        img.thumbnail((max_side, max_side), Image.Resampling.BILINEAR, reducing_gap=2.0)
        return img


def encode(image: Image.Image, fmt: str, quality: int, webp_method: int = 0) -> bytes:
    """WebP or JPEG bytes of ``image``."""
    out = io.BytesIO()
    if fmt == "webp":
        image.save(out, "WEBP", quality=quality, method=webp_method)
    elif fmt == "jpeg":
        image.save(out, "JPEG", quality=quality, optimize=False)
    else:
        raise ValueError(_("unknown thumbnail format {fmt!r} (known: {known})").format(
            fmt=fmt, known=", ".join(FORMATS)))
    return out.getvalue()
