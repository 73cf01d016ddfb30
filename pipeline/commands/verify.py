"""``fieldrec verify`` (fixity audit of an archive) and ``fieldrec keygen`` (its signing key)."""

from __future__ import annotations

import argparse
import contextlib
import csv
import errno
import json
import sys
from pathlib import Path

from pipeline.commands import RunError, UsageError
from pipeline.commands.options import add_engine, config_of, engine_choice
from pipeline.config import load_config
from pipeline.common.i18n import _

EXIT_PROBLEMS = 3

VERIFY_HELP = """\
Prove that nothing in an archive was removed, edited, reordered or slipped in.

Every run that writes to the archive leaves a manifest in ARCHIVE/manifests/ listing the originals
(objects/) and catalog part files it added, with their SHA-256, chained to the manifest before it
(and signed with Ed25519 when [integrity] signing_key is set). verify re-hashes the objects in
worker processes (this machine's, or a Ray cluster's with --address), all of them unless --sample
or --since narrow it, re-hashes the catalog part files, recomputes the chain and checks the
signatures, and lists every problem:

  changed     a file's bytes differ from the SHA-256 its manifest recorded
  missing     a file a manifest lists (or a recordings row names) is gone
  untracked   a file no manifest lists: written by a run killed before its seal (its intent
              journal names it, and the next writing command adopts it), or put there by
              hand / left when its manifest was removed (never adopted: `fieldrec quarantine`
              moves such files aside)
  unreadable  a file that cannot be read
  chain       a manifest was removed, edited, renamed or reordered (or --expect-head is gone)
  signature   a signature is missing, bad, or made with a key other than the trusted one
  witness     a witness file saw manifests the chain no longer has, other chain values, or
              stops before the head ([integrity] witness_paths, --witness)

Existence and the chain are always checked in full; only re-hashing is sampled. The results are
appended to the catalog table `fixity` (one row per item checked and per problem), sealed by a
manifest of verify's own. The chain head printed at the end can be kept elsewhere (a ticket, an
e-mail) as an outside witness of the archive's state.

Exit codes: 0 no problem, 3 problems found (listed), 1 the audit could not run (archive busy,
not an archive, not writable), 2 usage error.
"""

KEYGEN_HELP = """\
Make an Ed25519 key pair for signing manifests: KEYFILE (private, mode 0600) and KEYFILE.pub.
Then set [integrity] signing_key = "KEYFILE" in the configuration used for ingest, and keep a
copy of KEYFILE.pub away from the archive: `fieldrec verify --key KEYFILE.pub` checks that every
signed manifest was signed with it. Never overwrites an existing file.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify", help="fixity audit: re-hash objects, check the manifest chain",
                       description=VERIFY_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--archive", required=True, type=Path, metavar="DIR", help="archive folder to audit")
    p.add_argument("--sample", type=float, default=100.0, metavar="PCT",
                   help="re-hash a random PCT percent of the objects (default 100: all)")
    p.add_argument("--since", metavar="RUN",
                   help="re-hash only what runs from RUN on added (a run id, or a manifest number like 000012)")
    p.add_argument("--key", metavar="PUBFILE",
                   help="trusted public key for signatures (default: [integrity] verify_key or signing_key)")
    p.add_argument("--seed", type=int, metavar="N", help="seed of the --sample draw, to repeat an audit")
    p.add_argument("--witness", action="append", default=[], metavar="FILE",
                   help=_("a witness file (kept outside the archive) to hold the chain against, besides the "
                          "archive's [integrity] witness_paths (repeatable)"))
    p.add_argument("--expect-head", metavar="HEX",
                   help=_("a chain head kept elsewhere (on paper, in a ticket): 16 to 64 hex digits of it; the "
                          "chain must still contain that manifest"))
    add_engine(p)
    p.add_argument("--format", choices=("table", "csv", "json"), default="table",
                   help="table: summary and problem list; csv: one line per problem; json: the whole report")
    p.set_defaults(handler=run_verify)

    k = sub.add_parser("keygen", help="make an Ed25519 key pair for signing manifests", description=KEYGEN_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    k.add_argument("--out", required=True, type=Path, metavar="KEYFILE",
                   help="private key file to create (the public key goes to KEYFILE.pub)")
    k.set_defaults(handler=run_keygen)


def run_verify(args: argparse.Namespace) -> int:
    from pipeline.runs.verify import AuditError, verify
    from pipeline.archive.lock import ArchiveBusy
    from pipeline.native.signing import KeyFileError
    from pipeline.common.errors import ArchiveWriteError
    from pipeline.runs.address import ClusterUnreachable
    from pipeline.config import ConfigError

    try:
        config = config_of(args)
    except UsageError:
        if args.config is not None:
            raise
        config = load_config()          # the archive's settings file is unreadable: a finding, not a stop
    if not args.archive.is_dir():
        raise UsageError(f"archive folder not found: {args.archive}")
    engine, address = engine_choice(args)
    try:
        with contextlib.redirect_stdout(sys.stderr):     # stdout: the report alone
            report = verify(args.archive, config, sample_pct=args.sample, since=args.since, key_path=args.key,
                            engine=engine, address=address, workers=args.workers, seed=args.seed,
                            witnesses=tuple(args.witness), expect_head=args.expect_head)
    except (AuditError, KeyFileError, ConfigError) as exc:
        raise UsageError(str(exc)) from None
    except (ArchiveBusy, ClusterUnreachable) as exc:
        raise RunError(str(exc)) from None
    except ArchiveWriteError as exc:
        hint = "free space on the archive's disk" if exc.errno == errno.ENOSPC else "make the archive writable"
        raise RunError(f"the audit's results could not be written: {exc.strerror} ({exc.filename}); "
                       f"{hint}, then run verify again") from None
    if args.format == "json":
        json.dump(report.to_dict(), sys.stdout, indent=2, default=str, ensure_ascii=False)
        sys.stdout.write("\n")
    elif args.format == "csv":
        out = csv.writer(sys.stdout)
        out.writerow(["status", "kind", "path", "expected_sha256", "actual_sha256", "manifest", "message"])
        for f in report.findings:
            out.writerow([f.status, f.kind, f.path, f.expected_sha256, f.actual_sha256, f.manifest, f.message])
    else:
        print(report.render())
    return 0 if report.ok else EXIT_PROBLEMS


def run_keygen(args: argparse.Namespace) -> int:
    from pipeline.native import signing

    from pipeline.commands.options import outside_archive

    outside_archive(args.out, "--out")
    public = Path(f"{args.out}.pub")
    existing = [str(p) for p in (args.out, public) if p.exists()]
    if existing:
        raise UsageError(f"will not overwrite {', '.join(existing)}: choose another --out")
    try:
        key_hex = signing.generate(args.out, public)
    except OSError as exc:
        raise RunError(f"cannot write {exc.filename}: {exc.strerror}") from None
    print(f"private key  {args.out}  (keep it secret; mode 0600)\n"
          f"public key   {public}  (Ed25519 {key_hex})\n\n"
          f"To sign every run's manifest, put in the configuration:\n"
          f"  [integrity]\n  signing_key = \"{args.out.resolve()}\"")
    return 0
