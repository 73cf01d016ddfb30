"""The archive's recordings as one Arrow table, read through the set-based rules.

What ``records.state.load`` gives as a ``Record`` per recording (its place in time, attribution,
upload delay, retention), here as columns of one table, computed by ``pipeline.rules.sets`` without
a Python call per recording: the listings of a million recordings (``retention``, ``compliance``,
``ledger``) take seconds. ``records.state`` stays the reference the tests hold this to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from catalog.store import Catalog
from pipeline.common.times import Zones
from pipeline.config import Config
from pipeline.records import attribution
from pipeline.rules.custody import Period, holder_periods
from pipeline.rules.retention import case_states
from pipeline.rules.sets import recordings as placing
from pipeline.rules.sets import retention as keeping
from pipeline.rules.sets.recordings import whole

COLUMNS = ["sha256", "size", "kind", "duration_s", "device_id", "officer_id", "start_time", "status", "source_name",
           "ingested_at", "time_source", "start_utc", "end_utc", "time_zone", "container_time_zone", "important",
           "name_time"]
# What the rules read of them (a listing that shows neither size, kind nor status reads only these).
RULES_COLUMNS = [c for c in COLUMNS if c not in ("size", "kind", "status")]
STATES = ("expired", "retained", "held", "permanent", "purged")


@dataclass
class Frame:
    table: pa.Table                     # COLUMNS + the rules' columns, one row per recording
    periods: dict[str, list[Period]]    # who held each device, from the ledger
    zones: Zones
    by_label: dict[str, tzinfo]         # device clock zones by the label in column ``zone``
    as_of: datetime
    identities: attribution.Identities | None = None

    def column(self, name: str) -> pa.Array:
        return whole(self.table[name])

    def states(self) -> pa.Array:
        """``Record.state``: purged | permanent | held | expired | retained, as of ``as_of``."""
        until = self.column("until")
        expired = pc.fill_null(pc.less_equal(until, pa.scalar(self.as_of, placing.UTC_TYPE)), False)
        return pc.case_when(pc.make_struct(self.column("purged"), self.column("permanent"), self.column("held"),
                                           expired), "purged", "permanent", "held", "expired", "retained")


# Catalog text columns whose values repeat (hundreds of devices and officers, a few sources and
# zones): read as their Parquet dictionaries, each part's values decoded from a few hundred names.
REPEATING = ("device_id", "officer_id", "time_source", "time_zone", "container_time_zone", "kind", "status")


def _read(archive: Path, columns: list[str], identity) -> tuple[pa.Table, pa.Array, attribution.Identities]:
    """The recordings (``columns``, in catalog order, device and officer as attributed), each one's
    first sighting, and the identities of the contents a person attributed or seen under two or
    more names. The recordings are read by pyarrow a part at a time (``_parts``); the sightings,
    joined to them, by DuckDB. The join needs only the SHA-256: read first (while DuckDB is
    imported), then the join runs while a second thread reads the other columns (both let go of
    the GIL: at a million recordings the read of the rest, ~0.5 s, overlaps the join, ~0.8 s,
    instead of preceding it)."""
    from concurrent.futures import ThreadPoolExecutor

    catalog = Catalog(archive)
    rest = [c for c in columns if c != "sha256"]
    schema = _schema(columns)

    def work_on(shas: pa.Array):
        def work(scan):
            first_seen, twice = _first_sightings(scan, shas)
            # Of the contents seen more than once, the ones seen under two or more names (most are
            # seen once: no names hashed for them).
            sightings = pa.table({name: [] for name in attribution.SIGHTING_COLUMNS})
            if len(twice):
                scan.con.register("twice", pa.table({"sha256": twice}))
                sightings_table = scan.source("sightings")
                sightings = scan.arrow(f"""
                    WITH several AS (SELECT sha256 FROM {sightings_table} WHERE sha256 IN (SELECT sha256 FROM twice)
                                     GROUP BY sha256 HAVING count(DISTINCT source_path) > 1)
                    SELECT {", ".join(attribution.SIGHTING_COLUMNS)} FROM {sightings_table}
                    WHERE sha256 IN (SELECT sha256 FROM several)""")
            identities = attribution.for_contents(scan.catalog.rows("attributions"), sightings.to_pylist(), identity)
            return first_seen, identities
        return work

    def read():                  # one listing for both reads: a part removed meanwhile, both again
        parts = catalog.visible_parts("recordings")
        with ThreadPoolExecutor(max_workers=1) as pool:
            first = pool.submit(_parts, parts, ["sha256"])
            from catalog.query import scanning          # imported (DuckDB) while the SHA-256 are read

            shas = first.result()["sha256"]
            others = pool.submit(_parts, parts, rest)
            first_seen, identities = scanning(archive, work_on(shas))
            table = others.result()
        joined = {"sha256": shas, **dict(zip(table.column_names, table.columns))}
        return pa.Table.from_arrays([joined[c] for c in columns], schema=schema), first_seen, identities

    return catalog.relisting(read)


def _schema(columns: list[str]) -> pa.Schema:
    from catalog.schema import TABLES

    return pa.schema([TABLES["recordings"].field(c) for c in columns])


def _recordings(catalog: Catalog, columns: list[str]) -> pa.Table:
    """The recordings table's ``columns`` in catalog order (``_parts``), the parts listed and read
    again when one is removed while it is read (a compaction finished meanwhile)."""
    return catalog.relisting(lambda: _parts(catalog.visible_parts("recordings"), columns))


def _parts(paths: list[Path], columns: list[str]) -> pa.Table:
    """``columns`` of the recordings parts ``paths`` (the parts as listed, each part's rows as
    stored), each column in one piece. Read a part at a time, text that repeats through its Parquet
    dictionary; a column a part lacks (written before it existed) is null there. A part gone:
    ``FileNotFoundError``, for the caller to list the parts again."""
    import pyarrow.parquet as pq

    schema = _schema(columns)
    pieces: dict[str, list] = {c: [] for c in columns}
    for path in paths:
        footer = pq.read_metadata(path)
        stored = set(footer.schema.names)
        part = pq.ParquetFile(path, metadata=footer,
                              read_dictionary=[c for c in REPEATING if c in columns and c in stored])
        present = [c for c in columns if c in stored]
        table = part.read(columns=present)
        for c in columns:
            field = schema.field(c)
            column = table[c] if c in present else pa.nulls(table.num_rows, field.type)
            for chunk in column.chunks if isinstance(column, pa.ChunkedArray) else [column]:
                pieces[c].append(chunk if pa.types.is_dictionary(chunk.type) else chunk.cast(field.type))
        del table
    joined = []
    for c in columns:            # a column at a time: its pieces freed as soon as it is joined
        joined.append(_joined(pieces.pop(c), schema.field(c).type))
    return pa.Table.from_arrays(joined, schema=schema)


def _joined(chunks: list, kind: pa.DataType) -> pa.Array:
    """A column's pieces as one array of ``kind``: pieces read as dictionaries (and plain ones, a part
    written without a dictionary) joined by their codes over one dictionary, the text then written
    out once, not once per piece and again when joined."""
    if not chunks:
        return pa.array([], kind)
    if any(pa.types.is_dictionary(c.type) for c in chunks):
        value_type = next(c.type.value_type for c in chunks if pa.types.is_dictionary(c.type))
        coded = [c if pa.types.is_dictionary(c.type) else pc.dictionary_encode(c.cast(value_type)) for c in chunks]
        coded = [c.cast(pa.dictionary(pa.int32(), value_type)) for c in coded]
        unified = pa.chunked_array(coded).unify_dictionaries()
        whole_column = pa.concat_arrays(unified.chunks) if unified.num_chunks > 1 else unified.chunk(0)
        return whole_column.dictionary_decode().cast(kind)
    return pa.concat_arrays(chunks) if len(chunks) > 1 else chunks[0]


def _first_sightings(scan, shas: pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """Each recording's first sighting (``state.first_sightings``: the earliest ``seen_at`` of its
    content, null when never seen), and the contents (SHA-256) seen more than once, recordings' or
    not. One join of the sightings to the recordings' SHA-256 in DuckDB, the minimum and the count
    per recording then taken by numpy: about half the work of grouping a million sightings by
    their text first and joining the groups after."""
    n = len(shas)
    scan.con.register("rec", pa.table({"i": pa.array(np.arange(n), pa.int64()), "sha256": shas}))
    try:
        # A sighting of no recording keeps its SHA-256 (counted apart); one of a recording, its row.
        joined = scan.arrow(f"""
            SELECT rec.i, s.seen_at, CASE WHEN rec.i IS NULL THEN s.sha256 END AS other
            FROM {scan.source("sightings")} s LEFT JOIN rec USING (sha256) WHERE s.sha256 IS NOT NULL""")
    finally:
        scan.con.unregister("rec")
    mine = joined.filter(pc.is_valid(joined["i"])) if joined["i"].null_count else joined
    at = whole(mine["i"]).to_numpy(zero_copy_only=False)
    times = whole(mine["seen_at"]).cast(pa.int64())
    dated = times.is_valid().to_numpy(zero_copy_only=False)
    # min(seen_at) leaves out sightings without a time, as SQL and Arrow's group_by do
    never = np.iinfo(np.int64).max
    seen = np.full(n, never, np.int64)
    counts = np.bincount(at, minlength=n)
    if len(counts) and counts.max() > 1:
        np.minimum.at(seen, at[dated], times.fill_null(0).to_numpy(zero_copy_only=False)[dated])
    else:                                     # each recording seen once (the usual): its one time
        seen[at[dated]] = times.fill_null(0).to_numpy(zero_copy_only=False)[dated]
    known = seen != never
    twice = whole(shas.take(pa.array(np.flatnonzero(counts > 1), pa.int64())))
    others = whole(joined["other"]).drop_null()
    if len(others):
        counted = pc.value_counts(others)
        twice = pa.chunked_array([twice, counted.field("values").filter(pc.greater(counted.field("counts"), 1))],
                                 pa.string())
    return placing.instants(np.where(known, seen, 0), known), pc.unique(twice)


def _attributed(rec: pa.Table, identities: attribution.Identities) -> pa.Table:
    """Device and officer as the archive attributes them (``attribution.Identities``): the few rows a
    person attributed or other names speak for, asked of the rule one by one."""
    shas = set(identities.attributions) | set(identities.names)
    if not shas or not rec.num_rows:
        return rec
    rows = np.flatnonzero(pc.is_in(rec["sha256"], value_set=pa.array(sorted(shas), pa.string())).to_numpy(
        zero_copy_only=False))
    if not len(rows):
        return rec
    device = whole(rec["device_id"]).to_pylist()
    officer = whole(rec["officer_id"]).to_pylist()
    own = rec.take(pa.array(rows)).select(["sha256", "device_id", "officer_id", "source_name", "name_time"])
    for i, row in zip(rows.tolist(), own.to_pylist()):
        who = identities.of(row)
        device[i], officer[i] = who.device_id, who.officer_id
    rec = rec.set_column(rec.column_names.index("device_id"), "device_id", pa.array(device, pa.string()))
    return rec.set_column(rec.column_names.index("officer_id"), "officer_id", pa.array(officer, pa.string()))


def _small_tables(catalog: Catalog, as_of: datetime, retention: bool):
    """Who held each device (``holder_periods``), and for the retention rules (``retention``) the
    cases' states, the assignments and the purged recordings' SHA-256, as of ``as_of``."""
    handovers = [h for h in catalog.rows("handovers") if h["at"] <= as_of]
    events = catalog.read("device_events", ["device_id", "event", "at"])
    returns = [e for e in events.filter(pc.fill_null(pc.equal(events["event"], "return"), False)).to_pylist()
               if e["at"] <= as_of]
    periods = holder_periods(handovers, returns)
    if not retention:
        return periods, None, None, None
    cases = case_states(catalog.rows("cases", list(CASE_COLUMNS)), as_of)
    purges = catalog.read("purges", ["sha256", "kind"])        # a proxy's row goes with its original's
    purged = purges.filter(pc.fill_null(pc.equal(purges["kind"], "original"), True))["sha256"]
    return periods, cases, catalog.read("assignments"), purged.combine_chunks()


# What ``case_states`` reads of a case event (not its note, nor who wrote it).
CASE_COLUMNS = ("case_id", "event", "retention_class", "title", "at", "recorded_at")
PLACING_ONLY = ("start_time", "start_utc", "end_utc", "time_zone", "container_time_zone")


def load(archive: Path, config: Config, as_of: datetime, *, columns: list[str] | None = None,
         retention: bool = True, narrow: bool = False) -> Frame:
    """Every recording with its place in time, attribution, upload delay and retention as of ``as_of``
    (``retention`` False: without the retention columns, ``keeping.COLUMNS`` and ``purged``, for the
    listings that do not show them: compliance, the ledger; ``narrow``: of the catalog's columns only
    ``RULES_COLUMNS`` and ``columns``, for the listings that show no size, kind or status)."""
    from concurrent.futures import ThreadPoolExecutor

    zones = config.zones()
    base = RULES_COLUMNS if narrow else COLUMNS
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The small tables the rules read, read by a second thread while the recordings are read
        # and joined to their sightings (most of that in Arrow and DuckDB, without the GIL).
        small = pool.submit(_small_tables, Catalog(archive), as_of, retention)
        rec, first_seen, identities = _read(archive, list(dict.fromkeys(base + (columns or []))), config.identity)
        periods, cases, assignments, purged = small.result()
    rec = _attributed(rec, identities)
    labels, by_label = placing.device_zones(whole(rec["device_id"]), zones)
    rec = placing.placed(rec, first_seen, periods, zones, config.gaps, config.compliance.late_after_hours,
                         labelled=(labels, by_label))
    rec = rec.drop_columns([c for c in PLACING_ONLY if c not in (columns or [])])     # placed now: not needed
    if not retention:
        return Frame(rec, periods, zones, by_label, as_of, identities)
    kept = keeping.retention(rec, assignments, cases, config.retention, as_of, zones.site_zone)
    for name in keeping.COLUMNS:
        rec = rec.append_column(name, kept[name])
    rec = rec.append_column("purged", pc.fill_null(pc.is_in(rec["sha256"], value_set=purged), False)
                            if len(purged) else pa.array(np.zeros(rec.num_rows, bool)))
    return Frame(rec, periods, zones, by_label, as_of, identities)
