"""The ``fieldrec`` command line: one sub-command per module in ``pipeline.commands``."""

from __future__ import annotations

import argparse
import importlib
import sys

from pipeline import __version__
from pipeline.commands import RunError, UsageError
from pipeline.commands.options import read_times
from pipeline.common.text import for_terminal
from pipeline.common import i18n

COMMANDS = [
    "pipeline.commands.ingest",
    "pipeline.commands.disc",
    "pipeline.commands.gaps",
    "pipeline.commands.case",
    "pipeline.commands.retention",
    "pipeline.commands.compliance",
    "pipeline.commands.device",
    "pipeline.commands.attribute",
    "pipeline.commands.export",
    "pipeline.commands.verify",
    "pipeline.commands.report",
    "pipeline.commands.sql",
    "pipeline.commands.thumbs",
    "pipeline.commands.transcode",
    "pipeline.commands.settings",
    "pipeline.commands.quarantine",
    "pipeline.commands.compact",
    "pipeline.commands.serve",
    "pipeline.commands.user",
]

DESCRIPTION = """\
fieldrec: ingest, fixity and review pipeline for body-worn camera footage.

Originals are stored byte-identical and never rewritten; everything known about them is
cataloged in Parquet tables under ARCHIVE/catalog/. Run `fieldrec COMMAND --help` for details.

Exit codes: 0 done (damaged inputs are data, not failures), 1 the job could not finish,
2 usage error, 3 `verify` found problems.
"""


def _language_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lang", metavar="LANG", choices=("zh-CN", "zh_CN", "en"),
                        help="language of messages, help and pages: zh-CN or en (default: the archive's "
                             "setting, else LC_ALL/LC_MESSAGES/LANG, else English)")


def choose_language(argv: list[str]) -> list[str]:
    """Use ``--lang`` (anywhere on the line) or the environment's language; decided before the
    parser is built, so --help is in that language too. Returns the line without ``--lang``."""
    pre = argparse.ArgumentParser(prog="fieldrec", add_help=False, allow_abbrev=False)
    _language_option(pre)
    known, rest = pre.parse_known_args(argv)
    i18n.use_language(known.lang or i18n.from_environment())
    return rest


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fieldrec", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"fieldrec {__version__}")
    _language_option(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = choose_language(sys.argv[1:] if argv is None else list(argv))
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        read_times(args)
        return args.handler(args)
    except UsageError as exc:
        print(f"fieldrec {args.command}: error: {_shown(exc)}", file=sys.stderr)
        return 2
    except RunError as exc:
        print(f"fieldrec {args.command}: failed: {_shown(exc)}", file=sys.stderr)
        return 1
    except OSError as exc:
        # The machine said no (a read-only or full disk, permissions): a message, not a traceback.
        where = f" ({exc.filename})" if exc.filename else ""
        print(i18n._("fieldrec {command}: failed: {why}{where}; nothing after this point was done. Fix the cause "
                     "and run the same command again").format(command=args.command, why=_shown(exc.strerror or exc),
                                                              where=_shown(where)), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"fieldrec {args.command}: interrupted; run the same command again to finish", file=sys.stderr)
        return 130


def _shown(message: object) -> str:
    """A message for the terminal: its lines kept, any escape sequence (from a file name, say) shown
    as text, never acted on."""
    return "\n".join(for_terminal(line) for line in str(message).split("\n"))


if __name__ == "__main__":
    sys.exit(main())
