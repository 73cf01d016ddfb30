"""Configuration: one frozen dataclass per stage, loaded from ``configs/*.toml``.

Every key in a TOML file must name a field of its section's dataclass; a bad key or a value of
the wrong type fails at start-up with the key's full name, never mid-run.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "default.toml"


class ConfigError(ValueError):
    """A configuration file or value is invalid."""


@dataclass(frozen=True)
class IngestConfig:
    # Bytes read per call when copying and hashing a source file.
    chunk_bytes: int = 4 * 1024 * 1024
    # Small files are grouped into one Ray task up to this many bytes / files.
    task_bytes: int = 512 * 1024 * 1024
    task_max_files: int = 64
    # Tasks in flight per CPU of the cluster: bounds driver memory however big the drop.
    window_per_cpu: int = 2
    # The catalog is committed after this many files or seconds, whichever comes first.
    commit_every_files: int = 500
    commit_every_s: float = 20.0
    # A source that changes while read is read again this many times before it is flagged.
    change_retries: int = 2
    # fsync objects and catalog files before they become visible (turn off only for benchmarks).
    fsync: bool = True
    # Re-read sources whose earlier sighting was unreadable (permissions fixed, say).
    retry_unreadable: bool = False
    # Make review proxies during ingest (the transcode stage); `--proxies` overrides.
    proxies: bool = False


@dataclass(frozen=True)
class IdentityConfig:
    # Regular expressions tried in order on the file name; named groups: device, officer,
    # time (parsed with time_format) and optionally seq.
    name_patterns: tuple[str, ...] = (
        r"^(?P<device>[A-Za-z0-9]+)_(?P<officer>[A-Za-z0-9]+)_(?P<time>\d{14})(?:_(?P<seq>\d+))?\.[A-Za-z0-9]+$",
    )
    time_format: str = "%Y%m%d%H%M%S"


@dataclass(frozen=True)
class DemuxConfig:
    # Skip the probe decode that opening a container normally does (about 40 ms a 1080p file).
    skip_probe_decode: bool = True


@dataclass(frozen=True)
class ReportConfig:
    # Thumbnails shown per recording (evenly spaced), and at most this many in the whole report.
    thumbs_per_recording: int = 6
    max_thumbnails: int = 8000
    # Thumbnails are scaled down to this width (px) before they are embedded.
    thumb_width: int = 160
    # An upload is late when ingested more than this many hours after the recording ended.
    late_upload_hours: float = 24.0
    # Device clocks' offset from UTC in hours (device time = UTC + offset); 0 = devices run on UTC.
    device_utc_offset_hours: float = 0.0

    def validate(self) -> None:
        if self.thumbs_per_recording < 0 or self.max_thumbnails < 0:
            raise ConfigError("report.thumbs_per_recording and report.max_thumbnails must be 0 or more")
        if not 16 <= self.thumb_width <= 640:
            raise ConfigError(f"report.thumb_width must be between 16 and 640, got {self.thumb_width}")
        if self.late_upload_hours <= 0:
            raise ConfigError(f"report.late_upload_hours must be positive, got {self.late_upload_hours}")


@dataclass(frozen=True)
class Config:
    ingest: IngestConfig = field(default_factory=IngestConfig)
    identity: IdentityConfig = field(default_factory=IdentityConfig)
    demux: DemuxConfig = field(default_factory=DemuxConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    source: str = "built-in defaults"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _coerce(name: str, value, annotation):
    """Check ``value`` against a field annotation; lists become tuples."""
    hint = annotation
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        hint, origin = args[0], typing.get_origin(args[0])
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name}: expected a list, got {value!r}")
        (item_type, *_rest) = typing.get_args(hint)
        return tuple(_coerce(f"{name}[{i}]", v, item_type) for i, v in enumerate(value))
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is bool and not isinstance(value, bool):
        raise ConfigError(f"{name}: expected true or false, got {value!r}")
    if isinstance(hint, type) and not isinstance(value, hint):
        raise ConfigError(f"{name}: expected {hint.__name__}, got {value!r}")
    return value


def _build(cls, section: str, table: dict):
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    values = {}
    for key, value in table.items():
        if key not in known:
            raise ConfigError(f"unknown configuration key '{section}.{key}' (known: {', '.join(sorted(known))})")
        values[key] = _coerce(f"{section}.{key}", value, hints[key])
    try:
        obj = cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[{section}]: {exc}") from exc
    validate = getattr(obj, "validate", None)
    if validate:
        validate()
    return obj


def load_config(path: str | Path | None = None) -> Config:
    """Load the defaults file, then ``path`` on top of it (section by section, key by key)."""
    merged: dict[str, dict] = {}
    sources = [DEFAULT_CONFIG] + ([Path(path)] if path else [])
    for src in sources:
        try:
            data = tomllib.loads(Path(src).read_text())
        except FileNotFoundError:
            raise ConfigError(f"configuration file not found: {src}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{src}: not valid TOML: {exc}") from None
        for section, table in data.items():
            if not isinstance(table, dict):
                raise ConfigError(f"{src}: '{section}' must be a [section]")
            merged.setdefault(section, {}).update(table)
    hints = typing.get_type_hints(Config)
    kwargs = {}
    for section, table in merged.items():
        if section not in hints or section == "source":
            raise ConfigError(f"unknown configuration section [{section}]")
        kwargs[section] = _build(hints[section], section, table)
    return Config(**kwargs, source=str(path or DEFAULT_CONFIG))
