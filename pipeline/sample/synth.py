"""Encode small, real media files with PyAV for tests, the demo and benchmarks.

Everything here really encodes (libx264, libx265, mjpeg, aac, mp3, pcm) and
muxes through libavformat, so the files exercise the same demux and decode
paths as camera footage. Broken inputs (cut files, files without ``moov``,
corrupted keyframes) are derived from good ones by editing bytes.

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

Determinism: equal specs give equal bytes (checked for x264, x265, mjpeg in
mp4/mov/mpegts/matroska). That needs x264's mbtree off when B-frames are on
and matroska's bitexact flag (else its SegmentUID is random).

Rotation: ``ClipSpec.rotation`` is the clockwise rotation a player applies,
like the legacy ``rotate`` tag and EXIF orientation 6 (= 90). PyAV's
``VideoFrame.rotation`` reports the display matrix counter-clockwise in
[-180, 180], so rotation 90 reads back as -90, 180 as -180 and 270 as 90.
"""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

__all__ = [
    "ClipSpec",
    "EncoderMissing",
    "corrupt_keyframe",
    "expected_keyframes",
    "expected_pts",
    "random_bytes",
    "remux",
    "stream_time_base",
    "top_level_boxes",
    "truncate",
    "write_audio",
    "write_clip",
    "write_jpeg",
    "write_no_moov",
    "write_wav",
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


class EncoderMissing(RuntimeError):
    """The FFmpeg build behind PyAV lacks the requested encoder."""


# Container name -> libavformat muxer name.
_FORMATS = {
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
_INTRA_ONLY = {"mjpeg"}
# Containers whose timestamps we set exactly; the rest store no timestamps.
_TIMED = {"mp4", "mov", "ipod", "mpegts", "matroska"}
# AVI timestamps are frame counts; keep audio priming from shifting them.
_UNSHIFTED = _TIMED | {"avi"}
_SUFFIX_FORMATS = {
    ".mp4": "mp4",
    ".mov": "mov",
    ".m4a": "ipod",
    ".ts": "mpegts",
    ".mkv": "matroska",
    ".mka": "matroska",
    ".avi": "avi",
    ".wav": "wav",
    ".aac": "adts",
    ".mp3": "mp3",
}


# ---------------------------------------------------------------- timing


def _frac(x: float | int | Fraction) -> Fraction:
    # str() gives the shortest decimal, so 0.1 s means exactly 1/10 s.
    return x if isinstance(x, Fraction) else Fraction(str(x))


def _round(x: Fraction) -> int:
    """Round half up, deterministic for negative values too."""
    return math.floor(x + Fraction(1, 2))


def _format(spec: ClipSpec) -> str:
    try:
        return _FORMATS[spec.container]
    except KeyError:
        raise ValueError(f"unknown container {spec.container!r}") from None


def stream_time_base(spec: ClipSpec, kind: str = "video") -> Fraction:
    """Time base the muxer keeps for ``kind`` ("video"/"audio"); write_clip checks it."""
    fmt = _format(spec)
    if fmt == "mpegts":
        return Fraction(1, 90000)
    if fmt == "matroska":
        return Fraction(1, 1000)
    if kind == "video":
        return Fraction(1, 90000) if fmt in ("mp4", "mov") else Fraction(1, spec.fps)
    return Fraction(1, spec.audio_rate)


def _muxer_offset_ticks(spec: ClipSpec) -> int:
    """Ticks the muxer itself adds (mpegts: 2 * max_delay, rescaled like libavformat)."""
    if _format(spec) != "mpegts":
        return 0
    return 2 * _round(Fraction(_max_delay_us(spec) * 90000, 1_000_000))


def _max_delay_us(spec: ClipSpec) -> int:
    return _round(_frac(spec.ts_muxdelay_s) * 1_000_000)


class _Timeline:
    """Maps media time (what was captured) to written time (what the file says)."""

    def __init__(self, spec: ClipSpec) -> None:
        self.start = _frac(spec.start_pts_s)
        self.jumps = sorted((_frac(at), _frac(j)) for at, j in spec.pts_jumps)

    def shift(self, media: Fraction) -> Fraction:
        return self.start + sum((j for at, j in self.jumps if media >= at), Fraction(0))

    def segment(self, media: Fraction) -> int:
        # Backward jumps need a fresh muxer each (see _Sink).
        return sum(1 for at, j in self.jumps if j < 0 and media >= at)

    @property
    def segments(self) -> int:
        return 1 + sum(1 for _, j in self.jumps if j < 0)


def _n_frames(spec: ClipSpec) -> int:
    return max(1, _round(_frac(spec.duration_s) * spec.fps))


def _n_samples(spec: ClipSpec) -> int:
    return max(1, _round(_frac(spec.duration_s) * spec.audio_rate))


def _gop(spec: ClipSpec) -> int:
    return max(1, _round(_frac(spec.gop_s) * spec.fps))


def _forced_keyframes(spec: ClipSpec) -> set[int]:
    """Frames where a keyframe is forced: the first frame at/after each jump (B-frames only)."""
    if spec.bframes <= 0:
        return set()
    n = _n_frames(spec)
    forced = set()
    for at, _ in spec.pts_jumps:
        i = math.ceil(_frac(at) * spec.fps)
        if 0 < i < n:
            forced.add(i)
    return forced


def _keyframe_indices(spec: ClipSpec) -> list[int]:
    n = _n_frames(spec)
    if _encoder_name(spec.video_codec or "") in _INTRA_ONLY:
        return list(range(n))
    gop, forced = _gop(spec), sorted(_forced_keyframes(spec))
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
    media = _frac(media_s)
    ticks = _round((media + _Timeline(spec).shift(media)) / tb) + _muxer_offset_ticks(spec)
    if _format(spec) == "avi" and kind == "video" and _encoder_name(spec.video_codec or "") not in _INTRA_ONLY:
        # AVI stores no pts; for H.264 libavformat reports dts + 1 frame as pts.
        ticks += 1
    return float(ticks * tb)


def expected_keyframes(spec: ClipSpec) -> list[float]:
    """Keyframe pts in seconds, exactly as ``packet.pts * time_base`` demuxes (within 1e-9)."""
    if spec.video_codec is None:
        return []
    return [expected_pts(spec, Fraction(i, spec.fps)) for i in _keyframe_indices(spec)]


# ---------------------------------------------------------------- validation


def _encoder_name(codec: str) -> str:
    return _ENCODERS.get(codec, codec)


def _require_encoder(codec: str) -> str:
    name = _encoder_name(codec)
    try:
        av.codec.Codec(name, "w")
    except Exception as exc:  # UnknownCodecError and friends
        raise EncoderMissing(f"encoder {name!r} not available in this FFmpeg build") from exc
    return name


def _check(spec: ClipSpec) -> None:
    fmt = _format(spec)
    if spec.video_codec is None and spec.audio_codec is None:
        raise ValueError("a clip needs video, audio or both")
    for codec in (spec.video_codec, spec.audio_codec):
        if codec is not None:
            _require_encoder(codec)
    if spec.video_codec is not None:
        if spec.width % 2 or spec.height % 2 or spec.width <= 0 or spec.height <= 0:
            raise ValueError("width and height must be positive and even (yuv420p)")
        if spec.rotation % 90:
            raise ValueError("rotation must be a multiple of 90")
        if fmt == "avi" and spec.bframes > 0:
            raise ValueError("AVI cannot carry B-frame reordering (it stores no pts)")
    if spec.fps <= 0 or spec.duration_s <= 0 or spec.start_pts_s < 0:
        raise ValueError("fps and duration_s must be > 0, start_pts_s >= 0")
    if fmt not in _TIMED and (spec.start_pts_s or spec.pts_jumps):
        raise ValueError(f"{spec.container} stores no timestamps: no start_pts_s/pts_jumps")
    timeline = _Timeline(spec)
    for at, jump in timeline.jumps:
        if not 0 < at < _frac(spec.duration_s):
            raise ValueError(f"jump at {at} s is outside the clip")
        if jump < 0 and fmt != "mpegts":
            # mp4/mkv store durations or need monotonic dts; only TS can step back.
            raise ValueError("backward pts jumps need container='mpegts'")
        if at + timeline.shift(at) < 0:
            raise ValueError("a backward jump may not take timestamps below 0")


# ---------------------------------------------------------------- pictures


class _Picture:
    """Frame source: a gradient with a moving box, plus optional sensor-like noise.

    Planes are precomputed once; a frame is a few slices and in-place adds,
    so numpy stays far below x264's cost even at 1080p.
    """

    _PAD = 64  # slack around noise fields so per-frame offsets are plain slices
    _AMP = 24  # each of two noise layers; base <= 200 keeps the sum below 255

    def __init__(self, width: int, height: int, noise: bool, seed: int) -> None:
        self.w, self.h = width, height
        x = np.arange(2 * width, dtype=np.float32)
        y = np.arange(height, dtype=np.float32)[:, None]
        # Two periods wide, so sliding a width-wide window moves the pattern.
        self.base = (16 + 140 * (x % width) / width + 44 * y / height).astype(np.uint8)
        self.buf = np.empty(width * height * 3 // 2, np.uint8)
        self.y = self.buf[: width * height].reshape(height, width)
        cw, ch = width // 2, height // 2
        self.u = self.buf[width * height : width * height + cw * ch].reshape(ch, cw)
        self.v = self.buf[width * height + cw * ch :].reshape(ch, cw)
        self.phase = 1009 * seed  # different seeds, different pictures
        self.noise = None
        if noise:
            rng = np.random.default_rng(seed)
            p = self._PAD
            self.noise = (
                rng.integers(0, self._AMP, (2, height + p, width + p), dtype=np.uint8),
                rng.integers(0, self._AMP // 2, (2, ch + p, cw + p), dtype=np.uint8),
            )

    def frame(self, i: int) -> np.ndarray:
        """yuv420p planes of frame ``i`` as the (h*3/2, w) array PyAV expects."""
        w, h = self.w, self.h
        j = i + self.phase
        s = (3 * j) % w
        np.copyto(self.y, self.base[:, s : s + w])
        box = max(2, h // 4)
        bx = (5 * j) % max(1, w - box)
        self.y[h // 3 : h // 3 + box, bx : bx + box] = 200
        self.u.fill(96 + (j % 64))
        self.v.fill(128 + (self.phase % 61))
        if self.noise is not None:
            self._add_noise(i)
        return self.buf.reshape(h * 3 // 2, w)

    def _add_noise(self, i: int) -> None:
        # Two layers sliding along different pseudo-random paths: their sum is
        # not a translation, so motion search cannot predict it away.
        luma, chroma = self.noise
        p = self._PAD
        offsets = [((37 * i) % p, (11 * i) % p), ((53 * i + 17) % p, (29 * i + 5) % p)]
        for layer, (dx, dy) in enumerate(offsets):
            np.add(self.y, luma[layer, dy : dy + self.h, dx : dx + self.w], out=self.y)
        ch, cw = self.u.shape
        for plane, paths in ((self.u, offsets), (self.v, offsets[::-1])):
            for layer, (dx, dy) in enumerate(paths):
                np.add(plane, chroma[layer, dy : dy + ch, dx : dx + cw], out=plane)


def _tone(start: int, count: int, rate: int, channels: int, seed: int) -> np.ndarray:
    """float32 (channels, count) sine tones; channel k one fifth above k-1."""
    t = (np.arange(start, start + count, dtype=np.float64) / rate)[None, :]
    freqs = 440.0 * 1.5 ** np.arange(channels, dtype=np.float64)[:, None]
    return (0.3 * np.sin(2 * np.pi * freqs * t + seed)).astype(np.float32)


def _audio_frame(samples: np.ndarray, fmt: str, layout: str) -> av.AudioFrame:
    """Wrap float samples in the sample format the encoder wants."""
    planar = fmt.endswith("p")
    kind = fmt.rstrip("p")
    if kind == "s16":
        samples = np.round(samples * 32767).astype(np.int16)
    elif kind == "s32":
        samples = np.round(samples.astype(np.float64) * 2147483647).astype(np.int32)
    if not planar:
        samples = samples.T.reshape(1, -1)  # interleaved
    return av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format=fmt, layout=layout)


_AUDIO_FORMAT_PREFERENCE = ("fltp", "flt", "s16p", "s16", "s32p", "s32")


# ---------------------------------------------------------------- encoding


def _video_options(spec: ClipSpec, encoder: str) -> dict[str, str]:
    gop, bf = _gop(spec), max(0, spec.bframes)
    if encoder == "libx264":
        # scenecut would add keyframes on noisy content and break the cadence.
        params = "scenecut=0"
        if bf:
            # With B-frames, x264's macroblock tree gives different bytes run to
            # run (even single-threaded); fixed B placement keeps the pattern simple.
            params += ":b-adapt=0:mbtree=0"
        return {
            "preset": spec.preset,
            "g": str(gop),
            "keyint_min": str(gop),
            "bf": str(bf),
            "forced-idr": "1",
            "x264-params": params,
        }
    if encoder == "libx265":
        return {
            "preset": spec.preset,
            "forced-idr": "1",
            "x265-params": (
                f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes={bf}"
                ":b-adapt=0:open-gop=0:log-level=error"
            ),
        }
    return {}


def _add_video(container: av.container.OutputContainer, spec: ClipSpec):
    encoder = _require_encoder(spec.video_codec)
    stream = container.add_stream(encoder, rate=spec.fps, options=_video_options(spec, encoder))
    stream.width, stream.height = spec.width, spec.height
    stream.pix_fmt = "yuvj420p" if encoder == "mjpeg" else "yuv420p"
    stream.codec_context.time_base = Fraction(1, spec.fps)
    stream.time_base = stream_time_base(spec, "video")
    if spec.bitrate:
        stream.bit_rate = spec.bitrate
    if spec.rotation % 360:
        # PyAV takes counter-clockwise degrees; ours are clockwise (rotate tag / EXIF).
        stream.set_display_rotation(-(spec.rotation % 360))
    return stream


def _add_audio(container: av.container.OutputContainer, spec: ClipSpec):
    encoder = _require_encoder(spec.audio_codec)
    stream = container.add_stream(encoder, rate=spec.audio_rate)
    stream.layout = {1: "mono", 2: "stereo"}.get(spec.audio_channels, f"{spec.audio_channels}c")
    formats = [f.name for f in stream.codec_context.codec.audio_formats or ()]
    stream.format = next((f for f in _AUDIO_FORMAT_PREFERENCE if f in formats), formats[0])
    if not encoder.startswith("pcm_"):
        stream.bit_rate = spec.audio_bitrate
    stream.codec_context.time_base = Fraction(1, spec.audio_rate)
    stream.time_base = stream_time_base(spec, "audio")
    return stream


def _container_options(spec: ClipSpec) -> dict[str, str]:
    fmt = _format(spec)
    options = {}
    if fmt in _UNSHIFTED:
        # Keep our timestamps as written; libavformat's shift depends on encoder delays.
        options["avoid_negative_ts"] = "disabled"
    if fmt == "mpegts":
        options["max_delay"] = str(_max_delay_us(spec))
    if fmt == "matroska":
        # Otherwise the SegmentUID is random and equal specs give different bytes.
        options["fflags"] = "+bitexact"
    return options


def _tags(spec: ClipSpec) -> dict[str, str]:
    tags = dict(spec.metadata)
    if spec.creation_time:
        tags["creation_time"] = spec.creation_time
    return tags


class _Sink:
    """Routes retimed packets to the muxer of their segment.

    One container normally. A backward jump cannot go through one muxer
    (libavformat rejects non-monotonic dts), so each backward jump opens
    another MPEG-TS muxer in memory; the segments are appended afterwards,
    which is how concatenated recordings step back in real TS files.
    """

    def __init__(self, path: Path, spec: ClipSpec) -> None:
        self.path, self.spec = path, spec
        self.timeline = _Timeline(spec)
        self.primary: av.container.OutputContainer | None = None
        self.extra: list[tuple[io.BytesIO, av.container.OutputContainer]] = []
        self.video = self.audio = None

    def open(self) -> None:
        """Set up streams and write headers; time bases are final after this."""
        spec, fmt = self.spec, _format(self.spec)
        self.primary = av.open(str(self.path), "w", format=fmt, container_options=_container_options(spec))
        self.video = _add_video(self.primary, spec) if spec.video_codec else None
        self.audio = _add_audio(self.primary, spec) if spec.audio_codec else None
        self.primary.metadata.update(_tags(spec))
        self.primary.start_encoding()
        self._check_time_bases()
        for _ in range(self.timeline.segments - 1):
            buf = io.BytesIO()
            out = av.open(buf, "w", format=fmt, container_options=_container_options(spec))
            self.extra.append((buf, out))
            for stream in self.primary.streams:
                copy = out.add_stream_from_template(stream)
                copy.time_base = stream.time_base
            out.start_encoding()

    def _check_time_bases(self) -> None:
        if self.video is not None and self.video.time_base != stream_time_base(self.spec, "video"):
            raise RuntimeError(
                f"muxer chose video time base {self.video.time_base}, "
                f"expected {stream_time_base(self.spec, 'video')}: update stream_time_base()"
            )

    def mux(self, stream, packets: Iterable[av.Packet], enc_tb: Fraction, duration: int) -> None:
        """Retime encoder packets (pts in ``enc_tb``, lasting ``duration`` if unset) and mux."""
        for packet in packets:
            if packet.pts is None:
                continue
            enc_tb = packet.time_base or enc_tb
            media = packet.pts * enc_tb
            shift = self.timeline.shift(media)
            tb = stream.time_base
            end = media + (packet.duration or duration) * enc_tb
            packet.pts, dts = _round((media + shift) / tb), packet.dts
            if dts is not None:
                packet.dts = _round((dts * enc_tb + shift) / tb)
            packet.duration = _round((end + shift) / tb) - packet.pts
            packet.time_base = tb
            seg = self.timeline.segment(media)
            if seg:
                packet.stream = self.extra[seg - 1][1].streams[stream.index]
            (self.extra[seg - 1][1] if seg else self.primary).mux(packet)

    def close(self) -> None:
        self.primary.close()
        for _, out in self.extra:
            out.close()
        if self.extra:
            with open(self.path, "ab") as f:
                for buf, _ in self.extra:
                    f.write(buf.getvalue())

    def abort(self) -> None:
        for c in [self.primary] + [out for _, out in self.extra]:
            try:
                if c is not None:
                    c.close()
            except Exception:  # already failing; keep the original error
                pass


def _prepare(path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_clip(path: str | Path, spec: ClipSpec = ClipSpec()) -> Path:
    """Encode ``spec`` into ``path``; see the module docstring for the timestamp rule.

    Raises EncoderMissing before touching ``path`` if an encoder is unavailable;
    a failure while encoding removes the partial file.
    """
    _check(spec)
    path = _prepare(path)
    sink = _Sink(path, spec)
    try:
        sink.open()
        _encode(sink, spec)
    except BaseException:
        sink.abort()
        path.unlink(missing_ok=True)
        raise
    sink.close()
    return path


def _encode(sink: _Sink, spec: ClipSpec) -> None:
    video, audio = sink.video, sink.audio
    audio_pos, n_samples = 0, _n_samples(spec)
    if video is not None:
        picture = _Picture(spec.width, spec.height, spec.noise, spec.seed)
        forced = _forced_keyframes(spec)
        vtb = Fraction(1, spec.fps)
        for i in range(_n_frames(spec)):
            frame = av.VideoFrame.from_ndarray(picture.frame(i), format=video.pix_fmt)
            frame.pts, frame.time_base, frame.duration = i, vtb, 1
            if i in forced:
                frame.pict_type = av.video.frame.PictureType.I
            sink.mux(video, video.encode(frame), vtb, 1)
            if audio is not None:
                # Interleave: audio up to the end of this video frame.
                until = min(n_samples, _round(Fraction((i + 1) * spec.audio_rate, spec.fps)))
                audio_pos = _encode_audio(sink, audio, spec, audio_pos, until)
        sink.mux(video, video.encode(None), vtb, 1)
    if audio is not None:
        _encode_audio(sink, audio, spec, audio_pos, n_samples)
        sink.mux(audio, audio.encode(None), Fraction(1, spec.audio_rate), _frame_size(audio))


def _frame_size(audio) -> int:
    # PCM encoders take any size (frame_size 0); 1024 keeps packets small.
    return audio.codec_context.frame_size or 1024


def _encode_audio(sink: _Sink, audio, spec: ClipSpec, pos: int, until: int) -> int:
    """Encode samples [pos, until) in encoder-sized frames; returns the new position.

    Only the final frame of the clip may be short (encoders allow a small last frame).
    """
    size = _frame_size(audio)
    total = _n_samples(spec)
    atb = Fraction(1, spec.audio_rate)
    while pos < until and (pos + size <= until or until == total):
        count = min(size, total - pos)
        frame = _audio_frame(
            _tone(pos, count, spec.audio_rate, spec.audio_channels, spec.seed),
            audio.format.name,
            audio.layout.name,
        )
        frame.sample_rate, frame.pts, frame.time_base = spec.audio_rate, pos, atb
        sink.mux(audio, audio.encode(frame), atb, count)
        pos += count
    return pos


# ---------------------------------------------------------------- audio, photos


def _guess_format(path: Path, fallback: str) -> str:
    return _SUFFIX_FORMATS.get(path.suffix.lower(), fallback)


def write_audio(
    path: str | Path,
    duration_s: float = 2.0,
    codec: str = "aac",
    container: str | None = None,
    *,
    rate: int = 48000,
    channels: int = 1,
    bitrate: int = 64000,
    creation_time: str | None = None,
) -> Path:
    """Audio-only tone file; container from the suffix (.m4a -> ipod, .aac -> adts, ...)."""
    path = Path(path)
    spec = ClipSpec(
        container=container or _guess_format(path, "ipod"),
        video_codec=None,
        audio_codec=codec,
        duration_s=duration_s,
        audio_rate=rate,
        audio_channels=channels,
        audio_bitrate=bitrate,
        creation_time=creation_time,
    )
    return write_clip(path, spec)


def write_wav(path: str | Path, duration_s: float = 2.0, rate: int = 48000, channels: int = 1) -> Path:
    """A tone as pcm_s16le in WAV (voice-note style)."""
    return write_audio(path, duration_s, "pcm_s16le", "wav", rate=rate, channels=channels)


_EXIF_IFD = 0x8769
_TAG_MAKE, _TAG_MODEL, _TAG_ORIENTATION, _TAG_DATETIME = 0x010F, 0x0110, 0x0112, 0x0132
_TAG_DATETIME_ORIGINAL = 0x9003


def write_jpeg(
    path: str | Path,
    width: int = 320,
    height: int = 240,
    orientation: int | None = None,
    datetime_original: str | None = "2026:03:01 10:00:00",
    make: str = "FieldCam",
    *,
    model: str = "BWC-1",
    quality: int = 90,
) -> Path:
    """JPEG with EXIF as a camera stores it: pixels in sensor order, orientation as a tag.

    A red square marks the stored top-left corner so a test can tell whether a
    reader applied ``orientation`` (6 = rotate 90 CW for display, i.e. portrait).
    """
    path = _prepare(path)
    rgb = np.empty((height, width, 3), np.uint8)
    rgb[..., 0] = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    rgb[..., 1] = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    rgb[..., 2] = 128
    img = Image.fromarray(rgb, "RGB")
    mark = max(4, min(width, height) // 6)
    ImageDraw.Draw(img).rectangle([0, 0, mark - 1, mark - 1], fill=(255, 0, 0))
    exif = Image.Exif()
    exif[_TAG_MAKE], exif[_TAG_MODEL] = make, model
    if orientation is not None:
        exif[_TAG_ORIENTATION] = orientation
    if datetime_original is not None:
        exif[_TAG_DATETIME] = datetime_original
        exif.get_ifd(_EXIF_IFD)[_TAG_DATETIME_ORIGINAL] = datetime_original
    img.save(path, "JPEG", quality=quality, exif=exif)
    return path


# ---------------------------------------------------------------- broken and derived files


def random_bytes(path: str | Path, size: int = 100_000, seed: int = 0) -> Path:
    """Seeded noise: a file no demuxer should accept."""
    path = _prepare(path)
    path.write_bytes(np.random.default_rng(seed).bytes(size))
    return path


def truncate(src: str | Path, dst: str | Path, keep_fraction: float = 0.6) -> Path:
    """Copy the first ``keep_fraction`` of ``src``: a copy interrupted mid-write."""
    data = Path(src).read_bytes()
    dst = _prepare(dst)
    dst.write_bytes(data[: int(len(data) * keep_fraction)])
    return dst


def top_level_boxes(data: bytes) -> Iterator[tuple[str, int, int]]:
    """ISO-BMFF top-level boxes as (type, offset, size); size 0 runs to the end."""
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
        elif size == 0:
            size = len(data) - pos
        if size < 8:
            return
        yield kind.decode("latin-1"), pos, size
        pos += size


def write_no_moov(path: str | Path, spec: ClipSpec = ClipSpec(), keep_fraction: float = 0.9) -> Path:
    """An MP4 as a recorder leaves it when power dies mid-recording.

    ftyp, the placeholder and an ``mdat`` whose size field was never patched
    (0 = "to end of file", what libavformat writes first), holding the first
    ``keep_fraction`` of the media data, and no ``moov``.
    """
    if _format(spec) not in ("mp4", "mov"):
        raise ValueError("write_no_moov needs container mp4 or mov")
    path = _prepare(path)
    tmp = path.with_name(path.name + ".full.tmp")
    try:
        data = write_clip(tmp, spec).read_bytes()
    finally:
        tmp.unlink(missing_ok=True)
    out = bytearray()
    for kind, off, size in top_level_boxes(data):
        if kind == "mdat":
            header = 16 if struct.unpack(">I", data[off : off + 4])[0] == 1 else 8
            payload = data[off + header : off + size]
            out += b"\0\0\0\0mdat" + payload[: int(len(payload) * keep_fraction)]
            break  # nothing after the media data was written yet
        if kind != "moov":
            out += data[off : off + size]
    path.write_bytes(bytes(out))
    return path


def _payload_spans(data: bytes, packet: av.Packet, stream, fmt: str) -> list[tuple[int, int]]:
    """Byte ranges in the file that hold ``packet``'s payload."""
    payload = bytes(packet)
    if fmt == "mpegts":
        return _ts_payload_spans(data, packet.pos, stream.id, len(payload))
    # mp4/mov store samples contiguously at pos; mkv/avi put a small header first.
    at = data.find(payload, max(0, packet.pos))
    if at < 0:
        raise ValueError("keyframe payload not found contiguously in the file")
    return [(at, len(payload))]


def _ts_payload_spans(data: bytes, pos: int, pid: int, size: int) -> list[tuple[int, int]]:
    """Payload bytes of one PES across 188-byte TS packets, skipping TS and PES headers."""
    spans, got, first = [], 0, True
    while got < size and pos + 188 <= len(data):
        pkt = data[pos : pos + 188]
        if pkt[0] != 0x47:
            raise ValueError(f"lost TS sync at {pos}")
        if ((pkt[1] & 0x1F) << 8 | pkt[2]) == pid and pkt[3] & 0x10:
            start = 4 + (1 + pkt[4] if pkt[3] & 0x20 else 0)
            if first:
                start += 9 + pkt[start + 8]  # PES header
                first = False
            n = min(188 - start, size - got)
            spans.append((pos + start, n))
            got += n
        pos += 188
    return spans


def corrupt_keyframe(src: str | Path, dst: str | Path, keyframe_index: int = 1, seed: int = 0) -> Path:
    """Copy ``src`` with the payload of its Nth video keyframe replaced by noise.

    Container structure (box sizes, sample tables, TS headers) is untouched,
    so demuxing succeeds and only decoding that keyframe (and what refers to
    it) goes wrong.
    """
    data = bytearray(Path(src).read_bytes())
    with av.open(str(src)) as container:
        fmt = container.format.name
        stream = container.streams.video[0]
        keys = [p for p in container.demux(stream) if p.size and p.is_keyframe]
        if keyframe_index >= len(keys):
            raise ValueError(f"{src} has only {len(keys)} keyframes")
        spans = _payload_spans(bytes(data), keys[keyframe_index], stream, fmt)
    rng = np.random.default_rng(seed)
    for start, n in spans:
        data[start : start + n] = rng.bytes(n)
    dst = _prepare(dst)
    dst.write_bytes(bytes(data))
    return dst


def remux(
    src: str | Path,
    dst: str | Path,
    *,
    metadata: dict[str, str] | None = None,
    container: str | None = None,
    time_offset_s: float = 0.0,
) -> Path:
    """Packet copy of ``src`` (no re-encode) with other tags and/or shifted timestamps.

    Container tags are those of ``src`` updated by ``metadata``; the output
    format is ``container``, else the one ``dst``'s suffix implies, else the
    input's. Every pts/dts moves by ``time_offset_s`` (rounded half up to the
    input time base). Display matrices travel with the stream parameters.
    """
    src, dst = Path(src), _prepare(dst)
    with av.open(str(src)) as inp:
        fallback = inp.format.name.split(",")[0]
        fmt = _FORMATS.get(container, container) if container else _guess_format(dst, fallback)
        # TS cannot hold negative timestamps (AAC priming, B-frame dts), so there
        # libavformat may shift them up; elsewhere they are copied exactly.
        options = {"avoid_negative_ts": "disabled"} if fmt in _UNSHIFTED - {"mpegts"} else {}
        out = av.open(str(dst), "w", format=fmt, container_options=options)
        try:
            streams = [s for s in inp.streams if s.type in ("video", "audio")]
            mapping = {}
            for s in streams:
                copy = out.add_stream_from_template(s)
                copy.metadata.update({k: v for k, v in s.metadata.items() if k in ("language", "handler_name")})
                mapping[s.index] = copy
            out.metadata.update({**inp.metadata, **(metadata or {})})
            offset = _frac(time_offset_s)
            for packet in inp.demux(streams):
                if packet.size == 0:
                    continue  # demuxer flush packets
                ticks = _round(offset / packet.time_base) if offset else 0
                if packet.pts is not None:
                    packet.pts += ticks
                if packet.dts is not None:
                    packet.dts += ticks
                packet.stream = mapping[packet.stream.index]
                out.mux(packet)
        finally:
            out.close()
    return dst
