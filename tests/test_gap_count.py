"""The ingest summary's gap counts (``records.gapcount``) are what the reference listing counts."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from catalog.store import Catalog
from pipeline.config import load_config
from pipeline.records import gapcount, gapstate
from tests.test_set_rules import gap_catalog

UTC = timezone.utc


def reference(archive: Path, config, run_id: str) -> dict:
    """The counts as the summary states them, from ``gapstate.listing`` (every gap, decided one by one)."""
    current = [g for g in gapstate.listing(Catalog(archive), config.zones(), config) if g["current"]]
    mine = [g for g in current if g["detected_run_id"] == run_id]
    need = sum(g["needs_explanation"] for g in mine)
    waiting = sum(g["needs_explanation"] and g["explanation"] != "explained" for g in current)
    return {"found": len(mine), "need": need, "free": len(mine) - need, "waiting": waiting}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gap_catalog(), st.sampled_from(("r1", "r2", "r9")))
def test_counts_match_the_reference(drawn, run_id):
    tables, config = drawn
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp)
        Catalog(archive, fsync=False).create().commit(tables, tag="t")
        assert gapcount.count(archive, config, run_id).summary() == reference(archive, config, run_id)


T0 = datetime(2026, 1, 1, 8, tzinfo=UTC)


def _pause_between(important: bool | None, assignments: list[dict]) -> dict:
    """Two recordings of CAM1 an hour apart, the long pause between them, open and unexplained."""
    recordings = [{"sha256": f"{i:064x}", "kind": "video", "device_id": "CAM1", "officer_id": "O1",
                   "start_utc": T0 + timedelta(hours=i), "start_time": (T0 + timedelta(hours=i)).replace(tzinfo=None),
                   "end_utc": T0 + timedelta(hours=i, minutes=5), "duration_s": 300.0, "time_source": "filename",
                   "time_zone": "Asia/Shanghai", "important": important, "source_name": f"n{i}.mp4"} for i in (0, 1)]
    gap = {"gap_id": "g-long", "kind": "between_files", "device_id": "CAM1", "officer_id": "O1",
           "start_utc": T0 + timedelta(minutes=5), "end_utc": T0 + timedelta(hours=1), "duration_s": 3300.0,
           "start_time": (T0 + timedelta(minutes=5)).replace(tzinfo=None),
           "end_time": (T0 + timedelta(hours=1)).replace(tzinfo=None),
           "before_sha256": recordings[0]["sha256"], "after_sha256": recordings[1]["sha256"],
           "detected_run_id": "r1", "detail": "x"}
    return {"recordings": recordings, "gaps": [gap], "assignments": assignments}


@pytest.mark.parametrize("important, assignments, needed", [
    pytest.param(None, [], False, id="nothing-covers-it"),
    pytest.param(True, [], True, id="both-sides-marked-important"),
    pytest.param(None, [{"assignment_id": "a", "retention_class": "routine", "selector": "device", "device_id": "CAM1",
                         "range_start": T0, "range_end": T0 + timedelta(hours=2), "at": T0}], False,
                 id="a-routine-assignment"),
    pytest.param(None, [{"assignment_id": "a", "case_id": "C1", "retention_class": "case", "selector": "device",
                         "device_id": "CAM1", "range_start": T0, "range_end": T0 + timedelta(hours=2), "at": T0}],
                 True, id="a-case-window"),
])
def test_a_long_pause_needs_an_explanation_only_when_something_covers_it(tmp_path, important, assignments, needed):
    config = load_config()
    Catalog(tmp_path, fsync=False).create().commit(_pause_between(important, assignments), tag="t")
    expected = {"found": 1, "need": int(needed), "free": int(not needed), "waiting": int(needed)}
    assert reference(tmp_path, config, "r1") == expected
    assert gapcount.count(tmp_path, config, "r1").summary() == expected
