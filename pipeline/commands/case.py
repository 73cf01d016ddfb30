"""``fieldrec case``: open, close and reopen cases, and assign recordings to them."""

from __future__ import annotations

import argparse

from pipeline.commands import UsageError
from pipeline.commands.options import (TIME_HELP, add_archive, add_format, add_time, config_of, emit,
                                       existing_archive, locked_catalog, resolve_shas, site_zone)
from pipeline.common import text
from pipeline.common.i18n import _
from pipeline.common.times import show
from pipeline.common.clock import new_id, now_utc
from pipeline.rules.retention import case_states, matches

HELP = """\
Cases hold recordings beyond their routine retention. Every change is an event appended to the
`cases` and `assignments` tables; nothing is edited, and retention is recomputed from the events.

  routine    every recording by default: kept retention.routine_months (3) from recording
  case       an administrative case: kept while open; once closed, case_months_after_close (3)
             after the close and never less than case_min_months (6) from recording
  permanent  a major emergency or mass incident: kept forever, staged for disc burning
  other      a duration in days set per assignment, never less than other_min_months (3)

A file in several cases keeps the longest retention; reopening a case puts its hold back.

  fieldrec case open INC-2026-17 --archive A --title "Market St" --by "Sgt Doe"
  fieldrec case assign INC-2026-17 --archive A --sha 3fa9c1e2 --by "Sgt Doe"
  fieldrec case assign INC-2026-17 --archive A --device CAM042 --from 2026-03-01T10:00 --to 2026-03-01T12:00 --by Doe
  fieldrec case assign INC-2026-17 --archive A --important --from 2026-03-01 --to 2026-03-02 --by Doe
  fieldrec case assign --class other --days 400 --archive A --officer O117 --from 2026-03-01 --to 2026-03-02 --by Doe
  fieldrec case close INC-2026-17 --archive A --by "Sgt Doe"
"""


