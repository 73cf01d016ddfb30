"""The ``fieldrec`` command line: one sub-command per module in ``pipeline.commands``."""

from __future__ import annotations

import argparse
import importlib
import os
import stat
import sys

from pipeline import __version__
from pipeline.commands import RunError, UsageError
from pipeline.common import i18n
from pipeline.common.i18n import N_, _
from pipeline.common.text import for_terminal, has_wide, wrap


# Which module registers each command: a command line that names one builds that command's parser
# alone (the others' modules cost a twentieth of a second to import and are not needed to parse it).
# ``tests/test_cli.py`` holds this to what the modules register.
COMMAND_MODULES = {
    "ingest": "pipeline.commands.ingest",
    "disc": "pipeline.commands.disc",
    "gaps": "pipeline.commands.gaps", "explain": "pipeline.commands.gaps",
    "case": "pipeline.commands.case",
    "retention": "pipeline.commands.retention", "purge": "pipeline.commands.retention",
    "compliance": "pipeline.commands.compliance",
    "device": "pipeline.commands.device", "ledger": "pipeline.commands.device",
    "attribute": "pipeline.commands.attribute",
    "export": "pipeline.commands.export",
    "verify": "pipeline.commands.verify", "keygen": "pipeline.commands.verify",
    "report": "pipeline.commands.report",
    "sql": "pipeline.commands.sql",
    "thumbs": "pipeline.commands.thumbs",
    "transcode": "pipeline.commands.transcode",
    "config": "pipeline.commands.settings",
    "quarantine": "pipeline.commands.quarantine",
    "compact": "pipeline.commands.compact",
    "serve": "pipeline.commands.serve",
    "user": "pipeline.commands.user",
}
# The command modules, in the order ``fieldrec --help`` lists their commands.
COMMANDS = list(dict.fromkeys(COMMAND_MODULES.values()))

DESCRIPTION = N_("""\
fieldrec: ingest, fixity and review pipeline for body-worn camera footage.

Originals are stored byte-identical and never rewritten; everything known about them is
cataloged in Parquet tables under ARCHIVE/catalog/. Run `fieldrec COMMAND --help` for details.

Exit codes: 0 done (damaged inputs are data, not failures), 1 the job could not finish,
2 usage error, 3 `verify` found problems.
""")

# argparse's own words ("usage:", its headings and error messages) go through gettext's
# "argparse" domain, which reads compiled catalogs we do not ship; ``choose_language`` points
# argparse at our seam instead, and these are the words it asks for (kept here for extraction).
ARGPARSE_WORDS = (
    N_("usage: "), N_("positional arguments"), N_("options"), N_("show this help message and exit"),
    N_("argument %(argument_name)s: %(message)s"), N_("%(prog)s: error: %(message)s\n"),
    N_("the following arguments are required: %s"), N_("one of the arguments %s is required"),
    N_("unrecognized arguments: %s"), N_("not allowed with argument %s"), N_("ignored explicit argument %r"),
    N_("expected one argument"), N_("expected at most one argument"), N_("expected at least one argument"),
    N_("ambiguous option: %(option)s could match %(matches)s"), N_("invalid %(type)s value: %(value)r"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"), N_("can't open '%(filename)s': %(error)s"),
    N_("unknown parser %(parser_name)r (choices: %(choices)s)"),
)
i18n.ngettext("expected %s argument", "expected %s arguments", 1)      # argparse's one plural, for extraction


class HelpFormatter(argparse.HelpFormatter):
    """argparse's layout, with text that holds Chinese wrapped by terminal columns, not characters."""

    def _split_lines(self, text, width):
        return wrap(text, width) if has_wide(text) else super()._split_lines(text, width)

    def _fill_text(self, text, width, indent):
        if not has_wide(text):
            return super()._fill_text(text, width, indent)
        return "\n".join(indent + line for line in wrap(text, width - len(indent)))


class RawDescriptionHelpFormatter(HelpFormatter):
    """A description laid out by hand (kept as written), options wrapped as above."""

    _fill_text = argparse.RawDescriptionHelpFormatter._fill_text


def _language_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lang", metavar="LANG", choices=("zh-CN", "zh_CN", "en"),
                        help=_("language of messages, help and pages: zh-CN or en (default: the archive's "
                               "setting site.language, else LC_ALL/LC_MESSAGES/LANG, else English)"))


