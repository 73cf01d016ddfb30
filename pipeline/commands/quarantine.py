"""``fieldrec quarantine``: move files no manifest vouches for out of the archive's way, logged."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.commands import UsageError
from pipeline.commands.options import add_format, emit, existing_archive, writing
from pipeline.common import text
from pipeline.common.i18n import N_, _

HELP = N_("""\
List, or move aside, the files in the object store and the catalog that no manifest lists and no
run recorded writing: put there by hand, or left when their manifest was removed (`fieldrec
verify` reports them as untracked). No command ever adopts such a file into the manifest chain;
until it is moved aside, purge and export refuse to act on a catalog that holds one. Review
proxies (under proxies/) that no derivatives row names are listed and moved aside too.

Without --by and --reason this is a dry run that lists them. With them, each file is moved to
ARCHIVE/quarantine/<id>/<its old path> (never deleted, never edited), and a row per file (its
SHA-256, where it was, who, why) is appended to the `quarantine` table and sealed.

Files a run killed before its seal wrote are not listed here: its intent journal names them and
the next writing command adopts them.

  fieldrec quarantine --archive A
  fieldrec quarantine --archive A --by "J. Clerk" --reason "planted part found by verify, ticket 881"
""")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quarantine", help=_("move untracked files aside (logged, sealed; dry run by default)"),
                       description=_(HELP), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help=_("only these untracked files (paths relative to the archive, as verify lists them)"))
    p.add_argument("--archive", required=True, type=Path, metavar="DIR", help=_("the archive folder"))
    p.add_argument("--by", metavar="NAME", type=text.arg(text.person), help=_("who moves them"))
    p.add_argument("--reason", metavar="TEXT", type=text.arg(text.free_text, max_len=2000), help=_("why"))
    add_format(p)
    p.set_defaults(handler=run)



def run(args: argparse.Namespace) -> int:
    from pipeline.archive import chain
    from pipeline.archive.quarantine import move_aside

    archive = existing_archive(args.archive)
    if bool(args.by) != bool(args.reason):
        raise UsageError(_("moving files aside needs both --by NAME and --reason TEXT (or neither, for a dry run)"))
    if not args.by:
        from pipeline.commands.options import config_of

        from catalog.store import Catalog

        strays = _chosen(chain.untracked(archive, chain.signer_for(config_of(args)))
                         + _proxies(archive, Catalog(archive)), args.paths)
        emit([{"kind": s.kind, "path": s.path} for s in strays], ["kind", "path"], args.format)
        print(_("dry run: {n} untracked file(s) would be moved aside; nothing was. Run again with --by NAME "
                "--reason TEXT to move them").format(n=len(strays)), file=sys.stderr)
        return 0
    with writing(archive, "quarantine") as run_:
        strays = _chosen(chain.untracked(archive, chain.signer_for(run_.config)) + _proxies(archive, run_.catalog),
                         args.paths)
        rows = move_aside(archive, strays, run_.catalog, run_id=run_.run_id, by=args.by, reason=args.reason)
    emit([{"kind": r["kind"], "path": r["path"], "moved_to": r["moved_to"], "sha256": r["sha256"]} for r in rows],
         ["kind", "path", "moved_to", "sha256"], args.format)
    print(_("moved {n} untracked file(s) aside (by {by}); recorded in the quarantine table").format(
        n=len(strays), by=args.by), file=sys.stderr)
    return 0


def _proxies(archive: Path, catalog) -> list:
    from pipeline.archive import proxies
    from pipeline.archive.chain import Stray

    return [Stray("proxy", p) for p in proxies.untracked(archive, catalog)]


def _chosen(strays, paths: list[str]):
    if not paths:
        return strays
    known = {s.path: s for s in strays}
    unknown = [p for p in paths if p not in known]
    if unknown:
        raise UsageError(_("not untracked files of this archive: {paths} (`fieldrec quarantine --archive A` lists "
                           "them)").format(paths=", ".join(text.for_terminal(p) for p in unknown)))
    return [known[p] for p in paths]
