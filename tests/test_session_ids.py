"""``rules.sets.sessions.session_ids`` naming only some rows' sessions names them as naming all does."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
from hypothesis import given, settings, strategies as st

from pipeline.common.times import Zones
from pipeline.rules.sets import sessions as session_sets

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)
UTC_TYPE = pa.timestamp("us", tz="UTC")


@st.composite
def recordings(draw):
    n = draw(st.integers(0, 40))
    device = [draw(st.sampled_from(("CAM1", "CAM2", None))) for _ in range(n)]
    start = [None if draw(st.integers(0, 9)) == 0 else T0 + timedelta(seconds=draw(st.integers(0, 4 * 3600)))
             for _ in range(n)]
    end = [None if s is None or draw(st.integers(0, 9)) == 0 else s + timedelta(seconds=draw(st.sampled_from((0, 60, 600))))
           for s in start]
    only = np.array([draw(st.booleans()) for _ in range(n)], dtype=bool)
    shas = [f"{i:064x}" for i in range(n)]
    # damaged recordings: content reaching on past the file's end, or nowhere beyond its start
    tails = {sha: draw(st.sampled_from((None, T0 + timedelta(hours=5)))) for sha in shas if draw(st.integers(0, 5)) == 0}
    return shas, device, start, end, tails, only


@settings(max_examples=200, deadline=None)
@given(recordings(), st.sampled_from((0.0, 120.0, 3600.0)))
def test_naming_some_sessions_names_them_as_naming_all(drawn, break_s):
    shas, device, start, end, tails, only = drawn
    args = (pa.array(shas, pa.string()), pa.array(device, pa.string()), pa.array(start, UTC_TYPE),
            pa.array(end, UTC_TYPE), tails, break_s, Zones().site_zone)
    every = session_sets.session_ids(*args).to_pylist()
    some = session_sets.session_ids(*args, only=only).to_pylist()
    assert some == [s if keep else None for s, keep in zip(every, only)]
    assert session_sets.session_ids(*args, only=np.zeros(len(shas), bool)).to_pylist() == [None] * len(shas)
    assert session_sets.session_ids(*args, only=np.ones(len(shas), bool)).to_pylist() == every
