"""Naming a few recordings' sessions from the rows ``sessionrows.needed`` keeps gives the names
``session_ids`` gives over every row: pauses around the break, overlaps, long recordings reaching
over later ones, damaged tails reaching further or nowhere, several recordings at one instant."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
from hypothesis import given, settings, strategies as st

from pipeline.records import sessionrows
from pipeline.rules.sets import sessions as session_sets

UTC = timezone.utc
T = datetime(2026, 3, 1, tzinfo=UTC)
BREAK_S = 120.0


@st.composite
def timelines(draw):
    n = draw(st.integers(1, 40))
    rows, at = [], {d: T for d in ("CAM1", "CAM2", "CAM3")}
    for i in range(n):
        device = draw(st.sampled_from(("CAM1", "CAM2", "CAM3", None)))
        key = device or "CAM1"
        # the next start: at the same instant, just inside or past the break, or far later
        step = draw(st.sampled_from((0.0, 30.0, BREAK_S - 0.5, BREAK_S, BREAK_S + 0.5, BREAK_S + 1.5, 3600.0)))
        start = at[key] + timedelta(seconds=step)
        at[key] = start
        duration = draw(st.sampled_from((0.0, 10.0, 60.0, 600.0, 7200.0)))
        rows.append({"sha": f"{draw(st.integers(0, n + 3)):064x}", "device": device,
                     "start": None if draw(st.integers(0, 12)) == 0 else start,
                     "end": None if draw(st.integers(0, 5)) == 0 else start + timedelta(seconds=duration)})
    tails = {}
    for r in rows:
        if draw(st.integers(0, 6)) == 0:
            tails[r["sha"]] = draw(st.sampled_from((None, T + timedelta(hours=draw(st.integers(0, 5))))))
    asked = np.array([draw(st.integers(0, 4)) == 0 for _ in rows], bool)
    return rows, tails, asked


@settings(max_examples=300, deadline=None)
@given(timelines())
def test_the_rows_kept_name_the_asked_sessions_as_every_row_does(drawn):
    rows, tails, asked = drawn
    sha = pa.array([r["sha"] for r in rows], pa.string())
    device = pa.array([r["device"] for r in rows], pa.string())
    start = pa.array([r["start"] for r in rows], pa.timestamp("us", tz="UTC"))
    end = pa.array([r["end"] for r in rows], pa.timestamp("us", tz="UTC"))
    every = session_sets.session_ids(sha, device, start, end, tails, BREAK_S, UTC, only=asked).to_pylist()
    kept = sessionrows.needed(sha, device, start, end, tails, BREAK_S, asked)
    take = pa.array(kept, pa.int64())
    some = session_sets.session_ids(sha.take(take), device.take(take), start.take(take), end.take(take), tails,
                                    BREAK_S, UTC, only=asked[kept]).to_pylist()
    named = dict(zip(kept.tolist(), some))
    assert [named.get(i) for i in np.flatnonzero(asked).tolist()] == [every[i] for i in np.flatnonzero(asked).tolist()]


def test_a_year_of_one_device_keeps_only_the_asked_session():
    """Sessions of four recordings an hour apart: asking about one keeps its session alone."""
    starts = [T + timedelta(hours=h, minutes=m) for h in range(24) for m in (0, 1, 2, 3)]
    sha = pa.array([f"{i:064x}" for i in range(len(starts))], pa.string())
    device = pa.array(["CAM1"] * len(starts), pa.string())
    start = pa.array(starts, pa.timestamp("us", tz="UTC"))
    end = pa.array([s + timedelta(seconds=50) for s in starts], pa.timestamp("us", tz="UTC"))
    asked = np.zeros(len(starts), bool)
    asked[42] = True                                   # the third of hour 10's session
    assert sessionrows.needed(sha, device, start, end, {}, BREAK_S, asked).tolist() == [40, 41, 42]
