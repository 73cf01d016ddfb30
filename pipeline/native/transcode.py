"""Make a review proxy with PyAV: threaded decode, scale, x264 + AAC, the source's timestamps kept.

One pass, streaming: packets are decoded, scaled and encoded as they come, so memory holds only
the decoder's and encoder's own few frames (threads + x264 look-ahead), whatever the length.
Video frames keep their source timestamps (rescaled, never renumbered), so a gap in the
original stays a gap; audio gaps are filled with silence so that what follows stays in sync.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from pipeline.common.i18n import _
from pipeline.native.media import describe_error

AAC_FRAME = 1024
SILENCE_CHUNK_S = 1.0          # a long audio gap is filled one second at a time, never all at once


class ProxyError(Exception):
    """The original could not be transcoded; the message says why."""


@dataclass(frozen=True)
class ProxySettings:
    long_side: int = 640           # the longer side of the picture, in pixels (never upscaled)
    crf: int = 28
    preset: str = "veryfast"
    audio_bitrate: int = 64000
    faststart: bool = True         # moov before mdat: a proxy plays while it downloads
    threads: int = 0               # decoder, scaler and encoder threads; 0: FFmpeg's choice
    max_decode_errors: int = 16    # packets the decoder may reject before the proxy is given up
    audio_gap_s: float = 0.1       # audio holes longer than this are filled with silence


@dataclass
class ProxyFacts:
    width: int | None = None
    height: int | None = None
    rotation: int = 0
    video_frames: int = 0
    audio_samples: int = 0
    decode_errors: int = 0
    dropped_frames: int = 0        # frames whose timestamp did not advance (kept out of the proxy)
    silence_s: float = 0.0         # audio gap filled with silence
    time_offset_s: float = 0.0     # proxy time = original time - this (where the original starts)


def proxy_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """Scale so the longer side is at most ``long_side``; even sides, as 4:2:0 needs."""
    scale = min(1.0, long_side / max(width, height))
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


def _aac_rate(rate: int) -> int:
    """44.1 or 48 kHz: AAC pads the last frame to 1024 samples, which at 8 kHz would be 128 ms."""
    return 44100 if rate == 44100 else 48000


class _Video:
    def __init__(self, out, src, settings: ProxySettings, rotation: int, offset_s: float, facts: ProxyFacts):
        cc = src.codec_context
        self.width, self.height = proxy_size(cc.width, cc.height, settings.long_side)
        rate = src.average_rate or src.guessed_rate or src.base_rate or Fraction(30)
        self.stream = out.add_stream("libx264", rate=rate)
        self.stream.width, self.stream.height, self.stream.pix_fmt = self.width, self.height, "yuv420p"
        self.stream.time_base = src.time_base
        self.stream.codec_context.time_base = src.time_base    # source ticks in, source ticks out
        self.stream.codec_context.thread_count = settings.threads
        # Frame threads, as the ffmpeg CLI uses: PyAV's default (slices) costs x264 a third more bits.
        self.stream.codec_context.thread_type = "FRAME"
        self.stream.options = {"crf": str(settings.crf), "preset": settings.preset}
        if rotation % 360:
            self.stream.set_display_rotation(rotation % 360)
        self.threads = settings.threads
        self.scaler = av.video.reformatter.VideoReformatter()   # one scaling context for the whole file
        self.last_pts: int | None = None
        self.offset = int(round(Fraction(offset_s).limit_denominator(10**6) / src.time_base))
        self.facts = facts
        facts.width, facts.height, facts.rotation = self.width, self.height, rotation % 360

    def encode(self, out, frame) -> None:
        if frame.pts is None or (self.last_pts is not None and frame.pts <= self.last_pts):
            self.facts.dropped_frames += 1         # x264 needs strictly increasing timestamps
            return
        self.last_pts = frame.pts
        small = self.scaler.reformat(frame, self.width, self.height, "yuv420p", interpolation="BICUBIC",
                                     threads=self.threads)
        small.pts, small.time_base = frame.pts - self.offset, frame.time_base
        small.duration = frame.duration
        small.pict_type = av.video.frame.PictureType.NONE   # else x264 copies the source's I/P/B choices
        out.mux(self.stream.encode(small))
        self.facts.video_frames += 1

    def flush(self, out) -> None:
        out.mux(self.stream.encode(None))


class _Audio:
    def __init__(self, out, src, settings: ProxySettings, offset_s: float, facts: ProxyFacts):
        cc = src.codec_context
        self.rate = _aac_rate(cc.sample_rate or 48000)
        layout = "mono" if (cc.channels or 2) == 1 else "stereo"
        self.stream = out.add_stream("aac", rate=self.rate, layout=layout)
        self.stream.bit_rate = settings.audio_bitrate
        self.stream.time_base = Fraction(1, self.rate)
        self.resampler = av.AudioResampler(format="fltp", layout=layout, rate=self.rate)
        self.fifo = av.AudioFifo()                  # AAC takes 1024-sample frames; the last may be short
        self.gap_s = settings.audio_gap_s
        self.next_sample: int | None = None        # output timeline, in samples
        self.in_end_s: float | None = None         # where the last input frame ended
        self.offset_s = offset_s
        self.facts = facts

    def encode(self, out, frame) -> None:
        if frame.pts is None or frame.time_base is None:
            start = self.in_end_s or 0.0
        else:
            start = float(frame.pts * frame.time_base)
        if self.next_sample is None:
            self.next_sample = int(round((start - self.offset_s) * self.rate))
        elif start - self.in_end_s > self.gap_s:
            self._silence(out, frame, start - self.in_end_s)
        self.in_end_s = max(self.in_end_s or start, start + frame.samples / frame.sample_rate)
        frame.pts = None
        self._push(out, frame)

    def _silence(self, out, like, seconds: float) -> None:
        self.facts.silence_s += seconds
        left = int(round(seconds * like.sample_rate))
        chunk = int(SILENCE_CHUNK_S * like.sample_rate)
        fill = b"\x80" if like.format.name.startswith("u8") else b"\x00"    # unsigned 8-bit is centred
        while left > 0:
            n = min(left, chunk)
            silent = av.AudioFrame(format=like.format.name, layout=like.layout.name, samples=n)
            for plane in silent.planes:
                plane.update(fill * plane.buffer_size)
            silent.sample_rate = like.sample_rate
            self._push(out, silent)
            left -= n

    def _push(self, out, frame) -> None:
        for resampled in self.resampler.resample(frame):
            resampled.pts = None
            self.fifo.write(resampled)
        while self.fifo.samples >= AAC_FRAME:
            self._write(out, self.fifo.read(AAC_FRAME))

    def _write(self, out, frame) -> None:
        frame.pts, frame.time_base = self.next_sample, Fraction(1, self.rate)
        self.next_sample += frame.samples
        self.facts.audio_samples += frame.samples
        out.mux(self.stream.encode(frame))

    def flush(self, out) -> None:
        for resampled in self.resampler.resample(None):
            resampled.pts = None
            self.fifo.write(resampled)
        while self.fifo.samples:
            self._write(out, self.fifo.read(min(AAC_FRAME, self.fifo.samples)))
        out.mux(self.stream.encode(None))


def make_proxy(src: Path, dst: Path, settings: ProxySettings, *, rotation: int = 0,
               audio_only: bool = False) -> ProxyFacts:
    """Write an MP4 (H.264 + AAC) or, for ``audio_only`` or a file without video, an M4A (AAC).

    ``rotation`` is the counter-clockwise display rotation of the source picture; the proxy
    carries the same display matrix, so portrait stays portrait. Raises ``ProxyError``.
    """
    facts = ProxyFacts()
    try:
        with av.open(str(src), metadata_errors="replace") as inp:
            vin = None if audio_only else next(
                (s for s in inp.streams.video if not s.disposition & av.stream.Disposition.attached_pic), None)
            ain = next(iter(inp.streams.audio), None)
            if vin is None and ain is None:
                raise ProxyError(_("no audio or video stream to transcode"))
            if vin is not None:
                vin.thread_type = "AUTO"            # frame and slice threads where the codec allows
                vin.codec_context.thread_count = settings.threads
                if not vin.codec_context.width or not vin.codec_context.height:
                    raise ProxyError(_("the video stream has no picture size"))
            options = {"movflags": "+faststart"} if settings.faststart else {}
            container = "mp4" if vin is not None else "ipod"      # ipod: the M4A brand, AAC only
            with av.open(str(dst), "w", format=container, options=options) as out:
                # MPEG-TS and the like start at any clock value, negative too; players show the start
                # as 0, and so does the proxy (an MP4 would hide pictures before 0 behind its edit list).
                offset = inp.start_time / 1e6 if inp.start_time is not None else 0.0
                facts.time_offset_s = offset
                video = _Video(out, vin, settings, rotation, offset, facts) if vin is not None else None
                audio = _Audio(out, ain, settings, offset, facts) if ain is not None else None
                wanted = [s for s in (vin, ain) if s is not None]
                for packet in inp.demux(*wanted):
                    try:
                        frames = packet.decode()
                    except (av.error.InvalidDataError, av.error.PermissionError) as exc:
                        facts.decode_errors += 1
                        if facts.decode_errors > settings.max_decode_errors:
                            raise ProxyError(_("more than {n} packets could not be decoded (last: {why})").format(
                                n=settings.max_decode_errors, why=describe_error(exc))) from None
                        continue
                    # packet.stream, not stream_index: the flush packets at the end all say index 0
                    target = video if vin is not None and packet.stream.index == vin.index else audio
                    for frame in frames:
                        target.encode(out, frame)
                if video:
                    video.flush(out)
                if audio:
                    audio.flush(out)
    except ProxyError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise ProxyError(describe_error(exc)) from exc
    if video is not None and facts.video_frames == 0:
        raise ProxyError(_("no video frame could be decoded"))
    if audio_only or vin is None:
        if facts.audio_samples == 0:
            raise ProxyError(_("no audio could be decoded"))
    return facts


def display_rotation(path: Path) -> int:
    """The counter-clockwise display rotation of the first video frame of ``path`` (0..359)."""
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            return int(round(frame.rotation)) % 360 if not math.isnan(frame.rotation) else 0
    return 0
