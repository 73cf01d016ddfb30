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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.common.times import Zones

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
    # Try again, on every run, sources that were never stored (permissions fixed since, say); a run
    # that finds one unchanged adds no row. Files that killed their worker or ran out of time are
    # tried again only with `--retry-failed`.
    retry_unreadable: bool = True
    # Make review proxies during ingest (the transcode stage); `--proxies` overrides.
    proxies: bool = False
    # Follow symbolic links that lead out of the source folders, and links to folders
    # (`--follow-links`). Off: such a link gets a sighting naming its target, and nothing is stored.
    follow_links: bool = False
    # Each file's time budget: this many seconds plus its size read at time_budget_mb_s MB/s (a
    # slow disk). A file over its budget has its task stopped and gets a row saying it timed out.
    time_budget_s: float = 120.0
    time_budget_mb_s: float = 2.0
    # A file whose worker process died is tried alone this many more times before it gets its row.
    worker_retries: int = 2
    # Permission bits of stored originals and proxies: read-only, for the archive's owner and group.
    file_mode: int = 0o440

    def validate(self) -> None:
        if not 1 <= self.time_budget_s <= 7 * 86400:
            raise ConfigError(f"ingest.time_budget_s: expected 1 to 604800 seconds, got {self.time_budget_s}")
        if not 0.01 <= self.time_budget_mb_s <= 100_000:
            raise ConfigError(f"ingest.time_budget_mb_s: expected 0.01 to 100000 MB/s, got {self.time_budget_mb_s}")
        if not 0 <= self.worker_retries <= 10:
            raise ConfigError(f"ingest.worker_retries: expected 0 to 10, got {self.worker_retries}")
        if self.file_mode & ~0o444 or not self.file_mode & 0o400:
            raise ConfigError(f"ingest.file_mode: expected read-only bits that include the owner's, such as "
                              f"0o440 or 0o444 (write it 0o440), got {self.file_mode:#o}")

    def time_budget(self, size: int) -> float:
        """Seconds a file of ``size`` bytes may take through every per-file stage."""
        return self.time_budget_s + size / (self.time_budget_mb_s * 1e6)


@dataclass(frozen=True)
class IdentityConfig:
    # Regular expressions tried in order on the file name; named groups: device, officer,
    # time (parsed with time_format) and optionally seq.
    name_patterns: tuple[str, ...] = (
        r"^(?P<device>[A-Za-z0-9]+)_(?P<officer>[A-Za-z0-9]+)_(?P<time>\d{14})(?:_(?P<seq>\d+))?\.[A-Za-z0-9]+$",
        # DEVICE_YYYYMMDDhhmmss[_SEQ].EXT: no officer in the name; the device ledger attributes it.
        r"^(?P<device>[A-Za-z0-9]+)_(?P<time>\d{14})(?:_(?P<seq>\d+))?\.[A-Za-z0-9]+$",
    )
    time_format: str = "%Y%m%d%H%M%S"
    # How the default profile's recorders write the container's creation_time: "utc" (what the
    # MP4/MOV format defines) or "local" (the device's wall clock, as some recorders do).
    container_time: str = "utc"
    # Named recorder profiles tried before name_patterns, in order:
    #   [identity.profiles.NAME]  patterns = ['^...$'], time_format = "...", container_time = "local"
    profiles: dict = field(default_factory=dict)

    def validate(self) -> None:
        import re

        if self.container_time not in CONTAINER_TIMES:
            raise ConfigError(f"identity.container_time: expected 'utc' or 'local', got {self.container_time!r}")
        for i, pattern in enumerate(self.name_patterns):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"identity.name_patterns[{i}]: not a regular expression: {exc}") from None
        for name, profile in self.profiles.items():
            key = f"identity.profiles.{name}"
            if not isinstance(profile, dict):
                raise ConfigError(f"{key}: expected a table with patterns, time_format, container_time")
            unknown = set(profile) - {"patterns", "time_format", "container_time"}
            if unknown:
                raise ConfigError(f"{key}: unknown key(s) {', '.join(sorted(unknown))} "
                                  "(known: container_time, patterns, time_format)")
            patterns = profile.get("patterns")
            if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) for p in patterns):
                raise ConfigError(f"{key}.patterns: expected a list of regular expressions")
            for i, pattern in enumerate(patterns):
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ConfigError(f"{key}.patterns[{i}]: not a regular expression: {exc}") from None
            if not isinstance(profile.get("time_format", self.time_format), str):
                raise ConfigError(f"{key}.time_format: expected text such as %Y%m%d%H%M%S")
            if profile.get("container_time", "utc") not in CONTAINER_TIMES:
                raise ConfigError(f"{key}.container_time: expected 'utc' or 'local', got "
                                  f"{profile.get('container_time')!r}")


