"""Options and output shared by the archive commands: --archive, --config, times, --format."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from contextlib import contextmanager
from datetime import datetime, tzinfo
from pathlib import Path

from pipeline.commands import RunError, UsageError
from pipeline.common import times
from pipeline.common.clock import now_utc
from pipeline.common import vocabulary
from pipeline.common.i18n import N_, _
from pipeline.common.text import csv_cell, display_width, for_terminal, pad
from pipeline.config import Config, ConfigError, SiteConfig

FORMATS = ("table", "csv", "json")
DEFAULT_ZONE = times.zone_named(SiteConfig().time_zone)

TIME_HELP = N_("2026-12-01, '2026-12-01 06:00' or 2026-12-01T06:00:00 in the site's time zone "
               "(site.time_zone, default Asia/Shanghai), or with Z or +08:00 to give one; or 36h / 7d back from now")
CONFIG_HELP = N_("TOML file overriding configs/default.toml key by key")


def add_archive(p: argparse.ArgumentParser) -> None:
    p.add_argument("--archive", required=True, type=Path, metavar="DIR", help=_("the archive folder"))
    p.add_argument("--config", type=Path, metavar="FILE", help=_(CONFIG_HELP))


ENGINE_HELP = N_("where the work runs: local (worker processes on this machine, nothing listening on the "
                 "network; the default) or ray (a private Ray instance on this machine, bound to the loopback; "
                 "with --address or RAY_ADDRESS, that Ray cluster, which is then the default)")


def add_engine(p: argparse.ArgumentParser) -> None:
    """--config, --engine, --address and --workers, for commands that run work on an engine."""
    p.add_argument("--config", type=Path, metavar="FILE", help=_(CONFIG_HELP))
    p.add_argument("--engine", choices=("local", "ray"), help=_(ENGINE_HELP))
    p.add_argument("--address", metavar="HOST:PORT",
                   help=_("Ray cluster to run on: its head node's GCS address (HOST:6379; also RAY_ADDRESS); "
                          "implies --engine ray. Ray Client addresses (ray://) are not supported. Every worker "
                          "must see the sources and the archive at the same paths; an address that does not "
                          "answer fails within 30 s"))
    p.add_argument("--workers", type=int, metavar="N",
                   help=_("worker processes (local engine), CPUs of the private Ray instance, or tasks at once "
                          "on a cluster (default: every CPU)"))


add_ray = add_engine          # the name before the local engine existed


def ray_address(args: argparse.Namespace) -> str | None:
    """The Ray address to join (--address, else RAY_ADDRESS unless --engine local), checked for its
    form (no network)."""
    import os

    from pipeline.runs.address import address_problem

    explicit_local = getattr(args, "engine", None) == "local"
    address = args.address or (None if explicit_local else os.environ.get("RAY_ADDRESS")) or None
    if address and (problem := address_problem(address)):
        raise UsageError(problem + ("" if args.address else _(" (from the RAY_ADDRESS environment variable)")))
    return address


def engine_choice(args: argparse.Namespace) -> tuple[str, str | None]:
    """The engine (local or ray) and the Ray address a command runs on; a usage error for a choice
    that contradicts itself (--engine local with --address) or a bad --workers."""
    from pipeline.runs.engines import EngineChoiceError, engine_for

    if args.workers is not None and args.workers < 1:
        raise UsageError(_("--workers must be at least 1"))
    address = ray_address(args)
    try:
        return engine_for(getattr(args, "engine", None), address), address
    except EngineChoiceError as exc:
        raise UsageError(str(exc)) from None


def add_format(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=FORMATS, default="table", help=_("output format (default: table)"))


def config_of(args: argparse.Namespace) -> Config:
    """The configuration for this command: defaults, the archive's own settings (when it stores
    them), then ``--config`` (run knobs only; it may not change an archive-owned key)."""
    from pipeline.archive import settings

    try:
        return settings.load(getattr(args, "archive", None), getattr(args, "config", None))
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def outside_archive(path: Path, option: str, archive: Path | None = None) -> Path:
    """``path`` resolved, or a usage error when it lies inside ``archive`` or any other archive
    (through symlinks and ``..`` too): commands write their output, and read drops, elsewhere."""
    from pipeline.archive.outside import InsideArchive, check_outside

    try:
        return check_outside(path, archive)
    except InsideArchive as exc:
        raise UsageError(_("{option} {path} is inside the archive {archive}; nothing but fieldrec's own writers "
                           "may write there (originals, catalog, manifests are evidence). Choose a path outside "
                           "the archive").format(option=option, path=for_terminal(path),
                                                 archive=for_terminal(exc.archive))) from None


def existing_archive(path: Path) -> Path:
    if not (Path(path) / "catalog").is_dir():
        raise UsageError(_("{path} is not a fieldrec archive (no catalog/ folder); give the folder that "
                           "`fieldrec ingest --archive` wrote").format(path=for_terminal(path)))
    return Path(path).resolve()


def parse_time(text: str, option: str, zone: tzinfo, *, now: datetime | None = None) -> datetime:
    """The one reading of a typed time, for every command: an aware UTC instant. Without a zone
    the text is read in ``zone`` (the site's: ``site_zone(config)``); Z or an offset is honoured;
    a span (36h, 7d) counts back from now."""
    try:
        return times.parse_typed(text, zone, now=now or now_utc())
    except times.TimeProblem as exc:
        raise UsageError(f"{option} {exc}") from None


TIME_OPTIONS = "time_options"          # the parser default listing a command's time options


def add_time(p: argparse.ArgumentParser, flag: str, *, help: str, dest: str | None = None,
             required: bool = False) -> None:
    """A time option. Every one is read the same way, once, before the command runs
    (``read_times``): the command finds an aware UTC instant in ``args``."""
    action = p.add_argument(flag, dest=dest, metavar="TIME", required=required,
                            help=_("{help}; {times}").format(help=help, times=_(TIME_HELP)))
    p.set_defaults(**{TIME_OPTIONS: (*(p.get_default(TIME_OPTIONS) or ()), (action.dest, flag))})


def read_times(args: argparse.Namespace) -> None:
    """Replace each typed time option of the command by its instant: in the site's zone (the
    archive's setting) unless the text names a zone; spans count back from one "now"."""
    pending = [(dest, flag) for dest, flag in getattr(args, TIME_OPTIONS, ())
               if isinstance(getattr(args, dest, None), str)]
    if not pending:
        return
    zone, now = site_zone(config_of(args)), now_utc()      # the archive's zone, not one --config picks
    for dest, flag in pending:
        setattr(args, dest, parse_time(getattr(args, dest), flag, zone, now=now))


def site_zone(config: Config) -> tzinfo:
    return config.zones().site_zone


def iso(value, zone: tzinfo | None = None) -> str | None:
    """A value as text for people: instants in ``zone`` (default: the default site's) with their
    offset, a device clock reading with its own offset, floats to 2 places."""
    if value is None:
        return None
    if isinstance(value, times.Reading):
        return times.show(value.instant, value.zone)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return times.show(value, zone or DEFAULT_ZONE)
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def resolve_shas(given: list[str], known: set[str]) -> list[str]:
    """Full SHA-256 values for the ones given, each whole or as a unique prefix (6+ hex digits)."""
    from pipeline.records.lookup import LookupProblem, resolve_shas as resolve

    try:
        return resolve(given, known)
    except LookupProblem as exc:
        raise UsageError(str(exc)) from None


def emit(rows: list[dict], columns: list[str], fmt: str, out=None, zone: tzinfo | None = None) -> None:
    """Print rows as an aligned table, CSV or JSON. Every instant is shown in ``zone`` (the site's)
    with its offset: ``2026-12-01 06:00:00 +08:00``, in JSON ``2026-12-01T06:00:00+08:00``.

    CSV and JSON keep the column names and enumerated values as they are (programs read them); a
    table, for people, shows headings and enumerated values in the language in use, aligned by
    terminal columns (a Chinese character takes two). CSV cells of text that starts like a
    spreadsheet formula are neutralised; table cells show control characters (a file name's
    escape sequences) as escapes, never raw."""
    out = out or sys.stdout
    if fmt == "json":
        json.dump([{c: json_value(r.get(c), zone) for c in columns} for r in rows], out, indent=2, ensure_ascii=False)
        out.write("\n")
        return
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_csv_value(r.get(c), zone) for c in columns] for r in rows])
        return
    text = [[vocabulary.value(c, for_terminal(iso(r.get(c), zone))) if r.get(c) is not None else "" for c in columns]
            for r in rows]
    print_table([vocabulary.heading(c) for c in columns], text, out)


