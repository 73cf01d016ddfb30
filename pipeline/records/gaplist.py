"""Gaps as ``fieldrec gaps`` lists them, read from the catalog in DuckDB, set-based.

``gapstate.listing`` gives the same rows as dicts, one Python call per gap; here one query gives
them as an Arrow table: each gap's first row (in catalog order), ``current`` from its latest state
event (a tie: the later row), its explanation status and last explanation (ordered by time, then
catalog order), and the names of the files involved (a content cataloged twice: its later row).
Filters that need no placing (current, unexplained, device) run in the query, before the names are
looked up; rows written before gaps had instants are placed afterwards, in the device's zone, and
the rest of ``gap_events.filter_rows`` is ``rules.sets.gaps.filtered``. ``tests/test_set_rules.py``
holds the result to ``gapstate.listing``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from catalog.query import Scan, list_literal, scanning
from catalog.schema import TABLES
from pipeline.common.times import Zones
from pipeline.rules.sets import gaps as gap_sets

_NAMED = ("sha256", "before_sha256", "after_sha256")


def _sources(scan: Scan) -> dict[str, str]:
    """Each table as a relation with ``_file`` and ``_row``: where its row is stored (the part's place
    in the listing, the row in the part): "the later row" of the per-row rules."""
    out = {}
    for table in ("gaps", "gap_state", "explanations"):
        paths = scan.paths(table)
        if not paths:
            out[table] = f"(SELECT *, 0::BIGINT AS _file, 0::BIGINT AS _row FROM {scan.source(table)})"
        else:
            out[table] = (f"(SELECT * EXCLUDE (file_row_number), file_index AS _file, file_row_number AS _row "
                          f"FROM read_parquet({list_literal(paths)}, union_by_name=true, file_row_number=true))")
    return out


def _latest_states(src: dict[str, str]) -> str:
    """Each gap's latest state event (at the same time: the later row)."""
    return f"""SELECT gap_id, arg_max(state, struct_pack(t := evaluated_at, f := _file, r := _row)) AS state
               FROM {src["gap_state"]} GROUP BY gap_id"""


def _first_gaps(src: dict[str, str], columns: str = "*") -> str:
    """Each gap's first row: most gaps have one, so only ids seen twice are ordered."""
    return f"""WITH dup AS (SELECT gap_id FROM {src["gaps"]} GROUP BY gap_id HAVING count(*) > 1)
               SELECT {columns} FROM {src["gaps"]} WHERE gap_id NOT IN (SELECT gap_id FROM dup)
               UNION ALL
               SELECT {columns} FROM (SELECT *, row_number() OVER (PARTITION BY gap_id ORDER BY _file, _row) AS k
                                      FROM {src["gaps"]} WHERE gap_id IN (SELECT gap_id FROM dup)) WHERE k = 1"""


def current_per_device(archive: Path) -> Counter:
    """How many current gaps each device has (as ``fieldrec gaps`` lists them)."""
    def work(scan: Scan) -> Counter:
        src = _sources(scan)
        rows = scan.arrow(f"""
            SELECT g.device_id, count(*) AS n FROM ({_first_gaps(src, "gap_id, device_id")}) g
            LEFT JOIN ({_latest_states(src)}) s USING (gap_id)
            WHERE coalesce(s.state, 'open') = 'open' GROUP BY g.device_id""")
        return Counter({r["device_id"]: r["n"] for r in rows.to_pylist()})
    return scanning(archive, work)


def listing(archive: Path, zones: Zones | None = None, *, include_closed: bool = True,
            only_unexplained: bool = False, device: str | None = None) -> pa.Table:
    """Every gap ever detected (or those the filters keep), with ``gap_sets.EXTRA``, sorted by
    device, start and id."""
    zones = zones or Zones()
    columns = TABLES["gaps"].names

    def work(scan: Scan) -> pa.Table:
        src = _sources(scan)
        where = []
        if not include_closed or only_unexplained:
            where.append("coalesce(s.state, 'open') = 'open'")
        if only_unexplained:
            where.append("coalesce(e.explained, false) = false")
        if device:
            where.append("g.device_id = $device")
        # Which gaps are listed, decided on narrow rows; then the whole rows of those alone.
        gaps = scan.con.sql(f"""
            WITH e AS (
                SELECT gap_id,
                       bool_or(source = 'spoken' OR coalesce(approved_by, '') <> '') AS explained,
                       arg_max(reason, struct_pack(t := explained_at, f := _file, r := _row)) AS explanation_reason,
                       arg_max(explained_by, struct_pack(t := explained_at, f := _file, r := _row)) AS explained_by,
                       arg_max(approved_by, struct_pack(t := explained_at, f := _file, r := _row))
                           FILTER (WHERE coalesce(approved_by, '') <> '') AS approved_by
                FROM {src["explanations"]} GROUP BY gap_id),
            listed AS (
                SELECT g.gap_id, g._file, g._row, coalesce(s.state, 'open') = 'open' AS current,
                       CASE WHEN e.explained THEN 'explained' WHEN e.gap_id IS NOT NULL THEN 'awaiting approval'
                            ELSE 'unexplained' END AS explanation,
                       e.explanation_reason, e.explained_by, e.approved_by
                FROM ({_first_gaps(src, "gap_id, device_id, _file, _row")}) g
                LEFT JOIN ({_latest_states(src)}) s USING (gap_id) LEFT JOIN e USING (gap_id)
                {"WHERE " + " AND ".join(where) if where else ""})
            SELECT {", ".join(f'g."{c}"' for c in columns)}, l.current, l.explanation, l.explanation_reason,
                   l.explained_by, l.approved_by
            FROM {src["gaps"]} g JOIN listed l ON g.gap_id = l.gap_id AND g._file = l._file AND g._row = l._row""",
            params={"device": device} if device else None).to_arrow_table()
        return _named(scan, gaps)

    rows = scanning(archive, work)
    rows = gap_sets.placed(rows.cast(_schema(rows)), zones)
    return rows.take(gap_sets.order(rows)).select(list(columns) + list(gap_sets.EXTRA))


def _named(scan: Scan, gaps: pa.Table) -> pa.Table:
    """The file names of the recordings the gaps name (the later row of a content cataloged twice)."""
    wanted = pc.unique(pa.concat_arrays([gaps[c].combine_chunks() for c in _NAMED]).drop_null())
    paths = scan.paths("recordings")
    if len(wanted) and paths:
        scan.con.register("wanted", pa.table({"sha256": wanted}))
        names = scan.arrow(f"""
            SELECT sha256, arg_max(source_name, struct_pack(f := file_index, r := file_row_number)) AS source_name
            FROM read_parquet({list_literal(paths)}, file_row_number=true)
            WHERE sha256 IN (SELECT sha256 FROM wanted) GROUP BY sha256""")
    else:
        names = pa.table({"sha256": pa.array([], pa.string()), "source_name": pa.array([], pa.string())})
    for column, name in zip(_NAMED, ("file", "before_file", "after_file")):
        gaps = gaps.append_column(name, pc.take(names["source_name"],
                                                pc.index_in(gaps[column], value_set=names["sha256"])))
    return gaps


def _schema(rows: pa.Table) -> pa.Schema:
    gaps = TABLES["gaps"]
    return pa.schema([gaps.field(n) if n in gaps.names else rows.schema.field(n) for n in rows.column_names])
