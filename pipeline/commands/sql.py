"""``fieldrec sql``: read-only SQL over the catalog tables (DuckDB), printed as a table, CSV or JSON."""

from __future__ import annotations

import argparse
import base64
import csv
import json
import sys
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

from pipeline.commands import RunError, UsageError
from pipeline.common.text import csv_cell, display_width, for_terminal, pad
from pipeline.common.i18n import N_, _, ngettext

LIMITS_HELP = N_("""\
A query is bounded by [sql] in the configuration: memory_limit_mb (1024; larger sorts and joins
spill to a private temporary folder, at most max_temp_mb), threads (2), timeout_s (120: a query
still running is interrupted) and max_rows (1,000,000 rows in the result). A query stopped by a
limit exits with code 1 and says which limit; raise it with --config for one run.
""")

HELP = N_("""\
Run one SQL query over the archive's catalog with DuckDB. Every table under ARCHIVE/catalog/
is a view of the same name (recordings, sightings, streams, keyframes, runs, and whatever
later stages add: thumbnails, gaps, explanations, ...). Only SELECT and EXPLAIN run: the
catalog is evidence and is never written through this command, no other file is readable,
and DuckDB extensions are neither installed nor loaded (fieldrec makes no network calls).
Table and column names are the catalog's own, in English, in every language.

""")
EXAMPLES = N_("""
Examples:
  fieldrec sql --archive A "SELECT device_id, count(*) AS files, sum(duration_s)/3600 AS hours
                            FROM recordings GROUP BY device_id ORDER BY hours DESC"
  fieldrec sql --archive A --format csv "SELECT * FROM recordings WHERE status <> 'ok'"
  fieldrec sql --archive A "DESCRIBE recordings"
""")

MAX_CELL = 60


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sql", help=_("query the catalog with SQL (read-only, DuckDB)"),
                       description=_(HELP) + _(LIMITS_HELP) + _(EXAMPLES),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("query", metavar="SQL", help=_("one SELECT statement; tables are named as in ARCHIVE/catalog/"))
    p.add_argument("--archive", required=True, type=Path, metavar="DIR", help=_("the archive folder"))
    p.add_argument("--config", type=Path, metavar="FILE",
                   help=_("TOML file overriding configs/default.toml key by key (the [sql] limits)"))
    p.add_argument("--format", choices=("table", "csv", "json"), default="table",
                   help=_("table (aligned text, long cells shortened), csv or json (list of objects); "
                          "default: table"))
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from catalog.query import Limits, QueryError, QueryStopped, query
    from pipeline.commands.options import config_of, outside_archive

    if not args.archive.is_dir():
        raise UsageError(_("archive folder not found: {path}").format(path=for_terminal(args.archive)))
    limits = Limits(**dataclasses.asdict(config_of(args).sql))
    if limits.temp_dir:
        outside_archive(Path(limits.temp_dir), "sql.temp_dir", args.archive)
    try:
        result = query(args.archive, args.query, limits)
    except QueryError as exc:
        raise UsageError(str(exc)) from None
    except QueryStopped as exc:
        raise RunError(_stopped(exc, limits)) from None
    columns = result.column_names
    rows = list(zip(*(col.to_pylist() for col in result.columns))) if columns else []
    {"table": print_table, "csv": print_csv, "json": print_json}[args.format](columns, rows, sys.stdout)
    return 0


def _stopped(exc, limits) -> str:
    """Which limit stopped the query, and how to raise it."""
    if exc.limit == "timeout_s":
        text = _("the query ran longer than {value:g} s (sql.timeout_s) and was stopped")
    elif exc.limit == "memory_limit_mb":
        text = _("the query needs more than {value} MiB of memory (sql.memory_limit_mb) or {spill} MiB of spill "
                 "space (sql.max_temp_mb) and was stopped: {detail}")
    elif exc.limit == "max_rows":
        text = _("the result has more than {value} rows (sql.max_rows): add a LIMIT or aggregate")
    else:
        text = _("cannot use the spill folder {value} (sql.temp_dir): {detail}")
    return text.format(value=getattr(limits, exc.limit), spill=limits.max_temp_mb, detail=exc.detail) + \
        _("; a --config file with [sql] can raise the limit for one run")


def _text(value, *, binary: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>" if binary == "size" else base64.b64encode(value).decode()
    if isinstance(value, (datetime, date, time)):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, float):
        return f"{value:.6g}" if binary == "size" else repr(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=_json_default, ensure_ascii=False)
    return str(value)


def print_table(columns: list[str], rows: list[tuple], out) -> None:
    """Columns aligned by terminal columns (a Chinese cell takes two per character), numbers to the right."""
    cells = [[_short(for_terminal(_text(v, binary="size"))) for v in row] for row in rows]
    widths = [max([display_width(c)] + [display_width(r[i]) for r in cells]) for i, c in enumerate(columns)]
    numeric = [bool(rows) and all(isinstance(r[i], (int, float, Decimal)) or r[i] is None for r in rows)
               for i in range(len(columns))]

    def line(values):
        return "  ".join(" " * (w - display_width(v)) + v if num else pad(v, w)
                         for v, w, num in zip(values, widths, numeric)).rstrip()

    out.write(line([for_terminal(c) for c in columns]) + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for row in cells:
        out.write(line(row) + "\n")
    out.write(ngettext("({n} row)", "({n} rows)", len(rows)).format(n=len(rows)) + "\n")


def _short(text: str) -> str:
    """At most MAX_CELL terminal columns."""
    text = text.replace("\n", " ")
    if display_width(text) <= MAX_CELL:
        return text
    text = text[:MAX_CELL]                   # every character takes a column at least
    while display_width(text) > MAX_CELL - 1:
        text = text[:-1]
    return text + "…"


def print_csv(columns: list[str], rows: list[tuple], out) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([csv_cell(c) for c in columns])
    for row in rows:
        writer.writerow([csv_cell(_text(v, binary="base64")) if isinstance(v, str) else _text(v, binary="base64")
                         for v in row])


def _json_default(value):
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def print_json(columns: list[str], rows: list[tuple], out) -> None:
    json.dump([dict(zip(columns, row)) for row in rows], out, indent=1, default=_json_default, ensure_ascii=False)
    out.write("\n")