def print_table(headings: list[str], text: list[list[str]], out=None) -> None:
    """Rows of text under their headings, each column as wide as its widest cell in terminal columns."""
    out = out or sys.stdout
    widths = [max([display_width(h)] + [display_width(t[i]) for t in text]) for i, h in enumerate(headings)]
    out.write("  ".join(pad(h, w) for h, w in zip(headings, widths)).rstrip() + "\n")
    for t in text:
        out.write("  ".join(pad(v, w) for v, w in zip(t, widths)).rstrip() + "\n")


def _csv_value(value, zone: tzinfo | None) -> str:
    if value is None:
        return ""
    return csv_cell(value) if isinstance(value, str) else iso(value, zone)


def json_value(value, zone: tzinfo | None = None):
    """A value for JSON: instants as ISO 8601 with the offset of ``zone`` (or of the device clock)."""
    if isinstance(value, times.Reading):
        return times.iso(value.instant, value.zone)
    if isinstance(value, datetime):
        return times.iso(value, zone or DEFAULT_ZONE) if value.tzinfo is not None else value.isoformat()
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: json_value(v, zone) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v, zone) for v in value]
    return value


@contextmanager
def run_errors():
    """The ways any writing run can fail to start or finish, as exit codes: a busy or unwritable
    archive, or settings not sealed, exit 1; a bad setting exit 2."""
    from pipeline.archive import settings
    from pipeline.archive.lock import ArchiveBusy
    from pipeline.common.errors import ArchiveWriteError

    try:
        yield
    except (ArchiveBusy, settings.SettingsNotSealed) as exc:
        raise RunError(str(exc)) from None
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    except ArchiveWriteError as exc:
        raise RunError(_("{why} ({path}); fix that (a read-only mount, permissions, a full disk), then run the "
                         "same command again").format(why=exc.strerror, path=exc.filename)) from None


