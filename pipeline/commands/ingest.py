"""``fieldrec ingest``: dock drops in, archive and catalog out."""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from pipeline.commands import RunError, UsageError
from pipeline.archive.outside import enclosing_archive
from pipeline.common.text import for_terminal
from pipeline.common.i18n import N_, _

# pipeline.commands.options (the settings' dataclasses, time zones: a tenth of a second with the
# parser) is imported by ``register`` and ``run``: ``start_early`` runs before either.

HELP = N_("""\
Ingest folders of files as recorders' docks leave them: every file is stored byte-identical
under ARCHIVE/objects/ by SHA-256, checksummed (SHA-256 and XXH3-128), demuxed without decoding,
attributed to a device, officer and start time, and cataloged in Parquet under ARCHIVE/catalog/.
Every file gets its row, whatever it is: damaged and non-media files are kept and cataloged with
a status and a reason; a file that cannot be read, a FIFO, a link out of the source folders, a
file that crashes or hangs its worker each get a row saying why, and the run goes on.
Re-running the same command adds nothing; a run that was killed is completed by re-running it.
Sources that were never stored are tried again by every run (an unchanged one adds no row).

Work runs in worker processes on this machine (--engine local, the default: nothing listens on
the network), or on Ray: a cluster (--address, RAY_ADDRESS) or a private instance (--engine ray).
""")


def register(sub: argparse._SubParsersAction) -> None:
    from pipeline.commands.options import add_engine

    p = sub.add_parser("ingest", help=_("ingest dock drops into an archive"), description=_(HELP),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sources", nargs="+", metavar="SRC", type=Path,
                   help=_("folders (walked recursively) or files to ingest"))
    p.add_argument("--archive", required=True, type=Path, metavar="DIR",
                   help=_("archive folder (created if missing)"))
    add_engine(p)
    proxies = p.add_mutually_exclusive_group()
    proxies.add_argument("--proxies", dest="proxies", action="store_true", default=None,
                         help=_("also make review proxies in this run (default from config: ingest.proxies)"))
    proxies.add_argument("--no-proxies", dest="proxies", action="store_false",
                         help=_("do not make proxies now; `fieldrec transcode --missing` can later"))
    p.add_argument("--follow-links", dest="follow_links", action="store_true", default=None,
                   help=_("follow symbolic links that lead out of the source folders, and links to folders "
                          "(docks that link their storage). Default (ingest.follow_links): such a link gets a "
                          "sighting naming its target, and nothing is stored"))
    p.add_argument("--retry-failed", action="store_true",
                   help=_("try again the files that killed their worker process or ran out of time in earlier "
                          "runs before they were stored (otherwise they are not tried again)"))
    p.add_argument("--json", action="store_true", help=_("print the summary as JSON on stdout"))
    p.add_argument("--quiet", action="store_true", help=_("no progress output"))
    p.set_defaults(handler=run)


# What the local engine's workers import before their first file: the per-file pass
# (``pipeline.runs.perfile.WORKER_MODULES``), named here so that starting them imports nothing heavy.
WORKER_MODULES = ("pipeline.runs.perfile", "pipeline.stages.checksum", "pipeline.stages.demux",
                  "pipeline.stages.naming", "pipeline.stages.gaps", "pipeline.stages.thumbnails")

# Options of the ingest line that take a value (the others are flags), and the flags: a line with
# any other option (an abbreviation argparse would accept, -h) starts nothing early.
VALUE_OPTIONS = ("--archive", "--config", "--engine", "--address", "--workers", "--lang")
FLAGS = ("--proxies", "--no-proxies", "--follow-links", "--retry-failed", "--json", "--quiet")


@dataclass
class Early:
    """Workers started from the raw command line, and the engine and --workers they were started for."""
    runner: object                  # runner.Runner
    engine: str
    workers: int | None


