"""``fieldrec gaps`` and ``fieldrec explain``: recording interruptions, and why they happened."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipeline.commands import RunError, UsageError
from pipeline.commands.options import add_archive, add_time, config_of, json_value, site_zone
from pipeline.commands.columns import GAPS, Col
from pipeline.common import text
from pipeline.common.i18n import N_, _

GAPS_HELP = N_("""\
List every interruption of recording found in the archive. Kinds:
  within_file    timestamps inside a file jump forward (more than max(1 s, 3 frames)) or go back
  between_files  a device's next recording starts more than 2 s after the previous one ended
  overlap        a device's recordings overlap by more than 2 s
  clock          a recording's device time cannot be right (before 2015, after ingest, file name
                 and container disagree, sequence numbers run against times); such recordings
                 are left out of their device's between_files check
  damaged_tail   a file that ends early: the recording is lost from the last good timestamp on
Gaps are found at ingest. A late-docked file that fills a gap closes it: it leaves the list
(see it with --all) but stays in the catalog's history. Thresholds: configs/default.toml [gaps].

Recording sessions: a device's recordings that follow each other within gaps.session_break_s
(120 s) are one session, one action. NEEDS says whether a gap needs an explanation: a pause
inside a session does; a pause between sessions does not, unless a case assignment's window
covers it, both recordings around it belong to one case, or both are marked important (then
every pause does, whatever its length); gaps inside files, lost tails, overlaps and clock
problems always do. --unexplained lists what needs one and has none accepted yet.

Times are shown in the site's time zone (site.time_zone) with their offset; start_device is the
start as the device's clock read it. EXPLANATION is explained (a spoken note, or a written report
approved by a team lead), awaiting approval, or unexplained.
""")

EXPLAIN_HELP = N_("""\
Record why a gap happened. Nothing is ever edited: each call appends a row to the
`explanations` table. A gap counts as explained by a spoken note given when recording resumed
(--spoken), or by a written report once approved by a team lead (--approved-by); to approve a
report later, run explain again with the approval.

