"""The gap refresh's rows as a walk reads them (``gaprefresh._prepared``: instants taken as stored
where a row lies where it is stored, built column by column) are what placing each row on its own
gives (``clocks.placed_start``, ``placed_end``), to the zone of every instant."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pyarrow as pa
from hypothesis import given, settings, strategies as st

from catalog.schema import TABLES
from pipeline.config import load_config
from pipeline.records import gaprefresh
from pipeline.rules import timeline
from pipeline.rules.clocks import placed_end, placed_start

UTC = timezone.utc
T0 = datetime(2026, 3, 1, 8, 0)


def _reference(table: pa.Table, zones, moved: dict | None) -> list[dict]:
    """Each row placed on its own (``_prepared`` as it was before its column-wise fast path)."""
    rows = table.to_pylist()
    for r in rows:
        if moved and r["sha256"] in moved:
            r["device_id"], r["officer_id"] = moved[r["sha256"]]
        zone, _ = zones.device(r["device_id"])
        start = placed_start(r, zone)
        r["start_time"], r["end_time"] = gaprefresh._naive(start), gaprefresh._naive(placed_end(r, zone, start))
        r["ingested_at"] = gaprefresh._naive(r["ingested_at"])
    return rows


@st.composite
def row(draw, i: int) -> dict:
    start = T0 + timedelta(minutes=draw(st.integers(0, 5000)), microseconds=draw(st.integers(0, 999_999)))
    duration = draw(st.sampled_from((None, 0.0, 60.0, 299.9999995, 1799.5)))
    stored = draw(st.sampled_from(("Asia/Shanghai", "Asia/Shanghai", "Europe/Paris", "UTC", None)))
    utc = draw(st.sampled_from(("placed", "placed", "none", "no end")))
    start_utc = (start - timedelta(hours=8)).replace(tzinfo=UTC)
    return {"sha256": f"{i:064x}", "kind": "video", "status": "ok",
            "device_id": draw(st.sampled_from(("CAM1", "CAM2", "PARIS1", None))), "officer_id": "O1",
            "start_time": draw(st.sampled_from((start, None))), "end_time": start + timedelta(seconds=duration or 0),
            "duration_s": duration, "sequence": draw(st.sampled_from((None, 1, 7))), "name_time": start,
            "container_time": None, "time_source": draw(st.sampled_from(("filename", "creation_time"))),
            "ingested_at": draw(st.sampled_from((None, datetime(2026, 4, 1, tzinfo=UTC)))), "source_name": f"f{i}.mp4",
            "start_utc": None if utc == "none" else start_utc,
            "end_utc": start_utc + timedelta(seconds=duration or 0) if utc == "placed" else None,
            "time_zone": stored, "container_time_zone": draw(st.sampled_from((None, "local", "utc")))}


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 30).flatmap(lambda n: st.tuples(*(row(i) for i in range(n)))), st.data())
def test_prepared_rows_are_each_row_placed(rows, data):
    config = load_config()
    config = dataclasses.replace(config, site=dataclasses.replace(
        config.site, time_zone="Asia/Shanghai", device_time_zones=("PARIS1=Europe/Paris",)))
    zones = config.zones()
    schema = pa.schema([TABLES["recordings"].field(c) for c in timeline.COLUMNS])
    table = pa.Table.from_pylist(list(rows), schema=schema)
    moved = data.draw(st.sampled_from((None, {}, {f"{i:064x}": ("CAM2", "O9") for i in range(0, 30, 3)})))
    # repr: the same instants with the same zones (== alone would hold an aware and a naive apart only)
    assert repr(gaprefresh._prepared(table, zones, moved)) == repr(_reference(table, zones, moved))
