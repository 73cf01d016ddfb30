"""``fieldrec device handover`` records who holds a device; ``fieldrec ledger`` reports per device."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

from pipeline.commands import UsageError
from pipeline.commands.options import (add_archive, add_format, add_time, config_of, emit, existing_archive, iso,
                                       json_value, locked_catalog, site_zone)
from pipeline.common import text
from pipeline.common.i18n import _
from pipeline.common.times import show
from pipeline.common.units import human_duration
from pipeline.common.clock import new_id, now_utc

DEVICE_HELP = """\
Record a device's handover to an officer (appended to the `handovers` table). A recording whose
file name names no officer is attributed to the device's holder at its start; where the name and
the ledger disagree, `fieldrec ledger` flags the recording.
"""

LEDGER_HELP = """\
Per device: its holders with their periods, its recordings and their total duration, gaps (when
gap detection has run), late uploads, damaged files, recordings attributed from the ledger and
recordings whose file name disagrees with the ledger.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("device", help="record device handovers (the device ledger)", description=DEVICE_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    h = actions.add_parser("handover", help="the device passes to an officer at a time",
                           description=DEVICE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    h.add_argument("device_id", metavar="DEVICE", type=text.arg(text.identifier, what="device id"))
    h.add_argument("--to", dest="officer_id", required=True, metavar="OFFICER",
                   type=text.arg(text.identifier, what="officer id"), help="the new holder")
    add_time(h, "--at", required=True, help="when the device passed to the officer")
    h.add_argument("--by", metavar="NAME", type=text.arg(text.person), help="who records the handover")
    h.add_argument("--note", type=text.arg(text.free_text), help="free text kept with the handover")
    add_archive(h)
    h.set_defaults(handler=run_handover)

    q = sub.add_parser("ledger", help="per device: holders, recordings, gaps, late uploads, damage",
                       description=LEDGER_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_archive(q)
    q.add_argument("--device", metavar="DEVICE", type=text.arg(text.identifier, what="device id"),
                   help="only this device")
    add_format(q)
    q.set_defaults(handler=run_ledger)


def run_handover(args: argparse.Namespace) -> int:
    config = config_of(args)
    archive = existing_archive(args.archive)
    device, officer = args.device_id, args.officer_id
    zone = site_zone(config)
    at = args.at
    with locked_catalog(archive, config, f"handover {device}") as catalog:
        catalog.commit({"handovers": [{"device_id": device, "officer_id": officer, "at": at, "by": args.by,
                                       "note": args.note, "recorded_at": now_utc()}]}, tag=new_id("handover"))
    print(_("device {device}: held by {officer} from {at}").format(device=device, officer=officer, at=show(at, zone)))
    return 0


def _gap_counts(catalog) -> Counter:
    """Current gaps per device (the latest state of each gap, as `fieldrec gaps` lists them)."""
    from pipeline.records import gapstate

    return Counter(g["device_id"] for g in gapstate.listing(catalog) if g["current"])


def run_ledger(args: argparse.Namespace) -> int:
    from pipeline import records

    config = config_of(args)
    archive = existing_archive(args.archive)
    zone = site_zone(config)
    state = records.load(archive, config, now_utc())
    gaps = _gap_counts(state.catalog)
    devices = sorted({r.row["device_id"] for r in state.records if r.row["device_id"]} | set(state.periods))
    if args.device:
        if args.device not in devices:
            raise UsageError(f"device {args.device} has no recordings and no handovers in this archive")
        devices = [args.device]
    per_device: dict[str, list] = {}
    for r in state.records:
        per_device.setdefault(r.row["device_id"], []).append(r)
    report = []
    for device in devices:
        recs = per_device.get(device, [])
        report.append({
            "device_id": device,
            "holders": [{"officer_id": p.officer_id, "from": p.start, "to": p.end} for p in state.periods.get(device, [])],
            "recordings": len(recs),
            "duration_h": sum(r.row["duration_s"] or 0.0 for r in recs) / 3600,
            "gaps": gaps.get(device, 0),
            "late": sum(r.late for r in recs),
            "clock_problems": sum(r.clock is not None for r in recs),
            "damaged": sum(r.row["status"] != "ok" for r in recs),
            "from_ledger": sum(r.attribution.source == "ledger" for r in recs),
            "unattributed": sum(r.attribution.officer_id is None for r in recs),
            "mismatches": [{"sha256": r.sha256, "source_name": r.row["source_name"],
                            "name_officer": r.row["officer_id"], "ledger_officer": r.attribution.ledger_officer,
                            "start_time": r.subject.start} for r in recs if r.attribution.mismatch],
        })
    if args.format == "json":
        json.dump(json_value(report, zone), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    elif args.format == "csv":
        flat = [{**d, "holders": "; ".join(f"{h['officer_id']} {iso(h['from'], zone)}..{iso(h['to'], zone) or ''}"
                                           for h in d["holders"]),
                 "mismatches": len(d["mismatches"])} for d in report]
        emit(flat, ["device_id", "holders", "recordings", "duration_h", "gaps", "late", "clock_problems", "damaged",
                    "from_ledger", "unattributed", "mismatches"], "csv", zone=zone)
    else:
        for d in report:
            print(_render(d, zone))
    return 0


def _render(d: dict, zone) -> str:
    lines = [text.for_terminal(d["device_id"])]
    for i, h in enumerate(d["holders"]):
        label = "  holders   " if i == 0 else "            "
        lines.append(f"{label}{text.for_terminal(h['officer_id']):<12} {iso(h['from'], zone)} .. "
                     f"{iso(h['to'], zone) or 'now'}")
    if not d["holders"]:
        lines.append("  holders   (no handovers recorded)")
    lines.append(f"  recorded  {d['recordings']} file(s), {human_duration(d['duration_h'] * 3600)}; {d['gaps']} gap(s); "
                 f"{d['late']} late upload(s); {d['clock_problems']} clock problem(s); {d['damaged']} damaged")
    lines.append(f"  officers  {d['from_ledger']} attributed from the ledger, {d['unattributed']} unattributed, "
                 f"{len(d['mismatches'])} disagreeing with the ledger")
    for m in d["mismatches"]:
        lines.append(text.for_terminal(f"  ! {m['sha256'][:12]} {m['source_name']}: name says {m['name_officer']}, "
                                       f"ledger says {m['ledger_officer']}"))
    return "\n".join(lines)
