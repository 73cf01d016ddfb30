"""Recordings stored without a run id (a part put in by hand) that appear after a refresh that kept
its survey figures: ``_run_counts`` takes them in as run "", so the next refresh is incremental; the
survey counts them as older recordings (as ``gapsurvey.figures`` does), so its figures are counted
afresh rather than taken from the kept ones, which predate them. Found in review: the kept figures
missed them, and with them a gap a full refresh finds."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa

from catalog.store import Catalog
from pipeline.common.times import UTC
from pipeline.config import load_config
from pipeline.records import gaprefresh, gapsurvey
from tests.test_gap_refresh import _plain, _state
from tests.test_gap_survey import _checked


def test_rows_without_a_run_id_are_counted_in_the_kept_figures():
    config = load_config()
    zones = config.zones()
    params = gaprefresh._survey_params(config.gaps, zones.site_zone)
    nights = [datetime(2026, 3, 10 + b, tzinfo=UTC) for b in range(3)]
    batches = [[_plain(10 * b + i, "CAM1", "video", datetime(2026, 3, 9 + b, 8 + 2 * i), zones, nights[b])
                for i in range(3)] for b in range(3)]
    # a hand-planted row (no run id), recorded after the third night's recordings
    planted = {**_plain(99, "CAM1", "video", datetime(2026, 3, 11, 20), zones, nights[1]), "run_id": None}
    seen: list = []
    original = gaprefresh._figures
    with tempfile.TemporaryDirectory() as tmp:
        full, part = Path(tmp) / "full", Path(tmp) / "part"
        modes = []
        try:
            gaprefresh._figures = _checked(seen)
            for b, recordings in enumerate(batches):
                if b == 2:
                    for archive in (full, part):
                        Catalog(archive, fsync=False).create().commit({"recordings": [planted]}, tag="planted")
                for archive in (full, part):
                    Catalog(archive, fsync=False).create().commit(
                        {"recordings": [{**r, "run_id": f"run{b}"} for r in recordings]}, tag=f"run{b}")
                now = nights[b] + timedelta(minutes=30)
                gaprefresh.refresh(Catalog(full, fsync=False), f"run{b}", config, now=now, full=True)
                modes.append(gaprefresh.refresh(Catalog(part, fsync=False), f"run{b}", config, now=now).mode)
                catalog = Catalog(part)
                kept = gapsurvey.kept(catalog, f"run{b}")
                if kept is not None:
                    every = gapsurvey.aggregate(catalog.read("recordings", gapsurvey.COLUMNS), params)
                    order = [(c, "ascending") for c in ("device_id", "kind", "time_zone")]
                    assert kept.sort_by(order).to_pylist() == every.sort_by(order).to_pylist(), f"kept, batch {b}"
        finally:
            gaprefresh._figures = original
        assert modes == ["full", "incremental", "incremental"]
        assert _state(full) == _state(part)

