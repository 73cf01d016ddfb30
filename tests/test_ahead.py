"""``runs.ahead``: what an ingest reads and counts while its files are stored. A run that fails
waits for the step under way (the interpreter must never end under a DuckDB query: the process
aborts) and skips the rest."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from catalog.store import Catalog
from pipeline.records import gapwaiting
from pipeline.runs import ingest as ingest_module
from tests.helpers import ingest, lean_config
from tests.recorder_drops import DAY, clip
from tests.test_gap_count import _pause_between


def _archive(tmp_path):
    """An archive with a long pause (so the thread has gaps to read and count)."""
    archive = tmp_path / "archive"
    Catalog(archive, fsync=False).create().commit(_pause_between(True, []), tag="n0")
    return archive


def _held_reads(monkeypatch) -> threading.Event:
    """The thread's reads of the gaps and states wait for the event returned to be set."""
    from catalog.store import PartCache

    gate, read = threading.Event(), PartCache.read

    def held_read(self, *args):
        gate.wait(10)
        return read(self, *args)
    monkeypatch.setattr(PartCache, "read", held_read)
    return gate


def test_a_run_that_fails_waits_for_the_count_under_way(tmp_path, monkeypatch):
    archive = tmp_path / "archive"
    Catalog(archive, fsync=False).create().commit(_pause_between(True, []), tag="n0")
    (tmp_path / "drop").mkdir()
    started, finished = threading.Event(), []

    def slow_count(*args, **kwargs):
        started.set()
        time.sleep(0.5)
        finished.append(True)
        return None

    def failing_walk(*args, **kwargs):
        assert started.wait(10)
        raise OSError("the drop went away")
    monkeypatch.setattr(gapwaiting, "before", slow_count)
    monkeypatch.setattr(ingest_module, "walk", failing_walk)
    with pytest.raises(OSError, match="the drop went away"):
        ingest([tmp_path / "drop"], archive, lean_config())
    assert finished == [True]
    assert not [t for t in threading.enumerate() if t.name == "fieldrec-ahead"]


def test_the_reads_wait_for_a_run_to_last_and_a_closed_ahead_begins_none(tmp_path, monkeypatch):
    """The count begins at once; the reads only once the run has lasted ``read_after_s`` (a short
    run's end reads for itself, without them competing), and never once closed."""
    from pipeline.records import conflicts
    from pipeline.runs.ahead import Ahead

    archive = _archive(tmp_path)
    Catalog(archive, fsync=False).commit({"sightings": [{"sha256": "0" * 64, "source_path": "/dock/a.mp4",
                                                        "run_id": "n0"}]}, tag="n0")
    done = []
    monkeypatch.setattr(gapwaiting, "before", lambda *a: done.append("count"))
    monkeypatch.setattr(conflicts, "sighted", lambda *a: done.append("sighted"))
    early = Ahead(Catalog(archive), lean_config(), "r1", read_after_s=30)
    assert early.count() is None and done == ["count"]
    t0 = time.monotonic()
    early.close()
    assert time.monotonic() - t0 < 5 and done == ["count"] and not early.parts._parts
    done.clear()
    early = Ahead(Catalog(archive), lean_config(), "r1", read_after_s=0)
    early.wait()
    assert done == ["count", "sighted"] and early.parts._parts          # the gaps and states read too


def test_a_run_that_fails_at_its_end_is_recorded_before_the_thread_is_waited_for(tmp_path, monkeypatch):
    """The run's row and its engine's close come first; the step under way is waited for last (a
    Ctrl-C during that wait skips nothing)."""
    archive = tmp_path / "archive"
    Catalog(archive, fsync=False).create().commit(_pause_between(True, []), tag="n0")
    drop = tmp_path / "drop"
    clip(drop, "BWC0001_OF1_20250602090000_0001.MP4", DAY + timedelta(hours=9), 2.0)
    started, seen = threading.Event(), []

    def slow_count(*args, **kwargs):
        started.set()
        time.sleep(1.0)

    def failing_refresh(*args, **kwargs):
        assert started.wait(10)
        raise OSError("the disk is full")
    close_run = ingest_module.close_run

    def noted(*args, **kwargs):
        seen.append([t.name for t in threading.enumerate() if t.name == "fieldrec-ahead"])
        return close_run(*args, **kwargs)
    monkeypatch.setattr(gapwaiting, "before", slow_count)
    monkeypatch.setattr(ingest_module, "refresh_gaps", failing_refresh)
    monkeypatch.setattr(ingest_module, "close_run", noted)
    with pytest.raises(OSError, match="the disk is full"):
        ingest([drop], archive, lean_config())
    assert seen == [["fieldrec-ahead"]]                     # recorded while the count still ran
    assert not [t for t in threading.enumerate() if t.name == "fieldrec-ahead"]
    assert [r["outcome"] for r in Catalog(archive).rows("runs", ["outcome"])] == ["failed"]


def test_once_the_end_begins_only_the_count_is_still_made(tmp_path, monkeypatch):
    from pipeline.records import gaprefresh
    from pipeline.runs.ahead import Ahead

    archive = _archive(tmp_path)
    gate, done = _held_reads(monkeypatch), []
    monkeypatch.setattr(gaprefresh, "recent_ahead", lambda *a: done.append("recent"))
    monkeypatch.setattr(gaprefresh, "survey_ahead", lambda *a: done.append("survey"))
    monkeypatch.setattr(gapwaiting, "before", lambda *a: done.append("count") or {"waiting": []})
    early = Ahead(Catalog(archive), lean_config(), "r1")
    early.ending()
    gate.set()
    assert early.count() == {"waiting": []}
    early.close()
    assert done == ["count"]
