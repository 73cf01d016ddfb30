"""``gaplist.sightings_of`` (the ingest's end summary, through DuckDB) gives the rows a filtered
catalog read gives, in the same order."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from catalog.store import Catalog
from pipeline.records import gaplist
from pipeline.records.attribution import SIGHTING_COLUMNS

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)


def _sighting(n: int, sha: int, path: str, device: str | None) -> dict:
    return {"sighting_id": f"s{n}", "run_id": f"run{n % 3}", "source_path": path, "sha256": f"{sha:064x}",
            "status": "ok", "device_id": device, "officer_id": None, "name_time": datetime(2026, 3, 1, 7, n % 60),
            "naming_profile": "default", "seen_at": T0 + timedelta(minutes=n)}


@pytest.fixture
def archive(tmp_path):
    catalog = Catalog(tmp_path / "a", fsync=False).create()
    # three commits (three parts): contents seen once, twice under one path, under two paths
    for part in range(3):
        catalog.commit({"sightings": [_sighting(part * 10 + i, i % 5, f"/dock/{part}/{i}.mp4", "CAM1" if i % 2 else None)
                                      for i in range(7)]}, tag=f"run{part}")
    return tmp_path / "a"


@pytest.mark.parametrize("shas", [
    pytest.param([f"{i:064x}" for i in range(5)], id="every-content"),
    pytest.param([f"{3:064x}"], id="one"),
    pytest.param([f"{99:064x}", "not-a-sha", ""], id="unknown-and-garbage"),
    pytest.param([], id="none"),
    pytest.param([f"{1:064x}"] * 3, id="repeated"),
])
def test_sightings_of_matches_a_filtered_read(archive, shas):
    expected = Catalog(archive).rows("sightings", SIGHTING_COLUMNS,
                                     filter=ds.field("sha256").isin(pa.array(sorted(set(shas)), pa.string())))
    got = gaplist.sightings_of(archive, sorted(set(shas))).to_pylist()
    assert got == expected
    assert bool(got) == any(s in {f"{i:064x}" for i in range(5)} for s in shas)


def test_sightings_of_an_archive_without_sightings(tmp_path):
    Catalog(tmp_path / "a", fsync=False).create()
    assert gaplist.sightings_of(tmp_path / "a", [f"{1:064x}"]).num_rows == 0
