"""``fieldrec export``: copy originals out under an approved request, as a bag, and log the access."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.commands import RunError, UsageError
from pipeline.commands.options import (add_archive, config_of, existing_archive, locked_catalog, outside_archive,
                                       resolve_shas, site_zone)
from pipeline.common import text
from pipeline.common.clock import new_id, now_utc
from pipeline.common.times import show

HELP = """\
Copy originals out of the archive, byte-identical, into FOLDER laid out as a BagIt bag:
data/<file>, manifest-sha256.txt (check it with `cd FOLDER && sha256sum -c manifest-sha256.txt`),
bagit.txt and bag-info.txt (approval, who, when). Every copy is hashed as it is written and must
match its SHA-256. Each exported file is appended to the `access_log` table. The written
statements explaining the recordings' interruptions (`fieldrec explain --attach`, or attached in
the review service) go with them, under data/statements/.

--approval names an access request of this archive (REQ-...), asked for in the review service
(`fieldrec serve`) and granted there by an approver other than the requester, for export, with a
period that includes now. Free text is refused. The request names a recording or a case: without
SHA256 arguments everything it names is exported; any SHA256 given must be covered by it. The
export is made in the requester's name (--by, if given, must be that account).
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="copy originals out under an approved request, with a SHA-256 manifest",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_archive(p)
    p.add_argument("sha", nargs="*", metavar="SHA256",
                   help="recordings to export (8+ leading characters); default: all the request names")
    p.add_argument("--to", dest="dest", required=True, type=Path, metavar="FOLDER",
                   help="a new or empty folder to write the bag into")
    p.add_argument("--approval", metavar="REQ", type=text.arg(text.identifier, what="approval reference"),
                   help="the granted export request (required)")
    p.add_argument("--by", metavar="USER", type=text.arg(text.person),
                   help="the requester's account (default: the requester)")
    p.add_argument("--reason", type=text.arg(text.free_text, max_len=2000),
                   help="why (default: the request's reason; kept in the access log and bag-info.txt)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pipeline import records
    from pipeline.records import access, bag

    if not (args.approval or "").strip():
        raise UsageError("refused: an export needs an approved request (--approval REQ-...); nothing was copied")
    config = config_of(args)
    archive = existing_archive(args.archive)
    dest = outside_archive(args.dest, "--to", archive)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UsageError(f"{text.for_terminal(dest)} exists and is not an empty folder; choose a new one")
    copied: list[dict] = []
    zone = site_zone(config)
    with locked_catalog(archive, config, "export", trusted_catalog=True) as catalog:
        now = now_utc()
        try:
            request = access.check_approval(access.read_requests(archive), args.approval, action="export",
                                            by=(args.by or "").strip() or None, now=now)
        except access.AccessRefused as exc:
            raise UsageError(f"refused, nothing was copied: {exc}") from None
        state = records.load(archive, config, now)
        by_sha = state.by_sha()
        kind, target = request.row["target_kind"], request.row["target"]
        named = state.members(target) if kind == "case" else [r for r in state.records if r.sha256 == target]
        recs = [by_sha[s] for s in resolve_shas(args.sha, set(by_sha))] if args.sha else named
        covered = {r.sha256 for r in named}
        outside = [r for r in recs if r.sha256 not in covered]
        if outside:
            raise UsageError("refused, nothing was copied: request {} does not cover {}".format(
                request.request_id, ", ".join(r.sha256[:12] for r in outside)))
        if not recs:
            raise UsageError(f"refused: request {request.request_id} names no recording of this archive")
        gone = [r for r in recs if not r.object_present]
        if gone:
            lines = [f"  {r.sha256[:12]} {r.row['source_name']}: "
                     + (f"purged {show(r.purge['purged_at'], zone)} (approval {r.purge['approval_ref']})" if r.purge
                        else "object missing from the archive; run `fieldrec verify`") for r in gone]
            raise RunError("refused, nothing was copied: these originals are not in the archive\n" + "\n".join(lines))
        export = bag.Export(approval_ref=request.request_id, by=request.requested_by,
                            reason=args.reason or request.row["reason"], at=now, request_id=request.request_id,
                            client="cli", zone=zone)
        try:
            bag.write_bag(archive, [r.row for r in recs], dest, export, config.ingest.chunk_bytes, copied,
                          fsync=config.ingest.fsync)
        except bag.ObjectChanged as exc:
            raise RunError(str(exc)) from None
        except OSError as exc:
            raise RunError(f"cannot write the export to {dest}: {exc.strerror} ({exc.filename}); "
                           f"{len(copied)} file(s) copied and logged before this") from None
        finally:
            if copied:
                catalog.commit({"access_log": copied}, tag=new_id("export"))
    total = sum(c["size"] for c in copied)
    print(f"exported {len(copied)} file(s), {total} bytes, to {dest} (approval {request.request_id}, "
          f"by {request.requested_by}); check with: cd {dest} && sha256sum -c manifest-sha256.txt")
    return 0
