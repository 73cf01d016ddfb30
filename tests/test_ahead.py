"""``runs.ahead``: what an ingest reads and counts while its files are stored. A run that fails
waits for the step under way (the interpreter must never end under a DuckDB query: the process
aborts) and skips the rest."""

from __future__ import annotations

import threading
import time

import pytest

from catalog.store import Catalog
from pipeline.records import gapwaiting
from pipeline.runs import ingest as ingest_module
from tests.helpers import ingest, lean_config
from tests.test_gap_count import _pause_between


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


def test_a_closed_ahead_skips_the_steps_left(tmp_path, monkeypatch):
    from pipeline.runs.ahead import Ahead

    archive = tmp_path / "archive"
    Catalog(archive, fsync=False).create().commit(_pause_between(True, []), tag="n0")
    gate, counted = threading.Event(), []
    from catalog.store import PartCache

    read = PartCache.read

    def held_read(self, *args):
        gate.wait(10)
        return read(self, *args)
    monkeypatch.setattr(PartCache, "read", held_read)
    monkeypatch.setattr(gapwaiting, "before", lambda *a: counted.append(True))
    early = Ahead(Catalog(archive), lean_config(), "r1")
    closer = threading.Thread(target=early.close)
    closer.start()
    time.sleep(0.1)
    gate.set()
    closer.join(10)
    assert not closer.is_alive() and counted == []
    assert early.count() is None
