"""``fieldrec compliance``: the 24-hour upload rule, per officer and device."""

from __future__ import annotations

import argparse

from pipeline.commands.options import add_archive, add_format, add_time, config_of, emit, existing_archive, site_zone
from pipeline.common.clock import now_utc
from pipeline.common.i18n import N_, _

HELP = N_("""\
Report late uploads. A recording's upload delay runs from the end of recording (its device clock
placed in the device's zone: site.time_zone, or its site.device_time_zones entry) to when the file
first reached the archive (its first sighting); it is never negative, and it is late when over
compliance.late_after_hours (24). A recording whose device clock cannot be right (reset to 2000,
ahead of the archive) has no delay: it is counted under `clock` as a clock problem, never as a
late upload. Recordings without an officer in their name are attributed from the device ledger
(`fieldrec device handover`). Recordings with no known time are counted as `unknown`.
Times are shown in the site's zone with their offset.
""")

LATE_COLUMNS = ["sha256", "source_name", "device_id", "officer_id", "officer_source", "end_time", "first_seen",
                "delay_h", "delay_s", "device_clock", "time_source"]
CLOCK_COLUMNS = ["sha256", "source_name", "device_id", "officer_id", "device_clock", "first_seen", "time_source",
                 "clock_problem"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compliance", help=_("late uploads (the 24-hour rule) per officer and device"),
                       description=_(HELP), formatter_class=argparse.RawDescriptionHelpFormatter)
    add_archive(p)
    add_time(p, "--since", help=_("only recordings that started at or after this"))
    which = p.add_mutually_exclusive_group()
    which.add_argument("--late", action="store_true", help=_("list each late recording instead of the summary"))
    which.add_argument("--clock", action="store_true",
                       help=_("list each recording whose device clock cannot be right (no delay can be known)"))
    add_format(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pipeline import records

    config = config_of(args)
    archive = existing_archive(args.archive)
    zone = site_zone(config)
    now = now_utc()
    since = args.since
    state = records.load(archive, config, now)
    chosen = state.records
    if since is not None:
        chosen = [r for r in chosen if r.subject.start is not None and r.subject.start >= since]
    if args.late or args.clock:
        rows = [{"sha256": r.sha256, "source_name": r.row["source_name"], "device_id": r.row["device_id"],
                 "officer_id": r.attribution.officer_id, "officer_source": r.attribution.source,
                 "end_time": r.subject.end, "first_seen": r.first_seen, "delay_h": r.delay_h,
                 "delay_s": r.lateness.delay_s, "device_clock": r.device_clock("end"),
                 "time_source": r.row["time_source"], "clock_problem": r.clock[1] if r.clock else None}
                for r in chosen if (r.late if args.late else r.clock is not None)]
        rows.sort(key=lambda x: (-(x["delay_s"] or 0), x["device_id"] or "", x["sha256"]))
        emit(rows, LATE_COLUMNS if args.late else CLOCK_COLUMNS, args.format, zone=zone)
        return 0
    groups: dict[tuple, list] = {}
    for r in chosen:
        groups.setdefault((r.attribution.officer_id or "", r.row["device_id"] or ""), []).append(r)
    rows = []
    for (officer, device), rs in sorted(groups.items()):
        delays = [r.delay_h for r in rs if r.delay_h is not None]
        late = sum(r.late for r in rs)
        clock = sum(r.clock is not None for r in rs)
        rows.append({"officer_id": officer or None, "device_id": device or None, "recordings": len(rs),
                     "late": late, "clock": clock, "unknown": len(rs) - len(delays) - clock,
                     "late_pct": round(100 * late / len(delays), 1) if delays else None,
                     "max_delay_h": max(delays) if delays else None,
                     "last_ingest": max((r.row["ingested_at"] for r in rs), default=None)})
    emit(rows, ["officer_id", "device_id", "recordings", "late", "clock", "unknown", "late_pct", "max_delay_h",
                "last_ingest"], args.format, zone=zone)
    return 0
