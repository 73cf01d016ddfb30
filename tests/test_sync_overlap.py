"""What a one-file ingest overlaps instead of waiting for one thing after another: syncs that wait
together (``catalog.durable.sync_together``, a commit's parts, journal and intent), workers
collected after the run has gone on (``LocalPool.shutdown(wait=False)``), and a worker's columns
taken into Arrow by their buffers (``contract.arrow_table``) without importing numpy.ma."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings, strategies as st

from catalog import durable
from catalog.store import Catalog, observe_commits
from pipeline.stages.contract import arrow_table
from tests.helpers import python_prints


def _synced_paths(monkeypatch) -> list[str]:
    """Record the path of every descriptor ``os.fsync`` is called on, in order."""
    synced: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return synced


def test_syncs_wait_together_not_one_after_another(tmp_path, monkeypatch):
    """Every sync is in flight at once: each waits at a barrier the others must reach too, which
    one sync after the other would never pass."""
    files = [tmp_path / f"f{i}" for i in range(4)]
    for f in files:
        f.write_bytes(b"x")
    barrier = threading.Barrier(len(files) + 1, timeout=10)
    real = os.fsync

    def fsync(fd: int) -> None:
        barrier.wait()
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    durable.sync_together(files, meanwhile=barrier.wait)


def test_a_failed_sync_is_raised_once_every_other_is_done(tmp_path):
    done = []
    with pytest.raises(FileNotFoundError):
        durable.sync_together([tmp_path / "missing", tmp_path], meanwhile=lambda: (time.sleep(0.2), done.append(1)))
    assert done == [1]


def test_a_commit_syncs_parts_journal_and_intent_before_its_commit_point(tmp_path, monkeypatch):
    """Parts and the commit journal synced, and the observer told, before the journal is renamed into
    place (the commit point); the tables' folders synced after the parts are renamed."""
    catalog = Catalog(tmp_path / "a").create()
    synced = _synced_paths(monkeypatch)
    events: list[tuple] = []
    real_replace = os.replace

    def replace(src, dst):
        events.append(("rename", str(src), list(synced)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    rows = {"runs": [{"run_id": "r1", "command": "ingest"}],
            "settings_changes": [{"change_id": "c1", "run_id": "r1", "key": "*"}]}
    with observe_commits(tmp_path / "a", lambda files: events.append(("observed", [f[0] for f in files]))):
        made = catalog.commit(rows, tag="t")
    observed = next(e for e in events if e[0] == "observed")
    point = next(i for i, e in enumerate(events) if e[0] == "rename" and e[1].endswith(".json.tmp"))
    assert events.index(observed) < point
    before = events[point][2]
    for name in rows:
        assert any(p.endswith(".parquet.tmp") and f"/{name}/" in p for p in before), (name, before)
    assert any(p.endswith(".json.tmp") for p in before)
    assert sorted(observed[1]) == sorted(f"catalog/{p.parent.name}/{p.name}" for p in made)
    for name in rows:
        assert str(tmp_path / "a" / "catalog" / name) in synced[len(before):]
    assert [r["run_id"] for r in catalog.rows("runs")] == ["r1"]


def test_an_observer_that_fails_leaves_nothing_visible(tmp_path):
    catalog = Catalog(tmp_path / "a").create()

    def refuse(files):
        raise OSError(28, "No space left on device")

    with observe_commits(tmp_path / "a", refuse), pytest.raises(OSError):
        catalog.commit({"runs": [{"run_id": "r1"}]}, tag="t")
    left = [p for p in (tmp_path / "a" / "catalog").rglob("*") if p.is_file()]
    assert left == [] and catalog.rows("runs") == []


def test_idle_workers_killed_without_waiting_are_collected_meanwhile():
    from pipeline.runs.localpool import LocalPool

    pool = LocalPool(2, spawn_now=2)
    processes = [w.process for w in pool.workers]
    pool.shutdown(wait=False)
    assert pool.workers == []
    end = time.monotonic() + 10
    while any(p.returncode is None for p in processes) and time.monotonic() < end:
        time.sleep(0.05)
    assert all(p.returncode is not None and p.returncode < 0 for p in processes)


def test_a_worker_killed_in_a_task_is_waited_for(tmp_path):
    """Whatever a busy worker was writing stops before shutdown returns, waiting or not."""
    from pipeline.runs.localpool import LocalPool
    from tests.engine_tasks import stamp

    pool = LocalPool(1, spawn_now=1)
    pool.submit_task(stamp, [("slow", 60.0)], str(tmp_path), None)
    busy = pool.workers[0].process
    assert pool.workers[0].task is not None
    pool.shutdown(wait=False)
    assert busy.returncode is not None and busy.returncode < 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=0, max_size=3), st.data())
def test_columns_arrive_as_the_table_pa_array_makes(sizes, data):
    """Numpy columns taken by their buffer give the very table ``pa.array`` gives (NaN, infinities,
    negatives, any length, slices of a larger array); a dtype other than the schema's goes through
    ``pa.array`` as before."""
    from catalog.schema import TABLES

    schema = TABLES["keyframes"]
    groups = []
    for n in sizes:
        group = {"sha256": ["a" * 64] * n}
        for name, dtype in (("stream_index", np.int32), ("pts_s", np.float64), ("byte_pos", np.int64),
                            ("size", np.int64)):
            if dtype is np.float64:
                values = data.draw(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=2 * n,
                                            max_size=2 * n))
            else:
                values = data.draw(st.lists(st.integers(-2**31, 2**31 - 1), min_size=2 * n, max_size=2 * n))
            array = np.array(values, dtype=dtype)[::2] if n else np.array([], dtype=dtype)
            if data.draw(st.booleans()) and dtype is np.int64:
                array = array.astype(np.int32)              # not the schema's type: pa.array converts it
            group[name] = array
        groups.append(group)
    expected = (pa.concat_tables([pa.table({k: pa.array(v, schema.field(k).type) for k, v in g.items()},
                                           schema=schema) for g in groups]) if groups else schema.empty_table())
    got = arrow_table("keyframes", groups)
    assert got.schema == expected.schema
    assert got.to_pydict().keys() == expected.to_pydict().keys()
    for name in schema.names:
        a, b = got[name].to_pylist(), expected[name].to_pylist()
        assert [repr(x) for x in a] == [repr(x) for x in b], name


def test_columns_from_a_worker_arrive_without_numpy_ma():
    script = ("import pickle, sys, numpy as np; from pipeline.stages.contract import Columns; "
              "c = Columns('keyframes', [{'sha256': ['x'] * 3, 'stream_index': np.zeros(3, np.int32), "
              "'pts_s': np.array([0.0, 1.0, np.nan]), 'byte_pos': np.arange(3), 'size': np.arange(3)}]); "
              "t = pickle.loads(pickle.dumps(c)); print(t.num_rows, t['pts_s'].to_pylist()[:2], 'numpy.ma' in sys.modules)")
    assert python_prints(script).split() == ["3", "[0.0,", "1.0]", "False"]
