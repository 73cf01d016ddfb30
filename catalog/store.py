"""Catalog reads and atomic multi-table commits of Parquet part files.

A commit writes every table's new part as a hidden temporary file, fsyncs it, then writes a
journal naming the renames and renames the journal into place: that rename is the commit point.
The parts are then renamed to their final names and the journal removed. Opening a catalog
replays any journal left by a crash, so a commit is either wholly visible or not at all, and
stray temporaries of an uncommitted batch are deleted. Nothing ever overwrites a part file.

A compaction replaces parts by others holding the same rows (``swap``): the new parts are written
under hidden names, reported to the observer, and a swap record (``_journal/<stem>.swap``) naming
the parts replaced and the parts replacing them is written before the new parts are renamed into
place. While a swap record is there, readers (``visible_parts``) read the old parts until every new
one is in place and the new ones after: never both, never neither. Whether a swap is finished
(old parts removed) or undone (new parts removed) is decided by the archive's writer, which knows
whether the new parts were sealed (``pipeline.archive.compact``).

A process writing an archive as one run registers an observer (``observe_commits``): every commit
to that archive's catalog reports its parts (path, SHA-256, size) to it before the commit point,
so the run's intent journal names each part before it can be seen (see
``pipeline.archive.intent``). If the observer fails, the commit does not happen.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Mapping, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from catalog.schema import SCHEMA_VERSION, TABLES
from catalog.durable import fsync_dir, sync_together  # noqa: F401  (fsync_dir re-exported: callers import it from here)

# Arrow's datasets (and with them its compute functions: a tenth of a second) only once a table is
# read: a run that writes first and reads nothing yet (a new archive's first ingest) starts without.
if TYPE_CHECKING:
    import pyarrow.dataset as ds

JOURNAL_DIR = "_journal"
SWAP_SUFFIX = ".swap"
SWAP_FORMAT = "fieldrec-swap/1"
# A part vanishing under a reader (a compaction finishing) makes it list and read again.
READ_ATTEMPTS = 20
T = TypeVar("T")

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


def _digest(path: Path) -> tuple[str, int]:
    with open(path, "rb") as fh:
        digest = hashlib.file_digest(fh, "sha256")
        return digest.hexdigest(), fh.tell()


def is_part_name(name: str) -> bool:
    """A visible part file's name (temporaries are hidden and end in .tmp)."""
    return name.endswith(".parquet") and not name.startswith((".", "_"))


@dataclass(frozen=True)
class Swap:
    """A swap record: in ``table``, the parts ``replaced`` give way to the parts ``by`` (file names)."""
    path: Path
    table: str
    run_id: str
    replaced: tuple[str, ...]
    by: tuple[str, ...]

    def hidden(self, present: set[str]) -> set[str]:
        """The names readers leave out of ``present``: the old parts once every new one is in place,
        else the new ones (a swap half done, or being undone)."""
        return set(self.replaced) if set(self.by) <= present else set(self.by)


@dataclass(frozen=True)
class Staged:
    """A part written under a hidden name, waiting for ``Catalog.swap``."""
    table: str
    name: str                     # its final name in the table's folder
    tmp: Path
    sha256: str
    size: int
    rows: int


RUN_COUNTS_NOTE = "fieldrec.run_counts"      # a merged part's footer: its rows per run, JSON [[run id or null, rows], ...]


