"""Progress and the run summary: a redrawn line on a terminal, sparse plain lines in logs and CI."""

from __future__ import annotations

import io
from collections import Counter
from datetime import datetime, timezone

import pytest

from pipeline.runs.progress import Progress


class FakeStream(io.StringIO):
    def __init__(self, tty: bool, encoding: str = "utf-8"):
        super().__init__()
        self._tty, self._encoding = tty, encoding

    def isatty(self) -> bool:
        return self._tty

    @property
    def encoding(self):
        return self._encoding


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run_progress(stream, env, steps=40, step_s=1.0, **kwargs) -> str:
    clock = Clock()
    bar = Progress(steps, steps * 1_000_000, stream=stream, clock=clock, env=env, **kwargs)
    for _ in range(steps):
        clock.now += step_s
        bar.advance(1, 1_000_000)
    bar.close()
    return stream.getvalue()


def test_terminal_redraws_one_line_and_ends_it():
    out = run_progress(FakeStream(tty=True), env={"TERM": "xterm"})
    assert out.count("\n") == 1 and out.endswith("\n")
    assert out.count("\r") >= 40
    last = out.rstrip("\n").split("\r")[-1]
    assert "100%" in last and "40/40 files" in last and "40.0 MB / 40.0 MB" in last
    assert "1.0 MB/s" in last and "ETA 0:00:00" in last and "█" in last


@pytest.mark.parametrize("tty,env", [
    pytest.param(False, {}, id="not-a-terminal"),
    pytest.param(True, {"CI": "true", "TERM": "xterm"}, id="terminal-in-CI"),
    pytest.param(True, {"TERM": "dumb"}, id="dumb-terminal"),
])
def test_logs_get_a_plain_line_every_interval_and_nothing_else(tty, env):
    out = run_progress(FakeStream(tty=tty), env=env, steps=70, step_s=1.0, log_every_s=20.0)
    lines = out.splitlines()
    assert len(lines) == 3, out                     # at 20, 40 and 60 s; none at start or close
    assert "\r" not in out and "\x1b" not in out and "█" not in out
    assert lines[0].startswith("ingest: 29% - 20/70 files, 20.0 MB of 70.0 MB, 1.0 MB/s, elapsed 0:00:20, ETA 0:00:50")


def test_short_run_in_logs_prints_nothing():
    assert run_progress(FakeStream(tty=False), env={}, steps=5, step_s=1.0) == ""


def test_ascii_bar_when_the_terminal_is_not_utf8():
    out = run_progress(FakeStream(tty=True, encoding="ascii"), env={})
    assert "#" in out and "█" not in out


def test_disabled_or_empty_prints_nothing():
    assert run_progress(FakeStream(tty=True), env={}, enabled=False) == ""
    stream = FakeStream(tty=True)
    bar = Progress(0, 0, stream=stream, env={})
    bar.close()
    assert stream.getvalue() == ""


def test_summary_names_each_problem_file_once_with_its_reason():
    from pipeline.runs.ingest import RunSummary

    summary = RunSummary("R1", "/srv/archive", datetime(2026, 3, 1, tzinfo=timezone.utc), files_seen=3, files_new=3,
                         by_status=Counter(ok=2, damaged=1), bytes_by_status=Counter(ok=2_000_000, damaged=1000),
                         bytes_read=2_001_000, wall_s=2.0,
                         problems=[{"path": "/dock/A/X.MP4", "status": "damaged", "message": "no moov index"}])
    text = summary.render()
    assert "2 ok (2.0 MB), 1 damaged (1.0 KB), 0 unreadable" in text
    assert "1.0 MB/s" in text
    assert "    damaged    /dock/A/X.MP4\n               no moov index" in text
    assert "fieldrec report --archive /srv/archive" in text
