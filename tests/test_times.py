"""Times people type and read: one parser and one formatter, the same in every command."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone

import pytest

from pipeline.cli import build_parser
from pipeline.commands import UsageError
from pipeline.commands.options import TIME_OPTIONS, emit, read_times
from pipeline.common.times import Reading, TimeProblem, iso, parse_typed, show, zone_named

UTC = timezone.utc
SHANGHAI = zone_named("Asia/Shanghai")
NOW = datetime(2026, 12, 2, 4, 30, tzinfo=UTC)
# Options named like times that are not times: where files go, who receives a device, a run id.
NOT_TIMES = {("export", "--to"), ("device handover", "--to"), ("verify", "--since")}
TIME_FLAGS = {"--at", "--from", "--to", "--since", "--until", "--as-of", "--before", "--after"}


@pytest.mark.parametrize("text, utc", [
    pytest.param("2026-12-01 06:00", "2026-11-30T22:00:00", id="site-zone-by-default"),
    pytest.param("2026-12-01T06:00:00", "2026-11-30T22:00:00", id="iso-T"),
    pytest.param("2026-12-01", "2026-11-30T16:00:00", id="a-date-is-its-local-midnight"),
    pytest.param("2026-12-01T06:00Z", "2026-12-01T06:00:00", id="Z-honoured"),
    pytest.param("2026-12-01 06:00 +08:00", "2026-11-30T22:00:00", id="as-shown-with-offset"),
    pytest.param("2026-12-01T06:00:00+02:00", "2026-12-01T04:00:00", id="other-offset-honoured"),
    pytest.param("2026-12-01 06:00:00.250", "2026-11-30T22:00:00.250", id="fractions"),
    pytest.param("36h", "2026-11-30T16:30:00", id="span-back-from-now"),
    pytest.param("7d", "2026-11-25T04:30:00", id="days-back-from-now"),
])
def test_a_typed_time_is_read_in_the_site_zone_unless_it_names_one(text, utc):
    assert parse_typed(text, SHANGHAI, now=NOW) == datetime.fromisoformat(utc).replace(tzinfo=UTC)


@pytest.mark.parametrize("text", [
    pytest.param("yesterday", id="words"), pytest.param("2026-13-01", id="month-13"),
    pytest.param("2026-02-30 10:00", id="30-february"), pytest.param("2026-12-01 25:00", id="hour-25"),
    pytest.param("2026-12-01 06:00 +15:00", id="offset-too-far"), pytest.param("", id="empty"),
    pytest.param("2026-12-01\n06:00", id="newline"), pytest.param("9" * 100_000, id="100-kB"),
    pytest.param("2026-12-01T06:00 Asia/Shanghai", id="zone-name-not-an-offset"),
])
def test_a_time_that_is_not_one_is_refused_with_the_reason(text):
    with pytest.raises(TimeProblem):
        parse_typed(text, SHANGHAI, now=NOW)


def test_a_local_time_the_clocks_skip_is_refused():
    berlin = zone_named("Europe/Berlin")
    with pytest.raises(TimeProblem, match="does not exist"):
        parse_typed("2026-03-29 02:30", berlin, now=NOW)           # clocks go from 02:00 to 03:00
    assert parse_typed("2026-03-29 02:30 +01:00", berlin, now=NOW) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_times_are_shown_in_the_site_zone_with_the_offset():
    instant = datetime(2026, 11, 30, 22, 0, tzinfo=UTC)
    assert show(instant, SHANGHAI) == "2026-12-01 06:00:00 +08:00"
    assert iso(instant, SHANGHAI) == "2026-12-01T06:00:00+08:00"
    assert str(Reading(instant, zone_named("Europe/Berlin"))) == "2026-11-30 23:00:00 +01:00"
    # What is shown can be typed back: the same instant.
    assert parse_typed(show(instant, SHANGHAI), zone_named("UTC"), now=NOW) == instant


@pytest.mark.parametrize("fmt, expected", [
    pytest.param("table", "2026-12-01 06:00:00 +08:00", id="table"),
    pytest.param("csv", "2026-12-01 06:00:00 +08:00", id="csv"),
    pytest.param("json", '"2026-12-01T06:00:00+08:00"', id="json"),
])
def test_emit_shows_instants_in_the_site_zone(fmt, expected, capsys):
    row = {"at": datetime(2026, 11, 30, 22, 0, tzinfo=UTC),
           "device_clock": Reading(datetime(2026, 11, 30, 22, 0, tzinfo=UTC), zone_named("+02:00"))}
    emit([row], ["at", "device_clock"], fmt, zone=SHANGHAI)
    out = capsys.readouterr().out
    assert expected in out and "22:00" not in out and "Z" not in out          # never UTC, never a Z
    assert ("2026-12-01T00:00:00+02:00" if fmt == "json" else "2026-12-01 00:00:00 +02:00") in out


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Every (command path, sub-parser) under ``parser``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, path + (name,))
    if path:
        yield path, parser


def test_every_time_option_of_every_command_is_read_the_same_way():
    """Each command option that takes a time is registered with the one reader (so it is read in
    the site's zone, with Z and offsets honoured); the same text gives the same instant in each."""
    walked = []
    for path, parser in _commands(build_parser()):
        command = " ".join(path)
        registered = dict(parser.get_default(TIME_OPTIONS) or ())
        for action in parser._actions:
            flags = set(action.option_strings) & TIME_FLAGS
            if not flags or any((command, f) in NOT_TIMES for f in flags):
                continue
            assert action.dest in registered, f"`fieldrec {command} {'/'.join(flags)}` is not read by read_times"
            assert action.metavar == "TIME" and "site's time zone" in (action.help or ""), (command, flags)
            for text, expected in (("2026-12-01 06:00", datetime(2026, 11, 30, 22, tzinfo=UTC)),
                                   ("2026-12-01T06:00Z", datetime(2026, 12, 1, 6, tzinfo=UTC))):
                args = argparse.Namespace(**{TIME_OPTIONS: parser.get_default(TIME_OPTIONS), action.dest: text})
                read_times(args)
                assert getattr(args, action.dest) == expected, (command, flags, text)
            walked.append((command, sorted(flags)[0]))
    assert {("case open", "--at"), ("case close", "--at"), ("case reopen", "--at"), ("case assign", "--from"),
            ("case assign", "--to"), ("device handover", "--at"), ("retention", "--as-of"), ("compliance", "--since"),
            ("gaps", "--since"), ("report", "--since"), ("disc plan", "--since"), ("disc plan", "--until")} <= set(walked)


def test_a_bad_typed_time_is_a_usage_error_naming_the_option():
    args = argparse.Namespace(**{TIME_OPTIONS: (("as_of", "--as-of"),), "as_of": "soon"})
    with pytest.raises(UsageError, match="--as-of 'soon' is not a date or time"):
        read_times(args)
