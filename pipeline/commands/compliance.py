"""``fieldrec compliance``: the 24-hour upload rule, per officer and device."""

from __future__ import annotations

import argparse

from pipeline.commands.options import (add_archive, add_format, add_time, config_of, emit, existing_archive,
                                       freeze_imported, site_zone)
from pipeline.commands.columns import Col
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


LISTED = {"late": [Col("sha256"), Col("source_name"), Col("device_id"), Col("officer_id"), Col("officer_source"),
                   Col("end_time", "instant"), Col("first_seen", "instant"), Col("delay_h", "float"),
                   Col("delay_s", "float"), Col("device_clock", "reading", "zone"), Col("time_source")],
          "clock": [Col("sha256"), Col("source_name"), Col("device_id"), Col("officer_id"),
                    Col("device_clock", "reading", "zone"), Col("first_seen", "instant"), Col("time_source"),
                    Col("clock_problem")]}
SUMMARY = ["officer_id", "device_id", "recordings", "late", "clock", "unknown", "late_pct", "max_delay_h",
           "last_ingest"]


def run(args: argparse.Namespace) -> int:
    import pyarrow as pa
    import pyarrow.compute as pc

    from pipeline.commands.tabular import emit_table

    from pipeline.records import frame
    from pipeline.rules.sets.recordings import UTC_TYPE

    config = config_of(args)
    archive = existing_archive(args.archive)
    zone = site_zone(config)
    now = now_utc()
    pa.set_memory_pool(pa.system_memory_pool())      # as retention's: fewer page faults, a lower peak
    freeze_imported()
    state = frame.load(archive, config, now, retention=False, narrow=True)
    t = state.table
    if args.since is not None:
        t = t.filter(pc.fill_null(pc.greater_equal(t["start"], pa.scalar(args.since, UTC_TYPE)), False))
    delay_h = pc.divide(t["delay_s"], 3600.0)
    if args.late or args.clock:
        rows = pa.table({"sha256": t["sha256"], "source_name": t["source_name"], "device_id": t["device_id"],
                         "officer_id": t["officer"], "officer_source": t["officer_source"], "end_time": t["end"],
                         "first_seen": t["arrived"], "delay_h": delay_h, "delay_s": t["delay_s"],
                         "device_clock": t["end"], "zone": t["zone"], "time_source": t["time_source"],
                         "clock_problem": t["clock_text"]})
        rows = rows.filter(t["late"] if args.late else pc.is_valid(t["clock_reason"]))
        rows = rows.append_column("_delay", pc.negate(pc.fill_null(rows["delay_s"], 0.0))).append_column(
            "_device", pc.fill_null(rows["device_id"], ""))
        rows = rows.sort_by([("_delay", "ascending"), ("_device", "ascending"), ("sha256", "ascending")])
        emit_table(rows, LISTED["late" if args.late else "clock"], args.format, zone=zone, zones=state.by_label)
        return 0
    per = pa.table({"officer": pc.fill_null(t["officer"], ""), "device": pc.fill_null(t["device_id"], ""),
                    "late": t["late"].cast(pa.int64()), "clock": pc.is_valid(t["clock_reason"]).cast(pa.int64()),
                    "delay_h": delay_h, "ingested_at": t["ingested_at"]})
    groups = per.group_by(["officer", "device"]).aggregate([
        ("late", "count"), ("late", "sum"), ("clock", "sum"), ("delay_h", "count"), ("delay_h", "max"),
        ("ingested_at", "max")]).sort_by([("officer", "ascending"), ("device", "ascending")])
    rows = []
    for g in groups.to_pylist():                      # one per officer and device, not per recording
        delays, late = g["delay_h_count"], g["late_sum"]
        rows.append({"officer_id": g["officer"] or None, "device_id": g["device"] or None,
                     "recordings": g["late_count"], "late": late, "clock": g["clock_sum"],
                     "unknown": g["late_count"] - delays - g["clock_sum"],
                     "late_pct": round(100 * late / delays, 1) if delays else None,
                     "max_delay_h": g["delay_h_max"] if delays else None, "last_ingest": g["ingested_at_max"]})
    emit(rows, SUMMARY, args.format, zone=zone)
    return 0