def to_table(name: str, rows: list[dict] | pa.Table) -> pa.Table:
    """Rows (dicts, missing keys as nulls) as a table of exactly the catalog schema."""
    schema = TABLES[name]
    if isinstance(rows, pa.Table):
        # A part written before a column existed lacks it: null there, as a reader of the table sees it.
        missing = [f for f in schema if f.name not in rows.column_names]
        for f in missing:
            rows = rows.append_column(f.name, pa.nulls(rows.num_rows, f.type))
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

    # -- replacing parts (compaction) --------------------------------------------------------
    def stage(self, table: str, rows: pa.Table, *, tag: str, row_group_rows: int | None = None,
              notes: dict[str, str] | None = None) -> Staged:
        """Write ``rows`` as a new part of ``table`` under a hidden name (synced); ``swap`` puts it in
        place. A staged part no swap takes is a stray temporary, removed by ``recover``. ``notes``:
        key-value metadata for the file's footer (what a reader may take instead of reading a column)."""
        self._seq += 1
        name = f"part-{tag}-{self._seq:05d}-{uuid.uuid4().hex[:6]}.parquet"
        tmp = self.root / table / f".{name}.tmp"
        tmp.parent.mkdir(parents=True, exist_ok=True)
        try:
            written = to_table(table, rows)
            if notes:
                written = written.replace_schema_metadata({**(written.schema.metadata or {}),
                                                           **{k.encode(): v.encode() for k, v in notes.items()}})
            self._write_parquet(written, tmp, row_group_rows)
            sha, size = _digest(tmp)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return Staged(table, name, tmp, sha, size, rows.num_rows)

    def swap(self, table: str, replaced: list[str], staged: list[Staged], *, run_id: str) -> Swap:
        """Put the ``staged`` parts in place of the part files ``replaced`` (names in the table's
        folder), which stay on disk, hidden from readers, until ``finish_swap``.

        The new parts are reported to the commit observer (the run's intent journal) and named in a
        swap record before they are renamed into place.
        """
        folder = self.root / table
        record = self.root / JOURNAL_DIR / f"{staged[0].name[:-len('.parquet')]}{SWAP_SUFFIX}"
        try:
            observer = _OBSERVERS.get(os.path.realpath(self.archive))
            if observer is not None:
                observer([(f"catalog/{table}/{s.name}", s.sha256, s.size) for s in staged])
            body = {"format": SWAP_FORMAT, "table": table, "run_id": run_id, "replaced": list(replaced),
                    "by": [s.name for s in staged]}
            _write_synced(record, json.dumps(body, sort_keys=True).encode(), self.fsync)
        except BaseException:
            for s in staged:
                s.tmp.unlink(missing_ok=True)
            raise
        for s in staged:
            os.replace(s.tmp, folder / s.name)
        if self.fsync:
            fsync_dir(folder)
        return Swap(record, table, run_id, tuple(replaced), tuple(s.name for s in staged))

    def swaps(self) -> list[Swap]:
        """The swap records present (finished, undone or not, until ``forget_swap``)."""
        folder = self.root / JOURNAL_DIR
        out = []
        for path in sorted(folder.glob(f"*{SWAP_SUFFIX}")) if folder.is_dir() else []:
            try:
                body = json.loads(path.read_bytes())
                out.append(Swap(path, str(body["table"]), str(body["run_id"]),
                                tuple(map(str, body["replaced"])), tuple(map(str, body["by"]))))
            except FileNotFoundError:
                continue                     # forgotten while we listed
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise OSError(f"unreadable swap record {path}: {exc}") from None
        return out

    def finish_swap(self, swap: Swap) -> None:
        """Remove the replaced parts (their rows are in the new, sealed parts), then the record."""
        self._unlink_parts(swap.table, swap.replaced)
        self.forget_swap(swap)

    def undo_swap(self, swap: Swap) -> None:
        """Remove the new parts (never sealed) and the record: the old parts are read again."""
        self._unlink_parts(swap.table, swap.by)
        self.forget_swap(swap)

    def forget_swap(self, swap: Swap) -> None:
        swap.path.unlink(missing_ok=True)
        if self.fsync:
            fsync_dir(swap.path.parent)

    def _unlink_parts(self, table: str, names: Iterable[str]) -> None:
        folder = self.root / table
        for name in names:
            (folder / name).unlink(missing_ok=True)
        if self.fsync and folder.is_dir():
            fsync_dir(folder)

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
                self._write_parquet(table, self.root / tmp, sync=False)
            observer = _OBSERVERS.get(os.path.realpath(self.archive))
            observed = [(f"catalog/{final}", *_digest(self.root / tmp)) for tmp, final in renames] if observer else []
            journal_dir.mkdir(parents=True, exist_ok=True)
            with open(journal_tmp, "w") as fh:
                json.dump({"renames": renames, "schema_version": SCHEMA_VERSION}, fh)
            # The parts, this journal and the observer's note (the run's intent) are synced together,
            # and all are on disk before the commit point.
            tell = (lambda: observer(observed)) if observer is not None else None
            if self.fsync:
                sync_together([*(self.root / tmp for tmp, _ in renames), journal_tmp], meanwhile=tell)
            elif tell is not None:
                tell()
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
            sync_together([self.root / name for name in tables])
        journal.unlink()
        return [self.root / final for _, final in renames]

    def _write_parquet(self, table: pa.Table, path: Path, row_group_rows: int | None = None, *,
                       sync: bool = True) -> None:
        with open(path, "wb") as fh:
            pq.write_table(table, fh, compression="zstd", compression_level=3, row_group_size=row_group_rows)
            fh.flush()
            if sync and self.fsync:
                os.fsync(fh.fileno())

    # -- reading -----------------------------------------------------------------------------
    def visible_parts(self, name: str) -> list[Path]:
        """The part files a reader of table ``name`` reads now: every part in its folder, less those
        a swap record hides. The swap records are read before and after the folder is listed, and
        the folder listed again if they changed meanwhile, so a listing never mixes the two sides
        of a swap."""
        folder = self.root / name
        for _attempt in range(READ_ATTEMPTS):
            before = self.swaps()
            try:
                present = {entry.name for entry in os.scandir(folder) if is_part_name(entry.name)}
            except FileNotFoundError:
                return []
            if self.swaps() == before:
                break
            time.sleep(0.01)
        for swap in before:
            if swap.table == name:
                present -= swap.hidden(present)
        return [folder / n for n in sorted(present)]

    def dataset(self, name: str) -> ds.Dataset:
        """The table as a pyarrow dataset over its visible parts (read it soon: a compaction may
        remove a part; ``read`` lists and reads again when that happens)."""
        import pyarrow.dataset as ds

        return ds.dataset([str(p) for p in self.visible_parts(name)], format="parquet", schema=TABLES[name])

    def read(self, name: str, columns: list[str] | None = None, filter=None) -> pa.Table:
        """A whole table (or the named columns) as Arrow; empty with its schema if absent."""
        return self.relisting(lambda: self.dataset(name).to_table(columns=columns, filter=filter))

    def relisting(self, read: Callable[[], T]) -> T:
        """``read()``, which lists a table's parts and reads them, done again when a part it listed
        was removed before it was read (a compaction finished meanwhile)."""
        for attempt in range(READ_ATTEMPTS):
            try:
                return read()
            except FileNotFoundError:
                if attempt + 1 == READ_ATTEMPTS:
                    raise
                time.sleep(0.01 * (attempt + 1))       # a part removed under us: list again
        raise AssertionError("unreachable")

    def rows(self, name: str, columns: list[str] | None = None, filter=None) -> list[dict]:
        return self.read(name, columns, filter).to_pylist()

    def part_files(self) -> Iterable[Path]:
        for name in TABLES:
            yield from self.visible_parts(name)


