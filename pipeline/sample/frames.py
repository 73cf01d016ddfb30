"""Frame sources for generated clips: a moving test picture (optionally noisy) and sine tones."""

from __future__ import annotations

import av
import numpy as np

__all__ = ["Picture", "audio_frame", "chroma", "tone"]


class Picture:
    """Frame source: a gradient with a moving box, plus optional sensor-like noise and colour.

    Planes are precomputed once; a frame is a few slices and in-place adds,
    so numpy stays far below x264's cost even at 1080p.
    """

    _PAD = 64  # slack around noise fields so per-frame offsets are plain slices
    _AMP = 24  # each of two noise layers; base <= 200 keeps the sum below 255

    def __init__(
        self, width: int, height: int, noise: bool, seed: int, colour: tuple[int, int, int] | None = None
    ) -> None:
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
        self.chroma = None if colour is None else chroma(colour)
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
        if self.chroma is None:
            self.u.fill(96 + (j % 64))
            self.v.fill(128 + (self.phase % 61))
        else:
            self.u.fill(self.chroma[0])
            self.v.fill(self.chroma[1])
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


def chroma(rgb: tuple[int, int, int]) -> tuple[int, int]:
    """(Cb, Cr) of an RGB colour (BT.601), kept where the noise layers cannot overflow them."""
    r, g, b = rgb
    cb = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    cr = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    return tuple(int(min(224, max(16, round(c)))) for c in (cb, cr))


def tone(start: int, count: int, rate: int, channels: int, seed: int) -> np.ndarray:
    """float32 (channels, count) sine tones; channel k one fifth above k-1."""
    t = (np.arange(start, start + count, dtype=np.float64) / rate)[None, :]
    freqs = 440.0 * 1.5 ** np.arange(channels, dtype=np.float64)[:, None]
    return (0.3 * np.sin(2 * np.pi * freqs * t + seed)).astype(np.float32)


def audio_frame(samples: np.ndarray, fmt: str, layout: str) -> av.AudioFrame:
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
