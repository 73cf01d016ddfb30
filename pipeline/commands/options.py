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
from pipeline.config import Config, ConfigError, load_config

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
    p.add_argument("--address", metavar="HOST:PORT",
                   help="Ray cluster to run on: its head node's GCS address (HOST:6379; also RAY_ADDRESS). "
                        "Ray Client addresses (ray://) are not supported. Default: a private local Ray "
                        "instance. Every worker must see the sources and the archive at the same paths; "
                        "an address that does not answer fails within 30 s")
    p.add_argument("--workers", type=int, metavar="N",
                   help="CPUs for the local instance, or tasks at once on a cluster (default: all)")


def ray_address(args: argparse.Namespace) -> str | None:
    """The Ray address to join (--address, else RAY_ADDRESS), checked for its form (no network)."""
    import os

    from pipeline.runs.runner import address_problem

    address = args.address or os.environ.get("RAY_ADDRESS") or None
    if address and (problem := address_problem(address)):
        raise UsageError(problem + ("" if args.address else " (from the RAY_ADDRESS environment variable)"))
    return address


def add_format(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")


def config_of(args: argparse.Namespace) -> Config:
    try:
        return load_config(args.config)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


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
    """Print rows as an aligned table, CSV or JSON (times in ISO 8601, UTC ones with Z)."""
    out = out or sys.stdout
    if fmt == "json":
        json.dump([{c: _json_value(r.get(c)) for c in columns} for r in rows], out, indent=2)
        out.write("\n")
        return
    text = [[iso(r.get(c)) if r.get(c) is not None else "" for c in columns] for r in rows]
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(text)
        return
    widths = [max([len(c)] + [len(t[i]) for t in text]) for i, c in enumerate(columns)]
    out.write("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip() + "\n")
    for t in text:
        out.write("  ".join(v.ljust(w) for v, w in zip(t, widths)).rstrip() + "\n")


def _json_value(value):
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, float):
        return round(value, 3)
    return value


@contextmanager
def writing(archive: Path, purpose: str, config: Config | None = None):
    """Hold the archive against other writers for the ``with`` block; when the block succeeds,
    seal what it committed into the tamper-evident manifest chain. A busy archive is exit 1."""
    from pipeline.archive import chain
    from pipeline.archive.lock import ArchiveBusy, ArchiveLock

    try:
        with ArchiveLock(archive, purpose):
            yield
            chain.seal_command(archive, purpose, config)
    except ArchiveBusy as exc:
        raise RunError(str(exc)) from None


@contextmanager
def locked_catalog(archive: Path, config: Config, purpose: str):
    """The archive's catalog, written under ``writing`` (held, then sealed)."""
    from catalog.store import Catalog

    with writing(archive, purpose, config):
        yield Catalog(archive, fsync=config.ingest.fsync).create()

