"""``catalog.store.PartCache`` gives what ``Catalog.read`` gives, reading only the parts it has not
read: a part is never rewritten, and a compaction's parts have new names."""

from __future__ import annotations

import pyarrow.dataset as ds

from catalog.store import Catalog, PartCache
from pipeline.archive.compact import sorted_rows


def _rows(n: int, tag: str) -> list[dict]:
    return [{"gap_id": f"{tag}-{i}", "state": "open" if i % 2 else "closed", "run_id": tag} for i in range(n)]


def test_parts_are_read_once_and_the_rows_are_catalog_s(tmp_path, monkeypatch):
    catalog = Catalog(tmp_path, fsync=False).create()
    cache = PartCache()
    assert cache.read(catalog, "gap_state", ["gap_id", "state"]).num_rows == 0         # no part yet
    catalog.commit({"gap_state": _rows(3, "b")}, tag="b")
    catalog.commit({"gap_state": _rows(2, "d")}, tag="d")
    assert cache.read(catalog, "gap_state", ["gap_id", "state"]).equals(catalog.read("gap_state", ["gap_id", "state"]))
    opened = []
    dataset = ds.dataset
    monkeypatch.setattr(ds, "dataset", lambda paths, **k: opened.append(paths) or dataset(paths, **k))
    catalog.commit({"gap_state": _rows(4, "a")}, tag="a")                # listed first: read, the others not
    got = cache.read(catalog, "gap_state", ["gap_id", "state"])
    assert [len(p) for p in opened] == [1] and "part-a-" in opened[0][0]
    monkeypatch.setattr(ds, "dataset", dataset)
    assert got.to_pylist() == catalog.read("gap_state", ["gap_id", "state"]).to_pylist()
    assert got["gap_id"].to_pylist()[:4] == ["a-0", "a-1", "a-2", "a-3"]          # in listing order
    # other columns are other reads
    assert cache.read(catalog, "gap_state", ["gap_id"]).column_names == ["gap_id"]


def test_a_compaction_s_parts_are_read_and_the_replaced_ones_forgotten(tmp_path):
    catalog = Catalog(tmp_path, fsync=False).create()
    cache = PartCache()
    for tag in ("b", "c", "d"):
        catalog.commit({"gap_state": _rows(3, tag)}, tag=tag)
    cache.read(catalog, "gap_state", ["gap_id", "state"])
    old = [p.name for p in catalog.visible_parts("gap_state")]
    rows = sorted_rows("gap_state", catalog.read("gap_state"))
    staged = catalog.stage("gap_state", rows, tag="compact", row_group_rows=2)       # batches in order
    swap = catalog.swap("gap_state", old, [staged], run_id="c1")
    catalog.finish_swap(swap)
    catalog.forget_swap(swap)
    got = cache.read(catalog, "gap_state", ["gap_id", "state"])
    assert got.to_pylist() == catalog.read("gap_state", ["gap_id", "state"]).to_pylist()
    assert sorted(got["gap_id"].to_pylist()) == sorted(f"{t}-{i}" for t in "bcd" for i in range(3))
    (kept,) = cache._parts.values()
    assert set(kept) == {p.name for p in catalog.visible_parts("gap_state")}
    catalog.commit({"gap_state": _rows(3, "a")}, tag="a")
    for expr in (ds.field("state") == "open", ds.field("gap_id") != "c-1"):
        assert cache.read(catalog, "gap_state", ["gap_id"], expr).to_pylist() == \
            catalog.read("gap_state", ["gap_id"], filter=expr).to_pylist()


def test_parts_kept_whole_are_filtered_as_a_read_filters(tmp_path):
    """``keep`` some parts whole, then ``read`` with a filter: the rows, in the order ``Catalog.read`` gives
    for the same filter, whether the filter is answered here, on a column not kept (read), or the
    columns asked are not kept (read)."""
    import pyarrow as pa

    catalog = Catalog(tmp_path, fsync=False).create()
    for tag in ("b", "c", "d"):
        catalog.commit({"gap_state": _rows(5, tag)}, tag=tag)
    cache = PartCache()
    parts = catalog.visible_parts("gap_state")
    cache.keep(catalog, "gap_state", ["gap_id", "state"], parts[1:])          # the first part is not kept
    catalog.commit({"gap_state": _rows(2, "a")}, tag="a")                     # nor one added since
    for expr in (ds.field("state") == "open", ds.field("gap_id").isin(pa.array(["a-1", "c-2", "d-4"])),
                 (ds.field("state") == "closed") | ds.field("gap_id").is_null(), ds.field("run_id") == "c"):
        for columns in (["gap_id"], ["gap_id", "state"], ["gap_id", "run_id"]):
            assert cache.read(catalog, "gap_state", columns, expr).to_pylist() == \
                catalog.read("gap_state", columns, filter=expr).to_pylist(), (expr, columns)
