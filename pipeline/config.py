"""Configuration: one frozen dataclass per stage, loaded from ``configs/*.toml``.

Every key in a TOML file must name a field of its section's dataclass; a bad key, a value of the
wrong type or a number outside its bounds fails at start-up with the key's full name, never
mid-run. Every numeric field declares its bounds (``bounded``), so ``chunk_bytes = 0`` or a
20-digit integer is refused before anything is read or written.

Sections marked ``ARCHIVE_OWNED`` change what an archive means (its zone, retention, naming,
integrity, compliance): they belong to the archive (``ARCHIVE/fieldrec.toml``, see
``pipeline.archive.settings``), and a ``--config`` file may only repeat their values, never change
them. The other sections are knobs of one run (speed, memory, presentation).
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from pipeline.common.i18n import NP_, _, pgettext

if TYPE_CHECKING:
    from pipeline.common.times import Zones

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "default.toml"


class ConfigError(ValueError):
    """A configuration file or value is invalid."""


def bounded(default, low, high, unit: str = ""):
    """A numeric field with its bounds (inclusive): checked for every value the loader reads."""
    return field(default=default, metadata={"bounds": (low, high), "unit": unit})


def check_bounds(obj, section: str) -> None:
    """Every bounded field of ``obj`` within its bounds (NaN and infinities are outside)."""
    for f in dataclasses.fields(obj):
        bounds = f.metadata.get("bounds")
        value = getattr(obj, f.name)
        if bounds is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        low, high = bounds
        if not low <= value <= high:
            unit_name = f.metadata.get("unit")
            unit = " " + pgettext("unit", unit_name) if unit_name else ""
            shown = value if len(str(value)) <= 24 else f"{str(value)[:12]}… ({len(str(value))} digits)"
            raise ConfigError(_("{key} = {value} is out of bounds: it must be from {low} to {high}{unit}").format(
                key=f"{section}.{f.name}", value=shown, low=low, high=high, unit=unit))


@dataclass(frozen=True)
class IngestConfig:
    # Bytes read per call when copying and hashing a source file.
    chunk_bytes: int = bounded(4 * 1024 * 1024, 4096, 1 << 30, NP_("unit", "bytes"))
    # Small files are grouped into one Ray task up to this many bytes / files.
    task_bytes: int = bounded(512 * 1024 * 1024, 1 << 20, 1 << 40, NP_("unit", "bytes"))
    task_max_files: int = bounded(64, 1, 100_000, NP_("unit", "files"))
    # Tasks in flight per CPU of the cluster: bounds driver memory however big the drop.
    window_per_cpu: int = bounded(2, 1, 64, NP_("unit", "tasks"))
    # The catalog is committed after this many files or seconds, whichever comes first.
    commit_every_files: int = bounded(500, 1, 1_000_000, NP_("unit", "files"))
    commit_every_s: float = bounded(20.0, 0.1, 86_400.0, NP_("unit", "seconds"))
    # A source that changes while read is read again this many times before it is flagged.
    change_retries: int = bounded(2, 0, 100, NP_("unit", "re-reads"))
    # fsync objects and catalog files before they become visible (turn off only for benchmarks).
    fsync: bool = True
    # Write synced copies of originals with direct I/O (O_DIRECT) where the file system allows it:
    # the CPU never copies their bytes into the page cache. Faster where the CPUs are the limit
    # (thumbnails on) or the disk takes direct writes well; `false` writes through the page cache,
    # its writeback started chunk by chunk, which some virtual disks take faster (README, Benchmarks).
    direct_io: bool = True
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
    time_budget_s: float = bounded(120.0, 1.0, 7 * 86_400.0, NP_("unit", "seconds"))
    time_budget_mb_s: float = bounded(2.0, 0.01, 100_000.0, NP_("unit", "MB/s"))
    # A file whose worker process died is tried alone this many more times before it gets its row.
    worker_retries: int = bounded(2, 0, 10, NP_("unit", "retries"))
    # Permission bits of stored originals and proxies: read-only, for the archive's owner and group.
    file_mode: int = bounded(0o440, 0o400, 0o444, NP_("unit", "(octal 0o400 to 0o444, read bits only)"))

    def validate(self) -> None:
        if self.file_mode & ~0o444 or not self.file_mode & 0o400:
            raise ConfigError(_("ingest.file_mode: expected read-only bits that include the owner's, such as "
                                "0o440 or 0o444 (write it 0o440), got {mode:#o}").format(mode=self.file_mode))

    def time_budget(self, size: int) -> float:
        """Seconds a file of ``size`` bytes may take through every per-file stage."""
        return self.time_budget_s + size / (self.time_budget_mb_s * 1e6)


IMPORTANT_SUFFIX = r"(?P<important>_IMP|_I|_?重要)?"
PROFILE_KEYS = ("patterns", "time_format", "container_time", "example")


@dataclass(frozen=True)
class IdentityConfig:
    ARCHIVE_OWNED: ClassVar[bool] = True
    # The default profile: regular expressions tried in order on the file name. Named groups:
    # device, officer (a police number or an enforcement-certificate number; any letters, so
    # 张三 too), time (read with time_format), seq, important (any text there marks the file).
    name_patterns: tuple[str, ...] = (
        r"^(?P<device>[A-Za-z0-9]+)_(?P<officer>[^\W_]+)_(?P<time>\d{14})(?:_(?P<seq>\d+))?"
        + IMPORTANT_SUFFIX + r"\.[A-Za-z0-9]+$",
        # DEVICE_YYYYMMDDhhmmss[_SEQ].EXT: no officer in the name; the device ledger attributes it.
        r"^(?P<device>[A-Za-z0-9]+)_(?P<time>\d{14})(?:_(?P<seq>\d+))?" + IMPORTANT_SUFFIX + r"\.[A-Za-z0-9]+$",
    )
    time_format: str = "%Y%m%d%H%M%S"
    # How the default profile's recorders write the container's creation_time: "utc" (what the
    # MP4/MOV format defines) or "local" (the device's wall clock, as some recorders do).
    container_time: str = "utc"
    # Named recorder profiles: [identity.profiles.NAME] patterns = ['^...$'], time_format = "...",
    # container_time = "local", example = "a file name the profile must recognise".
    profiles: dict = field(default_factory=dict)
    # The profiles tried, in order ("default" is name_patterns). Empty: every profile, those a
    # site's configuration file adds first, then the shipped ones, then "default".
    order: tuple[str, ...] = ()

    def validate(self) -> None:
        import re

        if self.container_time not in CONTAINER_TIMES:
            raise ConfigError(_("identity.container_time: expected 'utc' or 'local', got {container_time}").format(
                                  container_time=repr(self.container_time)))
        for i, pattern in enumerate(self.name_patterns):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(_("identity.name_patterns[{i}]: not a regular expression: {exc}").format(
                                      i=i, exc=exc)) from None
        for name, profile in self.profiles.items():
            key = f"identity.profiles.{name}"
            if name == "default":
                raise ConfigError(_("{key}: 'default' is the profile of identity.name_patterns; choose "
                                     "another name").format(key=key))
            if not isinstance(profile, dict):
                raise ConfigError(_("{key}: expected a table with patterns, time_format, container_time").format(
                                      key=key))
            unknown = set(profile) - set(PROFILE_KEYS)
            if unknown:
                raise ConfigError(_("{key}: unknown key(s) {items} (known: {known})").format(
                                      key=key, items=', '.join(sorted(unknown)),
                                      known=', '.join(sorted(PROFILE_KEYS))))
            patterns = profile.get("patterns")
            if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) for p in patterns):
                raise ConfigError(_("{key}.patterns: expected a list of regular expressions").format(key=key))
            compiled = []
            for i, pattern in enumerate(patterns):
                try:
                    compiled.append(re.compile(pattern))
                except re.error as exc:
                    raise ConfigError(_("{key}.patterns[{i}]: not a regular expression: {exc}").format(
                                          key=key, i=i, exc=exc)) from None
                unknown_groups = set(compiled[-1].groupindex) - set(NAME_FIELDS)
                if unknown_groups:
                    raise ConfigError(_("{key}.patterns[{i}]: unknown named group(s) {items} (known: "
                                         "{known})").format(
                                          key=key, i=i, items=', '.join(sorted(unknown_groups)),
                                          known=', '.join(NAME_FIELDS)))
            if not isinstance(profile.get("time_format", self.time_format), str):
                raise ConfigError(_("{key}.time_format: expected text such as %Y%m%d%H%M%S").format(key=key))
            if profile.get("container_time", "utc") not in CONTAINER_TIMES:
                raise ConfigError(_("{key}.container_time: expected 'utc' or 'local', got {value}").format(
                                      key=key, value=repr(profile.get('container_time'))))
            example = profile.get("example")
            if example is not None and (not isinstance(example, str)
                                        or not any(c.match(example) for c in compiled)):
                raise ConfigError(_("{key}.example: {example} is not matched by any of the profile's patterns").format(
                                      key=key, example=repr(example)))
        known = {"default", *self.profiles}
        for name in self.order:
            if name not in known:
                raise ConfigError(_("identity.order: no profile named {name} (known: {items})").format(
                                      name=repr(name), items=', '.join(sorted(known))))
        if len(set(self.order)) != len(self.order):
            raise ConfigError(_("identity.order: a profile is named twice"))


NAME_FIELDS = ("device", "officer", "time", "seq", "important", "prefix")


CONTAINER_TIMES = ("utc", "local")


LANGUAGES = ("", "zh-CN", "zh_CN", "en")      # site.language: "" follows the environment


@dataclass(frozen=True)
class SiteConfig:
    ARCHIVE_OWNED: ClassVar[bool] = True
    # The site's time zone (IANA name): typed times without a zone are read in it, every time
    # shown is shown in it with its offset, and device clocks run in it unless listed below.
    time_zone: str = "Asia/Shanghai"
    # Devices whose clocks run in another zone: "DEVICE=Europe/Berlin" or "DEVICE=+02:00".
    device_time_zones: tuple[str, ...] = ()
    # The language of the site's people: messages, --help, the report, disc and export READMEs
    # ("zh-CN" or "en"). "" follows the environment (LC_ALL, LC_MESSAGES, LANG); --lang overrides.
    language: str = ""

    def validate(self) -> None:
        from pipeline.common.times import TimeProblem, zone_named

        if self.language not in LANGUAGES:
            raise ConfigError(_("site.language: expected \"zh-CN\", \"en\" or \"\" (the environment's), got {value}").format(
                value=repr(self.language)))
        try:
            zone_named(self.time_zone)
        except TimeProblem as exc:
            raise ConfigError(f"site.time_zone: {exc}") from None
        seen = set()
        for entry in self.device_time_zones:
            device, sep, zone = entry.partition("=")
            if not sep or not device.strip():
                raise ConfigError(_("site.device_time_zones: {entry} is not DEVICE=Zone/Name or DEVICE=+HH:MM").format(
                                      entry=repr(entry)))
            if device.strip() in seen:
                raise ConfigError(_("site.device_time_zones: device {value} is listed twice").format(
                                      value=device.strip()))
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
    ARCHIVE_OWNED: ClassVar[bool] = True
    # routine (simple undisputed actions, on-the-spot checks, routine inspections): from recording.
    routine_months: int = bounded(3, 0, 1200, NP_("unit", "months"))
    # case (administrative cases): this long after the case closes, and never less than
    # case_min_months from recording; an open case holds its files indefinitely.
    case_months_after_close: int = bounded(3, 0, 1200, NP_("unit", "months"))
    case_min_months: int = bounded(6, 0, 1200, NP_("unit", "months"))
    # other: a duration set per assignment, never less than this from recording.
    other_min_months: int = bounded(3, 0, 1200, NP_("unit", "months"))

    def validate(self) -> None:
        for name, floor in RETENTION_FLOORS_MONTHS.items():
            if getattr(self, name) < floor:
                raise ConfigError(_("retention.{name} = {value} is below the regulation's minimum of {floor} "
                                     "months; it may be lengthened, never shortened").format(
                                      name=name, value=getattr(self, name), floor=floor))


def parse_utc_offset(text: str) -> float:
    """``+02:00``, ``-0530``, ``+2``, ``Z`` as hours east of UTC."""
    import re

    text = text.strip()
    if text.upper() in ("Z", "UTC"):
        return 0.0
    m = re.fullmatch(r"([+-])(\d{1,2})(?::?(\d{2}))?", text)
    if not m or int(m.group(2)) > 14 or int(m.group(3) or 0) >= 60:
        raise ValueError(_("not a UTC offset: {text} (write +02:00, -05:30 or Z)").format(text=repr(text)))
    hours = int(m.group(2)) + int(m.group(3) or 0) / 60
    return hours if m.group(1) == "+" else -hours


@dataclass(frozen=True)
class ComplianceConfig:
    ARCHIVE_OWNED: ClassVar[bool] = True
    # An upload is late when ingest time minus recording end time is over this many hours.
    late_after_hours: float = bounded(24.0, 0.01, 8760.0, NP_("unit", "hours"))
    # Older settings, still read (site.device_time_zones replaces them): every device clock runs
    # at UTC plus this many hours (unset: in site.time_zone), or, per device, "DEVICE=+02:00".
    device_utc_offset_hours: float | None = bounded(None, -14.0, 14.0, NP_("unit", "hours"))
    device_utc_offsets: tuple[str, ...] = ()

    def validate(self) -> None:
        for entry in self.device_utc_offsets:
            device, sep, offset = entry.partition("=")
            if not sep or not device.strip():
                raise ConfigError(_("compliance.device_utc_offsets: {entry} is not DEVICE=+HH:MM").format(
                                      entry=repr(entry)))
            try:
                parse_utc_offset(offset)
            except ValueError as exc:
                raise ConfigError(f"compliance.device_utc_offsets: {exc}") from None



@dataclass(frozen=True)
class GapsConfig:
    # What counts as an interruption that must be explained is part of what the archive means.
    ARCHIVE_OWNED: ClassVar[bool] = True
    # within_file: a forward timestamp jump counts when the missing time exceeds the larger of
    # min_jump_s and jump_frames frame durations (audio: packet durations, i.e. sample counts).
    min_jump_s: float = bounded(1.0, 0.0, 86_400.0, NP_("unit", "seconds"))
    jump_frames: int = bounded(3, 0, 10_000, NP_("unit", "frames"))
    # between_files: a device's next recording may start this long after the previous one ends
    # (file names have one-second resolution) before the pause is a gap; overlaps likewise.
    between_files_tolerance_s: float = bounded(2.0, 0.0, 86_400.0, NP_("unit", "seconds"))
    overlap_tolerance_s: float = bounded(2.0, 0.0, 86_400.0, NP_("unit", "seconds"))
    # clock: device times before this date (YYYY-MM-DD), or later than the ingest time plus
    # future_tolerance_s (device time is local, of unknown zone), cannot be right.
    earliest_plausible: str = "2015-01-01"
    future_tolerance_s: float = bounded(86400.0, 0.0, 10 * 366 * 86_400.0, NP_("unit", "seconds"))
    # clock: file-name time and container time written by the same clock must agree this closely
    # (with the start or with the end of the recording); whole time-zone offsets are not errors.
    name_container_tolerance_s: float = bounded(5.0, 0.0, 86_400.0, NP_("unit", "seconds"))
    allow_zone_offsets: bool = True
    # clock: recordings whose sequence numbers and start times disagree are flagged.
    check_sequence: bool = True
    # Kinds of recording whose per-device timelines are checked for between_files gaps.
    timeline_kinds: tuple[str, ...] = ("video", "audio")
    # A device's recordings that follow each other within this many seconds are one recording
    # session (one action): a pause inside a session needs an explanation, a longer pause
    # separates two sessions and needs none (unless a case or an important mark covers it).
    # Why 120 s: docs/gaps.md.
    session_break_s: float = bounded(120.0, 0.0, 86_400.0, NP_("unit", "seconds"))

    def validate(self) -> None:
        from datetime import date

        try:
            date.fromisoformat(self.earliest_plausible)
        except ValueError:
            raise ConfigError(_("gaps.earliest_plausible: expected a date YYYY-MM-DD, got "
                                 "{earliest_plausible}").format(
                                  earliest_plausible=repr(self.earliest_plausible))) from None
        if self.session_break_s < self.between_files_tolerance_s:
            raise ConfigError(_("gaps.session_break_s = {value} is shorter than gaps.between_files_tolerance_s "
                                "({tolerance}): a pause must be a gap before it can split two sessions").format(
                value=self.session_break_s, tolerance=self.between_files_tolerance_s))


@dataclass(frozen=True)
class IntegrityConfig:
    ARCHIVE_OWNED: ClassVar[bool] = True
    # Ed25519 private key (PEM, made by `fieldrec keygen`) that signs every run's manifest;
    # "" leaves manifests unsigned (the SHA-256 chain still links them). Relative to the working folder.
    signing_key: str = ""
    # Public (or private) key `fieldrec verify` checks signatures against; "" = the signing key's
    # public half, or, with no key at all, the key each manifest names (detects damage, not forgery).
    verify_key: str = ""
    # Append-only text files outside the archive (another disk, a mounted share) to which every
    # seal appends "seq chain-head time archive-id": removing the newest manifests is then seen.
    witness_paths: tuple[str, ...] = ()

    def validate(self) -> None:
        paths = [("signing_key", self.signing_key), ("verify_key", self.verify_key),
                 *((f"witness_paths[{i}]", w) for i, w in enumerate(self.witness_paths))]
        for name, value in paths:
            if value != value.strip() or any(ch < " " for ch in value) or (name.startswith("w") and not value):
                raise ConfigError(_("integrity.{name}: not a usable path: {value}").format(name=name, value=repr(value)))

    def check_keys(self) -> None:
        """The key files exist and the signing key can sign: checked where a key is used (a host
        that only reads an archive need not hold it)."""
        for name in ("signing_key", "verify_key"):
            value = getattr(self, name)
            if value and not Path(value).expanduser().is_file():
                raise ConfigError(_("integrity.{name}: key file not found: {value} (make one with `fieldrec "
                                     "keygen`)").format(name=name, value=value))
        if self.signing_key:
            from pipeline.native.signing import KeyFileError, load_signer
            try:
                load_signer(self.signing_key)
            except KeyFileError as exc:
                raise ConfigError(f"integrity.signing_key: {exc}") from None


@dataclass(frozen=True)
class ReportConfig:
    # Thumbnails shown per recording (evenly spaced), and at most this many in the whole report.
    thumbs_per_recording: int = bounded(6, 0, 1000, NP_("unit", "thumbnails"))
    max_thumbnails: int = bounded(8000, 0, 1_000_000, NP_("unit", "thumbnails"))
    # Thumbnails are scaled down to this width (px) before they are embedded.
    thumb_width: int = bounded(160, 16, 640, NP_("unit", "pixels"))


@dataclass(frozen=True)
class ThumbnailsConfig:
    # Make keyframe thumbnails during ingest (photos get one; audio none).
    enabled: bool = True
    # The first keyframe, then at most one keyframe every this many seconds of media.
    interval_s: float = bounded(10.0, 0.0, 86_400.0, NP_("unit", "seconds"))
    # Long side of a thumbnail in pixels (aspect ratio and rotation kept; never enlarged).
    max_side: int = bounded(320, 16, 4096, NP_("unit", "pixels"))
    # WebP (method 0): 1.5 ms a thumbnail; JPEG: 0.2 ms and twice the bytes. Decoding the
    # keyframe costs 25-45 ms; bench/thumbs_cost.py prints both.
    format: str = "webp"            # webp | jpeg
    quality: int = bounded(75, 1, 100)
    # WebP effort 0..6: 0 is about 5x cheaper than 4 and a little larger (thumbnails are tiny).
    webp_method: int = bounded(0, 0, 6)
    # Decoder shortcuts for previews: no loop filter, non-compliant speedups, reduced-size MJPEG.
    fast_decode: bool = True

    def validate(self) -> None:
        if self.format not in ("webp", "jpeg"):
            raise ConfigError(_("thumbnails.format: expected 'webp' or 'jpeg', got {format}").format(
                                  format=repr(self.format)))


@dataclass(frozen=True)
class TranscodeConfig:
    # The proxy: H.264 in MP4 (AAC in M4A for audio-only), longer side at most long_side pixels.
    long_side: int = bounded(640, 16, 8192, NP_("unit", "pixels"))
    crf: int = bounded(28, 0, 51)
    preset: str = "veryfast"
    audio_bitrate: int = bounded(64000, 8000, 1_024_000, NP_("unit", "bits per second"))
    faststart: bool = True
    # Decoder/scaler/encoder threads per proxy; 0: as many as the task's CPUs (cpus_per_task).
    threads: int = bounded(0, 0, 256, NP_("unit", "threads"))
    # Packets the decoder may reject before a proxy is given up (and recorded as failed).
    max_decode_errors: int = bounded(16, 0, 1_000_000, NP_("unit", "packets"))
    # Audio holes longer than this are filled with silence so later audio stays in sync.
    audio_gap_s: float = bounded(0.1, 0.0, 3600.0, NP_("unit", "seconds"))
    # Ray: CPUs each proxy task reserves, and extra custom resources it requests, e.g.
    # {transcode = 1} to run proxies only on nodes started with --resources='{"transcode": 8}'.
    cpus_per_task: float = bounded(2.0, 0.01, 1024.0, NP_("unit", "CPUs"))
    resources: dict = field(default_factory=dict)
    # Proxy tasks in flight (0: as many as the cluster's CPUs can run at once, plus one each).
    max_in_flight: int = bounded(0, 0, 100_000, NP_("unit", "tasks"))

    def validate(self) -> None:
        if self.long_side % 2:
            raise ConfigError(_("transcode.long_side: must be an even number of pixels, got {long_side}").format(
                                  long_side=self.long_side))
        presets = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
        if self.preset not in presets:
            raise ConfigError(_("transcode.preset: must be one of {items}, got {preset}").format(
                                  items=', '.join(presets), preset=repr(self.preset)))
        for name, amount in self.resources.items():
            if not isinstance(amount, (int, float)) or isinstance(amount, bool) or not 0 < amount <= 1e9:
                raise ConfigError(_("transcode.resources.{name}: must be a positive number, got {amount}").format(
                                      name=name, amount=repr(amount)))


@dataclass(frozen=True)
class SqlConfig:
    # `fieldrec sql`: DuckDB's memory (beyond it, sorts and joins spill to temp_dir, then fail),
    # threads, and the wall-clock time after which a query is interrupted.
    memory_limit_mb: int = bounded(1024, 16, 1 << 20, NP_("unit", "MiB"))
    threads: int = bounded(2, 1, 256, NP_("unit", "threads"))
    timeout_s: float = bounded(120.0, 0.1, 86_400.0, NP_("unit", "seconds"))
    # Spill folder of its own ("" = a fresh private folder per query, removed afterwards) and
    # the most it may hold.
    temp_dir: str = ""
    max_temp_mb: int = bounded(4096, 0, 1 << 24, NP_("unit", "MiB"))
    # The rows a result may have (they are held in memory to be printed).
    max_rows: int = bounded(1_000_000, 1, 100_000_000, NP_("unit", "rows"))


@dataclass(frozen=True)
class ServiceConfig:
    # `fieldrec serve`: the review service. Sessions end after this long idle, and this long at most.
    session_idle_minutes: int = bounded(30, 1, 7 * 24 * 60, NP_("unit", "minutes"))
    session_max_hours: int = bounded(12, 1, 24 * 31, NP_("unit", "hours"))
    # Sign-in: this many failures for one name or one address within login_window_s lock it
    # out for the rest of the window.
    login_max_failures: int = bounded(5, 1, 1000, NP_("unit", "failures"))
    login_window_s: int = bounded(900, 1, 7 * 86_400, NP_("unit", "seconds"))
    # Roles that see pictures and sound (thumbnails, playback) without a grant; [] = nobody.
    content_roles: tuple[str, ...] = ()
    # A grant lasts at most this many days.
    max_grant_days: int = bounded(30, 1, 3660, NP_("unit", "days"))
    # Seconds a write waits for the archive lock while another command (an ingest) holds it.
    lock_wait_s: float = bounded(3.0, 0.0, 60.0, NP_("unit", "seconds"))
    # Service records (access log, sign-ins, requests) are durable at once in a spool file and
    # committed to the catalog and sealed every this many seconds (access) or at once (decisions).
    flush_every_s: float = bounded(15.0, 1.0, 3600.0, NP_("unit", "seconds"))
    # Written statements attached to explanations: at most this many bytes.
    statement_max_bytes: int = bounded(10 * 1024 * 1024, 1, 1 << 30, NP_("unit", "bytes"))
    # Where exports made through the service are written ("" = ARCHIVE-exports beside the archive).
    export_dir: str = ""
    # Mark cookies Secure (set true behind a TLS reverse proxy, as the README shows).
    cookie_secure: bool = False
    # Rows on a listing page.
    page_rows: int = bounded(200, 1, 100_000, NP_("unit", "rows"))

    def validate(self) -> None:
        from catalog.schema import ROLES

        for role in self.content_roles:
            if role not in ROLES:
                raise ConfigError(_("service.content_roles: unknown role {role} (known: {items})").format(
                                      role=repr(role), items=', '.join(ROLES)))


@dataclass(frozen=True)
class CompactConfig:
    # Merge a table's small part files into large ones sorted for the common reads (`fieldrec
    # compact`), and after every ingest when a table has at least min_parts small parts.
    auto: bool = True
    min_parts: int = bounded(16, 2, 1_000_000, "parts")
    # A compacted part holds at most about this much (Parquet, zstd); parts of half of it or more
    # are left as they are. It also bounds the memory a compaction takes (a few times this).
    part_mb: int = bounded(32, 1, 4096, "MiB")
    # Rows per row group of a compacted part: a read of one device's day skips the other groups.
    row_group_rows: int = bounded(16384, 1024, 16_777_216, "rows")


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
    sql: SqlConfig = field(default_factory=SqlConfig)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    compact: CompactConfig = field(default_factory=CompactConfig)
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
            raise ConfigError(_("{name}: expected a list, got {value}").format(name=name, value=repr(value)))
        (item_type, *_rest) = typing.get_args(hint)
        return tuple(_coerce(f"{name}[{i}]", v, item_type) for i, v in enumerate(value))
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is bool and not isinstance(value, bool):
        raise ConfigError(_("{name}: expected true or false, got {value}").format(name=name, value=repr(value)))
    if isinstance(hint, type) and not isinstance(value, hint):
        raise ConfigError(_("{name}: expected {type}, got {value}").format(
                              name=name, type=hint.__name__, value=repr(value)))
    return value


def _build(cls, section: str, table: dict):
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    values = {}
    for key, value in table.items():
        if key not in known:
            raise ConfigError(_("unknown configuration key '{section}.{key}' (known: {items})").format(
                                  section=section, key=key, items=', '.join(sorted(known))))
        values[key] = _coerce(f"{section}.{key}", value, hints[key])
    try:
        obj = cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[{section}]: {exc}") from exc
    check_bounds(obj, section)
    validate = getattr(obj, "validate", None)
    if validate:
        validate()
    return obj


def _merge(base: dict, over: dict) -> dict:
    """``over`` on top of ``base`` key by key, tables too (a site's [identity.profiles.X] adds to
    the shipped profiles instead of replacing them). Keys new in ``over`` come first: a site's own
    recorder profiles are tried before the shipped ones."""
    out = {k: v for k, v in over.items() if k not in base}
    for key, value in base.items():
        if key in over:
            value = _merge(value, over[key]) if isinstance(value, dict) and isinstance(over[key], dict) else over[key]
        out[key] = value
    return out


SETTINGS_FILE = "fieldrec.toml"   # the archive-owned settings, in the archive's root (archive.chain.SETTINGS)
MAX_CONFIG_BYTES = 1 << 20


def site_language(archive: str | Path, config_file: str | Path | None = None) -> str | None:
    """The language ``archive`` is set to (``site.language``), read before anything else so that
    even ``--help`` speaks it: from its settings file, or, for an archive that stores none yet, from
    the ``--config`` file that will create it. None when neither sets one, or either is unreadable
    (the command itself then says what is wrong)."""
    path = Path(archive) / SETTINGS_FILE
    if not path.is_file():
        if not config_file or not Path(config_file).is_file():
            return None
        path = Path(config_file)
    try:
        language = read_toml(path).get("site", {}).get("language")
    except (ConfigError, AttributeError):
        return None
    return language if isinstance(language, str) and language else None


def read_toml(path: str | Path) -> dict[str, dict]:
    """A configuration file's sections; every way it can be unreadable is a ConfigError naming it."""
    path = Path(path)
    try:
        if path.is_dir():
            raise ConfigError(_("{path} is a folder, not a configuration file: give a .toml file").format(path=path))
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(_("{path} is larger than {limit} bytes: not a configuration file").format(
                path=path, limit=MAX_CONFIG_BYTES))
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(_("configuration file not found: {path}").format(path=path)) from None
    except OSError as exc:
        raise ConfigError(_("cannot read the configuration file {path}: {why}").format(
            path=path, why=exc.strerror or exc)) from None
    except UnicodeDecodeError:
        raise ConfigError(_("{path}: not UTF-8 text; save the configuration as UTF-8").format(path=path)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_("{path}: not valid TOML: {exc}").format(path=path, exc=exc)) from None
    for section, table in data.items():
        if not isinstance(table, dict):
            raise ConfigError(_("{path}: '{section}' must be a [section]").format(path=path, section=section))
    return data