def start_early(line: list[str]) -> Early | None:
    """The local engine's workers, started from the raw line (what follows ``ingest``) before the
    parser, the settings and the run are imported, so that they import the per-file stages meanwhile
    (on a one-file ingest the worker is the later of the two to be ready). Only for a line that
    plainly runs on the local engine (None for help, Ray, anything the pre-reading cannot be sure
    of); ``run`` keeps them when the parsed line asks for the same engine and workers, else closes
    them; the caller closes them if ``run`` never runs (a usage error)."""
    from pipeline.runs import engines
    from pipeline.runs.discover import files_at_least
    from pipeline.runs.localpool import machine_cpus

    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False, exit_on_error=False)
    for option in VALUE_OPTIONS:
        pre.add_argument(option)
    pre.add_argument("sources", nargs="*")
    try:
        known, rest = pre.parse_known_args(line)
        workers = None if known.workers is None else int(known.workers)
        address = known.address or (None if known.engine == "local" else os.environ.get("RAY_ADDRESS")) or None
        if address or "--" in line or any(a not in FLAGS for a in rest) or (workers is not None and workers < 1):
            return None
        engine = engines.engine_for(known.engine, None)
    except (argparse.ArgumentError, ValueError):        # engines.EngineChoiceError is a ValueError
        return None
    if not engines.starts_at_once(engine, None):
        return None
    expected = files_at_least([Path(s) for s in known.sources], workers or machine_cpus())
    try:
        return Early(engines.start(engine, None, workers, preload=WORKER_MODULES, expected_tasks=expected),
                     engine, workers)
    except OSError:             # no process to be had now: the run tries again, and says so if it fails
        return None


def run(args: argparse.Namespace) -> int:
    from pipeline.archive.lock import ArchiveBusy
    from pipeline.commands.options import config_of, engine_choice
    from pipeline.common.errors import ArchiveWriteError, TranscodeError
    from pipeline.runs import engines
    from pipeline.runs.address import ClusterUnreachable

    early: Early | None = getattr(args, "early", None)
    engine, address = engine_choice(args)
    missing = [str(s) for s in args.sources if not os.path.lexists(s)]
    if missing:
        raise UsageError(_("source not found: {paths}").format(paths=", ".join(for_terminal(m) for m in missing)))
    inside = [s for s in args.sources if enclosing_archive(s, args.archive, any_archive=False)]
    if inside:
        raise UsageError(_("refused: a source is inside the archive it would be ingested into: {sources}; the "
                           "archive's own files are never recordings. Give the dock's folder").format(
            sources=", ".join(for_terminal(s) for s in inside)))
    # The local engine's workers start first: they import the per-file stages while this process
    # reads the settings (Arrow) and imports the ingest run (each takes a few tenths of a second).
    # The run closes them. A bad setting or archive folder stops it before anything is created.
    # A drop of several files gets all its workers now (a glance at the first folder entries says
    # so), not one now and the others once the walk finds their files; a one-file run, one.
    # Workers started from the raw line (``start_early``) are these, if it read the line alike.
    started = None
    if engines.starts_at_once(engine, address):
        from pipeline.runs.discover import files_at_least
        from pipeline.runs.localpool import machine_cpus

        expected = files_at_least(args.sources, args.workers or machine_cpus())
        if early is not None and (early.engine, early.workers) == (engine, args.workers):
            started, early = early.runner, None
            started.grow(expected)
        else:
            started = engines.start(engine, address, args.workers, preload=WORKER_MODULES, expected_tasks=expected)
    if early is not None:
        early.runner.close()
    try:
        config = config_of(args)
        _check_archive(args.archive)
        from pipeline.runs.ingest import ingest
    except BaseException:
        if started is not None:
            started.close()
        raise
    try:
        # stdout carries the summary alone: what workers print meanwhile (a worker that died) goes to stderr
        with contextlib.redirect_stdout(sys.stderr):
            summary = ingest(args.sources, args.archive, config, engine=engine, address=address, workers=args.workers,
                             progress=not args.quiet and not args.json, proxies=args.proxies,
                             follow_links=args.follow_links, retry_failed=args.retry_failed, started=started)
    except (ArchiveBusy, TranscodeError, ClusterUnreachable) as exc:
        raise RunError(str(exc)) from None
    except ArchiveWriteError as exc:
        hint = (_("free space on the archive's disk") if exc.errno == errno.ENOSPC
                else _("make the archive writable"))
        raise RunError(_("the archive could not be written: {why} ({path}). Files finished before this are kept; "
                         "{hint}, then run the same command again to complete the run.").format(
            why=exc.strerror, path=exc.filename, hint=hint)) from None
    if args.json:
        json.dump(summary.to_dict(), sys.stdout, indent=2, default=str, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(summary.render())
    return 0


def _check_archive(archive: Path) -> None:
    try:
        archive.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(_("cannot create archive folder {archive}: {why}").format(archive=archive,
                                                                                 why=exc.strerror)) from None
    if os.statvfs(archive).f_flag & os.ST_RDONLY:
        raise RunError(_("archive folder {archive} is on a read-only file system; nothing was changed. Mount it "
                         "read-write or choose another --archive").format(archive=archive))
    if not os.access(archive, os.W_OK | os.X_OK):
        raise RunError(_("archive folder {archive} is not writable by this user; fix its permissions or choose "
                         "another --archive").format(archive=archive))
