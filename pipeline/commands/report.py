"""``fieldrec report``: one self-contained HTML file for reviewing what an archive holds."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.commands import RunError, UsageError
from pipeline.commands.options import add_time

HELP = """\
Write a review report of an archive as ONE self-contained HTML file (no network, no other
files: it opens from a USB stick in any browser). It shows a run summary (files, hours and bytes
per status, late uploads, unexplained gaps), a timeline per device (recordings coloured by
status, gaps and clock anomalies marked; hover for details, drag to zoom), a strip of
thumbnails per recording, and the lists of unexplained gaps (with the ids `fieldrec explain`
takes), damaged files and late uploads.

Times on the timelines are device time, as the devices wrote it. A recording is a late upload
when it was ingested more than compliance.late_after_hours (default 24) after it ended, as
`fieldrec compliance` counts them. Gaps and their explanations are those `fieldrec gaps` lists.
"""

def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write an HTML review report (timelines, gaps, thumbnails)",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--archive", required=True, type=Path, metavar="DIR", help="the archive folder")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="FILE",
                   help="the HTML file to write (replaced if it exists)")
    add_time(p, "--since", help="only recordings and gaps ending at or after this")
    p.add_argument("--device", action="append", default=[], metavar="ID",
                   help="only this device (repeat for several)")
    p.add_argument("--config", type=Path, metavar="FILE",
                   help="TOML file overriding configs/default.toml's run knobs (section [report])")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pipeline.report.html import write_report

    from pipeline.commands.options import config_of

    config = config_of(args)
    if not (args.archive / "catalog").is_dir():
        raise UsageError(f"{args.archive} is not a fieldrec archive (no catalog/ folder)")
    since = args.since
    from pipeline.commands.options import outside_archive

    outside_archive(args.output, "-o/--output", args.archive)
    if not args.output.parent.is_dir():
        raise UsageError(f"folder of --output not found: {args.output.parent}")
    try:
        data = write_report(args.archive, args.output, config, since=since, devices=tuple(args.device))
    except OSError as exc:
        raise RunError(f"could not write {args.output}: {exc.strerror or exc}") from None
    unexplained = sum(1 for g in data.gaps if g.waiting)
    late = sum(1 for r in data.recordings if r.late_by_s)
    size = args.output.stat().st_size
    print(f"wrote {args.output} ({size / 1e6:.1f} MB): {len(data.recordings)} recordings, "
          f"{len({r.device_id for r in data.recordings if r.device_id})} devices, {unexplained} unexplained gaps, "
          f"{late} late uploads")
    for note in data.notes:
        print(f"  note: {note}")
    return 0
