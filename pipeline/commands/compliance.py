"""``fieldrec compliance``: the 24-hour upload rule, per officer and device."""

from __future__ import annotations

import argparse

from pipeline.commands.options import TIME_HELP, add_archive, add_format, config_of, emit, existing_archive, parse_time
from pipeline.common.clock import now_utc

HELP = """\
Report late uploads. A recording's upload delay is its ingest time minus its end time (the device
clock corrected by compliance.device_utc_offset_hours or the device's entry in
compliance.device_utc_offsets); it is late when over compliance.late_after_hours (24).
Recordings without an officer in their name are attributed from the device ledger
(`fieldrec device handover`). Recordings with no known time are counted as `unknown`.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compliance", help="late uploads (the 24-hour rule) per officer and device",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_archive(p)
    p.add_argument("--since", metavar="DATE", help=f"only recordings that started at or after this; {TIME_HELP}")
    p.add_argument("--late", action="store_true", help="list each late recording instead of the summary")
    add_format(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pipeline import records

    config = config_of(args)
    archive = existing_archive(args.archive)
    now = now_utc()
    state = records.load(archive, config, now)
    chosen = state.records
    if args.since:
        since = parse_time(args.since, "--since", config.compliance.device_utc_offset_hours)
        chosen = [r for r in chosen if r.subject.start is not None and r.subject.start >= since]
    if args.late:
        rows = [{"sha256": r.sha256, "source_name": r.row["source_name"], "device_id": r.row["device_id"],
                 "officer_id": r.attribution.officer_id, "officer_source": r.attribution.source,
                 "end_time": r.row["end_time"], "ingested_at": r.row["ingested_at"], "delay_h": r.delay_h}
                for r in chosen if r.late]
        rows.sort(key=lambda x: -x["delay_h"])
        emit(rows, ["sha256", "source_name", "device_id", "officer_id", "officer_source", "end_time", "ingested_at",
                    "delay_h"], args.format)
        return 0
    groups: dict[tuple, list] = {}
    for r in chosen:
        groups.setdefault((r.attribution.officer_id or "", r.row["device_id"] or ""), []).append(r)
    rows = []
    for (officer, device), rs in sorted(groups.items()):
        delays = [r.delay_h for r in rs if r.delay_h is not None]
        late = sum(r.late for r in rs)
        rows.append({"officer_id": officer or None, "device_id": device or None, "recordings": len(rs),
                     "late": late, "unknown": len(rs) - len(delays),
                     "late_pct": round(100 * late / len(delays), 1) if delays else None,
                     "max_delay_h": max(delays) if delays else None,
                     "last_ingest": max((r.row["ingested_at"] for r in rs), default=None)})
    emit(rows, ["officer_id", "device_id", "recordings", "late", "unknown", "late_pct", "max_delay_h", "last_ingest"],
         args.format)
    return 0

