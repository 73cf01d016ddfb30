"""Catalog reads and atomic multi-table commits of Parquet part files.

A commit writes every table's new part as a hidden temporary file, fsyncs it, then writes a
journal naming the renames and renames the journal into place: that rename is the commit point.
The parts are then renamed to their final names and the journal removed. Opening a catalog
replays any journal left by a crash, so a commit is either wholly visible or not at all, and
stray temporaries of an uncommitted batch are deleted. Nothing ever overwrites a part file.

A process writing an archive as one run registers an observer (``observe_commits``): every commit
to that archive's catalog reports its parts (path, SHA-256, size) to it before the commit point,
so the run's intent journal names each part before it can be seen (see
``pipeline.archive.intent``). If the observer fails, the commit does not happen.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from catalog.schema import SCHEMA_VERSION, TABLES

JOURNAL_DIR = "_journal"

# realpath of an archive -> what its writing run does with each commit's (path, sha256, size) list
_OBSERVERS: dict[str, Callable[[list[tuple[str, str, int]]], None]] = {}


@contextmanager
def observe_commits(archive: Path, observer: Callable[[list[tuple[str, str, int]]], None]) -> Iterator[None]:
    """Report every catalog commit to ``archive`` made in this process to ``observer`` while inside."""
    key = os.path.realpath(archive)
    if key in _OBSERVERS:
        raise RuntimeError(f"commits to {archive} are already observed by another run of this process")
    _OBSERVERS[key] = observer
    try:
        yield
    finally:
        _OBSERVERS.pop(key, None)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _digest(path: Path) -> tuple[str, int]:
    with open(path, "rb") as fh:
        digest = hashlib.file_digest(fh, "sha256")
        return digest.hexdigest(), fh.tell()


def to_table(name: str, rows: list[dict] | pa.Table) -> pa.Table:
    """Rows (dicts, missing keys as nulls) as a table of exactly the catalog schema."""
    schema = TABLES[name]
    if isinstance(rows, pa.Table):
        return rows.select(schema.names).cast(schema)
    columns = {f.name: [r.get(f.name) for r in rows] for f in schema}
    return pa.Table.from_pydict(columns, schema=schema)


class Catalog:
    """The Parquet tables under ``ARCHIVE/catalog``."""

    def __init__(self, archive: Path, *, fsync: bool = True):
        self.archive = Path(archive)
        self.root = self.archive / "catalog"
        self.fsync = fsync
        self._seq = 0

    # -- writing -----------------------------------------------------------------------------
    def create(self) -> "Catalog":
        for name in TABLES:
            (self.root / name).mkdir(parents=True, exist_ok=True)
        (self.root / JOURNAL_DIR).mkdir(parents=True, exist_ok=True)
        self.recover()
        return self

    def recover(self) -> int:
        """Finish commits whose journal exists; drop temporaries no journal names."""
        journals = sorted((self.root / JOURNAL_DIR).glob("*.json")) if (self.root / JOURNAL_DIR).exists() else []
        named: set[str] = set()
        for journal in journals:
            for tmp, final in json.loads(journal.read_text())["renames"]:
                tmp_path, final_path = self.root / tmp, self.root / final
                if tmp_path.exists():
                    os.replace(tmp_path, final_path)
                named.add(tmp)
            journal.unlink()
        for name in TABLES:
            table_dir = self.root / name
            if table_dir.exists():
                for stray in table_dir.glob(".part-*.tmp"):
                    stray.unlink()
        for stray in (self.root / JOURNAL_DIR).glob(".*.tmp") if (self.root / JOURNAL_DIR).exists() else []:
            stray.unlink()
        return len(journals)

    def commit(self, batches: Mapping[str, list[dict] | pa.Table], *, tag: str) -> list[Path]:
        """Make the rows of several tables visible together, or not at all.

        ``tag`` names the part files (``part-<tag>-<n>.parquet``): unique per writer.
        """
        tables = {name: to_table(name, rows) for name, rows in batches.items()}
        tables = {name: t for name, t in tables.items() if t.num_rows}
        if not tables:
            return []
        self._seq += 1
        stem = f"part-{tag}-{self._seq:05d}-{uuid.uuid4().hex[:6]}"
        renames = []
        journal_dir = self.root / JOURNAL_DIR
        journal_tmp = journal_dir / f".{stem}.json.tmp"
        journal = journal_dir / f"{stem}.json"
        try:
            for name, table in tables.items():
                (self.root / name).mkdir(parents=True, exist_ok=True)
                tmp = f"{name}/.{stem}.parquet.tmp"
                final = f"{name}/{stem}.parquet"
                renames.append((tmp, final))
                self._write_parquet(table, self.root / tmp)
            observer = _OBSERVERS.get(os.path.realpath(self.archive))
            if observer is not None:
                observer([(f"catalog/{final}", *_digest(self.root / tmp)) for tmp, final in renames])
            journal_dir.mkdir(parents=True, exist_ok=True)
            with open(journal_tmp, "w") as fh:
                json.dump({"renames": renames, "schema_version": SCHEMA_VERSION}, fh)
                fh.flush()
                if self.fsync:
                    os.fsync(fh.fileno())
            os.replace(journal_tmp, journal)          # the commit point
        except BaseException:
            for tmp, _ in renames:                    # not committed: leave no half-written file behind
                (self.root / tmp).unlink(missing_ok=True)
            journal_tmp.unlink(missing_ok=True)
            raise
        if self.fsync:
            fsync_dir(journal_dir)
        for tmp, final in renames:
            os.replace(self.root / tmp, self.root / final)
        if self.fsync:
            for name in tables:
                fsync_dir(self.root / name)
        journal.unlink()
        return [self.root / final for _, final in renames]

    def _write_parquet(self, table: pa.Table, path: Path) -> None:
        with open(path, "wb") as fh:
            pq.write_table(table, fh, compression="zstd", compression_level=3)
            fh.flush()
            if self.fsync:
                os.fsync(fh.fileno())

    # -- reading -----------------------------------------------------------------------------
    def dataset(self, name: str) -> ds.Dataset:
        return ds.dataset(self.root / name, format="parquet", schema=TABLES[name])

    def read(self, name: str, columns: list[str] | None = None, filter=None) -> pa.Table:
        """A whole table (or the named columns) as Arrow; empty with its schema if absent."""
        if not (self.root / name).exists():
            table = TABLES[name].empty_table()
            return table.select(columns) if columns else table
        return self.dataset(name).to_table(columns=columns, filter=filter)

    def rows(self, name: str, columns: list[str] | None = None, filter=None) -> list[dict]:
        return self.read(name, columns, filter).to_pylist()

    def part_files(self) -> Iterable[Path]:
        for name in TABLES:
            yield from sorted((self.root / name).glob("*.parquet"))