--attach FILE keeps the written statement itself (a scan or a document: PDF, JPEG, PNG or plain
text, at most service.statement_max_bytes): it is stored in the archive as an object (hashed,
sealed by the manifest chain, checked by `fieldrec verify`), linked to the explanation in the
`statements` table, and exported with the recordings of the gap under an approved request.
""")

TABLE_COLUMNS = ("gap_id", "current", "kind", "device_id", "officer_id", "start_time", "duration_s", "where",
                 "session", "needs", "explanation")
EXPORT_COLUMNS = ("gap_id", "current", "kind", "reason", "device_id", "officer_id", "start_time", "end_time",
                  "duration_s", "sha256", "file", "offset_s", "stream", "before_sha256", "before_file",
                  "after_sha256", "after_file", "detail", "detected_run_id", "detected_at", "explanation",
                  "explanation_reason", "explained_by", "approved_by", "start_device", "session_id",
                  "needs_explanation", "need_reason")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gaps", help=_("list recording interruptions"), description=_(GAPS_HELP),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_archive(p)
    p.add_argument("--device", metavar="ID", type=text.arg(text.identifier, what=N_("device id")),
                   help=_("only this device"))
    add_time(p, "--since", help=_("only gaps starting at or after this (clock gaps, whose device time is wrong: "
                                  "detected at or after it)"))
    p.add_argument("--unexplained", action="store_true",
                   help=_("only current gaps that need an explanation and have none accepted yet"))
    p.add_argument("--all", action="store_true",
                   help=_("also gaps that are no longer current (filled by a late-docked file)"))
    p.add_argument("--format", choices=("table", "csv", "json"), default="table",
                   help=_("output format (default: table)"))
    p.set_defaults(handler=run_gaps)

    e = sub.add_parser("explain", help=_("record why a gap happened"), description=_(EXPLAIN_HELP),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("gap_id", metavar="GAP_ID", type=text.arg(text.identifier, what=N_("gap id")),
                   help=_("the gap's id as `fieldrec gaps` shows it (or a unique prefix of at least 6 characters)"))
    add_archive(e)
    e.add_argument("--reason", required=True, metavar="TEXT", type=text.arg(text.free_text),
                   help=_("why recording was interrupted"))
    e.add_argument("--by", required=True, metavar="NAME", type=text.arg(text.person),
                   help=_("who gives the explanation"))
    e.add_argument("--approved-by", metavar="NAME", type=text.arg(text.person),
                   help=_("team lead approving this written report"))
    e.add_argument("--spoken", action="store_true",
                   help=_("the reason was given in a spoken note when recording resumed (needs no approval)"))
    e.add_argument("--attach", metavar="FILE", type=Path,
                   help=_("the written statement (PDF, JPEG, PNG or text), stored in the archive with the "
                          "explanation"))
    e.add_argument("--json", action="store_true", help=_("print the row written as JSON"))
    e.set_defaults(handler=run_explain)


def _catalog(archive: Path):
    from catalog.store import Catalog

    if not (archive / "catalog").is_dir():
        raise UsageError(_("{path} is not a fieldrec archive (no catalog/ folder); check --archive").format(
            path=text.for_terminal(archive)))
    return Catalog(archive)


def _where(g: dict) -> str:
    if g["kind"] in ("between_files", "overlap"):
        return f"{g['before_file'] or (g['before_sha256'] or '')[:12]} -> {g['after_file'] or (g['after_sha256'] or '')[:12]}"
    name = g["file"] or (g["sha256"] or "")[:12]
    if g["offset_s"] is not None:
        stream = _(" stream {stream}").format(stream=g["stream"]) if g["stream"] else ""
        return f"{name} @ {g['offset_s']:.2f} s{stream}"
    return name


def _where_column(rows):
    """``_where`` of every row, a column at a time (a dict per row of the whole year's 380,000 gaps
    raised the table's peak by ~90 MiB); the few rows placed inside a file by ``_where``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    def name(file: str, sha: str):                      # g[file] or (g[sha] or "")[:12]
        named = pc.fill_null(pc.greater(pc.utf8_length(rows[file]), 0), False)
        return pc.if_else(named, rows[file], pc.utf8_slice_codeunits(pc.fill_null(rows[sha], ""), 0, 12))

    pair = pc.fill_null(pc.is_in(rows["kind"], value_set=pa.array(["between_files", "overlap"])), False)
    out = pc.if_else(pair, pc.binary_join_element_wise(name("before_file", "before_sha256"),
                                                       name("after_file", "after_sha256"), " -> "),
                     name("file", "sha256"))
    out = out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out
    placed = pc.and_(pc.invert(pair), pc.is_valid(rows["offset_s"]))
    at = np.flatnonzero(placed.to_numpy(zero_copy_only=False))
    if len(at):
        few = rows.take(pa.array(at)).select(["kind", "before_file", "before_sha256", "after_file", "after_sha256",
                                              "file", "sha256", "offset_s", "stream"]).to_pylist()
        out = pc.replace_with_mask(out, placed.combine_chunks() if isinstance(placed, pa.ChunkedArray) else placed,
                                   pa.array([_where(g) for g in few], pa.string()))
    return out


def run_gaps(args: argparse.Namespace) -> int:
    import pyarrow as pa
    import pyarrow.compute as pc

    from pipeline.commands.tabular import emit_table
    from pipeline.records import gaplist
    from pipeline.rules.sets import gaps as gap_sets

    config = config_of(args)
    zones = config.zones()
    zone = zones.site_zone
    _catalog(args.archive)
    # Arrow's buffers from the system allocator, as retention's and the ledger's: the whole year's
    # listing (1M recordings) peaked at 1.31-1.36 GiB under mimalloc, 1.12-1.17 GiB under the system
    # allocator; named and given sessions a slice of devices at a time (``gaplist.SLICE_ROWS``), under 0.9.
    pa.set_memory_pool(pa.system_memory_pool())
    # The listing and its filters over whole columns (the per-row reference: gapstate.listing and
    # gap_events.filter_rows), printed column by column in this command's own way of writing values.
    # (the listing is not kept once filtered: a copy of the whole year's, 200 MiB, held while printing)
    rows = gap_sets.filtered(gaplist.listing(args.archive, config, include_closed=args.all,
                                             only_unexplained=args.unexplained, device=args.device),
                             device=args.device, since=args.since, include_closed=args.all,
                             only_unexplained=args.unexplained)
    shown = _shown_table(rows, zones, table=args.format == "table")
    by_label = _zones_of(shown, zones)
    if args.format == "table":
        emit_table(shown, [KINDS.get(c, Col(c)) for c in TABLE_COLUMNS], "table", zone=zone, zones=by_label,
                   dialect=GAPS)
        need = pc.sum(pc.and_(pc.and_(rows["current"], rows["needs_explanation"]),
                              pc.not_equal(rows["explanation"], "explained"))).as_py() or 0
        sys.stdout.flush()                    # the rows first, then the total on stderr
        print(_("{n} gap(s), {need} current needing an explanation without an accepted one").format(
            n=rows.num_rows, need=need), file=sys.stderr)
    else:
        emit_table(shown, [KINDS.get(c, Col(c)) for c in EXPORT_COLUMNS], args.format, zone=zone, zones=by_label,
                   dialect=GAPS)
    return 0


# How each column prints (``tabular``; the rest are text).
KINDS = {"current": Col("current", "bool"), "needs_explanation": Col("needs_explanation", "bool"),
         "needs": Col("needs", "bool"), "start_time": Col("start_time", "instant"),
         "end_time": Col("end_time", "instant"), "duration_s": Col("duration_s", "float"),
         "offset_s": Col("offset_s", "float"), "detected_at": Col("detected_at", "instant"),
         "start_device": Col("start_device", "reading", "device_zone")}


def _shown_table(rows, zones, *, table: bool):
    """The gaps as people read them (``_shown``): start and end as instants, the start as the
    device's clock read it; for the table also ``where``, ``session``, ``needs`` and the
    explanation "not needed" where none is."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from pipeline.rules.sets.recordings import device_zones

    labels = device_zones(rows["device_id"].combine_chunks(), zones)[0]
    out = rows.set_column(rows.schema.get_field_index("start_time"), "start_time", rows["start_utc"])
    out = out.set_column(out.schema.get_field_index("end_time"), "end_time", rows["end_utc"])
    out = out.append_column("start_device", rows["start_utc"]).append_column("device_zone", labels)
    if not table:
        return out
    out = out.append_column("where", _where_column(rows))
    out = out.append_column("session", pc.fill_null(rows["session_id"], "-"))
    out = out.append_column("needs", rows["needs_explanation"])
    shown = pc.if_else(pc.or_(rows["needs_explanation"], pc.not_equal(rows["explanation"], "unexplained")),
                       rows["explanation"], _("not needed"))
    return out.set_column(out.schema.get_field_index("explanation"), "explanation", shown)


def _zones_of(shown, zones) -> dict:
    from pipeline.rules.sets.recordings import device_zones

    return device_zones(shown["device_id"].combine_chunks(), zones)[1]


def run_explain(args: argparse.Namespace) -> int:
    from pipeline.records import gapstate, statements
    from pipeline.commands.options import writing

    if not args.reason:
        raise UsageError(_("--reason must not be empty"))
    config = config_of(args)
    _catalog(args.archive)
    attached = None
    if args.attach is not None:
        try:
            data = statements.read_file(args.attach, config.service.statement_max_bytes)
            attached = (data, statements.checked(data, config.service.statement_max_bytes))
        except statements.StatementProblem as exc:
            raise UsageError(_("--attach: {problem}").format(problem=exc)) from None
    try:
        with writing(args.archive, f"explain {args.gap_id}", config) as run:      # untranslated: lock note
            row, statement = gapstate.explain(run.catalog, args.gap_id, reason=args.reason, by=args.by,
                                              approved_by=args.approved_by, spoken=args.spoken,
                                              statement=attached and (args.attach.name, *attached),
                                              file_mode=run.config.ingest.file_mode)
    except gapstate.UnknownGap as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise RunError(_("the explanation could not be written: {why}").format(why=exc)) from None
    if args.json:
        shown = {**row, "statement": {k: v for k, v in statement.items() if k != "content"} if statement else None}
        json.dump(json_value(shown, site_zone(config)), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        status = _("explained") if row["source"] == "spoken" or row["approved_by"] else _("recorded, awaiting approval")
        print(_("gap {gap}: explanation {status}").format(gap=row["gap_id"], status=status))
        if statement:
            print(_("  statement {id}: {name}, {size} bytes, SHA-256 {sha}, stored as {path}").format(
                id=statement["statement_id"], name=text.for_terminal(statement["file_name"]), size=statement["size"],
                sha=statement["sha256"], path=statement["archive_path"]))
    return 0
