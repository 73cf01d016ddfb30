"""Progress of a long run: a redrawn bar on a terminal, a plain line now and then in logs."""

from __future__ import annotations

import sys
import time


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def human_duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}"


class Progress:
    """Files and bytes done out of a known total, with rate and ETA."""

    def __init__(self, total_files: int, total_bytes: int, *, label: str = "ingest",
                 stream=None, enabled: bool = True, log_every_s: float = 15.0):
        self.total_files, self.total_bytes, self.label = total_files, total_bytes, label
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.log_every_s = log_every_s
        self.files = self.bytes = 0
        self.start = time.monotonic()
        self._last_draw = 0.0

    def advance(self, files: int, nbytes: int) -> None:
        self.files += files
        self.bytes += nbytes
        now = time.monotonic()
        if not self.enabled:
            return
        if self.tty and now - self._last_draw >= 0.1:
            self._draw(now, end="\r")
        elif not self.tty and now - self._last_draw >= self.log_every_s:
            self._draw(now, end="\n")

    def line(self, now: float | None = None) -> str:
        now = now or time.monotonic()
        elapsed = max(now - self.start, 1e-9)
        rate = self.bytes / elapsed
        frac = self.bytes / self.total_bytes if self.total_bytes else (self.files / self.total_files if self.total_files else 1.0)
        eta = (self.total_bytes - self.bytes) / rate if rate > 0 and self.total_bytes else 0
        width = 24
        filled = int(width * min(1.0, frac))
        bar = "#" * filled + "-" * (width - filled)
        return (f"{self.label} [{bar}] {frac * 100:5.1f}%  files {self.files}/{self.total_files}  "
                f"{human_bytes(self.bytes)}/{human_bytes(self.total_bytes)}  {human_bytes(rate)}/s  "
                f"ETA {human_duration(eta)}")

    def _draw(self, now: float, end: str) -> None:
        self._last_draw = now
        text = self.line(now)
        if self.tty:
            text = text.ljust(getattr(self, "_width", 0))
            self._width = len(text)
        self.stream.write(text + end)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self._draw(time.monotonic(), end="\n")
