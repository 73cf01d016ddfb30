"""``records.frame`` reads the recordings a part at a time: every row in catalog order, each column
in one piece and of the catalog's type, whatever the parts hold."""

from __future__ import annotations

from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq

from catalog.schema import TABLES
from catalog.store import Catalog
from pipeline.records import frame

UTC = timezone.utc
COLUMNS = ["sha256", "device_id", "officer_id", "start_utc", "time_zone", "important"]


class _Listing:
    """A catalog whose listing of parts is given: a list per call (the last one again after)."""

    def __init__(self, *listings: list):
        self.listings = list(listings)

    def visible_parts(self, table: str) -> list:
        assert table == "recordings"
        return self.listings.pop(0) if len(self.listings) > 1 else self.listings[0]

    relisting = Catalog.relisting            # the catalog's own: read again after a listing went stale


def _part(path, rows: list[dict], columns: list[str], row_group_size: int = 2, dictionary: bool = True):
    schema = pa.schema([TABLES["recordings"].field(c) for c in columns])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, row_group_size=row_group_size,
                   use_dictionary=dictionary)
    return path


def _rows(k: int, n: int) -> list[dict]:
    return [{"sha256": f"{k}-{i}", "device_id": f"CAM{i % 3}" if i % 4 else None, "officer_id": f"O{(i + k) % 2}",
             "start_utc": datetime(2026, 1, 1 + i, tzinfo=UTC), "time_zone": "Asia/Shanghai" if i % 2 else None,
             "important": i % 3 == 0} for i in range(n)]


def test_parts_read_in_order_with_columns_a_part_lacks_as_nulls(tmp_path):
    old = [{k: v for k, v in r.items() if k not in ("time_zone", "important")} for r in _rows(0, 3)]
    parts = [_part(tmp_path / "a.parquet", old, ["sha256", "device_id", "officer_id", "start_utc"]),
             _part(tmp_path / "b.parquet", _rows(1, 5), COLUMNS),
             _part(tmp_path / "c.parquet", _rows(2, 4), COLUMNS, dictionary=False),
             _part(tmp_path / "d.parquet", [], COLUMNS)]
    table = frame._recordings(_Listing(parts), COLUMNS)
    expected = [{**r, "time_zone": None, "important": None} for r in old] + _rows(1, 5) + _rows(2, 4)
    assert table.schema == pa.schema([TABLES["recordings"].field(c) for c in COLUMNS])
    assert all(column.num_chunks == 1 for column in table.columns)
    assert table.to_pylist() == expected


def test_a_part_removed_while_listed_is_listed_and_read_again(tmp_path):
    """A compaction finished between the listing and the read: the parts are listed anew."""
    merged = _part(tmp_path / "merged.parquet", _rows(0, 6), COLUMNS, row_group_size=6)
    table = frame._recordings(_Listing([tmp_path / "gone.parquet", merged], [merged]), COLUMNS)
    assert table.to_pylist() == _rows(0, 6)


def test_no_parts_is_an_empty_table_of_the_catalog_types():
    table = frame._recordings(_Listing([]), COLUMNS)
    assert table.num_rows == 0 and table.schema == pa.schema([TABLES["recordings"].field(c) for c in COLUMNS])


def test_the_sha256_and_the_other_columns_are_read_from_one_listing_again_when_a_part_went(tmp_path, monkeypatch):
    """``_read`` reads the SHA-256 (for the join with the sightings) and the other columns in two
    threads, from one listing: a part removed meanwhile has both read again, rows still aligned."""
    archive = tmp_path / "archive"
    rows = _rows(0, 5)
    seen = [{"sha256": r["sha256"], "source_path": f"/dock/{r['sha256']}.mp4",
             "seen_at": datetime(2026, 2, 1 + i, tzinfo=UTC)} for i, r in enumerate(rows) if i % 2]
    Catalog(archive, fsync=False).create().commit({"recordings": rows, "sightings": seen}, tag="t")
    listed = Catalog.visible_parts
    stale = [True]

    def listing(self, table):
        parts = listed(self, table)
        if table == "recordings" and stale.pop() if stale else False:
            return [archive / "catalog" / "recordings" / "gone.parquet"] + parts
        return parts

    monkeypatch.setattr(Catalog, "visible_parts", listing)
    table, first_seen, _identities = frame._read(archive, COLUMNS, None)
    assert not stale                                    # the stale listing was read, then listed anew
    assert table.to_pylist() == rows
    assert first_seen.to_pylist() == [datetime(2026, 2, 1 + i, tzinfo=UTC) if i % 2 else None for i in range(5)]
