"""``fieldrec disc``: plan, stage and verify burned-disc copies of permanent records."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from pipeline.commands import RunError, UsageError
from pipeline.commands.options import add_time
from pipeline.common import text
from pipeline.common.clock import now_utc

HELP = """\
Permanent records (major emergencies, mass incidents) are also kept on burned discs: DVD, BD-R,
BDXL or M-DISC. Three steps:

  fieldrec disc plan  --archive A --case C-2024-17 --media bd25 --out plan.json
  fieldrec disc stage --archive A plan.json --out /staging --iso
  fieldrec disc verify /staging/FR_3A9F1C_01.iso --archive A

`plan` packs the originals onto as few discs as possible (a case's files on consecutive discs,
each device's recordings in recording order when that costs no disc). `stage` writes one BagIt
bag per disc (data/DEVICE/START_OFFICER_SHA8.ext, SHA-256 manifests, the catalog rows as CSV and
Parquet, a README) and optionally an ISO 9660 image with Joliet, Rock Ridge and UDF. `verify`
re-reads a staged folder, an image or a mounted disc and reports changed, missing and extra files.
"""

PLAN_HELP = """\
Pack the selected originals onto discs and print the plan (discs, fill, files). Select with
--case or --class (cases of the retention feature), or explicitly with --sha or --device.
Capacities are the media's real usable bytes, less --reserve percent and an estimate of the
file-system overhead. A file larger than one disc stops the plan (with its name and the media
that would hold it) unless --skip-oversize is given.
"""

STAGE_HELP = """\
Write each disc of PLAN as a folder OUT/LABEL/ laid out as a BagIt bag, copying every file from
the archive and checking its SHA-256 as it is written; then re-read the folder. With --iso, also
OUT/LABEL.iso (ISO 9660 level 3 + Joliet + Rock Ridge + UDF 2.60, files over 4 GiB as
multi-extent files), read back before it is accepted. Each disc is recorded in the archive's
`discs` and `disc_files` tables. Running the same plan again skips finished discs.
"""

VERIFY_HELP = """\
Re-read every file of a disc - a staged folder, an ISO image (read directly, no mounting) or the
mount point of a burned disc - against its manifests. Reports changed, missing and extra files;
exit code 1 on any problem, 0 when everything matches. With --archive, the result is appended
to the archive's `disc_verifications` table and the manifest is compared with the one recorded
when the disc was staged.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("disc", help="plan, stage and verify burned-disc copies", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    steps = p.add_subparsers(dest="disc_command", metavar="STEP")
    p.set_defaults(handler=lambda args: _no_step(p))

    plan = steps.add_parser("plan", help="pack originals onto discs", description=PLAN_HELP,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    plan.add_argument("--archive", required=True, type=Path, metavar="DIR")
    which = plan.add_mutually_exclusive_group()
    which.add_argument("--case", action="append", metavar="ID", type=text.arg(text.identifier, what="case id"),
                       help="a case's recordings (repeatable)")
    which.add_argument("--class", dest="retention_class", metavar="CLASS",
                       help="every case of a retention class, e.g. permanent")
    which.add_argument("--sha", nargs="+", metavar="SHA", help="recordings by SHA-256 (8+ leading hex digits)")
    which.add_argument("--device", action="append", metavar="ID", type=text.arg(text.identifier, what="device id"),
                       help="a device's recordings (repeatable)")
    plan.add_argument("--important", action="store_true",
                      help="only recordings the recorder marked important (_IMP, _I, 重要 in the name); alone: "
                           "every marked recording (with --since/--until: starting in that window)")
    add_time(plan, "--since", help="with --device or --important: recordings starting at or after this")
    add_time(plan, "--until", help="with --device or --important: recordings starting at or before this")
    plan.add_argument("--config", type=Path, metavar="FILE",
                      help="TOML file overriding configs/default.toml's run knobs")
    from pipeline.disc.pack import MEDIA

    plan.add_argument("--media", choices=sorted(MEDIA), help="disc type (M-DISC: the same sizes)")
    plan.add_argument("--capacity-bytes", type=int, metavar="N",
                      help="a disc's capacity in bytes instead of --media's (tests, unusual media)")
    plan.add_argument("--reserve", type=float, default=2.0, metavar="PCT",
                      help="percent of each disc left empty (default 2)")
    plan.add_argument("--with-derivatives", action="store_true",
                      help="also put each original's proxies and thumbnails on its disc")
    plan.add_argument("--skip-oversize", action="store_true",
                      help="plan the rest when some files are larger than a disc; list them as refused")
    plan.add_argument("--label-prefix", default="FR", metavar="TEXT", type=text.arg(text.identifier, what="label prefix"),
                      help="start of the disc labels (default FR)")
    plan.add_argument("--out", type=Path, metavar="PLAN.json", help="write the plan here (for `disc stage`)")
    plan.add_argument("--format", choices=("table", "csv", "json"), default="table",
                      help="how to print the plan: table (default), csv (one line per file), json")
    plan.set_defaults(handler=run_plan)

    stage = steps.add_parser("stage", help="write the discs of a plan as BagIt folders (and ISO images)",
                             description=STAGE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    stage.add_argument("plan", type=Path, metavar="PLAN")
    stage.add_argument("--archive", required=True, type=Path, metavar="DIR")
    stage.add_argument("--out", required=True, type=Path, metavar="FOLDER")
    stage.add_argument("--iso", action="store_true", help="also write LABEL.iso for each disc")
    stage.add_argument("--no-reverify", dest="reverify", action="store_false",
                       help="skip re-reading each staged folder (copies are still hashed as written)")
    stage.add_argument("--json", action="store_true", help="print the outcome as JSON")
    stage.add_argument("--config", type=Path, metavar="FILE",
                       help="TOML file overriding configs/default.toml key by key (the site's time zone)")
    stage.set_defaults(handler=run_stage)

    check = steps.add_parser("verify", help="re-read a staged folder, ISO image or mounted disc",
                             description=VERIFY_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("path", type=Path, metavar="PATH")
    check.add_argument("--archive", type=Path, metavar="DIR", help="record the result in this archive")
    check.add_argument("--format", choices=("table", "json"), default="table")
    check.set_defaults(handler=run_verify)

    listing = steps.add_parser("list", help="the discs recorded in an archive, with their verifications")
    listing.add_argument("--archive", required=True, type=Path, metavar="DIR")
    listing.add_argument("--format", choices=("table", "csv", "json"), default="table")
    listing.set_defaults(handler=run_list)


def _no_step(parser) -> int:
    parser.print_help()
    return 2


def _catalog(archive: Path):
    from catalog.store import Catalog

    if not (archive / "catalog").is_dir():
        raise UsageError(f"{archive} is not a fieldrec archive (no catalog/ folder)")
    return Catalog(archive)


def run_plan(args: argparse.Namespace) -> int:
    from pipeline.commands.options import outside_archive
    from pipeline.disc import plan as planning
    from pipeline.disc import select
    from pipeline.disc.pack import MEDIA

    if args.media is None and args.capacity_bytes is None:
        raise UsageError("give --media (dvd, bd25, bd50, bd100, mdisc-...) or --capacity-bytes")
    if args.capacity_bytes is not None and args.capacity_bytes <= 0:
        raise UsageError("--capacity-bytes must be positive")
    if not 0 <= args.reserve < 100:
        raise UsageError("--reserve is a percentage from 0 to below 100")
    if not (args.case or args.retention_class or args.sha or args.device or args.important):
        raise UsageError("select what to plan: --case, --class, --sha, --device or --important")
    if (args.since or args.until) and not (args.device or args.important):
        raise UsageError("--since and --until go with --device or --important")
    if args.out:
        outside_archive(args.out, "--out", args.archive)
    from pipeline.commands.options import config_of

    config = config_of(args)
    zones = config.zones()
    catalog = _catalog(args.archive)
    known = select.recordings(catalog)
    try:
        if args.sha:
            chosen, selection = select.by_sha(known, args.sha), {"sha256": args.sha}
        elif args.device:
            chosen = select.by_device(known, args.device, args.since, args.until, zones)
            selection = {"device": args.device, "since": _text(args.since, zones), "until": _text(args.until, zones)}
        elif args.case:
            from pipeline.records.state import load

            state = load(args.archive, config, now_utc())
            chosen, selection = select.by_cases(state, args.case), {"case": args.case}
        elif args.retention_class:
            chosen = select.by_class(args.archive, config, args.retention_class)
            selection = {"class": args.retention_class}
        else:
            chosen = select.by_important(known, args.since, args.until, zones)
            selection = {"important": True, "since": _text(args.since, zones), "until": _text(args.until, zones)}
        if args.important and "important" not in selection:
            chosen = select.important_only(chosen, known)
            selection["important"] = True
    except select.SelectionError as exc:
        raise UsageError(str(exc)) from None
    request = planning.Request(media=args.media or "custom",
                               capacity_bytes=args.capacity_bytes or MEDIA[args.media],
                               reserve_pct=args.reserve, with_derivatives=args.with_derivatives,
                               skip_oversize=args.skip_oversize, label_prefix=args.label_prefix)
    try:
        plan = planning.build(args.archive, chosen, known, request, selection)
    except planning.PlanError as exc:
        raise UsageError(str(exc)) from None
    if args.out:
        planning.write(plan, args.out)
    if args.format == "json":
        json.dump(plan, sys.stdout, indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
    elif args.format == "csv":
        out = csv.writer(sys.stdout)
        out.writerow(["label", "disc", "of", "disc_path", "sha256", "role", "size", "case_ids"])
        for d in plan["discs"]:
            for f in d["files"]:
                out.writerow([d["label"], d["index"], d["count"], f["disc_path"], f["sha256"], f["role"],
                              f["size"], ";".join(c for c in f["cases"] if c != "selection")])
    else:
        print(planning.render(plan))
        if args.out:
            print(f"plan written to {args.out}; next: fieldrec disc stage --archive {args.archive} "
                  f"{args.out} --out FOLDER [--iso]")
    return 0


def run_stage(args: argparse.Namespace) -> int:
    from pipeline.disc import plan as planning
    from pipeline.disc.bag import StageError
    from pipeline.disc.stage import stage_plan
    from pipeline.commands.options import config_of, outside_archive, writing

    outside_archive(args.out, "--out", args.archive)
    try:
        plan = planning.read(args.plan)
    except planning.PlanError as exc:
        raise UsageError(str(exc)) from None
    _catalog(args.archive)
    say = (lambda _: None) if args.json else (lambda line: print(line, file=sys.stderr))
    try:
        with writing(args.archive, "disc stage"):
            outcomes = stage_plan(args.archive, plan, args.out, iso=args.iso, reverify=args.reverify, say=say,
                                  zones=config_of(args).zones())
    except StageError as exc:
        raise RunError(str(exc)) from None
    except OSError as exc:
        raise RunError(f"cannot write the staging folder {args.out}: {exc}") from None
    if args.json:
        json.dump([o.to_dict() for o in outcomes], sys.stdout, indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        for o in outcomes:
            image = f", image {o.image} ({o.image_bytes} bytes, SHA-256 {o.image_sha256[:16]}...)" if o.image else ""
            print(f"{o.label}: {o.files} files, {o.bytes} bytes in {o.folder}{image}"
                  + (" (already staged)" if o.skipped else ""))
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from pipeline.disc.stage import record_verification
    from pipeline.disc.verify import verify
    from pipeline.commands.options import writing

    if not args.path.exists():
        raise UsageError(f"{args.path} does not exist (give a staged folder, an ISO image or a mount point)")
    report = verify(args.path)
    if args.archive:
        _catalog(args.archive)
        with writing(args.archive, "disc verify"):
            report.problems += record_verification(args.archive, report)
    if args.format == "json":
        json.dump(report.to_dict(), sys.stdout, indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(report.render())
    return 0 if report.ok else 1


def run_list(args: argparse.Namespace) -> int:
    from pipeline.disc.stage import latest_discs

    catalog = _catalog(args.archive)
    checks: dict[str, list[dict]] = {}
    for row in sorted(catalog.rows("disc_verifications"), key=lambda r: r["verified_at"]):
        checks.setdefault(row["label"], []).append(row)
    rows = []
    for label, d in sorted(latest_discs(catalog).items()):
        last = checks.get(label, [])[-1:] or [None]
        rows.append({"label": label, "media": d["media"], "disc": f"{d['disc_index']} of {d['disc_count']}",
                     "cases": ";".join(d["case_ids"] or []), "files": d["files"], "bytes": d["bytes"],
                     "created": _text(d["created"]), "image_sha256": d["image_sha256"],
                     "verifications": len(checks.get(label, [])),
                     "last_verified": _text(last[0]["verified_at"]) if last[0] else None,
                     "last_result": last[0]["result"] if last[0] else None})
    if args.format == "json":
        json.dump(rows, sys.stdout, indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
    elif args.format == "csv":
        out = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["label"])
        out.writeheader()
        out.writerows(rows)
    else:
        print(f"{'label':<24} {'media':<6} {'disc':<8} {'files':>6} {'bytes':>14}  verified  last")
        for r in rows:
            print(f"{r['label']:<24} {r['media']:<6} {r['disc']:<8} {r['files']:>6} {r['bytes']:>14}  "
                  f"{r['verifications']:>8}  {r['last_result'] or '-'} {r['last_verified'] or ''}")
    return 0


def _text(value, zones=None) -> str | None:
    """An instant as ISO 8601 with the site's offset (plan files and JSON are read by people too)."""
    from pipeline.common.times import Zones, iso

    if value is None:
        return None
    return iso(value, (zones or Zones()).site_zone) if getattr(value, "tzinfo", None) else value.isoformat()
