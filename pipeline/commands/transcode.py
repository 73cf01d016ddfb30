"""``fieldrec transcode``: review proxies for recordings that lack one."""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import sys
from pathlib import Path

from pipeline.commands import RunError, UsageError
from pipeline.commands.options import add_engine, config_of, engine_choice

HELP = """\
Make review proxies: each good video becomes an H.264/AAC MP4 (longer side 640 px, CRF 28 by
default; see [transcode] in configs/default.toml), each audio recording an AAC M4A, with the
timestamps, duration and display rotation of the original. Proxies are stored under
ARCHIVE/proxies/ with their own SHA-256 and cataloged in the `derivatives` table; the originals
are only read. A damaged or unreadable original gets no proxy and a `skipped` row saying why.

Proxies run as tasks of their own ([transcode] cpus_per_task, resources): on this machine's
worker processes by default, or on Ray (--engine ray, --address), where a cluster can put them
on nodes of their own. A killed run is finished by running the same command again: it
makes only what is still missing, never a second copy.

Examples:
  fieldrec transcode --archive /evidence --missing            # overnight catch-up
  fieldrec transcode --archive /evidence 3fa9c1 77e0d2         # these recordings (SHA-256 prefixes)
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("transcode", help="make review proxies for recordings that lack one", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sha256", nargs="*", metavar="SHA256",
                   help="recordings to make proxies for (SHA-256 or a prefix of at least 6 hex digits)")
    p.add_argument("--archive", required=True, type=Path, metavar="DIR", help="archive folder")
    p.add_argument("--missing", action="store_true",
                   help="every recording without a proxy for the current settings (failed ones are retried); "
                        "with SHA256 arguments, only those")
    add_engine(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pipeline.archive.lock import ArchiveBusy
    from pipeline.common.errors import ArchiveWriteError
    from pipeline.records.lookup import LookupProblem
    from pipeline.runs.address import ClusterUnreachable
    from pipeline.runs.transcode import TranscodeError, transcode

    config = config_of(args)
    if not args.missing and not args.sha256:
        raise UsageError("say which recordings: --missing for all that lack a proxy, or SHA256 prefixes")
    if not (args.archive / "catalog").is_dir():
        raise UsageError(f"{args.archive} is not a fieldrec archive (no catalog/ folder); ingest into it first")
    engine, address = engine_choice(args)
    try:
        with contextlib.redirect_stdout(sys.stderr):     # stdout: the summary alone
            summary = transcode(args.archive, config, shas=args.sha256 or None,
                                engine=engine, address=address, workers=args.workers,
                                progress=not args.quiet and not args.json)
    except (ArchiveBusy, ClusterUnreachable) as exc:
        raise RunError(str(exc)) from None
    except TranscodeError as exc:
        raise RunError(str(exc)) from None
    except LookupProblem as exc:
        raise UsageError(str(exc)) from None
    except ArchiveWriteError as exc:
        hint = "free space on the archive's disk" if exc.errno == errno.ENOSPC else "make the archive writable"
        raise RunError(f"a proxy could not be written: {exc.strerror} ({exc.filename}). Proxies finished "
                       f"before this are kept; {hint}, then run the same command again.") from None
    if args.json:
        json.dump(summary.to_dict(), sys.stdout, indent=2, default=str, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(summary.render())
    return 0