CONTAINER_TIMES = ("utc", "local")


@dataclass(frozen=True)
class SiteConfig:
    # The site's time zone (IANA name): typed times without a zone are read in it, every time
    # shown is shown in it with its offset, and device clocks run in it unless listed below.
    time_zone: str = "Asia/Shanghai"
    # Devices whose clocks run in another zone: "DEVICE=Europe/Berlin" or "DEVICE=+02:00".
    device_time_zones: tuple[str, ...] = ()

    def validate(self) -> None:
        from pipeline.common.times import TimeProblem, zone_named

        try:
            zone_named(self.time_zone)
        except TimeProblem as exc:
            raise ConfigError(f"site.time_zone: {exc}") from None
        seen = set()
        for entry in self.device_time_zones:
            device, sep, zone = entry.partition("=")
            if not sep or not device.strip():
                raise ConfigError(f"site.device_time_zones: {entry!r} is not DEVICE=Zone/Name or DEVICE=+HH:MM")
            if device.strip() in seen:
                raise ConfigError(f"site.device_time_zones: device {device.strip()} is listed twice")
            seen.add(device.strip())
            try:
                zone_named(zone)
            except TimeProblem as exc:
                raise ConfigError(f"site.device_time_zones: {device.strip()}: {exc}") from None


@dataclass(frozen=True)
class DemuxConfig:
    # Skip the probe decode that opening a container normally does (about 40 ms a 1080p file).
    skip_probe_decode: bool = True


# Minimum durations the regulation sets; configuration may lengthen them, never shorten them.
RETENTION_FLOORS_MONTHS = {"routine_months": 3, "case_months_after_close": 3, "case_min_months": 6,
                           "other_min_months": 3}


@dataclass(frozen=True)
class RetentionConfig:
    # routine (simple undisputed actions, on-the-spot checks, routine inspections): from recording.
    routine_months: int = 3
    # case (administrative cases): this long after the case closes, and never less than
    # case_min_months from recording; an open case holds its files indefinitely.
    case_months_after_close: int = 3
    case_min_months: int = 6
    # other: a duration set per assignment, never less than this from recording.
    other_min_months: int = 3

    def validate(self) -> None:
        for name, floor in RETENTION_FLOORS_MONTHS.items():
            if getattr(self, name) < floor:
                raise ConfigError(f"retention.{name} = {getattr(self, name)} is below the regulation's "
                                  f"minimum of {floor} months; it may be lengthened, never shortened")


def parse_utc_offset(text: str) -> float:
    """``+02:00``, ``-0530``, ``+2``, ``Z`` as hours east of UTC."""
    import re

    text = text.strip()
    if text.upper() in ("Z", "UTC"):
        return 0.0
    m = re.fullmatch(r"([+-])(\d{1,2})(?::?(\d{2}))?", text)
    if not m or int(m.group(2)) > 14 or int(m.group(3) or 0) >= 60:
        raise ValueError(f"not a UTC offset: {text!r} (write +02:00, -05:30 or Z)")
    hours = int(m.group(2)) + int(m.group(3) or 0) / 60
    return hours if m.group(1) == "+" else -hours


@dataclass(frozen=True)
class ComplianceConfig:
    # An upload is late when ingest time minus recording end time is over this many hours.
    late_after_hours: float = 24.0
    # Older settings, still read (site.device_time_zones replaces them): every device clock runs
    # at UTC plus this many hours (unset: in site.time_zone), or, per device, "DEVICE=+02:00".
    device_utc_offset_hours: float | None = None
    device_utc_offsets: tuple[str, ...] = ()

    def validate(self) -> None:
        import math

        if not self.late_after_hours > 0 or not math.isfinite(self.late_after_hours):
            raise ConfigError("compliance.late_after_hours must be a positive number of hours")
        if self.device_utc_offset_hours is not None and not abs(self.device_utc_offset_hours) <= 14:
            raise ConfigError("compliance.device_utc_offset_hours must be between -14 and +14")
        for entry in self.device_utc_offsets:
            device, sep, offset = entry.partition("=")
            if not sep or not device.strip():
                raise ConfigError(f"compliance.device_utc_offsets: {entry!r} is not DEVICE=+HH:MM")
            try:
                parse_utc_offset(offset)
            except ValueError as exc:
                raise ConfigError(f"compliance.device_utc_offsets: {exc}") from None



