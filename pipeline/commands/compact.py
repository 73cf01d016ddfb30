"""``fieldrec compact``: merge the catalog's small part files, as a sealed operation."""

from __future__ import annotations

import argparse
import json
import sys

from pipeline.commands import RunError, UsageError
from pipeline.commands.options import add_archive, add_format, config_of, emit, existing_archive, run_errors
from pipeline.common import text
from pipeline.common.i18n import _

HELP = _("""\
Merge each catalog table's small part files into large ones, sorted for the common reads (a
device's recordings and gaps by time, a recording's keyframes, a gap's events), so reads stay
fast however many runs wrote the archive. A table is compacted once it has compact.min_parts
small parts (under half of compact.part_mb); --all merges any two. Every ingest does this by
itself afterwards (compact.auto).

Nothing is edited: only part files the manifest chain vouches for, still as sealed, are merged.
The run's manifest lists the new parts and records which parts each replaced, with the number
of rows and a digest of them, which `fieldrec verify` recomputes from the new part; the old parts
are removed only after that manifest is written (a compaction killed before is undone by the
next command, one killed after is finished). Readers never see both or neither.

  fieldrec compact --archive A --dry-run      # what would be merged
  fieldrec compact --archive A                # tables with compact.min_parts small parts
  fieldrec compact --archive A --all --table access_log
""")


def _table(name: str) -> str:
    """A catalog table's name (``--table``); the schema is read only when one is given, so parsing
    the command line imports no Arrow."""
    from catalog.schema import TABLES

    if name not in TABLES:
        raise argparse.ArgumentTypeError(_("unknown table {name} (known: {known})").format(
            name=text.for_terminal(repr(name)), known=", ".join(sorted(TABLES))))
    return name


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compact", help=_("merge the catalog's small part files (sealed; old parts removed after)"),
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_archive(p)
    p.add_argument("--table", action="append", type=_table, metavar="TABLE",
                   help=_("only this table (repeatable); default: every table"))
    p.add_argument("--all", action="store_true",
                   help=_("merge any table with two or more small parts, not only those with compact.min_parts"))
    p.add_argument("--dry-run", action="store_true", help=_("list what would be merged; change nothing"))
    add_format(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pipeline.archive.compact import CompactionError
    from pipeline.runs.compact import compact_archive

    config = config_of(args)
    archive = existing_archive(args.archive)
    progress = (lambda line: print(_("compacting {what}").format(what=line), file=sys.stderr)) \
        if args.format == "table" else None
    with run_errors():
        try:
            summary = compact_archive(archive, config, tables=tuple(args.table) if args.table else None,
                                      merge_any=args.all, dry_run=args.dry_run, progress=progress)
        except CompactionError as exc:
            raise RunError(str(exc)) from None
    rows = [vars(t) for t in summary.tables if t.merged or args.table]
    if args.format == "json":
        json.dump(summary.to_dict(), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    emit(rows, ["table", "parts_before", "parts_after", "merged", "written", "rows", "bytes_before", "bytes_after"],
         args.format)
    if args.format == "table":
        for why in summary.left_alone:
            print(text.for_terminal(_("left alone: {why}").format(why=why)), file=sys.stderr)
        if summary.dry_run:
            print(_("dry run: {n} part file(s) would be merged; nothing was changed").format(n=summary.merged),
                  file=sys.stderr)
        else:
            print(_("merged {n} part file(s) into {m} in {s:.1f} s; sealed as {manifest}").format(
                n=summary.merged, m=sum(t.written for t in summary.tables), s=summary.wall_s,
                manifest=summary.sealed_as or _("(nothing to seal)")), file=sys.stderr)
    return 0