class PartCache:
    """Parts of tables held in memory, so that a later read of a table reads only the parts added
    since: a part is never rewritten (new rows are a new part; a compaction's parts have new
    names), so a part read before holds the same rows now. ``read`` gives what ``Catalog.read``
    gives (every visible part, in listing order). Filled by one thread while another reads: the
    worst a race costs is a part read twice."""

    def __init__(self) -> None:
        self._parts: dict[tuple, dict[str, pa.Table]] = {}      # (archive, table) -> part name -> rows

    def keep(self, catalog: Catalog, name: str, columns: list[str], paths: list[Path]) -> None:
        """Hold these parts of ``name`` (``columns``), and no other."""
        self._parts[(str(catalog.archive), name)] = dict(zip((p.name for p in paths),
                                                             _scanned(name, paths, columns)))

    def read(self, catalog: Catalog, name: str, columns: list[str], filter=None) -> pa.Table:
        """``catalog.read(name, columns, filter)``: the parts held (with every column asked and
        filtered on) taken from memory, filtered here; every other part read in one scan. Read
        without a filter, the parts read are held too, and only the parts listed now stay held (a
        compaction's replaced ones go)."""
        return catalog.relisting(lambda: self._read(catalog, name, list(columns), filter))

    def _read(self, catalog: Catalog, name: str, columns: list[str], filter) -> pa.Table:
        key = (str(catalog.archive), name)
        held = self._parts.get(key, {})
        paths = catalog.visible_parts(name)
        tables: dict[str, pa.Table] = {}
        for path in paths:
            table = held.get(path.name)
            if table is not None and set(columns) <= set(table.column_names):
                try:
                    tables[path.name] = (table.filter(filter) if filter is not None else table).select(columns)
                except (pa.ArrowInvalid, KeyError):         # filtered on a column not held
                    pass
        others = [p for p in paths if p.name not in tables]
        tables.update(zip((p.name for p in others), _scanned(name, others, columns, filter)))
        if filter is None:
            self._parts[key] = {p.name: held.get(p.name, tables[p.name]) for p in paths}
        if not paths:
            return TABLES[name].empty_table().select(columns)
        return pa.concat_tables([tables[p.name] for p in paths])


def _scanned(name: str, paths: list[Path], columns: list[str], filter=None) -> list[pa.Table]:
    """Each of these parts of ``name`` (``columns``, the rows ``filter`` keeps), read in one scan
    (a scan's start costs as much as a small part's read)."""
    import pyarrow.dataset as ds

    if not paths:
        return []
    scanner = ds.dataset([str(p) for p in paths], format="parquet", schema=TABLES[name]).scanner(
        columns=columns, filter=filter)
    batches: dict[str, list] = {}
    for tagged in scanner.scan_batches():
        batches.setdefault(Path(tagged.fragment.path).name, []).append(tagged.record_batch)
    return [pa.Table.from_batches(batches.get(p.name, []), scanner.projected_schema) for p in paths]


def read_through(catalog: Catalog, cache: PartCache | None, name: str, columns: list[str], filter=None) -> pa.Table:
    """``catalog.read(name, columns, filter)``, through ``cache`` when there is one."""
    return cache.read(catalog, name, columns, filter) if cache is not None else \
        catalog.read(name, columns, filter=filter)


def _write_synced(path: Path, data: bytes, fsync: bool) -> None:
    """``data`` as ``path``, whole (hidden temporary, synced, renamed, folder synced)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as fh:
            fh.write(data)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if fsync:
        fsync_dir(path.parent)
