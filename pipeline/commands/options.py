"""Options and output shared by the archive commands: --archive, --config, times, --format."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pipeline.commands import RunError, UsageError
from pipeline.common.text import csv_cell, display_width, for_terminal, pad
from pipeline.config import Config, ConfigError, load_config
from pipeline.common.i18n import _

UTC = timezone.utc
FORMATS = ("table", "csv", "json")

TIME_HELP = "ISO 8601: 2026-03-01 or 2026-03-01T10:00:00 (add Z or +02:00 to give a zone)"


def add_archive(p: argparse.ArgumentParser) -> None:
    p.add_argument("--archive", required=True, type=Path, metavar="DIR", help="the archive folder")
    p.add_argument("--config", type=Path, metavar="FILE",
                   help="TOML file overriding configs/default.toml key by key")


def add_ray(p: argparse.ArgumentParser) -> None:
    """--config, --address and --workers, for commands that run on Ray."""
    p.add_argument("--config", type=Path, metavar="FILE",
                   help="TOML file overriding configs/default.toml key by key")
    p.add_argument("--address", metavar="RAY_ADDRESS",
                   help="Ray cluster to run on (also RAY_ADDRESS); default: a private local Ray instance. "
                        "Every worker must see the sources and the archive at the same paths")
    p.add_argument("--workers", type=int, metavar="N",
                   help="CPUs for the local instance, or tasks at once on a cluster (default: all)")


def add_format(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")


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
        raise UsageError(f"{path} is not a fieldrec archive (no catalog/ folder); "
                         "give the folder that `fieldrec ingest --archive` wrote")
    return Path(path).resolve()


def parse_time(text: str, option: str, offset_hours: float = 0.0) -> datetime:
    """An ISO 8601 date or time as aware UTC; a time without a zone is read at ``offset_hours``."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option} {text!r} is not a date or time; {TIME_HELP}") from None
    if value.tzinfo is None:
        value = (value - timedelta(hours=offset_hours)).replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
            return value.strftime("%Y-%m-%dT%H:%M:%SZ")
        return value.strftime("%Y-%m-%dT%H:%M:%S")
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


def emit(rows: list[dict], columns: list[str], fmt: str, out=None) -> None:
    """Print rows as an aligned table, CSV or JSON (times in ISO 8601, UTC ones with Z).

    CSV cells of text that starts like a spreadsheet formula are neutralised; table cells show
    control characters (a file name's escape sequences) as escapes, never raw."""
    out = out or sys.stdout
    if fmt == "json":
        json.dump([{c: _json_value(r.get(c)) for c in columns} for r in rows], out, indent=2, ensure_ascii=False)
        out.write("\n")
        return
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_csv_value(r.get(c)) for c in columns] for r in rows])
        return
    text = [[for_terminal(iso(r.get(c))) if r.get(c) is not None else "" for c in columns] for r in rows]
    widths = [max([display_width(c)] + [display_width(t[i]) for t in text]) for i, c in enumerate(columns)]
    out.write("  ".join(pad(c, w) for c, w in zip(columns, widths)).rstrip() + "\n")
    for t in text:
        out.write("  ".join(pad(v, w) for v, w in zip(t, widths)).rstrip() + "\n")


def _csv_value(value) -> str:
    if value is None:
        return ""
    return csv_cell(value) if isinstance(value, str) else iso(value)


def _json_value(value):
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, float):
        return round(value, 3)
    return value


@contextmanager
def writing(archive: Path, purpose: str, config: Config | None = None, *, trusted_catalog: bool = False):
    """Hold the archive for one writing run for the ``with`` block (``pipeline.archive.writer``);
    when the block succeeds, seal what it committed. A busy, unwritable or tampered archive is
    exit 1, a key or witness that cannot be used exit 2. With ``trusted_catalog``, the command
    (one that removes or copies out originals) refuses while catalog parts no manifest vouches
    for are present: it would act on rows nobody can vouch for."""
    from pipeline.archive import settings
    from pipeline.archive.lock import ArchiveBusy
    from pipeline.archive.writer import writing_run
    from pipeline.common.errors import ArchiveWriteError

    try:
        with writing_run(archive, config or settings.load(archive), purpose) as run:
            if trusted_catalog:
                _refuse_untracked_parts(archive, run.config)
            yield run
    except (ArchiveBusy, settings.SettingsNotSealed) as exc:
        raise RunError(str(exc)) from None
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    except ArchiveWriteError as exc:
        raise RunError(_("{why} ({path}); fix that (a read-only mount, permissions, a full disk), then run the "
                         "same command again").format(why=exc.strerror, path=exc.filename)) from None


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
