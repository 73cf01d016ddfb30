"""``fieldrec gaps`` and ``fieldrec explain``: recording interruptions, and why they happened."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from pipeline.commands import RunError, UsageError
from pipeline.commands.options import add_archive, add_time, config_of, iso, json_value, site_zone
from pipeline.common import text
from pipeline.common.i18n import _
from pipeline.common.text import display_width, pad
from pipeline.common.times import Reading

GAPS_HELP = """\
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
"""

EXPLAIN_HELP = """\
Record why a gap happened. Nothing is ever edited: each call appends a row to the
`explanations` table. A gap counts as explained by a spoken note given when recording resumed
(--spoken), or by a written report once approved by a team lead (--approved-by); to approve a
report later, run explain again with the approval.

--attach FILE keeps the written statement itself (a scan or a document: PDF, JPEG, PNG or plain
text, at most service.statement_max_bytes): it is stored in the archive as an object (hashed,
sealed by the manifest chain, checked by `fieldrec verify`), linked to the explanation in the
`statements` table, and exported with the recordings of the gap under an approved request.
"""

TABLE_COLUMNS = ("gap_id", "current", "kind", "device_id", "officer_id", "start_time", "duration_s", "where",
                 "session", "needs", "explanation")
EXPORT_COLUMNS = ("gap_id", "current", "kind", "reason", "device_id", "officer_id", "start_time", "end_time",
                  "duration_s", "sha256", "file", "offset_s", "stream", "before_sha256", "before_file",
                  "after_sha256", "after_file", "detail", "detected_run_id", "detected_at", "explanation",
                  "explanation_reason", "explained_by", "approved_by", "start_device", "session_id",
                  "needs_explanation", "need_reason")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gaps", help="list recording interruptions", description=GAPS_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_archive(p)
    p.add_argument("--device", metavar="ID", type=text.arg(text.identifier, what="device id"), help="only this device")
    add_time(p, "--since", help="only gaps starting at or after this (clock gaps, whose device time is wrong: "
                                "detected at or after it)")
    p.add_argument("--unexplained", action="store_true",
                   help="only current gaps that need an explanation and have none accepted yet")
    p.add_argument("--all", action="store_true",
                   help="also gaps that are no longer current (filled by a late-docked file)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table", help="output format (default table)")
    p.set_defaults(handler=run_gaps)

    e = sub.add_parser("explain", help="record why a gap happened", description=EXPLAIN_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("gap_id", metavar="GAP_ID", type=text.arg(text.identifier, what="gap id"), help="the gap's id as `fieldrec gaps` shows it (or a unique prefix "
                   "of at least 6 characters)")
    add_archive(e)
    e.add_argument("--reason", required=True, metavar="TEXT", type=text.arg(text.free_text),
                   help="why recording was interrupted")
    e.add_argument("--by", required=True, metavar="NAME", type=text.arg(text.person), help="who gives the explanation")
    e.add_argument("--approved-by", metavar="NAME", type=text.arg(text.person),
                   help="team lead approving this written report")
    e.add_argument("--spoken", action="store_true",
                   help="the reason was given in a spoken note when recording resumed (needs no approval)")
    e.add_argument("--attach", metavar="FILE", type=Path,
                   help="the written statement (PDF, JPEG, PNG or text), stored in the archive with the explanation")
    e.add_argument("--json", action="store_true", help="print the row written as JSON")
    e.set_defaults(handler=run_explain)


def _catalog(archive: Path):
    from catalog.store import Catalog

    if not (archive / "catalog").is_dir():
        raise UsageError(f"{archive} is not a fieldrec archive (no catalog/ folder); check --archive")
    return Catalog(archive)


def _where(g: dict) -> str:
    if g["kind"] in ("between_files", "overlap"):
        return f"{g['before_file'] or (g['before_sha256'] or '')[:12]} -> {g['after_file'] or (g['after_sha256'] or '')[:12]}"
    name = g["file"] or (g["sha256"] or "")[:12]
    if g["offset_s"] is not None:
        stream = f" stream {g['stream']}" if g["stream"] else ""
        return f"{name} @ {g['offset_s']:.2f} s{stream}"
    return name


def _text(value, zone) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return iso(value, zone)


def run_gaps(args: argparse.Namespace) -> int:
    from pipeline.records import gapstate
    from pipeline.rules import gap_events

    config = config_of(args)
    zones = config.zones()
    zone = zones.site_zone
    catalog = _catalog(args.archive)
    since = args.since
    rows = gap_events.filter_rows(gapstate.listing(catalog, zones, config), device=args.device, since=since,
                                  include_closed=args.all, only_unexplained=args.unexplained)
    rows = [_shown(g, zones) for g in rows]
    out = sys.stdout
    if args.format == "json":
        json.dump([{c: json_value(g.get(c), zone) if not isinstance(g.get(c), float) else g.get(c)
                    for c in EXPORT_COLUMNS} for g in rows], out, indent=2, ensure_ascii=False)
        out.write("\n")
    elif args.format == "csv":
        writer = csv.writer(out)
        writer.writerow(EXPORT_COLUMNS)
        for g in rows:
            writer.writerow([text.csv_cell(_text(g.get(c), zone)) if isinstance(g.get(c), str)
                             else repr(g.get(c)) if isinstance(g.get(c), float) else _text(g.get(c), zone)
                             for c in EXPORT_COLUMNS])
    else:
        cells = [[text.for_terminal(_text({**g, "where": _where(g), "session": g["session_id"] or "-",
                                           "needs": g["needs_explanation"],
                                           "explanation": g["explanation"] if g["needs_explanation"]
                                           or g["explanation"] != "unexplained" else _("not needed")}[c], zone))
                  for c in TABLE_COLUMNS] for g in rows]
        widths = [max([display_width(c)] + [display_width(r[i]) for r in cells]) for i, c in enumerate(TABLE_COLUMNS)]
        print("  ".join(pad(c, w) for c, w in zip(TABLE_COLUMNS, widths)).rstrip())
        for r in cells:
            print("  ".join(pad(v, w) for v, w in zip(r, widths)).rstrip())
        need = sum(1 for g in rows if gap_events.waiting(g))
        sys.stdout.flush()                    # the rows first, then the total on stderr
        print(_("{n} gap(s), {need} current needing an explanation without an accepted one").format(
            n=len(rows), need=need), file=sys.stderr)
    return 0


def _shown(g: dict, zones) -> dict:
    """A gap as people read it: its start and end as instants (shown in the site's zone), and its
    start as the device's clock read it."""
    zone, _ = zones.device(g["device_id"])
    start = g.get("start_utc")
    return {**g, "start_time": start, "end_time": g.get("end_utc"),
            "start_device": Reading(start, zone) if start is not None else None}


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
        with writing(args.archive, f"explain {args.gap_id}", config) as run:
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
