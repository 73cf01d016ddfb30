"""The refresh's survey from the kept figures (``gaprefresh._figures``: ``gap_survey`` and the
recordings read around the stretches) says of every group what the whole-history DuckDB survey
(``gapsurvey.figures``) says, night after night on random timelines (late files, reset clocks,
numbered files, zones, attributions), and the figures each refresh keeps are those of every
recording it took in."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pyarrow as pa
from hypothesis import HealthCheck, event, given, settings

from catalog.store import Catalog
from pipeline.records import gaprefresh, gapsurvey
from tests.test_gap_refresh import _night, _state, batches

ASKED = ("first_min", "first_max", "before_max", "after_min", "seq_max", "seq_min", "numbered_max", "cut_max")


def _checked(seen: list):
    figures = gaprefresh._figures

    def checked(catalog, groups, fresh, labels, cfg, zones, older, *rest):
        by_group, table = figures(catalog, groups, fresh, labels, cfg, zones, older, *rest)
        order = list(groups)
        params = gaprefresh._survey_params(cfg, zones.site_zone)
        reference = {m["i"]: m for m in gapsurvey.figures(catalog, pa.table({
            "i": pa.array(range(len(order)), pa.int64()), "device_id": pa.array([d for d, _ in order], pa.string()),
            "kind": pa.array([k for _, k in order], pa.string()),
            "lo": pa.array([gaprefresh._utc(groups[k].lo) for k in order], pa.timestamp("us", tz="UTC")),
            "hi": pa.array([gaprefresh._utc(groups[k].hi) for k in order], pa.timestamp("us", tz="UTC"))}),
            {"fresh": fresh, "labels": labels, **params}).to_pylist()}
        for i, key in enumerate(order):
            want, got = reference.get(i, {}), by_group.get(i, {})
            assert {a: want.get(a) for a in ASKED} == {a: got.get(a) for a in ASKED}, key
            assert bool(want.get("odd_sum")) == bool(got.get("odd_sum")), key
            seen.append("late" if want.get("first_max") is not None and gaprefresh._utc(groups[key].lo) <= want["first_max"]
                        else "cut" if want.get("cut_max") is not None else "plain")
        return by_group, table
    return checked


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batches())
def test_the_kept_survey_says_what_the_whole_history_survey_says(drawn):
    config, runs = drawn
    seen: list = []
    original = gaprefresh._figures
    gaprefresh._figures = _checked(seen)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            full, part = Path(tmp) / "full", Path(tmp) / "part"
            for b, (recordings, file_gaps, arrived, said) in enumerate(runs):
                done = _night(full, part, f"run{b}", recordings, file_gaps, said, arrived, config)
                assert _state(full) == _state(part), f"batch {b}"
                catalog = Catalog(part)
                kept = gapsurvey.kept(catalog, f"run{b}")
                if kept is not None:
                    # what the refresh kept: the figures of every recording, as counted afresh
                    params = gaprefresh._survey_params(config.gaps, config.zones().site_zone)
                    every = gapsurvey.aggregate(catalog.read("recordings", gapsurvey.COLUMNS), params)
                    order = [(c, "ascending") for c in ("device_id", "kind", "time_zone")]
                    assert kept.sort_by(order) == every.sort_by(order), f"batch {b}"
                    seen.append("kept")
                # a full refresh keeps none (the next one counts afresh), nor one that walked nothing
                # after one that kept none
                assert kept is not None or done.mode == "full" or done.devices == 0, f"batch {b}"
    finally:
        gaprefresh._figures = original
    for what in sorted(set(seen)):
        event(what)
