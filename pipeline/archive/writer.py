"""A writing run: the one way a command writes to an archive.

``with writing_run(archive, config, "case open C1") as run:`` holds the archive's lock, uses the
archive's own settings (refusing an archive whose settings file is not the sealed one), opens the
run's intent journal and has every catalog commit recorded in it before it becomes visible,
stores the settings of an archive that has none yet, and at the end of the block seals exactly
what the run (and any run that died before its seal) recorded, appending the new head to every
witness. Part files a compaction replaced are removed after that seal, and a compaction that died
before its seal is undone when the next run starts (``pipeline.archive.compact.recover``). If the block fails, nothing is sealed and the journal stays for the next run to adopt.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from catalog.store import Catalog, observe_commits
from pipeline.archive import chain, compact, settings
from pipeline.archive.intent import Journal
from pipeline.archive.lock import ArchiveBusy, ArchiveLock
from pipeline.archive.outside import InsideArchive, check_outside
from pipeline.common.clock import new_id
from pipeline.common.errors import ArchiveWriteError
from pipeline.config import Config, ConfigError
from pipeline.common.i18n import _


@dataclass
class WritingRun:
    archive: Path
    run_id: str
    command: str
    config: Config                     # with the archive's own settings (`config set` replaces it)
    catalog: Catalog
    journal: Journal
    created_objects: set[str] = field(default_factory=set)   # objects this run stored itself
    sealed: chain.Sealed | None = None


def _signing_config(config: Config, need_signer: bool) -> Config:
    """Check the keys before anything is written; a run that only records an audit (``need_signer``
    False) seals unsigned on a host without the private key."""
    integrity = config.integrity
    try:
        integrity.check_keys()
    except ConfigError:
        if need_signer or not integrity.signing_key or Path(integrity.signing_key).expanduser().is_file():
            raise
        return dataclasses.replace(config, integrity=dataclasses.replace(integrity, signing_key=""))
    return config


def _check_witnesses(archive: Path, config: Config) -> None:
    for path in config.integrity.witness_paths:
        try:
            check_outside(Path(path), archive)
        except InsideArchive:
            raise ConfigError(_("integrity.witness_paths: {path} is inside the archive; a witness must be where "
                                "whoever can change the archive cannot (another disk, a share)").format(path=path)
                              ) from None


def _lock(archive: Path, purpose: str, wait_s: float) -> ArchiveLock:
    end = time.monotonic() + wait_s
    while True:
        lock = ArchiveLock(archive, purpose)
        try:
            return lock.__enter__()
        except ArchiveBusy:
            if time.monotonic() >= end:
                raise
            time.sleep(min(0.2, max(0.01, end - time.monotonic())))


@contextmanager
def writing_run(archive: Path, config: Config, command: str, *, run_id: str | None = None, adopt: bool = True,
                need_signer: bool = True, wait_s: float = 0.0, own_settings: bool = True,
                warn: Callable[[str], None] = lambda m: print(_("fieldrec: warning: {message}").format(message=m),
                                                              file=sys.stderr)
                ) -> Iterator[WritingRun]:
    """Hold ``archive`` for one run of ``command``; seal what it recorded when the block succeeds.

    Raises ``ArchiveBusy`` (another writer), ``ArchiveWriteError`` (not writable),
    ``settings.SettingsNotSealed``, ``ConfigError`` (a key or witness that cannot be used).
    Only an audit recording its findings passes ``own_settings=False``: it writes even into an
    archive whose settings file was tampered with (that is one of its findings), as ``config`` says.
    """
    archive = Path(archive)
    run_id = run_id or new_id(command.split()[0])
    lock = _lock(archive, f"{command} {run_id}", wait_s)
    try:
        if own_settings:
            settings.check_sealed(archive)
            config = settings.effective(archive, config)
        config = _signing_config(config, need_signer)
        _check_witnesses(archive, config)
        fsync = config.ingest.fsync
        try:
            new_archive = not chain.manifest_paths(archive)
            catalog = Catalog(archive, fsync=fsync).create()
            compact.recover(archive, catalog)          # a compaction killed mid-way: finished or undone
            journal = Journal(archive, run_id, command, signer=chain.signer_for(config), fsync=fsync).open()
        except OSError as exc:
            raise ArchiveWriteError(exc.errno, _("cannot write to the archive: {why}").format(why=exc.strerror),
                                    exc.filename or str(archive)) from None
        run = WritingRun(archive, run_id, command, config, catalog, journal)
        with observe_commits(archive, journal.record):
            if own_settings and settings.stored(archive) is None:
                settings.first_write(archive, config, journal, catalog,
                                     new_archive=new_archive and not chain.catalog_parts(archive))
            try:
                yield run
            except BaseException:
                if journal.entries:
                    journal.close()           # left for the next run to adopt what was committed
                else:
                    journal.remove()          # refused or failed before writing anything
                raise
        # run.config: a settings change seals with the settings it made (its new key, its witnesses).
        run.sealed = chain.seal(archive, run_id, run.config, command=command, journal=journal,
                                created_objects=run.created_objects, adopt=adopt)
        journal.remove()
        # Parts this run's compaction replaced go only now that the manifest lists their successors.
        compact.recover(archive, catalog)
        for problem in run.sealed.witness_problems if run.sealed else ():
            warn(_("{problem}; `fieldrec verify` reports the witness as behind until a later seal reaches "
                   "it").format(problem=problem))
    finally:
        lock.__exit__(None, None, None)
