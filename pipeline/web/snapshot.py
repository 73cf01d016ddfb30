"""The catalog mirrored into an in-memory DuckDB, checked against the part files at every request.

Reading 200 Parquet parts per table for every query costs 100-200 ms at 100,000 recordings, too
slow for a page. Parts are immutable and only added, except that a compaction replaces many by
one (``pipeline.archive.compact``), so the service keeps one in-memory copy of each table (without
image and statement bytes) and, at the start of each request, lists the parts a reader reads now
(``Catalog.visible_parts``: never both sides of a compaction): new parts are appended, and a table
whose parts include one no longer there (compacted, or quarantined) is read again whole.
A request therefore always reads the catalog as it is on disk at that moment, plus the rows its
own spool holds, through a cursor of its own (temporary views, so requests never see each other's).
"""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pyarrow as pa

from catalog.schema import TABLES
from catalog.store import READ_ATTEMPTS, Catalog, to_table
from pipeline.records import outbox

LEFT_OUT = {"thumbnails": ("image",), "statements": ("content",)}      # bytes are read per request, by id

# Recordings as a person attributed them (`fieldrec attribute`: the latest row per file wins), as
# pipeline.records.attribution gives them to the command line; the name's own values stay beside.
ATTRIBUTED = """
    SELECT r.* REPLACE (CASE WHEN a.sha256 IS NULL THEN r.device_id ELSE a.device_id END AS device_id,
                        CASE WHEN a.sha256 IS NULL THEN r.officer_id ELSE a.officer_id END AS officer_id)
    FROM ({view}) r LEFT JOIN (SELECT sha256, device_id, officer_id FROM c_attributions
                               QUALIFY row_number() OVER (PARTITION BY sha256 ORDER BY "at" DESC) = 1) a USING (sha256)"""


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _files_sql(files: list[Path]) -> str:
    return "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"


class Snapshot:
    def __init__(self, archive: Path):
        self.root = Path(archive) / "catalog"
        self.catalog = Catalog(archive)
        self.db = duckdb.connect(":memory:")
        self.db.execute("SET enable_progress_bar=false")     # stdout carries the output alone
        self.db.execute("SET autoinstall_known_extensions=false")
        self.db.execute("SET autoload_known_extensions=false")
        self._loaded: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def _columns(self, table: str) -> list[str]:
        return [n for n in TABLES[table].names if n not in LEFT_OUT.get(table, ())]

    def _create(self, table: str) -> None:
        empty = TABLES[table].empty_table().select(self._columns(table))
        self.db.register("_empty", empty)
        self.db.execute(f"CREATE OR REPLACE TABLE {_ident('c_' + table)} AS SELECT * FROM _empty")
        self.db.unregister("_empty")

    def _append(self, table: str, files: list[Path]) -> None:
        source = f"read_parquet({_files_sql(files)}, union_by_name=true)"
        present = {r[0] for r in self.db.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
        cols = ", ".join(_ident(c) for c in self._columns(table) if c in present)
        self.db.execute(f"INSERT INTO {_ident('c_' + table)} BY NAME SELECT {cols} FROM {source}")

    def refresh(self) -> None:
        """Bring every table up to the part files a reader reads now."""
        with self._lock:
            for table in TABLES:
                self._refresh(table)

    def _refresh(self, table: str) -> None:
        for attempt in range(READ_ATTEMPTS):
            files = self.catalog.visible_parts(table)
            names = {f.name for f in files}
            known = self._loaded.get(table)
            try:
                if known is None or not known <= names:       # a part gone: compacted (or quarantined)
                    self._create(table)
                    known = set()
                new = [f for f in files if f.name not in known]
                if new:
                    self._append(table, new)
                self._loaded[table] = names
                return
            except duckdb.IOException:
                # A part removed between the listing and the read (a compaction finishing): the
                # copy may hold part of it, so the table is read again from a new listing.
                self._loaded.pop(table, None)
                if attempt + 1 == READ_ATTEMPTS:
                    raise

    def cursor(self, spool: outbox.Outbox | None) -> duckdb.DuckDBPyConnection:
        """A connection of this request's own: each table a view of the copy plus the spooled rows."""
        # The spool first, the parts second: a row the flusher drops from the spool after this read
        # was committed before it was dropped, so the refresh below finds its part.
        spooled = {t: spool.rows(t) for t in outbox.KEYS} if spool is not None else {}
        self.refresh()
        with self._lock:                 # DuckDB's catalog is not to be changed from two threads at once
            return self._views(self.db.cursor(), spooled)

    def _views(self, cur: duckdb.DuckDBPyConnection, spooled: dict[str, list[dict]]) -> duckdb.DuckDBPyConnection:
        for table in TABLES:
            rows = spooled.get(table)
            view = f"SELECT * FROM {_ident('c_' + table)}"
            if rows:
                extra = to_table(table, rows).select(self._columns(table))
                cur.register(f"_spool_{table}", extra)
                keys = outbox.KEYS[table]
                where = ""
                if len(keys) == 1:
                    where = f" WHERE {_ident(keys[0])} NOT IN (SELECT {_ident(keys[0])} FROM {_ident('c_' + table)})"
                view += f" UNION ALL BY NAME SELECT * FROM {_ident('_spool_' + table)}{where}"
            if table == "recordings":
                view = ATTRIBUTED.format(view=view)
            cur.execute(f"CREATE TEMP VIEW {_ident(table)} AS {view}")
        return cur


def rows(cur: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    table: pa.Table = cur.sql(sql, params=params or None).to_arrow_table()
    return table.to_pylist()
