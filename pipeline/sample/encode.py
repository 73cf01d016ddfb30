"""Write clips and audio files from a ClipSpec with PyAV, and remux them (packet copy).

Everything here really encodes (libx264, libx265, mjpeg, aac, mp3, pcm) and
muxes through libavformat, so the files exercise the same demux and decode
paths as camera footage.

Determinism: equal specs give equal bytes (checked for x264, x265, mjpeg in
mp4/mov/mpegts/matroska). That needs x264's mbtree off when B-frames are on
and matroska's bitexact flag (else its SegmentUID is random).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av

from pipeline.sample.clips import (
    FORMATS,
    UNSHIFTED,
    ClipSpec,
    Timeline,
    check_spec,
    forced_keyframes,
    frac,
    gop_frames,
    max_delay_us,
    muxer_format,
    n_frames,
    n_samples,
    require_encoder,
    round_half_up,
    stream_time_base,
)
from pipeline.sample.frames import Picture, audio_frame, tone

__all__ = ["remux", "write_audio", "write_clip", "write_wav"]

_AUDIO_FORMAT_PREFERENCE = ("fltp", "flt", "s16p", "s16", "s32p", "s32")
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


def _video_options(spec: ClipSpec, encoder: str) -> dict[str, str]:
    gop, bf = gop_frames(spec), max(0, spec.bframes)
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
    encoder = require_encoder(spec.video_codec)
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
    encoder = require_encoder(spec.audio_codec)
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
    fmt = muxer_format(spec)
    options = {}
    if fmt in UNSHIFTED:
        # Keep our timestamps as written; libavformat's shift depends on encoder delays.
        options["avoid_negative_ts"] = "disabled"
    if fmt == "mpegts":
        options["max_delay"] = str(max_delay_us(spec))
    if fmt == "matroska":
        # Otherwise the SegmentUID is random and equal specs give different bytes.
        options["fflags"] = "+bitexact"
    if spec.faststart:
        # A second pass moves moov to the front, as recorders that stream their index do.
        options["movflags"] = "+faststart"
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
        self.timeline = Timeline(spec)
        self.primary: av.container.OutputContainer | None = None
        self.extra: list[tuple[io.BytesIO, av.container.OutputContainer]] = []
        self.video = self.audio = None

    def open(self) -> None:
        """Set up streams and write headers; time bases are final after this."""
        spec, fmt = self.spec, muxer_format(self.spec)
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
            packet.pts, dts = round_half_up((media + shift) / tb), packet.dts
            if dts is not None:
                packet.dts = round_half_up((dts * enc_tb + shift) / tb)
            packet.duration = round_half_up((end + shift) / tb) - packet.pts
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


def prepare_path(path: str | Path) -> Path:
    """``path`` as a Path, its folder created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_clip(path: str | Path, spec: ClipSpec = ClipSpec()) -> Path:
    """Encode ``spec`` into ``path``; see the module docstring for the timestamp rule.

    Raises EncoderMissing before touching ``path`` if an encoder is unavailable;
    a failure while encoding removes the partial file.
    """
    check_spec(spec)
    path = prepare_path(path)
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
    audio_pos, total = 0, n_samples(spec)
    if video is not None:
        picture = Picture(spec.width, spec.height, spec.noise, spec.seed, spec.colour)
        forced = forced_keyframes(spec)
        vtb = Fraction(1, spec.fps)
        for i in range(n_frames(spec)):
            frame = av.VideoFrame.from_ndarray(picture.frame(i), format=video.pix_fmt)
            frame.pts, frame.time_base, frame.duration = i, vtb, 1
            if i in forced:
                frame.pict_type = av.video.frame.PictureType.I
            sink.mux(video, video.encode(frame), vtb, 1)
            if audio is not None:
                # Interleave: audio up to the end of this video frame.
                until = min(total, round_half_up(Fraction((i + 1) * spec.audio_rate, spec.fps)))
                audio_pos = _encode_audio(sink, audio, spec, audio_pos, until)
        sink.mux(video, video.encode(None), vtb, 1)
    if audio is not None:
        _encode_audio(sink, audio, spec, audio_pos, total)
        sink.mux(audio, audio.encode(None), Fraction(1, spec.audio_rate), _frame_size(audio))


def _frame_size(audio) -> int:
    # PCM encoders take any size (frame_size 0); 1024 keeps packets small.
    return audio.codec_context.frame_size or 1024


def _encode_audio(sink: _Sink, audio, spec: ClipSpec, pos: int, until: int) -> int:
    """Encode samples [pos, until) in encoder-sized frames; returns the new position.

    Only the final frame of the clip may be short (encoders allow a small last frame).
    """
    size = _frame_size(audio)
    total = n_samples(spec)
    atb = Fraction(1, spec.audio_rate)
    while pos < until and (pos + size <= until or until == total):
        count = min(size, total - pos)
        frame = audio_frame(
            tone(pos, count, spec.audio_rate, spec.audio_channels, spec.seed),
            audio.format.name,
            audio.layout.name,
        )
        frame.sample_rate, frame.pts, frame.time_base = spec.audio_rate, pos, atb
        sink.mux(audio, audio.encode(frame), atb, count)
        pos += count
    return pos


# ---------------------------------------------------------------- audio files


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


# ---------------------------------------------------------------- derived files


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
    src, dst = Path(src), prepare_path(dst)
    with av.open(str(src)) as inp:
        fallback = inp.format.name.split(",")[0]
        fmt = FORMATS.get(container, container) if container else _guess_format(dst, fallback)
        # TS cannot hold negative timestamps (AAC priming, B-frame dts), so there
        # libavformat may shift them up; elsewhere they are copied exactly.
        options = {"avoid_negative_ts": "disabled"} if fmt in UNSHIFTED - {"mpegts"} else {}
        out = av.open(str(dst), "w", format=fmt, container_options=options)
        try:
            streams = [s for s in inp.streams if s.type in ("video", "audio")]
            mapping = {}
            for s in streams:
                copy = out.add_stream_from_template(s)
                copy.metadata.update({k: v for k, v in s.metadata.items() if k in ("language", "handler_name")})
                mapping[s.index] = copy
            out.metadata.update({**inp.metadata, **(metadata or {})})
            offset = frac(time_offset_s)
            for packet in inp.demux(streams):
                if packet.size == 0:
                    continue  # demuxer flush packets
                ticks = round_half_up(offset / packet.time_base) if offset else 0
                if packet.pts is not None:
                    packet.pts += ticks
                if packet.dts is not None:
                    packet.dts += ticks
                packet.stream = mapping[packet.stream.index]
                out.mux(packet)
        finally:
            out.close()
    return dst