@contextmanager
def writing(archive: Path, purpose: str, config: Config | None = None, *, trusted_catalog: bool = False):
    """Hold the archive for one writing run for the ``with`` block (``pipeline.archive.writer``);
    when the block succeeds, seal what it committed. A busy, unwritable or tampered archive is
    exit 1, a key or witness that cannot be used exit 2. With ``trusted_catalog``, the command
    (one that removes or copies out originals) refuses while catalog parts no manifest vouches
    for are present: it would act on rows nobody can vouch for."""
    from pipeline.archive import settings
    from pipeline.archive.writer import writing_run

    with run_errors():
        with writing_run(archive, config or settings.load(archive), purpose) as run:
            if trusted_catalog:
                _refuse_untracked_parts(archive, run.config)
            yield run


def _refuse_untracked_parts(archive: Path, config: Config) -> None:
    from pipeline.archive import chain

    strays = [f.path for f in chain.untracked(archive, chain.signer_for(config)) if f.kind == "catalog"]
    if strays:
        raise RunError(_("refused, nothing was changed: {n} catalog part(s) no manifest lists are in the archive "
                         "(first: {first}); their rows could have been put there by hand. Run `fieldrec verify`, "
                         "then `fieldrec quarantine` to move them aside").format(n=len(strays),
                                                                                first=for_terminal(strays[0])))


@contextmanager
def locked_catalog(archive: Path, config: Config, purpose: str, *, trusted_catalog: bool = False):
    """The archive's catalog, written under ``writing`` (held, then sealed)."""
    with writing(archive, purpose, config, trusted_catalog=trusted_catalog) as run:
        yield run.catalog


def freeze_imported() -> None:
    """Set the objects made so far (the modules imported: some 100,000) apart from the garbage
    collector's full passes: they live as long as the command, and a listing of a million
    recordings makes Python objects enough for a few full passes, each walking them all again
    (~0.13 s of the retention listing's and the ledger's, ~0.01 s after)."""
    import gc

    gc.freeze()