@dataclass(frozen=True)
class GapsConfig:
    # within_file: a forward timestamp jump counts when the missing time exceeds the larger of
    # min_jump_s and jump_frames frame durations (audio: packet durations, i.e. sample counts).
    min_jump_s: float = 1.0
    jump_frames: int = 3
    # between_files: a device's next recording may start this long after the previous one ends
    # (file names have one-second resolution) before the pause is a gap; overlaps likewise.
    between_files_tolerance_s: float = 2.0
    overlap_tolerance_s: float = 2.0
    # clock: device times before this date (YYYY-MM-DD), or later than the ingest time plus
    # future_tolerance_s (device time is local, of unknown zone), cannot be right.
    earliest_plausible: str = "2015-01-01"
    future_tolerance_s: float = 86400.0
    # clock: file-name time and container time written by the same clock must agree this closely
    # (with the start or with the end of the recording); whole time-zone offsets are not errors.
    name_container_tolerance_s: float = 5.0
    allow_zone_offsets: bool = True
    # clock: recordings whose sequence numbers and start times disagree are flagged.
    check_sequence: bool = True
    # Kinds of recording whose per-device timelines are checked for between_files gaps.
    timeline_kinds: tuple[str, ...] = ("video", "audio")

    def validate(self) -> None:
        from datetime import date

        try:
            date.fromisoformat(self.earliest_plausible)
        except ValueError:
            raise ConfigError(f"gaps.earliest_plausible: expected a date YYYY-MM-DD, got {self.earliest_plausible!r}") from None
        for name in ("min_jump_s", "between_files_tolerance_s", "overlap_tolerance_s",
                     "future_tolerance_s", "name_container_tolerance_s"):
            if getattr(self, name) < 0:
                raise ConfigError(f"gaps.{name}: must not be negative, got {getattr(self, name)!r}")
        if self.jump_frames < 0:
            raise ConfigError(f"gaps.jump_frames: must not be negative, got {self.jump_frames!r}")


@dataclass(frozen=True)
class IntegrityConfig:
    # Ed25519 private key (PEM, made by `fieldrec keygen`) that signs every run's manifest;
    # "" leaves manifests unsigned (the SHA-256 chain still links them). Relative to the working folder.
    signing_key: str = ""
    # Public (or private) key `fieldrec verify` checks signatures against; "" = the signing key's
    # public half, or, with no key at all, the key each manifest names (detects damage, not forgery).
    verify_key: str = ""

    def validate(self) -> None:
        for name in ("signing_key", "verify_key"):
            value = getattr(self, name)
            if value and not Path(value).expanduser().is_file():
                raise ConfigError(f"integrity.{name}: key file not found: {value} (make one with `fieldrec keygen`)")
        if self.signing_key:
            from pipeline.native.signing import KeyFileError, load_signer
            try:
                load_signer(self.signing_key)
            except KeyFileError as exc:
                raise ConfigError(f"integrity.signing_key: {exc}") from None


@dataclass(frozen=True)
class ReportConfig:
    # Thumbnails shown per recording (evenly spaced), and at most this many in the whole report.
    thumbs_per_recording: int = 6
    max_thumbnails: int = 8000
    # Thumbnails are scaled down to this width (px) before they are embedded.
    thumb_width: int = 160

    def validate(self) -> None:
        if self.thumbs_per_recording < 0 or self.max_thumbnails < 0:
            raise ConfigError("report.thumbs_per_recording and report.max_thumbnails must be 0 or more")
        if not 16 <= self.thumb_width <= 640:
            raise ConfigError(f"report.thumb_width must be between 16 and 640, got {self.thumb_width}")