def section_types() -> dict[str, type]:
    hints = typing.get_type_hints(Config)
    return {name: hint for name, hint in hints.items() if name != "source"}


def archive_sections() -> tuple[str, ...]:
    """The sections that belong to an archive rather than to one run."""
    return tuple(name for name, cls in section_types().items() if getattr(cls, "ARCHIVE_OWNED", False))


def load_config(path: str | Path | None = None, *, archive_settings: dict[str, dict] | None = None,
                archive_name: str = "the archive") -> Config:
    """The defaults, then an archive's own settings, then the file ``path`` (key by key).

    ``archive_settings`` are the archive-owned sections stored in the archive (None for no archive,
    or one that stores none yet). ``path`` may set any key of a run's own sections; a key of an
    archive-owned section it may only repeat: a different value is refused, naming the key, because
    it would change what the archive means for one run only.
    """
    types_ = section_types()
    merged: dict[str, dict] = {}
    for section, table in read_toml(DEFAULT_CONFIG).items():
        merged.setdefault(section, {}).update(table)
    for section, table in (archive_settings or {}).items():
        if section not in types_ or not getattr(types_[section], "ARCHIVE_OWNED", False):
            raise ConfigError(_("{archive}: [{section}] is not a section an archive stores").format(
                archive=archive_name, section=section))
        merged.setdefault(section, {}).update(table)
    override = read_toml(path) if path else {}
    for section in merged.keys() | override.keys():
        if section not in types_:
            raise ConfigError(_("unknown configuration section [{section}]").format(section=section))
    if archive_settings is not None:
        _refuse_archive_changes(override, merged, types_, archive_name)
    for section, table in override.items():
        merged[section] = _merge(merged.get(section, {}), table)
    kwargs = {section: _build(types_[section], section, table) for section, table in merged.items()}
    source = " + ".join([str(DEFAULT_CONFIG)] + ([f"{archive_name}/fieldrec.toml"] if archive_settings else [])
                        + ([str(path)] if path else []))
    return Config(**kwargs, source=source)


def _refuse_archive_changes(override: dict, archive: dict, types_: dict, archive_name: str) -> None:
    for section, table in override.items():
        if not getattr(types_[section], "ARCHIVE_OWNED", False):
            continue
        hints = typing.get_type_hints(types_[section])
        for key, value in table.items():
            if key not in hints:
                continue                   # reported as an unknown key when the section is built
            stored = archive.get(section, {}).get(key)
            if isinstance(stored, dict) and isinstance(value, dict):
                value = _merge(stored, value)          # repeating some of a table's entries changes nothing
            if stored is None or _coerce(key, value, hints[key]) != _coerce(key, stored, hints[key]):
                raise ConfigError(_(
                    "{key} belongs to {archive} (its fieldrec.toml holds {stored}); a --config file may not "
                    "change it for one run. Change it for the archive with `fieldrec config set {key} VALUE "
                    "--by NAME --reason TEXT`").format(key=f"{section}.{key}", archive=archive_name,
                                                       stored=repr(stored)))
