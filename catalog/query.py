"""Read-only SQL over the catalog with DuckDB: every table a view, nothing written, nothing fetched.

Each ``ARCHIVE/catalog/<table>/`` folder with part files becomes a view over
``read_parquet([its parts], union_by_name=true)`` (older parts may lack newer columns): the parts a
reader reads now, never both sides of a compaction's swap (``Catalog.visible_parts``). Known tables
without parts yet are empty views of their schema. Private tables (password hashes) are no views. Then DuckDB is locked down: file access only
under those folders, no extensions installed or loaded, configuration frozen; and only
``SELECT`` / ``EXPLAIN`` statements run, so ``COPY ... TO`` cannot drop a file into the catalog.

A query is also bounded (``Limits``): DuckDB's memory and threads, a spill folder of its own (not
DuckDB's default ``.tmp`` under the current folder, which queries could read) with a size cap,
a wall-clock timeout after which the query is interrupted, and a cap on the rows it may return
(the result is held in memory to be printed).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from catalog.schema import PRIVATE_TABLES, TABLES
from catalog.store import Catalog
from pipeline.common.i18n import _

READ_ONLY_STATEMENTS = ("SELECT", "EXPLAIN")


class QueryError(ValueError):
    """The SQL is not allowed here, or DuckDB could not run it (message from DuckDB)."""


class QueryStopped(RuntimeError):
    """The query ran into one of its limits and was stopped: ``limit`` names the ``Limits`` field
    (timeout_s, memory_limit_mb, max_rows, temp_dir), ``detail`` what DuckDB or the system said."""

    def __init__(self, limit: str, detail: str = ""):
        super().__init__(f"stopped by sql.{limit}" + (f": {detail}" if detail else ""))
        self.limit, self.detail = limit, detail


@dataclass(frozen=True)
class Limits:
    memory_limit_mb: int = 1024
    threads: int = 2
    timeout_s: float = 120.0
    temp_dir: str = ""              # "" = a fresh private folder, removed after the query
    max_temp_mb: int = 4096
    max_rows: int = 1_000_000


@dataclass(frozen=True)
class CatalogTable:
    name: str
    folder: Path
    files: tuple[Path, ...]          # the part files a reader reads now (``Catalog.visible_parts``)

    @property
    def parts(self) -> int:
        return len(self.files)


def catalog_tables(archive: Path) -> list[CatalogTable]:
    """Tables present under ``ARCHIVE/catalog`` (any folder with part files), by name."""
    root = Path(archive) / "catalog"
    catalog = Catalog(archive)
    found = []
    if root.is_dir():
        for folder in sorted(root.iterdir()):
            if folder.is_dir() and not folder.name.startswith(("_", ".")) and folder.name not in PRIVATE_TABLES:
                files = tuple(p.resolve() for p in catalog.visible_parts(folder.name))
                if files:
                    found.append(CatalogTable(folder.name, folder.resolve(), files))
    return found


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def connect(archive: Path, limits: Limits = Limits(), spill: Path | None = None,
            tables: list[CatalogTable] | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with one view per catalog table, locked to reading those files, within
    ``limits`` (spilling into ``spill``). ``tables``: as ``catalog_tables`` listed them just now."""
    archive = Path(archive)
    if not (archive / "catalog").is_dir():
        raise QueryError(_("{archive} has no catalog/ folder: is it a fieldrec archive?").format(
                             archive=archive))
    con = duckdb.connect(":memory:")
    con.execute("SET enable_progress_bar=false")     # stdout carries the output alone
    con.execute("SET autoinstall_known_extensions=false")
    con.execute("SET autoload_known_extensions=false")
    con.execute(f"SET memory_limit='{int(limits.memory_limit_mb)}MB'")
    con.execute(f"SET threads={int(limits.threads)}")
    if spill is not None:
        con.execute(f"SET temp_directory={_quote_literal(str(spill))}")
        con.execute(f"SET max_temp_directory_size='{int(limits.max_temp_mb)}MB'")
    tables = catalog_tables(archive) if tables is None else tables
    for table in tables:
        files = "[" + ", ".join(_quote_literal(str(f)) for f in table.files) + "]"
        con.execute(f"CREATE VIEW {_quote_ident(table.name)} AS "
                    f"SELECT * FROM read_parquet({files}, union_by_name=true)")
    present = {t.name for t in tables}
    for name, schema in TABLES.items():
        if name not in present and name not in PRIVATE_TABLES:                      # known but still empty: queryable, no rows
            con.register(f"_empty_{name}", schema.empty_table())
            con.execute(f"CREATE VIEW {_quote_ident(name)} AS SELECT * FROM {_quote_ident('_empty_' + name)}")
    allowed = ", ".join(_quote_literal(str(t.folder) + "/") for t in tables)
    con.execute(f"SET allowed_directories=[{allowed}]")
    con.execute("SET enable_external_access=false")
    con.execute("SET lock_configuration=true")
    return con


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> str:
    """The one statement in ``sql`` if it only reads; QueryError otherwise."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(str(exc)) from None
    if len(statements) != 1:
        raise QueryError(_("give exactly one statement (got {n})").format(n=len(statements)))
    kind = statements[0].type.name
    if kind not in READ_ONLY_STATEMENTS:
        raise QueryError(_("only SELECT (and EXPLAIN) statements are allowed: this is a {kind} statement. "
                            "fieldrec sql reads the catalog; it never writes, attaches or loads anything").format(
                             kind=kind))
    return sql


def query(archive: Path, sql: str, limits: Limits = Limits()) -> pa.Table:
    """Run one read-only statement over the catalog of ``archive`` within ``limits``; the result as
    Arrow. Raises ``QueryError`` (refused or invalid SQL) or ``QueryStopped`` (a limit reached)."""
    for attempt in range(3):
        try:
            return _query(archive, sql, limits)
        except _PartGone:
            if attempt == 2:
                raise QueryError("the catalog's part files kept changing while the query ran (a compaction); "
                                 "run it again") from None
    raise AssertionError("unreachable")


class _PartGone(Exception):
    """A part file listed for the query was removed before it was read (a compaction finished)."""


def _query(archive: Path, sql: str, limits: Limits) -> pa.Table:
    own_spill = not limits.temp_dir
    spill = Path(tempfile.mkdtemp(prefix="fieldrec-sql-")) if own_spill else Path(limits.temp_dir)
    tables = catalog_tables(archive) if (Path(archive) / "catalog").is_dir() else None
    try:
        if not own_spill:
            spill.mkdir(parents=True, exist_ok=True)
        con = connect(archive, limits, spill, tables)
    except OSError as exc:
        raise QueryStopped("temp_dir", str(exc.strerror or exc)) from None
    timer = threading.Timer(limits.timeout_s, con.interrupt)
    try:
        check_read_only(con, sql)
        timer.start()
        try:
            reader = con.sql(sql).to_arrow_reader(10_000)
            batches, rows = [], 0
            for batch in reader:
                rows += batch.num_rows
                if rows > limits.max_rows:
                    raise QueryStopped("max_rows")
                batches.append(batch)
            return pa.Table.from_batches(batches, schema=reader.schema)
        except duckdb.InterruptException:
            raise QueryStopped("timeout_s") from None
        except duckdb.OutOfMemoryException as exc:
            raise QueryStopped("memory_limit_mb", str(exc)) from None
        except duckdb.IOException as exc:
            if any(not f.exists() for t in tables or () for f in t.files):
                raise _PartGone() from None
            raise QueryError(str(exc)) from None
        except duckdb.Error as exc:
            raise QueryError(str(exc)) from None
    finally:
        timer.cancel()
        con.close()
        if own_spill:
            shutil.rmtree(spill, ignore_errors=True)


# -- fieldrec's own reads: the listings of a million rows, where DuckDB reads Parquet fastest ----------
class Scan:
    """An in-memory DuckDB for fieldrec's own reads of the catalog (not ``fieldrec sql``): instants
    in UTC, tables in the order their rows are stored (as ``Catalog.read`` gives them)."""

    def __init__(self, archive: Path, threads: int = 2, memory_limit_mb: int = 1024,
                 parts: dict[str, list[Path]] | None = None):
        self.catalog = Catalog(archive)
        self.parts = parts or {}          # tables read from these parts, as listed once, not listed anew
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET enable_progress_bar=false")     # stdout carries the output alone
        self.con.execute("SET autoinstall_known_extensions=false")
        self.con.execute("SET autoload_known_extensions=false")
        self.con.execute(f"SET threads={int(threads)}")
        self.con.execute(f"SET memory_limit='{int(memory_limit_mb)}MB'")
        self.con.execute("SET TimeZone='UTC'")

    def paths(self, table: str) -> list[str]:
        """The table's visible parts (``Catalog.visible_parts``), in the order readers read them (or
        those ``parts`` pins)."""
        pinned = self.parts.get(table)
        return [str(f) for f in (pinned if pinned is not None else self.catalog.visible_parts(table))]

    def files(self, table: str) -> str | None:
        """The table's visible parts as a DuckDB list literal; None when it has none."""
        return list_literal(self.paths(table)) or None

    def source(self, table: str, *, numbered: bool = False) -> str:
        """``read_parquet(...)`` of the table (an empty relation of its schema when it has no parts);
        ``numbered``: with ``filename`` and ``file_row_number``, where each row is stored."""
        files = self.files(table)
        if files is None:
            self.con.register(f"_empty_{table}", TABLES[table].empty_table())
            extra = ", NULL::VARCHAR AS filename, NULL::BIGINT AS file_row_number" if numbered else ""
            return f"(SELECT *{extra} FROM {_quote_ident('_empty_' + table)})"
        extra = ", filename=true, file_row_number=true" if numbered else ""
        return f"read_parquet({files}, union_by_name=true{extra})"

    def arrow(self, sql: str) -> pa.Table:
        return self.con.sql(sql).to_arrow_table()

    def arrow_params(self, sql: str, params: dict) -> pa.Table:
        return self.con.sql(sql, params=params).to_arrow_table()

    def close(self) -> None:
        self.con.close()


def list_literal(paths: list[str]) -> str:
    """A DuckDB list of file names; "" for none."""
    return "[" + ", ".join(_quote_literal(p) for p in paths) + "]" if paths else ""


def scanning(archive: Path, work, *, attempts: int = 3, **limits):
    """``work(scan)`` with a fresh ``Scan``; again (the parts listed anew) when a part it listed was
    removed before it was read (a compaction finished meanwhile)."""
    for attempt in range(attempts):
        scan = Scan(archive, **limits)
        try:
            return work(scan)
        except duckdb.IOException:
            if attempt + 1 == attempts:
                raise
        finally:
            scan.close()
    raise AssertionError("unreachable")
