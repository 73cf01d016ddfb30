"""The clip spec and the timestamp rule: what write_clip encodes and the pts and keyframes it gives.

Timestamp rule (what :func:`expected_keyframes` and :func:`expected_pts`
reproduce exactly):

* Media time of video frame ``i`` is ``i / fps``; of an audio packet, the
  encoder's pts (first sample, minus the AAC priming) over ``audio_rate``. So
  audio jumps at the first packet at/after ``at_media_s``: within one audio
  frame of the video.
* Written time = media time + ``start_pts_s`` + every ``jump_s`` whose
  ``at_media_s <= media time`` (decided on the packet's pts, so a packet's
  pts and dts shift together).
* Ticks = round-half-up(written time / stream time base), using exact
  decimal fractions of the float arguments, in the time base the muxer keeps:
  mp4/mov/ipod video 1/90000, audio 1/audio_rate; mpegts 1/90000;
  matroska 1/1000; avi video 1/fps.
* AVI stores no pts (and takes no start_pts_s, pts_jumps or B-frames): for
  H.264 libavformat reports pts = dts + 1 frame, i.e. frame ``i`` at (i+1)/fps.
* Backward jumps exist only in MPEG-TS: each one starts another TS muxer
  and the parts are concatenated, as when recordings are joined.
* MPEG-TS only: libavformat's mpegts muxer adds ``2 * max_delay`` to every
  pts/dts. ``ClipSpec.ts_muxdelay_s`` sets max_delay (default 0.7 s, the
  ffmpeg CLI ``-muxdelay`` default), so TS timestamps start at 1.4 s + the
  written time. Without that delay negative timestamps (AAC priming, B-frame
  dts) would have to be shifted by an encoder-dependent amount.

Keyframes: every ``round(gop_s * fps)`` frames (x264/x265 with scene cut
off). With ``bframes > 0`` a keyframe is also forced at every pts jump (closed
GOP, so no reference crosses the jump and dts stays monotonic); the regular
cadence restarts from there. mjpeg is intra only: every frame is a keyframe.

Rotation: ``ClipSpec.rotation`` is the clockwise rotation a player applies,
like the legacy ``rotate`` tag and EXIF orientation 6 (= 90). PyAV's
``VideoFrame.rotation`` reports the display matrix counter-clockwise in
[-180, 180], so rotation 90 reads back as -90, 180 as -180 and 270 as 90.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

import av

__all__ = [
    "ClipSpec",
    "EncoderMissing",
    "expected_keyframes",
    "expected_pts",
    "require_encoder",
    "stream_time_base",
]


@dataclass(frozen=True)
class ClipSpec:
    """What :func:`write_clip` encodes. Times are seconds."""

    container: str = "mp4"  # mp4, mov, mpegts, avi, matroska (+ audio only: ipod, adts, mp3, wav)
    video_codec: str | None = "libx264"  # libx264, mjpeg, libx265/hevc; None = audio only
    audio_codec: str | None = "aac"  # aac, pcm_s16le, mp3; None = no audio
    width: int = 160
    height: int = 120
    fps: int = 30
    duration_s: float = 2.0
    gop_s: float = 1.0
    bframes: int = 0
    rotation: int = 0  # clockwise degrees for display: 0, 90, 180, 270
    noise: bool = False
    colour: tuple[int, int, int] | None = None  # RGB tint of the picture (its chroma); None: varies with seed
    bitrate: int | None = None
    creation_time: str | None = None
    start_pts_s: float = 0.0
    pts_jumps: tuple[tuple[float, float], ...] = ()
    audio_rate: int = 48000
    audio_channels: int = 1
    audio_bitrate: int = 64000
    metadata: dict[str, str] = field(default_factory=dict, hash=False)  # hash=False: specs stay hashable
    preset: str = "veryfast"  # x264/x265 speed; bench corpora are large
    seed: int = 0  # picture, noise field and tone phase: distinct recordings need distinct seeds
    ts_muxdelay_s: float = 0.7  # mpegts max_delay; timestamps gain twice this
    faststart: bool = False  # mp4/mov/ipod: index (moov) before the media data, so a cut copy keeps it


class EncoderMissing(RuntimeError):
    """The FFmpeg build behind PyAV lacks the requested encoder."""


# Container name -> libavformat muxer name.
FORMATS = {
    "mp4": "mp4",
    "mov": "mov",
    "mpegts": "mpegts",
    "ts": "mpegts",
    "avi": "avi",
    "matroska": "matroska",
    "mkv": "matroska",
    "ipod": "ipod",
    "m4a": "ipod",
    "adts": "adts",
    "mp3": "mp3",
    "wav": "wav",
}
_ENCODERS = {"hevc": "libx265", "h265": "libx265", "h264": "libx264", "mp3": "libmp3lame"}
INTRA_ONLY = {"mjpeg"}
# Containers whose timestamps we set exactly; the rest store no timestamps.
TIMED = {"mp4", "mov", "ipod", "mpegts", "matroska"}
# AVI timestamps are frame counts; keep audio priming from shifting them.
UNSHIFTED = TIMED | {"avi"}


# ---------------------------------------------------------------- timing


def frac(x: float | int | Fraction) -> Fraction:
    """Exact fraction of a time argument."""
    # str() gives the shortest decimal, so 0.1 s means exactly 1/10 s.
    return x if isinstance(x, Fraction) else Fraction(str(x))


def round_half_up(x: Fraction) -> int:
    """Round half up, deterministic for negative values too."""
    return math.floor(x + Fraction(1, 2))


def muxer_format(spec: ClipSpec) -> str:
    """libavformat muxer name of ``spec.container``."""
    try:
        return FORMATS[spec.container]
    except KeyError:
        raise ValueError(f"unknown container {spec.container!r}") from None


def stream_time_base(spec: ClipSpec, kind: str = "video") -> Fraction:
    """Time base the muxer keeps for ``kind`` ("video"/"audio"); write_clip checks it."""
    fmt = muxer_format(spec)
    if fmt == "mpegts":
        return Fraction(1, 90000)
    if fmt == "matroska":
        return Fraction(1, 1000)
    if kind == "video":
        return Fraction(1, 90000) if fmt in ("mp4", "mov") else Fraction(1, spec.fps)
    return Fraction(1, spec.audio_rate)


def _muxer_offset_ticks(spec: ClipSpec) -> int:
    """Ticks the muxer itself adds (mpegts: 2 * max_delay, rescaled like libavformat)."""
    if muxer_format(spec) != "mpegts":
        return 0
    return 2 * round_half_up(Fraction(max_delay_us(spec) * 90000, 1_000_000))


def max_delay_us(spec: ClipSpec) -> int:
    return round_half_up(frac(spec.ts_muxdelay_s) * 1_000_000)


class Timeline:
    """Maps media time (what was captured) to written time (what the file says)."""

    def __init__(self, spec: ClipSpec) -> None:
        self.start = frac(spec.start_pts_s)
        self.jumps = sorted((frac(at), frac(j)) for at, j in spec.pts_jumps)

    def shift(self, media: Fraction) -> Fraction:
        return self.start + sum((j for at, j in self.jumps if media >= at), Fraction(0))

    def segment(self, media: Fraction) -> int:
        # Backward jumps need a fresh muxer each (see _Sink).
        return sum(1 for at, j in self.jumps if j < 0 and media >= at)

    @property
    def segments(self) -> int:
        return 1 + sum(1 for _, j in self.jumps if j < 0)


def n_frames(spec: ClipSpec) -> int:
    return max(1, round_half_up(frac(spec.duration_s) * spec.fps))


def n_samples(spec: ClipSpec) -> int:
    return max(1, round_half_up(frac(spec.duration_s) * spec.audio_rate))


def gop_frames(spec: ClipSpec) -> int:
    return max(1, round_half_up(frac(spec.gop_s) * spec.fps))


def forced_keyframes(spec: ClipSpec) -> set[int]:
    """Frames where a keyframe is forced: the first frame at/after each jump (B-frames only)."""
    if spec.bframes <= 0:
        return set()
    n = n_frames(spec)
    forced = set()
    for at, _ in spec.pts_jumps:
        i = math.ceil(frac(at) * spec.fps)
        if 0 < i < n:
            forced.add(i)
    return forced


def _keyframe_indices(spec: ClipSpec) -> list[int]:
    n = n_frames(spec)
    if encoder_name(spec.video_codec or "") in INTRA_ONLY:
        return list(range(n))
    gop, forced = gop_frames(spec), sorted(forced_keyframes(spec))
    out, last = [0], 0
    while True:
        # The encoder's keyint counter restarts at every keyframe, forced or not.
        nxt = min([last + gop] + [f for f in forced if f > last])
        if nxt >= n:
            return out
        out.append(nxt)
        last = nxt


def expected_pts(spec: ClipSpec, media_s: float | Fraction, kind: str = "video") -> float:
    """Demuxed pts (seconds) of the packet captured at ``media_s``; see the module rule."""
    tb = stream_time_base(spec, kind)
    media = frac(media_s)
    ticks = round_half_up((media + Timeline(spec).shift(media)) / tb) + _muxer_offset_ticks(spec)
    if muxer_format(spec) == "avi" and kind == "video" and encoder_name(spec.video_codec or "") not in INTRA_ONLY:
        # AVI stores no pts; for H.264 libavformat reports dts + 1 frame as pts.
        ticks += 1
    return float(ticks * tb)


def expected_keyframes(spec: ClipSpec) -> list[float]:
    """Keyframe pts in seconds, exactly as ``packet.pts * time_base`` demuxes (within 1e-9)."""
    if spec.video_codec is None:
        return []
    return [expected_pts(spec, Fraction(i, spec.fps)) for i in _keyframe_indices(spec)]


# ---------------------------------------------------------------- validation


def encoder_name(codec: str) -> str:
    """libavcodec encoder name of a codec alias (hevc -> libx265, ...)."""
    return _ENCODERS.get(codec, codec)


def require_encoder(codec: str) -> str:
    """The encoder name, or EncoderMissing when this FFmpeg build lacks it."""
    name = encoder_name(codec)
    try:
        av.codec.Codec(name, "w")
    except Exception as exc:  # UnknownCodecError and friends
        raise EncoderMissing(f"encoder {name!r} not available in this FFmpeg build") from exc
    return name


def check_spec(spec: ClipSpec) -> None:
    """Raise ValueError (or EncoderMissing) for a spec write_clip cannot honour."""
    fmt = muxer_format(spec)
    if spec.video_codec is None and spec.audio_codec is None:
        raise ValueError("a clip needs video, audio or both")
    for codec in (spec.video_codec, spec.audio_codec):
        if codec is not None:
            require_encoder(codec)
    if spec.video_codec is not None:
        if spec.width % 2 or spec.height % 2 or spec.width <= 0 or spec.height <= 0:
            raise ValueError("width and height must be positive and even (yuv420p)")
        if spec.rotation % 90:
            raise ValueError("rotation must be a multiple of 90")
        if fmt == "avi" and spec.bframes > 0:
            raise ValueError("AVI cannot carry B-frame reordering (it stores no pts)")
    if spec.fps <= 0 or spec.duration_s <= 0 or spec.start_pts_s < 0:
        raise ValueError("fps and duration_s must be > 0, start_pts_s >= 0")
    if spec.colour is not None and (len(spec.colour) != 3 or not all(0 <= c <= 255 for c in spec.colour)):
        raise ValueError("colour must be an (R, G, B) tuple of 0..255")
    if spec.faststart and fmt not in ("mp4", "mov", "ipod"):
        raise ValueError(f"faststart moves an MP4/MOV index; {spec.container} has none")
    if fmt not in TIMED and (spec.start_pts_s or spec.pts_jumps):
        raise ValueError(f"{spec.container} stores no timestamps: no start_pts_s/pts_jumps")
    timeline = Timeline(spec)
    for at, jump in timeline.jumps:
        if not 0 < at < frac(spec.duration_s):
            raise ValueError(f"jump at {at} s is outside the clip")
        if jump < 0 and fmt != "mpegts":
            # mp4/mkv store durations or need monotonic dts; only TS can step back.
            raise ValueError("backward pts jumps need container='mpegts'")
        if at + timeline.shift(at) < 0:
            raise ValueError("a backward jump may not take timestamps below 0")
