"""``fieldrec export``: copy originals out under an approval, as a bag, and log the access."""

from __future__ import annotations

import argparse
import re
import socket
from pathlib import Path

from pipeline.commands import RunError, UsageError
from pipeline.commands.options import (add_archive, config_of, existing_archive, locked_catalog, outside_archive,
                                       resolve_shas)
from pipeline.common import text
from pipeline.common.clock import new_id, now_utc

HELP = """\
Copy originals out of the archive, byte-identical, into FOLDER laid out as a BagIt bag:
data/<file>, manifest-sha256.txt (check it with `cd FOLDER && sha256sum -c manifest-sha256.txt`),
bagit.txt and bag-info.txt (approval, who, when). Every copy is hashed as it is written and must
match its SHA-256. Each exported file is appended to the `access_log` table. An export without an
approval reference is refused.
"""

SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="copy originals out under an approval, with a SHA-256 manifest",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_archive(p)
    p.add_argument("sha", nargs="+", metavar="SHA256", help="recordings to export (8+ leading characters)")
    p.add_argument("--to", dest="dest", required=True, type=Path, metavar="FOLDER",
                   help="a new or empty folder to write the bag into")
    p.add_argument("--approval", metavar="REF", type=text.arg(text.identifier, what="approval reference"),
                   help="the approval reference (required)")
    p.add_argument("--by", metavar="NAME", type=text.arg(text.person), help="who exports (required)")
    p.add_argument("--reason", type=text.arg(text.free_text, max_len=2000),
                   help="why (kept in the access log and bag-info.txt)")
    p.set_defaults(handler=run)


def _names(recs) -> list[str]:
    """Readable, unique names under data/: the original file name, prefixed by the hash if needed."""
    names, used = [], set()
    for r in recs:
        base = SAFE.sub("_", r.row["source_name"] or "") or r.sha256
        name = base if base not in used else f"{r.sha256[:12]}_{base}"
        used.add(name)
        names.append(name)
    return names


def run(args: argparse.Namespace) -> int:
    from pipeline import records
    from pipeline.archive.bagit import Bag, BagMismatch

    if not (args.approval or "").strip():
        raise UsageError("refused: an export needs an approval reference (--approval REF); nothing was copied")
    if not (args.by or "").strip():
        raise UsageError("refused: an export needs the name of who exports (--by NAME); nothing was copied")
    config = config_of(args)
    archive = existing_archive(args.archive)
    dest = outside_archive(args.dest, "--to", archive)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UsageError(f"{text.for_terminal(dest)} exists and is not an empty folder; choose a new one")
    copied: list[dict] = []
    with locked_catalog(archive, config, "export", trusted_catalog=True) as catalog:
        now = now_utc()
        state = records.load(archive, config, now)
        by_sha = state.by_sha()
        recs = [by_sha[s] for s in resolve_shas(args.sha, set(by_sha))]
        gone = [r for r in recs if not r.object_present]
        if gone:
            lines = [f"  {r.sha256[:12]} {r.row['source_name']}: "
                     + (f"purged {r.purge['purged_at']:%Y-%m-%d} (approval {r.purge['approval_ref']})" if r.purge
                        else "object missing from the archive; run `fieldrec verify`") for r in gone]
            raise RunError("refused, nothing was copied: these originals are not in the archive\n" + "\n".join(lines))
        bag = Bag(dest, chunk_bytes=config.ingest.chunk_bytes, fsync=config.ingest.fsync)
        try:
            try:
                for r, name in zip(recs, _names(recs)):
                    try:
                        digest = bag.add_payload(archive / r.row["archive_path"], name, r.sha256)
                    except BagMismatch as exc:
                        raise RunError(f"{r.sha256[:12]} {r.row['source_name']}: the archived object no longer "
                                       f"matches its SHA-256 (read {exc.actual[:12]}); it was not exported. "
                                       "Run `fieldrec verify` and report this") from None
                    copied.append({"access_id": new_id("access"), "action": "export", "sha256": r.sha256,
                                   "size": digest.size, "destination": str(dest / "data" / name),
                                   "approval_ref": args.approval, "by": args.by, "reason": args.reason, "at": now,
                                   "host": socket.gethostname()})
            finally:
                bag.close(_bag_info(args, now), tagmanifest=False)
        except OSError as exc:
            raise RunError(f"cannot write the export to {dest}: {exc.strerror} ({exc.filename}); "
                           f"{len(copied)} file(s) copied and logged before this") from None
        finally:
            if copied:
                catalog.commit({"access_log": copied}, tag=new_id("export"))
    total = sum(c["size"] for c in copied)
    print(f"exported {len(copied)} file(s), {total} bytes, to {dest} (approval {args.approval}, by {args.by}); "
          f"check with: cd {dest} && sha256sum -c manifest-sha256.txt")
    return 0


def _bag_info(args, now) -> list[tuple[str, str]]:
    info = [("Source-Organization", "fieldrec export"), ("Bagging-Date", f"{now:%Y-%m-%d}"),
            ("Export-Time", f"{now:%Y-%m-%dT%H:%M:%SZ}"), ("Approval-Reference", args.approval),
            ("Exported-By", args.by)]
    if args.reason:
        info.append(("Export-Reason", args.reason))
    return info
