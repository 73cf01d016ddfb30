"""``fieldrec device`` keeps the device ledger (register, handover, return, fault, repair);
``fieldrec ledger`` prints it per device."""

from __future__ import annotations

import argparse
import json
import sys

from pipeline.commands import UsageError
from pipeline.commands.options import (add_archive, add_format, add_time, config_of, emit, existing_archive, iso,
                                       freeze_imported, json_value, locked_catalog, site_zone)
from pipeline.common import text
from pipeline.common.i18n import N_, _
from pipeline.common.times import show
from pipeline.common.units import human_duration
from pipeline.common.clock import new_id, now_utc

DEVICE_HELP = N_("""\
The device ledger (台账): every event is appended, never edited.

  register  a device joins the ledger (model, serial number, unit); registering again updates them
  handover  the device passes to an officer (appended to the `handovers` table)
  return    the officer hands it back: the holder's period ends, nobody holds it until the next handover
  fault     a fault is reported;  repair  it is repaired

A recording whose file name names no officer is attributed to the device's holder at its start;
where the name and the ledger disagree, `fieldrec ledger` flags the recording. Recordings made
while nobody held the device are listed apart.
""")

LEDGER_HELP = N_("""\
Per device: its registration; its holders with their periods (a return ends one) and, for each
period, the recordings and hours, interruptions explained and not, late uploads and damaged files;
recordings made while nobody held it; faults and repairs; gaps, clock problems, recordings
attributed from the ledger, names that disagree with the ledger or with each other. Then the
recordings no device is attributed to ("unattributed": `fieldrec attribute` attributes them).
--format csv prints the ledger as rows to print (the 台账): a summary row per device, then its
registration, holder periods, recordings nobody held, faults and repairs.
""")

