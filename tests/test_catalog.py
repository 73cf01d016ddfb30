"""Catalog commits are all-or-nothing across tables, and a crash mid-commit is repaired."""

from __future__ import annotations

import json

import pyarrow.dataset as ds
import pytest

from catalog.schema import TABLES
from catalog.store import Catalog


def _row(sha: str) -> dict:
    return {"sha256": sha, "source_path": f"/dock/{sha}", "size": 1, "mtime_ns": 1, "status": "ok", "run_id": "r"}


def test_commit_writes_every_table_and_reads_back(tmp_path):
    cat = Catalog(tmp_path).create()
    cat.commit({"sightings": [_row("a"), _row("b")], "keyframes": [{"sha256": "a", "stream_index": 0, "pts_s": 0.0}]}, tag="r1")
    assert [r["sha256"] for r in cat.rows("sightings")] == ["a", "b"]
    assert ds.dataset(tmp_path / "catalog" / "keyframes").to_table().num_rows == 1
    assert not list((tmp_path / "catalog" / "_journal").iterdir())


def test_a_commit_interrupted_after_its_journal_is_completed_on_open(tmp_path):
    cat = Catalog(tmp_path).create()
    cat.commit({"sightings": [_row("a")]}, tag="r1")
    # Simulate a crash after the journal was written but before the parts were renamed.
    journal_dir = tmp_path / "catalog" / "_journal"
    part = next((tmp_path / "catalog" / "sightings").glob("*.parquet"))
    tmp = part.with_name("." + part.name + ".tmp")
    part.rename(tmp)
    (journal_dir / "x.json").write_text(json.dumps({"renames": [[f"sightings/{tmp.name}", f"sightings/{part.name}"]]}))
    assert Catalog(tmp_path).create().rows("sightings")[0]["sha256"] == "a"
    assert not list(journal_dir.iterdir()) and not tmp.exists()


def test_an_uncommitted_part_never_becomes_visible(tmp_path):
    cat = Catalog(tmp_path).create()
    stray = tmp_path / "catalog" / "sightings" / ".part-crashed.parquet.tmp"
    stray.write_bytes(b"half a parquet file")
    assert cat.rows("sightings") == []
    Catalog(tmp_path).create()
    assert not stray.exists()


def test_rows_are_cast_to_the_schema_and_unknown_tables_refused(tmp_path):
    cat = Catalog(tmp_path).create()
    with pytest.raises(KeyError):
        cat.commit({"no_such_table": [{"x": 1}]}, tag="r")
    assert cat.read("recordings").schema == TABLES["recordings"]
