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
class TranscodeConfig:
    # The proxy: H.264 in MP4 (AAC in M4A for audio-only), longer side at most long_side pixels.
    long_side: int = 640
    crf: int = 28
    preset: str = "veryfast"
    audio_bitrate: int = 64000
    faststart: bool = True
    # Decoder/scaler/encoder threads per proxy; 0: as many as the task's CPUs (cpus_per_task).
    threads: int = 0
    # Packets the decoder may reject before a proxy is given up (and recorded as failed).
    max_decode_errors: int = 16
    # Audio holes longer than this are filled with silence so later audio stays in sync.
    audio_gap_s: float = 0.1
    # Ray: CPUs each proxy task reserves, and extra custom resources it requests, e.g.
    # {transcode = 1} to run proxies only on nodes started with --resources='{"transcode": 8}'.
    cpus_per_task: float = 2.0
    resources: dict = field(default_factory=dict)
    # Proxy tasks in flight (0: as many as the cluster's CPUs can run at once, plus one each).
    max_in_flight: int = 0

    def validate(self) -> None:
        if self.long_side < 16 or self.long_side % 2:
            raise ConfigError(f"transcode.long_side: must be an even number of pixels >= 16, got {self.long_side}")
        if not 0 <= self.crf <= 51:
            raise ConfigError(f"transcode.crf: must be 0..51 (x264 quality; lower is better), got {self.crf}")
        presets = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
        if self.preset not in presets:
            raise ConfigError(f"transcode.preset: must be one of {', '.join(presets)}, got {self.preset!r}")
        if self.audio_bitrate < 8000:
            raise ConfigError(f"transcode.audio_bitrate: bits per second, at least 8000, got {self.audio_bitrate}")
        if self.cpus_per_task <= 0:
            raise ConfigError(f"transcode.cpus_per_task: must be positive, got {self.cpus_per_task}")
        for name, amount in self.resources.items():
            if not isinstance(amount, (int, float)) or isinstance(amount, bool) or amount <= 0:
                raise ConfigError(f"transcode.resources.{name}: must be a positive number, got {amount!r}")


@dataclass(frozen=True)
class Config:
    ingest: IngestConfig = field(default_factory=IngestConfig)
    identity: IdentityConfig = field(default_factory=IdentityConfig)
    demux: DemuxConfig = field(default_factory=DemuxConfig)
    transcode: TranscodeConfig = field(default_factory=TranscodeConfig)
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
