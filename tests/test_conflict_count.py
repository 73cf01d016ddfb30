"""The ingest summary's count of contents docked under names that disagree (``records.conflicts``),
read only for contents seen more than once, is what judging every sighting of the run's contents gives."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from catalog.store import Catalog
from pipeline.config import load_config
from pipeline.records import attribution, conflicts, gaplist

UTC = timezone.utc
T0 = datetime(2026, 3, 1, 8, tzinfo=UTC)
NAMES = (("/dock/CAM1/a.mp4", "CAM1"), ("/dock/CAM1/a.mp4", "CAM1"), ("/dock/CAM2/a.mp4", "CAM2"),
         ("/dock/x/a.mp4", "CAM1"))


def every_sighting(catalog: Catalog, run_id: str, identity) -> int:
    """The reference: every sighting of every content the run saw, judged."""
    shas = sorted({r["sha256"] for r in catalog.rows("sightings") if r["run_id"] == run_id and r["sha256"]})
    named = gaplist.sightings_of(catalog.archive, shas).to_pylist() if shas else []
    paths: dict[str, set] = {}
    for row in named:
        paths.setdefault(row["sha256"], set()).add(row["source_path"])
    return len(attribution.for_contents([], [r for r in named if len(paths[r["sha256"]]) > 1], identity).conflicts())


@st.composite
def sightings(draw) -> list[dict]:
    rows = []
    for i in range(draw(st.integers(0, 12))):
        path, device = draw(st.sampled_from(NAMES))
        rows.append({"sha256": draw(st.sampled_from([f"{n:064x}" for n in range(4)] + [None])), "source_path": path,
                     "device_id": device, "officer_id": "O1", "name_time": T0.replace(tzinfo=None),
                     "naming_profile": "test", "seen_at": T0 + timedelta(minutes=i), "size": 1, "mtime_ns": 0,
                     "status": "ok", "run_id": draw(st.sampled_from(("r1", "r2")))})
    return rows


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(sightings())
def test_the_count_is_what_judging_every_sighting_gives(tmp_path_factory, rows):
    catalog = Catalog(tmp_path_factory.mktemp("c"), fsync=False).create()
    if rows:
        catalog.commit({"sightings": rows}, tag="t")
    identity = load_config().identity
    assert conflicts.of_run(catalog, "r1", identity) == every_sighting(catalog, "r1", identity)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(sightings(), st.data())
def test_the_count_from_contents_sighted_before_is_the_same(tmp_path_factory, rows, data):
    """``sighted`` read before the run's sightings were committed, or after some of them (the read
    ahead races the run's first commits): the same count as looking every content up."""
    earlier = [r for r in rows if r["run_id"] == "r2"]
    mine = [r for r in rows if r["run_id"] == "r1"]
    cut = data.draw(st.integers(0, len(mine)))
    catalog = Catalog(tmp_path_factory.mktemp("c"), fsync=False).create()
    if earlier or mine[:cut]:
        catalog.commit({"sightings": earlier + mine[:cut]}, tag="a")
    sighted = conflicts.sighted(catalog) if catalog.visible_parts("sightings") else set()
    if mine[cut:]:
        catalog.commit({"sightings": mine[cut:]}, tag="b")
    identity = load_config().identity
    assert conflicts.of_run(catalog, "r1", identity, sighted=sighted) == every_sighting(catalog, "r1", identity)


@pytest.mark.parametrize("earlier, now, expected", [
    pytest.param([], [NAMES[0]], 0, id="seen-once"),
    pytest.param([NAMES[0]], [NAMES[1]], 0, id="seen-again-by-the-same-name"),
    pytest.param([NAMES[0]], [NAMES[2]], 1, id="seen-again-by-another-device's-name"),
    pytest.param([], [NAMES[0], NAMES[2]], 1, id="twice-in-the-run-by-names-that-disagree"),
])
def test_a_content_seen_again_is_judged(tmp_path, earlier, now, expected):
    sha = f"{7:064x}"

    def row(path, device, run, minutes):
        return {"sha256": sha, "source_path": path, "device_id": device, "officer_id": "O1", "name_time": None,
                "naming_profile": "test", "seen_at": T0 + timedelta(minutes=minutes), "run_id": run, "status": "ok"}
    catalog = Catalog(tmp_path, fsync=False).create()
    catalog.commit({"sightings": [row(p, d, "r0", i) for i, (p, d) in enumerate(earlier)]
                    + [row(p, d, "r1", 10 + i) for i, (p, d) in enumerate(now)]}, tag="t")
    assert conflicts.seen_more_than_once(catalog, [sha]) == ([sha] if len(earlier) + len(now) > 1 else [])
    assert conflicts.of_run(catalog, "r1", load_config().identity) == expected
    before = Catalog(tmp_path / "before", fsync=False).create()
    if earlier:
        before.commit({"sightings": [row(p, d, "r0", i) for i, (p, d) in enumerate(earlier)]}, tag="t")
    sighted = conflicts.sighted(before) if earlier else set()
    assert conflicts.of_run(catalog, "r1", load_config().identity, sighted=sighted) == expected
