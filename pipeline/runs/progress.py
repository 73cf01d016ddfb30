"""Progress of a long run: a redrawn bar on a terminal, a plain line now and then in logs.

On a terminal one line is redrawn in place (bar, files, bytes, rate, ETA), cut to the
terminal's width so it never wraps. When the output is not a terminal, or ``CI`` is set in the
environment, nothing is drawn: a plain line is written every ``log_every_s`` seconds (the first
one only after that long), so short runs log nothing but their summary.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from typing import Callable, Mapping

from pipeline.common.i18n import NP_, _, pgettext
from pipeline.common.text import display_width
from pipeline.common.units import human_bytes, human_duration

LOG_EVERY_S = 20.0
REDRAW_EVERY_S = 0.1
RUN_LABELS = (NP_("run", "ingest"), NP_("run", "transcode"))       # what a bar is shown for, translated


def is_terminal(stream, env: Mapping[str, str] = os.environ) -> bool:
    """True when ``stream`` is an interactive terminal and not a CI job's captured log."""
    if env.get("CI", "").lower() not in ("", "0", "false"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and env.get("TERM") != "dumb"


class Progress:
    """Files and bytes done out of a known total, with rate and ETA."""

    def __init__(self, total_files: int, total_bytes: int, *, label: str = "ingest",
                 stream=None, enabled: bool = True, log_every_s: float = LOG_EVERY_S,
                 clock: Callable[[], float] = time.monotonic, env: Mapping[str, str] = os.environ):
        self.total_files, self.total_bytes, self.label = total_files, total_bytes, label
        self.stream = stream or sys.stderr
        self.enabled = enabled and total_files > 0
        self.tty = self.enabled and is_terminal(self.stream, env)
        self.log_every_s = log_every_s
        self.clock = clock
        self.files = self.bytes = 0
        self.start = clock()
        self._last_draw = self.start
        encoding = (getattr(self.stream, "encoding", None) or "").lower().replace("-", "")
        self._fill, self._empty = ("█", "░") if encoding == "utf8" else ("#", "-")

    def advance(self, files: int, nbytes: int) -> None:
        self.files += files
        self.bytes += nbytes
        if not self.enabled:
            return
        now = self.clock()
        if self.tty and now - self._last_draw >= REDRAW_EVERY_S:
            self._redraw(now)
        elif not self.tty and now - self._last_draw >= self.log_every_s:
            self._last_draw = now
            self.stream.write(self.log_line(now) + "\n")
            self.stream.flush()

    def _numbers(self, now: float) -> tuple[float, float, float | None]:
        elapsed = max(now - self.start, 1e-9)
        rate = self.bytes / elapsed
        if self.total_bytes:
            frac = self.bytes / self.total_bytes
        else:
            frac = self.files / self.total_files if self.total_files else 1.0
        eta = (self.total_bytes - self.bytes) / rate if rate > 0 and self.total_bytes else None
        return min(1.0, frac), rate, eta

    def line(self, now: float | None = None, width: int = 24) -> str:
        """The terminal line: bar, percentage, files, bytes, rate, ETA."""
        now = self.clock() if now is None else now
        frac, rate, eta = self._numbers(now)
        filled = int(width * frac)
        bar = self._fill * filled + self._empty * (width - filled)
        return _("{label} {bar} {pct}%  {files}/{total} files  {bytes} / {total_bytes}  {rate}/s  ETA {eta}").format(
            label=pgettext("run", self.label), bar=bar, pct=f"{frac * 100:3.0f}", files=self.files,
            total=self.total_files, bytes=human_bytes(self.bytes), total_bytes=human_bytes(self.total_bytes),
            rate=human_bytes(rate), eta=human_duration(eta) if eta is not None else "--:--")

    def log_line(self, now: float | None = None) -> str:
        """A plain line for logs: no bar, no control characters."""
        now = self.clock() if now is None else now
        frac, rate, eta = self._numbers(now)
        return _("{label}: {pct}% - {files}/{total} files, {bytes} of {total_bytes}, {rate}/s, elapsed {elapsed}, "
                 "ETA {eta}").format(
            label=pgettext("run", self.label), pct=f"{frac * 100:.0f}", files=self.files, total=self.total_files,
            bytes=human_bytes(self.bytes), total_bytes=human_bytes(self.total_bytes), rate=human_bytes(rate),
            elapsed=human_duration(now - self.start), eta=human_duration(eta) if eta is not None else _("unknown"))

    def _redraw(self, now: float) -> None:
        self._last_draw = now
        columns = shutil.get_terminal_size((100, 24)).columns
        text = self.line(now)
        while len(text) > 10 and display_width(text) > columns - 1:      # columns, not characters: 中文 takes two
            text = text[:-1]
        self.stream.write("\r" + text + "\x1b[K")
        self.stream.flush()

    def close(self) -> None:
        """On a terminal, leave the final state on its own line; in logs, add nothing."""
        if self.tty:
            self._redraw(self.clock())
            self.stream.write("\n")
            self.stream.flush()
