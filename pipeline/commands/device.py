"""``fieldrec device handover`` records who holds a device; ``fieldrec ledger`` reports per device."""

from __future__ import annotations

import argparse
import json
import sys

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


def run_ledger(args: argparse.Namespace) -> int:
    import numpy as np
    import pyarrow.compute as pc

    from pipeline.records import frame

    config = config_of(args)
    archive = existing_archive(args.archive)
    zone = site_zone(config)
    state = frame.load(archive, config, now_utc(), columns=["officer_id"])
    t = state.table
    from pipeline.records import gaplist

    gaps = gaplist.current_per_device(archive)
    present = {d for d in pc.unique(t["device_id"]).to_pylist() if d}
    devices = sorted(present | set(state.periods))
    if args.device:
        if args.device not in devices:
            raise UsageError(f"device {args.device} has no recordings and no handovers in this archive")
        devices = [args.device]
    # Each device's rows in catalog order (a stable sort), so durations add up as the reference adds them.
    order = pc.sort_indices(pc.fill_null(t["device_id"], ""), options=None)
    t = t.take(order)
    keys = pc.fill_null(t["device_id"], "").to_numpy(zero_copy_only=False)
    bounds = {}
    if len(keys):
        cuts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1], [True]]))
        bounds = {keys[a]: (a, b) for a, b in zip(cuts[:-1], cuts[1:])}
    report = []
    for device in devices:
        a, b = bounds.get(device, (0, 0))
        recs = t.slice(a, b - a)
        durations = pc.fill_null(recs["duration_s"], 0.0).to_numpy(zero_copy_only=False).astype(float)
        mismatched = recs.filter(recs["mismatch"])
        report.append({
            "device_id": device,
            "holders": [{"officer_id": p.officer_id, "from": p.start, "to": p.end} for p in state.periods.get(device, [])],
            "recordings": recs.num_rows,
            "duration_h": (float(np.cumsum(durations)[-1]) if len(durations) else 0.0) / 3600,
            "gaps": gaps.get(device, 0),
            "late": pc.sum(recs["late"]).as_py() or 0,
            "clock_problems": recs.num_rows - recs["clock_reason"].null_count,
            "damaged": recs.num_rows - (pc.sum(pc.fill_null(pc.equal(recs["status"], "ok"), False)).as_py() or 0),
            "from_ledger": pc.sum(pc.equal(recs["officer_source"], "ledger")).as_py() or 0,
            "unattributed": recs["officer"].null_count,
            "mismatches": [{"sha256": m["sha256"], "source_name": m["source_name"], "name_officer": m["officer_id"],
                            "ledger_officer": m["ledger_officer"], "start_time": m["start"]}
                           for m in mismatched.select(["sha256", "source_name", "officer_id", "ledger_officer",
                                                       "start"]).to_pylist()],
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
