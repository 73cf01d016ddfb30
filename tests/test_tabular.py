"""Printing an Arrow table column by column writes what ``emit`` writes row by row, byte for byte."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import pyarrow as pa
from hypothesis import HealthCheck, given, settings, strategies as st

from pipeline.commands.options import emit
from pipeline.commands.tabular import Col, emit_table
from pipeline.common import times

UTC = timezone.utc
ZONES = {"Asia/Shanghai": times.zone_named("Asia/Shanghai"), "+02:00": times.zone_named("+02:00"),
         "America/New_York": times.zone_named("America/New_York")}
COLS = [Col("name"), Col("when", "instant"), Col("clock", "reading", "zone"), Col("n", "int"), Col("x", "float"),
        Col("ok", "bool")]

specials = st.sampled_from(
    ("=SUM(A1)", "-1", "+x", "@a", "a,b", 'say "hi"', "two\nlines", "王警长", "tab\there", "\x1b[2J", "e\u0301",
     "trailing ", "ｆｕｌｌ", "\u3000end\u3000", "", " ", "\\back", "\r", "\u2028"))
text = st.one_of(st.none(), specials, specials, specials, st.text(max_size=12))
instant = st.one_of(st.none(), st.datetimes(min_value=datetime(1999, 1, 1), max_value=datetime(2030, 1, 1)).map(
    lambda d: d.replace(tzinfo=UTC)))
row = st.fixed_dictionaries({"name": text, "when": instant, "clock": instant, "zone": st.sampled_from(sorted(ZONES)),
                             "n": st.one_of(st.none(), st.integers(-10**12, 10**12)),
                             "x": st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False, width=64),
                                            st.sampled_from((0.125, 2.675, 1e-7, 1e21, -0.0))),
                             "ok": st.one_of(st.none(), st.booleans())})


def _as_emit_rows(rows: list[dict]) -> list[dict]:
    return [{**r, "clock": times.Reading(r["clock"], ZONES[r["zone"]]) if r["clock"] else None} for r in rows]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row, max_size=8), st.sampled_from(("table", "csv", "json")),
       st.sampled_from(("Asia/Shanghai", "America/New_York")))
def test_emit_table_writes_what_emit_writes(rows, fmt, site):
    zone = times.zone_named(site)
    expected, got = io.StringIO(), io.StringIO()
    emit(_as_emit_rows(rows), [c.name for c in COLS], fmt, out=expected, zone=zone)
    schema = pa.schema([("name", pa.string()), ("when", pa.timestamp("us", tz="UTC")),
                        ("clock", pa.timestamp("us", tz="UTC")), ("zone", pa.string()), ("n", pa.int64()),
                        ("x", pa.float64()), ("ok", pa.bool_())])
    table = pa.Table.from_pylist(rows, schema=schema)
    emit_table(table, COLS, fmt, out=got, zone=zone, zones=ZONES)
    assert got.getvalue() == expected.getvalue()
    raw = io.BytesIO()                      # a stream with a byte buffer (stdout, a file) gets Arrow's bytes
    stream = io.TextIOWrapper(raw, encoding="utf-8", newline="")
    emit_table(table, COLS, fmt, out=stream, zone=zone, zones=ZONES)
    stream.flush()
    assert raw.getvalue().decode("utf-8") == expected.getvalue()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row, max_size=8).flatmap(lambda rows: st.tuples(
           st.just(rows), st.permutations(range(len(rows))).flatmap(
               lambda p: st.integers(0, len(p)).map(lambda k: list(p[:k]))))),
       st.sampled_from(("table", "csv", "json")))
def test_emit_table_prints_only_the_rows_its_order_names(drawn, fmt):
    """``order`` naming some rows (a listing's selection, not copied out of the table) prints what
    ``emit`` prints of those rows alone, in that order: widths of the table format included."""
    rows, picked = drawn
    zone = times.zone_named("Asia/Shanghai")
    expected, got = io.StringIO(), io.StringIO()
    emit(_as_emit_rows([rows[i] for i in picked]), [c.name for c in COLS], fmt, out=expected, zone=zone)
    schema = pa.schema([("name", pa.string()), ("when", pa.timestamp("us", tz="UTC")),
                        ("clock", pa.timestamp("us", tz="UTC")), ("zone", pa.string()), ("n", pa.int64()),
                        ("x", pa.float64()), ("ok", pa.bool_())])
    table = pa.Table.from_pylist(rows, schema=schema)
    emit_table(table, COLS, fmt, out=got, zone=zone, zones=ZONES, order=pa.array(picked, pa.int64()))
    assert got.getvalue() == expected.getvalue()


def test_text_checks_ask_every_piece_of_a_column():
    """Quoting, escaping and the formula guard are decided over every piece of a column of many
    (as DuckDB hands them over), not only the first."""
    from pipeline.commands.tabular import _holds, _holds_control, _holds_control_or_wide, _may_be_formula

    column = pa.chunked_array([pa.array(["plain", "text"]), pa.array([None, "x"]), pa.array(["a,b", "=1"]),
                               pa.array(["tab\there", "王"])])
    assert _holds(column, b",") and not _holds(column.chunk(0), b",")
    assert _may_be_formula(column) and not _may_be_formula(column.chunk(0))
    assert _holds_control(column) and not _holds_control(pa.chunked_array(column.chunks[:3]))
    assert _holds_control_or_wide(column) and not _holds_control_or_wide(pa.chunked_array(column.chunks[:2]))
    assert not _holds(pa.chunked_array([], pa.string()), b",")


def test_text_is_searched_a_window_at_a_time_to_its_last_byte(monkeypatch):
    """``_holds`` copies a column's text out a few bytes at a time (here 4): a byte in any window is
    found, the last one's too, and none of the text outside a sliced column's values."""
    from pipeline.commands import tabular

    monkeypatch.setattr(tabular, "_SEARCHED", 4)
    values = pa.array(["abcdef", "ghijk", "lmn,"])
    assert tabular._holds(values, b",") and tabular._holds(values, b"\"x,")
    assert not tabular._holds(values.slice(0, 2), b",")
    assert tabular._holds(values.slice(1), b"j") and not tabular._holds(values.slice(1), b"a")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.fixed_dictionaries({
    "device_id": st.sampled_from((None, "", "CAM1", "CAM2", "cam1", "王")),
    "start_time": st.one_of(st.none(), st.sampled_from((datetime(2026, 1, 1, tzinfo=UTC),
                                                       datetime(2025, 12, 31, 23, tzinfo=UTC)))),
    "sha256": st.text("ab", min_size=1, max_size=3)}), max_size=30), st.integers(1, 5))
def test_device_order_sorts_as_python_sorts(rows, pieces):
    """By device (none first), time (none earliest) and, where both tie, by the text; over a table
    in several pieces (as DuckDB hands them over); many ties on purpose."""
    from pipeline.commands.tabular import device_order

    schema = pa.schema([("device_id", pa.string()), ("start_time", pa.timestamp("us", tz="UTC")),
                        ("sha256", pa.string())])
    table = pa.Table.from_pylist(rows, schema=schema)
    if rows:
        cuts = sorted({0, len(rows)} | {len(rows) * k // pieces for k in range(pieces)})
        table = pa.concat_tables([table.slice(a, b - a) for a, b in zip(cuts, cuts[1:])])
    earliest = datetime.min.replace(tzinfo=UTC)
    expected = sorted(range(len(rows)), key=lambda i: (rows[i]["device_id"] or "", rows[i]["start_time"] or earliest,
                                                       rows[i]["sha256"]))
    got = device_order(table).to_pylist()
    assert [rows[i] for i in got] == [rows[i] for i in expected]
    some = [i for i in range(len(rows)) if i % 3 != 1]        # a listing's selection, not taken out
    got = device_order(table, rows=pa.array(some, pa.int64())).to_pylist()
    assert [rows[i] for i in got] == [rows[i] for i in expected if i in some]


def test_device_order_of_times_millennia_apart():
    """Devices and times too many to number together (clocks at year 1 and 9999): sorted all the same."""
    from pipeline.commands.tabular import device_order

    rows = [{"device_id": f"CAM{k % 40}", "start_time": datetime(1 if k % 2 else 9999, 1 + k % 12, 1, tzinfo=UTC),
             "sha256": f"{k % 5}"} for k in range(200)]
    schema = pa.schema([("device_id", pa.string()), ("start_time", pa.timestamp("us", tz="UTC")),
                        ("sha256", pa.string())])
    got = device_order(pa.Table.from_pylist(rows, schema=schema)).to_pylist()
    expected = sorted(range(len(rows)), key=lambda i: (rows[i]["device_id"], rows[i]["start_time"], rows[i]["sha256"]))
    assert [rows[i] for i in got] == [rows[i] for i in expected]


def test_one_piece_keeps_every_row_and_type():
    from pipeline.rules.sets.recordings import one_piece, whole

    table = pa.concat_tables([pa.table({"a": [1, 2], "b": ["x", None]}), pa.table({"a": [3], "b": ["z"]})])
    columns = table.columns
    joined = one_piece(columns, table.schema)
    assert columns == [] and joined.equals(table) and all(c.num_chunks == 1 for c in joined.columns)
    assert whole(joined["b"]).to_pylist() == ["x", None, "z"] and whole(pa.chunked_array([], pa.int64())).to_pylist() == []


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row, min_size=1, max_size=30).flatmap(lambda rows: st.tuples(
           st.just(rows), st.one_of(st.none(), st.permutations(range(len(rows))).flatmap(
               lambda p: st.integers(0, len(p)).map(lambda k: list(p[:k])))))),
       st.integers(1, 7), st.sampled_from(("table", "csv", "json")))
def test_emit_table_in_many_batches_writes_what_emit_writes(drawn, batch, fmt):
    """Batches formatted side by side by worker threads are written in their order: the output is
    ``emit``'s, whatever the batch size (the last JSON object without its comma, each batch its
    own instants)."""
    from unittest import mock

    from pipeline.commands import tabular

    rows, picked = drawn
    zone = times.zone_named("Asia/Shanghai")
    listed = rows if picked is None else [rows[i] for i in picked]
    expected, got = io.StringIO(), io.StringIO()
    emit(_as_emit_rows(listed), [c.name for c in COLS], fmt, out=expected, zone=zone)
    schema = pa.schema([("name", pa.string()), ("when", pa.timestamp("us", tz="UTC")),
                        ("clock", pa.timestamp("us", tz="UTC")), ("zone", pa.string()), ("n", pa.int64()),
                        ("x", pa.float64()), ("ok", pa.bool_())])
    table = pa.Table.from_pylist(rows, schema=schema)
    with mock.patch.object(tabular, "BATCH", batch):
        emit_table(table, COLS, fmt, out=got, zone=zone, zones=ZONES,
                   order=None if picked is None else pa.array(picked, pa.int64()))
    assert got.getvalue() == expected.getvalue()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(st.one_of(st.none(), st.datetimes(min_value=datetime(1999, 1, 1), max_value=datetime(2030, 1, 1)).map(
           lambda d: d.replace(tzinfo=UTC))), min_size=1, max_size=6),
       st.lists(st.one_of(st.none(), specials), min_size=1, max_size=6), st.integers(300, 900),
       st.sampled_from(("table", "csv", "json")))
def test_columns_of_a_few_repeated_values_write_what_emit_writes(instants, names, n, fmt):
    """Hundreds of rows sharing a few instants (retention dates: the ends of days) are written once
    per distinct instant and taken back into place; text with quotes, commas, newlines and formula
    starts is quoted row by row as ``emit`` quotes it."""
    rows = [{"name": names[i % len(names)], "when": instants[(i * 7) % len(instants)],
             "clock": instants[i % len(instants)], "zone": sorted(ZONES)[i % 3], "n": i, "x": i / 8,
             "ok": i % 2 == 0} for i in range(n)]
    zone = times.zone_named("Asia/Shanghai")
    expected, got = io.StringIO(), io.StringIO()
    emit(_as_emit_rows(rows), [c.name for c in COLS], fmt, out=expected, zone=zone)
    schema = pa.schema([("name", pa.string()), ("when", pa.timestamp("us", tz="UTC")),
                        ("clock", pa.timestamp("us", tz="UTC")), ("zone", pa.string()), ("n", pa.int64()),
                        ("x", pa.float64()), ("ok", pa.bool_())])
    emit_table(pa.Table.from_pylist(rows, schema=schema), COLS, fmt, out=got, zone=zone, zones=ZONES)
    assert got.getvalue() == expected.getvalue()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row, min_size=1, max_size=30).flatmap(lambda rows: st.tuples(
           st.just(rows), st.one_of(st.none(), st.permutations(range(len(rows))).flatmap(
               lambda p: st.integers(0, len(p)).map(lambda k: list(p[:k])))))),
       st.integers(1, 7), st.booleans(), st.permutations(range(len(COLS))), st.integers(1, 8))
def test_csv_of_columns_written_once_per_combination_is_what_emit_writes(drawn, batch, as_dictionary, placed, share):
    """CSV: neighbouring columns whose values repeat (coded: dictionary columns as they are, others
    encoded) are written once per distinct combination and taken back per row; in any column
    order (a coded run at the line's end carries the newline), whichever columns a sample judges
    coded, in batches and for a selection of rows, the bytes are ``emit``'s."""
    from unittest import mock

    from pipeline.commands import tabular

    rows, picked = drawn
    cols = [COLS[i] for i in placed]
    zone = times.zone_named("America/New_York")
    listed = rows if picked is None else [rows[i] for i in picked]
    expected, got = io.StringIO(), io.StringIO()
    emit(_as_emit_rows(listed), [c.name for c in cols], "csv", out=expected, zone=zone)
    schema = pa.schema([("name", pa.string()), ("when", pa.timestamp("us", tz="UTC")),
                        ("clock", pa.timestamp("us", tz="UTC")), ("zone", pa.string()), ("n", pa.int64()),
                        ("x", pa.float64()), ("ok", pa.bool_())])
    table = pa.Table.from_pylist(rows, schema=schema)
    if as_dictionary:                         # text read as Parquet dictionaries (a retention's reasons)
        table = table.set_column(0, "name", pa.compute.dictionary_encode(table["name"]))
    with mock.patch.object(tabular, "BATCH", batch), mock.patch.object(tabular, "_CODED_ROWS", 0), \
            mock.patch.object(tabular, "_CODED_SHARE", share), mock.patch.object(tabular, "_SAMPLE", 16):
        emit_table(table, cols, "csv", out=got, zone=zone, zones=ZONES,
                   order=None if picked is None else pa.array(picked, pa.int64()))
    assert got.getvalue() == expected.getvalue()


def test_csv_plan_codes_neighbours_that_repeat_and_leaves_the_rest():
    """Which columns the CSV printer writes once per combination: text and instants that repeat,
    next to each other, in one run; a column of distinct values and a reading stay per row."""
    from unittest import mock

    from pipeline.commands import tabular

    n = 64
    table = pa.table({"id": [f"r{i}" for i in range(n)], "state": ["held", "expired"] * (n // 2),
                      "until": pa.array([datetime(2026, 1, 1 + i % 2, tzinfo=UTC) for i in range(n)],
                                        pa.timestamp("us", tz="UTC")),
                      "clock": pa.array([datetime(2026, 1, 1, tzinfo=UTC)] * n, pa.timestamp("us", tz="UTC")),
                      "zone": ["+02:00"] * n, "why": pa.array(["a, b", None] * (n // 2)).dictionary_encode()})
    cols = [Col("id"), Col("state"), Col("until", "instant"), Col("clock", "reading", "zone"), Col("why")]
    printer = tabular._Printer(table, cols, "csv", UTC, ZONES)
    with mock.patch.object(tabular, "_CODED_ROWS", 0), mock.patch.object(tabular, "_SAMPLE", 64):
        coded, plan = tabular._csv_plan(table, cols, printer, "\n")
    assert [p if isinstance(p, str) else p.name for p in plan] == ["id", "\x00group0", "clock", "\x00group1"]
    assert sorted(set(tabular._decoded(coded["\x00group0"]).to_pylist())) == [
        "expired,2026-01-02 00:00:00 +00:00", "held,2026-01-01 00:00:00 +00:00"]
    assert sorted(set(tabular._decoded(coded["\x00group1"]).to_pylist())) == ["\n", '"a, b"\n']
    assert set(coded.column_names) == {"id", "clock", "zone", "\x00group0", "\x00group1"}
