"""The gap refresh's rows per run (``gaprefresh._run_counts``) from the parts' footers where they can
tell, and the same as counting the ``run_id`` column of every part."""

from __future__ import annotations

import json
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq

from catalog.store import RUN_COUNTS_NOTE, Catalog
from pipeline.archive import compact
from pipeline.records import gaprefresh


def _rows(run, n, start=0):
    return [{"sha256": f"{start + i:064x}", "kind": "video", "device_id": f"CAM{i % 3}", "run_id": run}
            for i in range(n)]


def _counted(catalog: Catalog) -> Counter:
    return Counter(r or "" for r in catalog.read("recordings", ["run_id"])["run_id"].to_pylist())


def test_run_counts_from_footers_match_the_column(tmp_path, monkeypatch):
    catalog = Catalog(tmp_path, fsync=False).create()
    catalog.commit({"recordings": _rows("r1", 5)}, tag="r1")
    catalog.commit({"recordings": _rows("r2", 3, 100) + _rows(None, 2, 200)}, tag="r2")     # a run and none
    catalog.commit({"recordings": _rows("r3", 4, 300) + _rows("r4", 1, 400)}, tag="x")       # two runs, no note
    # a merged part, as compaction writes it: its footer counts its runs
    merged = pa.Table.from_pylist(_rows("r5", 6, 500) + _rows("r6", 2, 600) + _rows(None, 1, 700))
    staged = catalog.stage("recordings", merged, tag="compact", notes=compact.run_counts(merged))
    staged.tmp.rename(staged.tmp.parent / staged.name)
    read = []
    original = gaprefresh._counted_from_footer

    def counted(path, counts):
        told = original(path, counts)
        read.append((path.name, told))
        return told
    monkeypatch.setattr(gaprefresh, "_counted_from_footer", counted)
    assert gaprefresh._run_counts(catalog) == dict(_counted(catalog))
    assert sorted(told for _, told in read) == [False, False, True, True]       # r2 (a null) and x read
    note = json.loads(pq.read_metadata(staged.tmp.parent / staged.name).metadata[RUN_COUNTS_NOTE.encode()])
    assert note == [["r5", 6], ["r6", 2], [None, 1]]


def test_a_note_that_does_not_add_up_is_not_taken(tmp_path):
    catalog = Catalog(tmp_path, fsync=False).create()
    rows = pa.Table.from_pylist(_rows("r1", 4) + _rows("r2", 4, 100))
    for note in ('[["r1", 4]]', "not json", '[["r1", "x"]]', '[[1, 8]]', '[[["r1"], 8]]', '{"r1": 8}',
                 '[["r1", 8.0]]', '[["r1", -1], ["r2", 9]]', '[["r1", true], ["r2", 7]]'):
        staged = catalog.stage("recordings", rows, tag="compact", notes={RUN_COUNTS_NOTE: note})
        staged.tmp.rename(staged.tmp.parent / staged.name)
    assert gaprefresh._run_counts(catalog) == {"r1": 36, "r2": 36}
