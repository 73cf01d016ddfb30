"""The retention rules' calendar days of a column of instants are the days ``times`` gives (zoneinfo's)."""

from __future__ import annotations

from datetime import datetime, timezone

import pyarrow as pa
from hypothesis import given, settings, strategies as st

from pipeline.common import times
from pipeline.rules.sets import retention as keeping

ZONES = ("Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Lord_Howe", "+05:45", "UTC")
instant = st.one_of(st.none(), st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(
    lambda d: d.replace(tzinfo=timezone.utc)),
    # around the changes of daylight saving time, where a day's offset changes within it
    st.datetimes(min_value=datetime(2024, 3, 1), max_value=datetime(2024, 11, 30)).map(
        lambda d: d.replace(minute=0, tzinfo=timezone.utc)))


@settings(max_examples=300, deadline=None)
@given(st.lists(instant, max_size=40), st.sampled_from(ZONES))
def test_local_days_are_the_zone_databases_days(values, name):
    zone = times.zone_named(name)
    column = pa.array(values, pa.timestamp("us", tz="UTC"))
    assert keeping._local_days(column, zone).to_pylist() == [
        None if v is None else (times.local_day(v, zone) - datetime(1970, 1, 1).date()).days for v in values]
