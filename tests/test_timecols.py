"""``pipeline.common.timecols`` gives ``pipeline.common.times``'s answers over whole columns."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from pipeline.common import timecols, times

UTC = timezone.utc
ZONES = ("Asia/Shanghai", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kolkata", "UTC",
         "+05:30", "-03:00", "+08:00")


def _instant(d: datetime) -> datetime:
    return d.replace(tzinfo=UTC)


# What an archive holds: the recent past, clocks reset to 2000, clocks years ahead; whole seconds
# and microseconds; around the changes of daylight saving time.
archive_times = st.one_of(
    st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2028, 1, 1)),
    st.datetimes(min_value=datetime(1999, 12, 30), max_value=datetime(2040, 1, 1)),
    st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2028, 1, 1)).map(lambda d: d.replace(microsecond=0)),
    st.sampled_from((datetime(2026, 3, 8, 6, 59, 59, 999_999), datetime(2026, 3, 8, 7), datetime(2026, 11, 1, 5, 30),
                     datetime(2026, 3, 29, 0, 59, 59), datetime(2026, 3, 29, 1), datetime(2026, 10, 4, 15, 30))),
).map(_instant)
column = st.lists(st.one_of(st.none(), archive_times, archive_times, archive_times), max_size=40)


def _column(values: list) -> pa.Array:
    return pa.array(values, timecols.UTC_TYPE)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(column, st.sampled_from(ZONES))
def test_show_and_iso_write_what_times_writes(values, zone_name):
    zone = times.zone_named(zone_name)
    assert timecols.show(_column(values), zone).to_pylist() == [None if v is None else times.show(v, zone)
                                                                for v in values]
    assert timecols.iso(_column(values), zone).to_pylist() == [times.iso(v, zone) for v in values]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.none(), st.datetimes(min_value=datetime(1, 1, 3), max_value=datetime(9999, 12, 29))
                          .map(_instant)), max_size=20), st.sampled_from(ZONES))
def test_any_year_is_written_as_times_writes_it(values, zone_name):
    """Years before 1000 (no leading zeros from ``strftime``) and local mean time (an offset with
    seconds, written so by ``isoformat``) go to ``times`` itself, row by row."""
    zone = times.zone_named(zone_name)
    assert timecols.show(_column(values), zone).to_pylist() == [None if v is None else times.show(v, zone)
                                                                for v in values]
    assert timecols.iso(_column(values), zone).to_pylist() == [times.iso(v, zone) for v in values]


@pytest.mark.parametrize("when, zone_name, shown, iso", [
    pytest.param(datetime(2026, 11, 30, 22, tzinfo=UTC), "Asia/Shanghai", "2026-12-01 06:00:00 +08:00",
                 "2026-12-01T06:00:00+08:00", id="next-day"),
    pytest.param(datetime(2026, 3, 8, 7, 0, 0, 5, tzinfo=UTC), "America/New_York", "2026-03-08 03:00:00 -04:00",
                 "2026-03-08T03:00:00.000005-04:00", id="spring-forward-microseconds"),
    pytest.param(datetime(1900, 1, 1, tzinfo=UTC), "Asia/Shanghai", "1900-01-01 08:05:43 +08:05",
                 "1900-01-01T08:05:43+08:05:43", id="local-mean-time"),
    pytest.param(datetime(999, 5, 1, tzinfo=UTC), "UTC", "999-05-01 00:00:00 +00:00",
                 "0999-05-01T00:00:00+00:00", id="year-999"),
])
def test_known_answers(when, zone_name, shown, iso):
    zone = times.zone_named(zone_name)
    assert times.show(when, zone) == shown and times.iso(when, zone) == iso
    assert timecols.show(_column([when]), zone).to_pylist() == [shown]
    assert timecols.iso(_column([when]), zone).to_pylist() == [iso]


def test_a_column_of_many_hours_and_days():
    """A year of instants every 37 minutes: every hour's offset and every day's date, as ``times``."""
    start = datetime(2025, 12, 1, 0, 0, 7, tzinfo=UTC)
    values = [start + timedelta(minutes=37 * k) for k in range(15_000)]
    for zone_name in ("America/New_York", "Europe/Berlin", "Asia/Shanghai"):
        zone = times.zone_named(zone_name)
        assert timecols.show(_column(values), zone).to_pylist() == [times.show(v, zone) for v in values]


# Arrow's own zone rules stop at 2037 (later summer times are not applied there, as zoneinfo
# applies them): wall clocks and days are held to ``times`` past it too, clocks years ahead included.
after_2037 = st.datetimes(min_value=datetime(2037, 6, 1), max_value=datetime(2100, 1, 1)).map(_instant)
any_year = st.lists(st.one_of(st.none(), archive_times, after_2037), max_size=40)


@settings(max_examples=150, deadline=None)
@given(any_year, st.sampled_from(ZONES))
def test_days_and_wall_clocks_as_times_gives_them(values, zone_name):
    zone = times.zone_named(zone_name)
    instants = _column(values)
    assert timecols.local_days(instants, zone).to_pylist() == [None if v is None else times.local_day(v, zone)
                                                               for v in values]
    assert timecols.day_text(instants, zone).to_pylist() == [None if v is None else times.local_day(v, zone).isoformat()
                                                             for v in values]
    walls = [None if v is None else times.utc_to_wall(v, zone) for v in values]
    assert timecols.utc_to_wall(instants, zone).to_pylist() == walls
    assert timecols.wall_to_utc(pa.array(walls, timecols.WALL_TYPE), zone).to_pylist() == [
        None if w is None else times.wall_to_utc(w, zone) for w in walls]
    assert timecols.months_later(instants, 3, zone).to_pylist() == [None if v is None else times.months_later(v, 3, zone)
                                                                    for v in values]


@pytest.mark.parametrize("when, zone_name, wall", [
    pytest.param(datetime(2038, 7, 1, 12, tzinfo=UTC), "America/New_York", datetime(2038, 7, 1, 8), id="new-york-2038"),
    pytest.param(datetime(2038, 5, 1, 13, tzinfo=UTC), "Australia/Lord_Howe", datetime(2038, 5, 1, 23, 30),
                 id="lord-howe-2038"),
    pytest.param(datetime(2099, 7, 1, 23, 30, tzinfo=UTC), "Europe/Berlin", datetime(2099, 7, 2, 1, 30),
                 id="berlin-2099"),
])
def test_summer_time_after_2037(when, zone_name, wall):
    """A clock set years ahead in a zone with summer time: the wall clock and day zoneinfo gives
    (Arrow's zone database alone read these an hour, or half an hour, off)."""
    zone = times.zone_named(zone_name)
    assert times.utc_to_wall(when, zone) == wall
    assert timecols.utc_to_wall(_column([when]), zone).to_pylist() == [wall]
    assert timecols.local_days(_column([when]), zone).to_pylist() == [wall.date()]