def choose_language(argv: list[str]) -> list[str]:
    """Choose the language: ``--lang`` (anywhere on the line), else the archive's ``site.language``
    (the archive named by ``--archive``; for an archive not made yet, its ``--config`` file's), else
    the environment's. Decided before the parser is built, so --help is in that language too.
    Returns the line without ``--lang``."""
    pre = argparse.ArgumentParser(prog="fieldrec", add_help=False, allow_abbrev=False)
    _language_option(pre)
    pre.add_argument("--archive")
    pre.add_argument("--config")
    known, _rest = pre.parse_known_args(argv)
    rest = argparse.ArgumentParser(prog="fieldrec", add_help=False, allow_abbrev=False)
    _language_option(rest)
    rest = rest.parse_known_args(argv)[1]
    chosen = known.lang
    if chosen is None and known.archive:
        from pipeline.config import site_language   # the settings file alone: no Arrow before workers start

        chosen = site_language(known.archive, known.config)
    i18n.use_language(chosen or i18n.from_environment())
    argparse._ = i18n._                      # argparse's own words through our catalogs (see ARGPARSE_WORDS)
    argparse.ngettext = i18n.ngettext
    return rest


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of ``command`` alone (a line naming it parses the same)."""
    parser = argparse.ArgumentParser(prog="fieldrec", description=_(DESCRIPTION),
                                     formatter_class=RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"fieldrec {__version__}",
                        help=_("print fieldrec's version and exit"))
    _language_option(parser)
    sub = parser.add_subparsers(dest="command", metavar=_("COMMAND"))
    for name in [COMMAND_MODULES[command]] if command in COMMAND_MODULES else COMMANDS:
        importlib.import_module(name).register(sub)
    _wrap_wide(parser)
    return parser


def _wrap_wide(parser: argparse.ArgumentParser) -> None:
    """Every command's (and sub-command's) help wraps Chinese by terminal columns."""
    raw = issubclass(parser.formatter_class, (argparse.RawDescriptionHelpFormatter, RawDescriptionHelpFormatter))
    parser.formatter_class = RawDescriptionHelpFormatter if raw else HelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _wrap_wide(child)


# Commands whose process ends as soon as they are done: everything they wrote is synced and closed,
# their workers are gone, and what is left is the interpreter's teardown of Arrow, DuckDB and
# PyAV (a tenth of a second, an eighth of a one-file ingest).
EXIT_AT_ONCE = ("ingest",)
EXIT_BROKEN_PIPE = 141              # 128 + SIGPIPE, as the shell reports a reader that went away


def _reader_gone(stream) -> bool:
    """Whether ``stream`` is a pipe whose reader has closed its end (the kernel flags the writing end
    with an error): only then is a BrokenPipeError the reader's doing rather than a failure of ours."""
    import select

    try:
        fd = stream.fileno()
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return False
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        return any(events & select.POLLERR for _fd, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):       # no descriptor (a test's captured stream)
        return False


def _failed(command: str, exc: OSError) -> int:
    """The machine said no (a read-only or full disk, permissions): a message, not a traceback."""
    where = f" ({exc.filename})" if exc.filename else ""
    print(_("fieldrec {command}: failed: {why}{where}; nothing after this point was done. Fix the cause "
            "and run the same command again").format(command=command, why=_shown(exc.strerror or exc),
                                                     where=_shown(where)), file=sys.stderr)
    return 1


def _exit_now(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:             # a reader that went away (`| head`): the run itself is done
            pass
    os._exit(code)


def start_early(argv: list[str]):
    """What the command named first on the line starts before its parser is built (``ingest``: the
    local engine's workers, see ``commands.ingest.start_early``), or None."""
    module = COMMAND_MODULES.get(argv[0]) if argv else None
    start = getattr(importlib.import_module(module), "start_early", None) if module else None
    return start(argv[1:]) if start else None


def main(argv: list[str] | None = None) -> int:
    """The command line; ``argv`` given (tests, callers in Python) or, for the program itself, None."""
    line = sys.argv[1:] if argv is None else list(argv)
    early = start_early(line)
    try:
        return _main(line, argv, early)
    finally:
        if early is not None:
            early.runner.close()            # the command's run took and closed it, or never ran


def _main(line: list[str], argv_given: list[str] | None, early) -> int:
    from pipeline.commands.options import read_times

    argv = choose_language(line)
    # A line that starts with a command's name needs that command's parser alone; anything else
    # (--help, --version, a misspelt command) gets them all, as its help and errors list them.
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    args.early = early
    if not getattr(args, "handler", None):
        build_parser().print_help()         # every command listed, whichever parser parsed the line
        return 2
    try:
        read_times(args)
        code = args.handler(args)
        if argv_given is None and args.command in EXIT_AT_ONCE:
            _exit_now(code)
        return code
    except UsageError as exc:
        print(_("fieldrec {command}: error: {message}").format(command=args.command, message=_shown(exc)),
              file=sys.stderr)
        return 2
    except RunError as exc:
        print(_("fieldrec {command}: failed: {message}").format(command=args.command, message=_shown(exc)),
              file=sys.stderr)
        return 1
    except BrokenPipeError as exc:
        if not _reader_gone(sys.stdout):
            # A pipe of our own broke (a worker's, say), not the output's: a failure, said as one.
            return _failed(args.command, exc)
        # The reader of the output went away (`| head`): say nothing more to it, and exit as a
        # program killed by SIGPIPE would (141), so `set -o pipefail` sees it. What was written to
        # the archive before is sealed or finished by the next run, as after any interruption.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        if argv_given is None:
            os._exit(EXIT_BROKEN_PIPE)
        return EXIT_BROKEN_PIPE
    except OSError as exc:
        return _failed(args.command, exc)
    except KeyboardInterrupt:
        print(_("fieldrec {command}: interrupted; run the same command again to finish").format(
            command=args.command), file=sys.stderr)
        return 130


def _shown(message: object) -> str:
    """A message for the terminal: its lines kept, any escape sequence (from a file name, say) shown
    as text, never acted on."""
    return "\n".join(for_terminal(line) for line in str(message).split("\n"))


if __name__ == "__main__":
    sys.exit(main())