CASE_ID = text.arg(text.identifier, what="case id")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("case", help="open, close, reopen cases and assign recordings to them", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    op = actions.add_parser("open", help="open a case (its files are held until it closes)")
    op.add_argument("case_id", metavar="CASE_ID", type=CASE_ID)
    op.add_argument("--class", dest="retention_class", choices=("case", "permanent"), default="case",
                    help="case (default) or permanent (major emergency, mass incident: kept forever)")
    op.add_argument("--title", type=text.arg(text.free_text, max_len=500), help="a short description")
    _event_options(op)
    op.set_defaults(handler=run_event, event="open")

    for name, what in (("close", "close an open case (its files are kept 3 more months, 6 from recording at least)"),
                       ("reopen", "reopen a closed case (its hold comes back)")):
        ep = actions.add_parser(name, help=what)
        ep.add_argument("case_id", metavar="CASE_ID", type=CASE_ID)
        _event_options(ep)
        ep.set_defaults(handler=run_event, event=name)

    ap = actions.add_parser("assign", help="assign recordings to a case, or give them a retention class",
                            description="Select recordings by SHA-256, by device and time range, or by officer and "
                                        "time range (recordings overlapping the range, including ones ingested "
                                        f"later), compared as instants. Times: {TIME_HELP}.")
    ap.add_argument("case_id", metavar="CASE_ID", nargs="?", type=CASE_ID,
                    help="an open case (or give --class instead)")
    ap.add_argument("--class", dest="retention_class", choices=("permanent", "other", "routine"),
                    help="assign a class without a case")
    ap.add_argument("--days", type=int, help="--class other: keep this many days from recording")
    sel = ap.add_mutually_exclusive_group()
    sel.add_argument("--sha", nargs="+", metavar="SHA256", help="recordings by SHA-256 (8+ leading characters)")
    sel.add_argument("--device", metavar="DEVICE", type=text.arg(text.identifier, what="device id"),
                     help="recordings of this device in --from..--to")
    sel.add_argument("--officer", metavar="OFFICER", type=text.arg(text.identifier, what="officer id"),
                     help="recordings of this officer in --from..--to")
    ap.add_argument("--important", action="store_true",
                    help="only recordings the recorder marked important (_IMP, _I, 重要 in the name); without "
                         "--device or --officer: every marked recording in --from..--to (also ones ingested later)")
    add_time(ap, "--from", dest="range_from", help="start of the time range")
    add_time(ap, "--to", dest="range_to", help="end of the time range")
    _event_options(ap, at=False)
    ap.set_defaults(handler=run_assign)

    lp = actions.add_parser("list", help="list cases with their state and file counts")
    add_archive(lp)
    add_format(lp)
    lp.set_defaults(handler=run_list)

    sp = actions.add_parser("show", help="list the recordings a case holds")
    sp.add_argument("case_id", metavar="CASE_ID", type=CASE_ID)
    add_archive(sp)
    add_format(sp)
    sp.set_defaults(handler=run_show)


def _event_options(p: argparse.ArgumentParser, at: bool = True) -> None:
    add_archive(p)
    p.add_argument("--by", required=True, metavar="NAME", type=text.arg(text.person),
                   help="who makes this change (recorded)")
    p.add_argument("--note", type=text.arg(text.free_text), help="free text kept with the event")
    if at:
        add_time(p, "--at", help="when it happened (default: now)")


def run_event(args: argparse.Namespace) -> int:
    config = config_of(args)
    archive = existing_archive(args.archive)
    case_id = args.case_id
    now = now_utc()
    zone = site_zone(config)
    at = args.at or now
    with locked_catalog(archive, config, f"case {args.event} {case_id}") as catalog:
        events = catalog.rows("cases")
        state = case_states(events).get(case_id)
        if args.event == "open" and state is not None:
            raise UsageError(f"case {case_id} already exists ({'open' if state.is_open else 'closed'}); "
                             "use `fieldrec case reopen` for a closed case")
        if args.event != "open" and state is None:
            raise UsageError(f"no case {case_id} in this archive; `fieldrec case list` shows the cases")
        if args.event == "close" and not state.is_open:
            raise UsageError(f"case {case_id} is already closed")
        if args.event == "reopen" and state.is_open:
            raise UsageError(f"case {case_id} is open; only a closed case can be reopened")
        if state is not None and at < (state.closed_at or state.opened_at):
            raise UsageError(_("--at {at} is before the case's last event ({last})").format(
                at=show(at, zone), last=show(state.closed_at or state.opened_at, zone)))
        row = {"case_id": case_id, "event": args.event, "title": getattr(args, "title", None),
               "retention_class": getattr(args, "retention_class", None), "note": args.note,
               "at": at, "by": args.by, "recorded_at": now}
        catalog.commit({"cases": [row]}, tag=new_id("case"))
    print(_("case {case_id}: {event} at {at} by {by}").format(case_id=case_id, event=args.event, at=show(at, zone),
                                                               by=args.by))
    return 0


def run_assign(args: argparse.Namespace) -> int:
    from pipeline import records

    config = config_of(args)
    archive = existing_archive(args.archive)
    cls = args.retention_class
    if bool(args.case_id) == bool(cls):
        raise UsageError("give either a CASE_ID or --class (permanent, other, routine), not both or neither")
    if not (args.sha or args.device or args.officer or args.important):
        raise UsageError(_("select recordings with --sha, --device, --officer or --important"))
    if args.sha and args.important:
        raise UsageError(_("--important selects by the recorder's mark; with --sha the recordings are named already"))
    if cls == "other":
        floor_days = config.retention.other_min_months * 30
        if args.days is None or args.days < floor_days:
            raise UsageError(f"--class other needs --days of at least {floor_days} "
                             f"({config.retention.other_min_months} months; the calendar-month floor applies)")
    elif args.days is not None:
        raise UsageError("--days is only for --class other")
    base = {"case_id": args.case_id, "retention_class": "case" if args.case_id else cls,
            "duration_days": args.days, "note": args.note, "by": args.by, "important": args.important or None}
    now = now_utc()
    with locked_catalog(archive, config, f"case assign {args.case_id or cls}") as catalog:
        if args.case_id:
            state = case_states(catalog.rows("cases")).get(args.case_id)
            if state is None:
                raise UsageError(f"no case {args.case_id}; open it first with `fieldrec case open`")
            if not state.is_open:
                raise UsageError(f"case {args.case_id} is closed; reopen it first with `fieldrec case reopen`")
            base["retention_class"] = state.retention_class
        rows = []
        if args.sha:
            if args.range_from or args.range_to:
                raise UsageError("--from/--to select by time with --device or --officer, not with --sha")
            known = set(catalog.read("recordings", ["sha256"])["sha256"].to_pylist())
            for sha in resolve_shas(args.sha, known):
                rows.append({**base, "selector": "sha256", "sha256": sha})
        else:
            if not (args.range_from and args.range_to):
                raise UsageError("--device, --officer and --important need both --from and --to")
            start, end = args.range_from, args.range_to
            if end < start:
                raise UsageError("--to is before --from")
            selector = "device" if args.device else "officer" if args.officer else "important"
            rows.append({**base, "selector": selector, "device_id": args.device, "officer_id": args.officer,
                         "range_start": start, "range_end": end})
        for i, row in enumerate(rows):
            row.update(assignment_id=new_id("asg") + f"-{i}", at=now)
        catalog.commit({"assignments": rows}, tag=new_id("assign"))
    state = records.load(archive, config, now)
    hit = [r for r in state.records if any(matches(row, r.subject) for row in rows)]   # these rows alone
    target = f"case {args.case_id}" if args.case_id else f"class {cls}"
    print(f"{target}: {len(rows)} assignment(s) by {args.by}; {len(hit)} recording(s) match now")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from pipeline import records

    config = config_of(args)
    archive = existing_archive(args.archive)
    now = now_utc()
    state = records.load(archive, config, now)
    events = state.catalog.rows("cases")
    rows = []
    for case_id, case in sorted(state.cases.items()):
        files = state.members(case_id)
        opened_by = next((e["by"] for e in events if e["case_id"] == case_id and e["event"] == "open"), None)
        rows.append({"case_id": case_id, "class": case.retention_class, "status": "open" if case.is_open else "closed",
                     "opened_at": case.opened_at, "closed_at": case.closed_at, "files": len(files),
                     "opened_by": opened_by, "title": case.title})
    emit(rows, ["case_id", "class", "status", "opened_at", "closed_at", "files", "opened_by", "title"], args.format,
         zone=site_zone(config))
    return 0


def run_show(args: argparse.Namespace) -> int:
    from pipeline import records

    config = config_of(args)
    archive = existing_archive(args.archive)
    now = now_utc()
    state = records.load(archive, config, now)
    if args.case_id not in state.cases:
        raise UsageError(f"no case {args.case_id}; `fieldrec case list` shows the cases")
    rows = [{"sha256": r.sha256, "source_name": r.row["source_name"], "device_id": r.row["device_id"],
             "officer_id": r.attribution.officer_id, "start_time": r.subject.start,
             "class": r.retention.retention_class, "retain_until": r.retention.until,
             "state": r.state(now), "reason": r.retention.reason, "device_clock": r.device_clock()}
            for r in state.members(args.case_id)]
    emit(rows, ["sha256", "source_name", "device_id", "officer_id", "start_time", "class", "retain_until", "state",
                "reason", "device_clock"], args.format, zone=site_zone(config))
    return 0