CSV_COLUMNS = ["device_id", "holders", "recordings", "duration_h", "gaps", "late", "clock_problems", "damaged",
               "from_ledger", "unattributed", "mismatches", "entry", "model", "serial", "unit", "officer_id", "from",
               "to", "ended_by", "hours", "interruptions_explained", "interruptions_unexplained", "conflicts",
               "sha256", "note", "by"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("device", help=_("keep the device ledger: register, handover, return, fault, repair"),
                       description=_(DEVICE_HELP), formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    r = actions.add_parser("register", help=_("a device joins the ledger (or its details are updated)"))
    _device(r)
    r.add_argument("--model", type=text.arg(text.identifier, what=N_("model")), help=_("the recorder's model"))
    r.add_argument("--serial", type=text.arg(text.identifier, what=N_("serial number")), help=_("its serial number"))
    r.add_argument("--unit", type=text.arg(text.identifier, what=N_("unit")),
                   help=_("the unit (department) it belongs to"))
    add_time(r, "--at", help=_("when it was registered (default: now)"))
    r.add_argument("--by", type=text.arg(text.person), metavar="NAME", help=_("who registers it"))
    r.add_argument("--note", type=text.arg(text.free_text), help=_("free text kept with the registration"))
    r.set_defaults(handler=run_event, event="register")

    h = actions.add_parser("handover", help=_("the device passes to an officer at a time"),
                           description=_(DEVICE_HELP), formatter_class=argparse.RawDescriptionHelpFormatter)
    _device(h)
    h.add_argument("--to", dest="officer_id", required=True, metavar="OFFICER",
                   type=text.arg(text.identifier, what=N_("officer id")), help=_("the new holder"))
    add_time(h, "--at", required=True, help=_("when the device passed to the officer"))
    h.add_argument("--by", metavar="NAME", type=text.arg(text.person), help=_("who records the handover"))
    h.add_argument("--note", type=text.arg(text.free_text), help=_("free text kept with the handover"))
    h.set_defaults(handler=run_handover)

    for name, what, when, note_required in (
            ("return", _("the holder hands the device back (the period ends)"), _("when it was returned"), False),
            ("fault", _("a fault of the device is reported"), _("when the fault happened"), True),
            ("repair", _("the device is repaired"), _("when it was repaired"), True)):
        e = actions.add_parser(name, help=what)
        _device(e)
        add_time(e, "--at", required=True, help=when)
        e.add_argument("--by", required=True, metavar="NAME", type=text.arg(text.person), help=_("who records it"))
        e.add_argument("--note", required=note_required, type=text.arg(text.free_text),
                       help=_("what happened") if note_required else _("what happened (optional)"))
        e.set_defaults(handler=run_event, event=name)

    q = sub.add_parser("ledger", help=_("per device: registration, holders, recordings, interruptions, faults"),
                       description=_(LEDGER_HELP), formatter_class=argparse.RawDescriptionHelpFormatter)
    add_archive(q)
    q.add_argument("--device", metavar="DEVICE", type=text.arg(text.identifier, what=N_("device id")),
                   help=_("only this device"))
    add_format(q)
    q.set_defaults(handler=run_ledger)


def _device(p: argparse.ArgumentParser) -> None:
    p.add_argument("device_id", metavar="DEVICE", type=text.arg(text.identifier, what=N_("device id")))
    add_archive(p)


def run_handover(args: argparse.Namespace) -> int:
    config = config_of(args)
    archive = existing_archive(args.archive)
    device, officer = args.device_id, args.officer_id
    zone = site_zone(config)
    at = args.at
    with locked_catalog(archive, config, f"handover {device}") as catalog:                 # untranslated: lock note
        catalog.commit({"handovers": [{"device_id": device, "officer_id": officer, "at": at, "by": args.by,
                                       "note": args.note, "recorded_at": now_utc()}]}, tag=new_id("handover"))
    print(_("device {device}: held by {officer} from {at}").format(device=device, officer=officer, at=show(at, zone)))
    return 0


def run_event(args: argparse.Namespace) -> int:
    """register, return, fault, repair: one ``device_events`` row."""
    from pipeline.rules.custody import holder_at, holder_periods

    config = config_of(args)
    archive = existing_archive(args.archive)
    zone = site_zone(config)
    now = now_utc()
    at = args.at or now
    device = args.device_id
    holder = None
    with locked_catalog(archive, config, f"device {args.event} {device}") as catalog:      # untranslated: lock note
        events = [e for e in catalog.rows("device_events") if e["device_id"] == device]
        if args.event == "return":
            handovers = [h for h in catalog.rows("handovers") if h["device_id"] == device]
            periods = holder_periods(handovers, [e for e in events if e["event"] == "return"]).get(device, [])
            holder = holder_at(periods, at)
            if holder is None:
                raise UsageError(_("device {device} is held by nobody at {at} (no handover before it, or it was "
                                   "returned already); `fieldrec ledger --device {device}` shows its holders").format(
                                       device=device, at=show(at, zone)))
        row = {"event_id": new_id(args.event), "device_id": device, "event": args.event, "at": at, "by": args.by,
               "note": args.note, "model": getattr(args, "model", None), "serial": getattr(args, "serial", None),
               "unit": getattr(args, "unit", None), "recorded_at": now}
        catalog.commit({"device_events": [row]}, tag=new_id("device"))
    again = args.event == "register" and any(e["event"] == "register" for e in events)
    messages = {
        "register": _("device {device}: registration updated at {at}") if again else _("device {device}: registered at {at}"),
        "return": _("device {device}: returned by {holder} at {at}; nobody holds it until the next handover"),
        "fault": _("device {device}: fault recorded at {at}"),
        "repair": _("device {device}: repair recorded at {at}"),
    }
    print(messages[args.event].format(device=device, at=show(at, zone), holder=holder))
    return 0


def run_ledger(args: argparse.Namespace) -> int:
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa

    from catalog.store import Catalog
    from pipeline.records import frame, gaplist, ledger, ledgerframe

    config = config_of(args)
    archive = existing_archive(args.archive)
    zone = site_zone(config)
    # Set-based (records.ledger.build over records.load is the per-row reference). The recordings
    # are read once: the frame keeps the columns deciding the gaps places them by, deciding picks
    # from it the few that can decide a long pause, then those columns are let go.
    # Arrow's buffers from the system allocator: what is freed is given back to the system
    # (mimalloc keeps it: 990 instead of 920 MiB at a million recordings).
    # The gaps, their states and explanations are read by a second thread while the recordings are
    # (both mostly in DuckDB and Arrow, without the GIL), without the pauses' sides (their 64-character
    # names: ~50 MB held beside the recordings' peak), read after; deciding them needs the recordings.
    pa.set_memory_pool(pa.system_memory_pool())
    freeze_imported()
    with ThreadPoolExecutor(max_workers=1) as pool:
        read = pool.submit(gaplist.undecided, archive, config, include_closed=False, sides=False)
        state = frame.load(archive, config, now_utc(), columns=gaplist.DECIDING_RECORDINGS, retention=False)
        gaps = gaplist.decided(archive, config, include_closed=False, recordings=state.table,
                               read=read.result()).select(list(ledgerframe.GAP_COLUMNS))   # current gaps, any order
    state.table = state.table.drop_columns([c for c in frame.PLACING_ONLY if c in state.table.column_names])
    report = ledgerframe.build(state, gaps, Catalog(archive).rows("device_events"), args.device)
    if args.device and not report:
        raise UsageError(_("device {device} has no recordings, handovers or ledger events in this archive").format(
            device=args.device))
    if args.format == "json":
        json.dump(json_value(report, zone), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    elif args.format == "csv":
        emit([{k: text.csv_cell(v) if isinstance(v, str) else v for k, v in r.items()}
              for r in ledger.ledger_rows(report)], CSV_COLUMNS, "csv", zone=zone)
    else:
        for d in report:
            print(_render(d, zone) if d["device_id"] is not None else _render_unattributed(d, zone))
    return 0


def _render(d: dict, zone) -> str:
    t = text.for_terminal
    lines = [t(d["device_id"])]
    reg = d["registration"]
    label = _labels()
    if reg:
        details = ", ".join(f"{label[k]} {t(reg[k])}" for k in ("model", "serial", "unit") if reg[k])
        lines.append(label["registered"] + (_("{at} by {by}") if reg["registered_by"] else "{at}").format(
            at=iso(reg["registered_at"], zone), by=t(reg["registered_by"] or "")) + (f": {details}" if details else ""))
    else:
        lines.append(label["registered"] + _("(not registered: `fieldrec device register`)"))
    for i, h in enumerate(d["holders"]):
        end = iso(h["to"], zone) or _("now")
        ended = _(" (returned)") if h["ended_by"] == "return" else ""
        lines.append((label["holders"] if i == 0 else label["blank"]) + text.pad(t(h["officer_id"]), 12)
                     + f" {iso(h['from'], zone)} .. {end}{ended}: "
                     + _("{n} file(s), {hours}; interruptions {ok} explained, {bad} not; {late} late; "
                         "{damaged} damaged").format(n=h["recordings"], hours=human_duration(h["hours"] * 3600),
                                                     ok=h["interruptions_explained"],
                                                     bad=h["interruptions_unexplained"], late=h["late"],
                                                     damaged=h["damaged"]))
    if not d["holders"]:
        lines.append(label["holders"] + _("(no handovers recorded)"))
    if d["unheld"]["recordings"]:
        lines.append(label["nobody"] + _("{n} file(s), {hours} recorded while nobody held the device").format(
            n=d["unheld"]["recordings"], hours=human_duration(d["unheld"]["hours"] * 3600)))
        if d["holders"]:                     # with no handover at all, every file is; naming them says nothing
            files = sorted(d["unheld"]["files"], key=lambda f: f["start_time"])
            lines += [f"    {f['sha256'][:12]} {t(f['source_name'])} {iso(f['start_time'], zone)}" for f in files[:20]]
    counts = d["interruptions"]
    lines.append(label["recorded"] + _("{n} file(s), {hours}; {gaps} gap(s): {need} need an explanation ({ok} "
                                       "explained, {bad} not), {free} between sessions; {late} late upload(s); "
                                       "{clock} clock problem(s); {damaged} damaged").format(
        n=d["recordings"], hours=human_duration(d["duration_h"] * 3600), gaps=d["gaps"], need=counts["needing"],
        ok=counts["explained"], bad=counts["unexplained"], free=counts["not_needed"], late=d["late"],
        clock=d["clock_problems"], damaged=d["damaged"]))
    lines.append(label["officers"] + _("{ledger} attributed from the ledger, {none} unattributed, {bad} disagreeing "
                                       "with the ledger").format(ledger=d["from_ledger"], none=d["unattributed"],
                                                                 bad=len(d["mismatches"])))
    for m in d["mismatches"]:
        lines.append(_("  ! {sha} {name}: name says {said}, ledger says {ledger}").format(
            sha=m["sha256"][:12], name=t(m["source_name"]), said=t(m["name_officer"]), ledger=t(m["ledger_officer"])))
    for kind in ("faults", "repairs"):
        for e in d[kind]:
            lines.append(label[kind] + f"{iso(e['at'], zone)} {t(e['note'] or '')}"
                         + (f" ({t(e['by'])})" if e["by"] else ""))
    lines += _render_conflicts(d["conflicts"])
    return "\n".join(lines)


def _labels() -> dict[str, str]:
    """The ledger's line labels, each padded to one width (in terminal columns) so the lines align."""
    words = {"registered": _("registered"), "holders": _("holders"), "nobody": _("nobody"),
             "recorded": _("recorded"), "officers": _("officers"), "faults": _("fault"), "repairs": _("repair"),
             "model": _("model"), "serial": _("serial"), "unit": _("unit")}
    width = max(text.display_width(words[k]) for k in ("registered", "holders", "nobody", "recorded", "officers",
                                                       "faults", "repairs")) + 1
    padded = {k: "  " + text.pad(v, width) for k, v in words.items() if k not in ("model", "serial", "unit")}
    return {**words, **padded, "blank": "  " + " " * width}


def _render_conflicts(conflicts: list[dict]) -> list[str]:
    t = text.for_terminal
    lines = []
    for c in conflicts:
        lines.append(_("  ! {sha}: the same bytes under names that disagree on {fields}:").format(
            sha=c["sha256"][:12], fields=", ".join(c["disagree_on"])))
        for n in c["names"]:
            when = n["name_time"].strftime("%Y-%m-%d %H:%M:%S") if n["name_time"] else "-"
            lines.append(f"      {t(n['source'])}: " + _("device {device}, officer {officer}, {when}").format(
                device=t(n["device_id"] or "-"), officer=t(n["officer_id"] or "-"), when=when))
    return lines


def _render_unattributed(d: dict, zone) -> str:
    t = text.for_terminal
    if not d["files"] and not d["conflicts"]:
        return _("unattributed: none (every recording is attributed to a device)")
    lines = [_("unattributed: {n} recording(s) no naming profile attributes to a device "
               "(`fieldrec attribute SHA --device D --officer O --by NAME --reason TEXT`)").format(n=d["recordings"])]
    lines += [f"  {f['sha256'][:12]} {t(f['source_name'])} {f['kind']} " + _("first seen {at}").format(
        at=iso(f["first_seen"], zone)) for f in d["files"]]
    lines += _render_conflicts(d["conflicts"])
    return "\n".join(lines)
