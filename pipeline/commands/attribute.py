"""``fieldrec attribute``: say who recorded a file that no naming profile could attribute."""

from __future__ import annotations

import argparse
import json
import sys

from pipeline.commands import RunError, UsageError
from pipeline.commands.options import add_archive, config_of, existing_archive, json_value, locked_catalog, site_zone
from pipeline.common import text
from pipeline.common.clock import new_id, now_utc
from pipeline.common.i18n import _

HELP = """\
Attribute a recording to a device (and an officer) when its file name could not: no naming
profile matched it, or names of the same bytes disagree. The attribution is appended to the
`attributions` table (the latest one of a file counts); the recording's own row and the name it
was docked under are never changed, and `fieldrec ledger` shows both. The device's timeline is
re-evaluated at once: the recording joins its sessions and gaps.

  fieldrec attribute 3fa9c1e2 --device CAM042 --officer 012345 --by "Clerk Zhao" \\
      --reason "docked from CAM042's card, per the dock log" --archive A
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("attribute", help="attribute a recording to a device and officer (append-only)",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sha", metavar="SHA256", help="the recording (its SHA-256, or 6+ leading hex digits)")
    add_archive(p)
    p.add_argument("--device", required=True, metavar="DEVICE", type=text.arg(text.identifier, what="device id"),
                   help="the device that recorded it")
    p.add_argument("--officer", metavar="OFFICER", type=text.arg(text.identifier, what="officer id"),
                   help="the officer (police or enforcement-certificate number); default: the device's holder "
                        "in the ledger at the recording's start")
    p.add_argument("--by", required=True, metavar="NAME", type=text.arg(text.person), help="who attributes it")
    p.add_argument("--reason", required=True, metavar="TEXT", type=text.arg(text.free_text),
                   help="how it is known (a dock log, the card it came from)")
    p.add_argument("--json", action="store_true", help="print the row written as JSON")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pipeline.commands.options import resolve_shas
    from pipeline.records import gapstate

    if not args.reason:
        raise UsageError(_("--reason must say how the attribution is known"))
    config = config_of(args)
    archive = existing_archive(args.archive)
    with locked_catalog(archive, config, "attribute") as catalog:
        rows = {r["sha256"]: r for r in catalog.rows("recordings", ["sha256", "source_name", "device_id",
                                                                    "officer_id", "kind"])}
        (sha,) = resolve_shas([args.sha], set(rows))
        row = {"attribution_id": new_id("attr"), "sha256": sha, "device_id": args.device, "officer_id": args.officer,
               "reason": args.reason, "by": args.by, "at": now_utc()}
        run_id = new_id("attribute")
        try:
            catalog.commit({"attributions": [row]}, tag=run_id)
            gapstate.refresh(catalog, run_id, config)         # the recording joins its device's timeline
        except OSError as exc:
            raise RunError(_("the attribution could not be written: {why}").format(why=exc)) from None
    was = rows[sha]
    if args.json:
        json.dump(json_value({**row, "source_name": was["source_name"], "name_device_id": was["device_id"],
                              "name_officer_id": was["officer_id"]}, site_zone(config)),
                  sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(_("{sha} {name}: attributed to device {device}, officer {officer}, by {by} (its name said: device "
                "{was_device}, officer {was_officer})").format(
            sha=sha[:12], name=text.for_terminal(was["source_name"] or ""), device=args.device,
            officer=args.officer or _("the ledger's holder"), by=args.by, was_device=was["device_id"] or "-",
            was_officer=was["officer_id"] or "-"))
    return 0