@dataclass(frozen=True)
class ThumbnailsConfig:
    # Make keyframe thumbnails during ingest (photos get one; audio none).
    enabled: bool = True
    # The first keyframe, then at most one keyframe every this many seconds of media.
    interval_s: float = 10.0
    # Long side of a thumbnail in pixels (aspect ratio and rotation kept; never enlarged).
    max_side: int = 320
    # WebP (method 0): 1.5 ms a thumbnail; JPEG: 0.2 ms and twice the bytes. Decoding the
    # keyframe costs 25-45 ms; bench/thumbs_cost.py prints both.
    format: str = "webp"            # webp | jpeg
    quality: int = 75               # 1..100
    # WebP effort 0..6: 0 is about 5x cheaper than 4 and a little larger (thumbnails are tiny).
    webp_method: int = 0
    # Decoder shortcuts for previews: no loop filter, non-compliant speedups, reduced-size MJPEG.
    fast_decode: bool = True

    def validate(self) -> None:
        if self.format not in ("webp", "jpeg"):
            raise ConfigError(f"thumbnails.format: expected 'webp' or 'jpeg', got {self.format!r}")
        if not 1 <= self.quality <= 100:
            raise ConfigError(f"thumbnails.quality: expected 1..100, got {self.quality}")
        if not 0 <= self.webp_method <= 6:
            raise ConfigError(f"thumbnails.webp_method: expected 0..6, got {self.webp_method}")
        if not self.interval_s >= 0:
            raise ConfigError(f"thumbnails.interval_s: expected 0 or more seconds, got {self.interval_s}")
        if not 16 <= self.max_side <= 4096:
            raise ConfigError(f"thumbnails.max_side: expected 16..4096 pixels, got {self.max_side}")


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
class ServiceConfig:
    # `fieldrec serve`: the review service. Sessions end after this long idle, and this long at most.
    session_idle_minutes: int = 30
    session_max_hours: int = 12
    # Sign-in: this many failures for one name or one address within login_window_s lock it
    # out for the rest of the window.
    login_max_failures: int = 5
    login_window_s: int = 900
    # Roles that see pictures and sound (thumbnails, playback) without a grant; [] = nobody.
    content_roles: tuple[str, ...] = ()
    # A grant lasts at most this many days.
    max_grant_days: int = 30
    # Seconds a write waits for the archive lock while another command (an ingest) holds it.
    lock_wait_s: float = 3.0
    # Service records (access log, sign-ins, requests) are durable at once in a spool file and
    # committed to the catalog and sealed every this many seconds (access) or at once (decisions).
    flush_every_s: float = 15.0
    # Written statements attached to explanations: at most this many bytes.
    statement_max_bytes: int = 10 * 1024 * 1024
    # Where exports made through the service are written ("" = ARCHIVE-exports beside the archive).
    export_dir: str = ""
    # Mark cookies Secure (set true behind a TLS reverse proxy, as the README shows).
    cookie_secure: bool = False
    # Rows on a listing page.
    page_rows: int = 200

    def validate(self) -> None:
        from catalog.schema import ROLES

        for role in self.content_roles:
            if role not in ROLES:
                raise ConfigError(f"service.content_roles: unknown role {role!r} (known: {', '.join(ROLES)})")
        for name in ("session_idle_minutes", "session_max_hours", "login_max_failures", "login_window_s",
                     "max_grant_days", "statement_max_bytes", "page_rows"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"service.{name} must be positive, got {getattr(self, name)!r}")
        if not 0 <= self.lock_wait_s <= 60:
            raise ConfigError(f"service.lock_wait_s must be 0..60 seconds, got {self.lock_wait_s!r}")
        if not 1 <= self.flush_every_s <= 3600:
            raise ConfigError(f"service.flush_every_s must be 1..3600 seconds, got {self.flush_every_s!r}")


@dataclass(frozen=True)
class Config:
    site: SiteConfig = field(default_factory=SiteConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    identity: IdentityConfig = field(default_factory=IdentityConfig)
    demux: DemuxConfig = field(default_factory=DemuxConfig)
    gaps: GapsConfig = field(default_factory=GapsConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    compliance: ComplianceConfig = field(default_factory=ComplianceConfig)
    integrity: IntegrityConfig = field(default_factory=IntegrityConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    thumbnails: ThumbnailsConfig = field(default_factory=ThumbnailsConfig)
    transcode: TranscodeConfig = field(default_factory=TranscodeConfig)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    source: str = "built-in defaults"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def zones(self) -> "Zones":
        """The site's zone and each device clock's: site.device_time_zones first, then the older
        compliance.device_utc_offsets and compliance.device_utc_offset_hours, then the site's zone."""
        from pipeline.common.times import Zones, offset_label
        from datetime import timedelta

        devices = [(d.strip(), z.strip(), "device") for d, _, z in (e.partition("=") for e in self.site.device_time_zones)]
        named = {d for d, _, _ in devices}
        for entry in self.compliance.device_utc_offsets:
            device, _, offset = entry.partition("=")
            if device.strip() not in named:
                devices.append((device.strip(), offset_label(timedelta(hours=parse_utc_offset(offset))), "legacy"))
                named.add(device.strip())
        hours = self.compliance.device_utc_offset_hours
        default = offset_label(timedelta(hours=hours)) if hours is not None else None
        return Zones(site=self.site.time_zone, devices=tuple(devices), device_default=default,
                     device_default_source="legacy" if default else "site")


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
