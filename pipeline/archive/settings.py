"""The archive's own settings: what the archive means, stored in it and sealed by its chain.

``ARCHIVE/fieldrec.toml`` (read-only) holds every archive-owned section of the configuration in
full (``pipeline.config.archive_sections``: naming, gaps, retention, compliance, integrity with
signing and witnesses, and any section marked ``ARCHIVE_OWNED`` later). Every command reads it:
a ``--config`` file may only repeat its values. It is written by the run that creates the
archive (from the configuration that run was given); an archive made before settings were
stored gets it from its first writing run, which records that it adopted them. After that it
changes only through ``fieldrec config set``, which records who changed which key, from what
to what and why (table ``settings_changes``). Each version is listed by the manifest of the run
that wrote it (``settings`` in the manifest); a writing command refuses an archive whose
settings file is not the version its chain sealed.
"""

from __future__ import annotations

import dataclasses
import getpass
import hashlib
import json
import socket
from pathlib import Path

import tomli_w

from catalog.store import Catalog
from pipeline.archive import chain
from pipeline.archive.intent import Journal, read_intents
from pipeline.archive.publish import write_atomic
from pipeline.common.clock import new_id, now_utc
from pipeline.config import Config, ConfigError, archive_sections, load_config, read_toml
from pipeline.native.hashing import sha256_path
from pipeline.common.i18n import _

FILE = chain.SETTINGS
PATH_KEYS = {"integrity": ("signing_key", "verify_key", "witness_paths")}


class SettingsNotSealed(RuntimeError):
    """The settings file is not the one the chain sealed: edited, replaced or planted by hand."""


def stored(archive: Path) -> dict[str, dict] | None:
    """The archive-owned sections stored in ``archive``; None when it stores none (a new archive,
    or one made before settings were stored)."""
    path = Path(archive) / FILE
    return read_toml(path) if path.is_file() else None


def load(archive: Path | None, override: Path | None = None) -> Config:
    """The configuration a command uses on ``archive``: defaults, the archive's settings, then the
    run knobs of ``override`` (which may not change an archive-owned key)."""
    settings = stored(archive) if archive is not None else None
    return load_config(override, archive_settings=settings, archive_name=str(archive))


def effective(archive: Path, config: Config) -> Config:
    """``config`` with its archive-owned sections replaced by the archive's own (when it stores them)."""
    settings = stored(archive)
    if settings is None:
        return config
    own = load_config(None, archive_settings=settings, archive_name=str(archive))
    return dataclasses.replace(config, **{name: getattr(own, name) for name in archive_sections()})


def values(config: Config) -> dict[str, dict]:
    """The archive-owned sections of ``config`` as plain TOML-ready values, paths made absolute (a
    stored relative path would mean something else in every working folder)."""
    out = {}
    for name in archive_sections():
        section = dataclasses.asdict(getattr(config, name))
        for key in PATH_KEYS.get(name, ()):
            value = section[key]
            if isinstance(value, (list, tuple)):
                section[key] = [str(Path(v).expanduser().resolve()) for v in value]
            elif value:
                section[key] = str(Path(value).expanduser().resolve())
        # TOML has no null: an unset optional key is left out, as in a configuration file
        out[name] = {k: list(v) if isinstance(v, tuple) else v for k, v in section.items() if v is not None}
    return out


def render(config: Config) -> bytes:
    head = ("# This archive's settings: what its records mean. Written by fieldrec, sealed by the manifest\n"
            "# chain; change them only with `fieldrec config set KEY VALUE --by NAME --reason TEXT`.\n\n")
    return (head + tomli_w.dumps(values(config))).encode("utf-8")


def check_sealed(archive: Path) -> None:
    """Raise ``SettingsNotSealed`` unless the settings file (if any) is the version the chain
    sealed last, or one a run that died before sealing recorded."""
    path = Path(archive) / FILE
    sealed = chain.sealed_settings(archive) or {"sha256": None, "manifest": None}
    if not path.is_file():
        if sealed["sha256"]:
            raise SettingsNotSealed(_("{path} is missing, although {manifest} sealed it: it was deleted. Run "
                                      "`fieldrec verify` and restore it from a copy").format(
                path=path, manifest=sealed["manifest"]))
        return
    actual = sha256_path(path)
    if actual == sealed["sha256"]:
        return
    recorded = {e.sha256 for i in read_intents(archive) for e in i.entries if e.path == FILE}
    if actual in recorded:
        return                                # written by a run that died before its seal
    where = (_("last sealed in {manifest}").format(manifest=sealed["manifest"]) if sealed["manifest"]
             else _("never sealed"))
    raise SettingsNotSealed(_("{path} is not the settings file the manifest chain sealed ({where}): it was edited "
                              "or put there by hand. Nothing was written; run `fieldrec verify`, and change "
                              "settings only with `fieldrec config set`").format(path=path, where=where))


def write(archive: Path, config: Config, journal: Journal, *, fsync: bool = True) -> str:
    """Write ``config``'s archive-owned sections as the settings file; its SHA-256."""
    data = render(config)
    sha = hashlib.sha256(data).hexdigest()
    journal.record([(FILE, sha, len(data))])
    write_atomic(Path(archive) / FILE, data, fsync=fsync, mode=0o444)
    return sha


def first_write(archive: Path, config: Config, journal: Journal, catalog: Catalog, *, new_archive: bool) -> None:
    """Store the settings of an archive that has none: created with it, or adopted by an older one."""
    sha = write(archive, config, journal, fsync=catalog.fsync)
    event = "created" if new_archive else "adopted"
    reason = ("the archive was created with these settings" if new_archive else
              "this archive was made before fieldrec stored settings in it: the settings of its first writing "
              "run since (the defaults, and any --config it was given) were adopted")
    catalog.commit({"settings_changes": [change_row(journal.run_id, "*", None, values(config), event,
                                                    f"{getpass.getuser()}@{socket.gethostname()}", reason, sha)]},
                   tag=journal.run_id)


def change_row(run_id: str, key: str, old, new, event: str, by: str, reason: str, sha: str) -> dict:
    return {"change_id": new_id("setting"), "run_id": run_id, "key": key,
            "old_value": None if old is None else json.dumps(old, sort_keys=True),
            "new_value": None if new is None else json.dumps(new, sort_keys=True),
            "event": event, "by": by, "reason": reason, "at": now_utc(), "host": socket.gethostname(),
            "settings_sha256": sha}


def parse_value(text: str):
    """A value typed on the command line: TOML (``6``, ``true``, ``["CAM1=+08:00"]``, ``"x"``), or
    else the text itself as a string."""
    import tomllib

    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def with_value(settings: dict[str, dict], key: str, value) -> tuple[dict[str, dict], object]:
    """``settings`` with ``section.name`` set to ``value`` (checked by building the configuration);
    also the old value. ConfigError for a key that is not an archive setting or a bad value."""
    section, _dot, name = key.partition(".")
    if section not in archive_sections():
        raise ConfigError(_("{key} is not an archive setting; archive settings are the keys of {sections} (run "
                            "knobs go in a --config file)").format(
            key=repr(key), sections=", ".join(f"[{s}]" for s in archive_sections())))
    if name not in settings.get(section, {}):
        raise ConfigError(_("no setting {key} (known in [{section}]: {known})").format(
            key=repr(key), section=section, known=", ".join(sorted(settings[section]))))
    changed = {s: dict(t) for s, t in settings.items()}
    old = changed[section][name]
    changed[section][name] = value
    load_config(None, archive_settings=changed, archive_name="the new settings")   # bounds, types, floors
    return changed, old
