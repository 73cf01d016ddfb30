"""Compaction: a table's small part files merged into large ones, sorted for the common reads.

Every commit adds one small part per table, so a year of nightly ingests and daily explanations
leaves tens of thousands of files, and every read opens each of them. Compaction merges the small
ones (under half of ``compact.part_mb``) in the order they were sealed, in groups of at most
``part_mb``, each group into one part sorted by ``catalog.schema.SORT_KEYS`` (a device's
recordings by time) with small row groups, so a read of one device's day touches a file or two.

It is a sealed operation, never an edit of history: only parts the manifest chain vouches for,
still with the SHA-256 their manifest recorded, are merged (a planted or changed part is left
where it is, for ``verify`` to report). For each group, the run's manifest records under
``replaced`` the parts replaced (path, SHA-256, size), the part replacing them, the number of
rows and a digest of the rows (``catalog.digest``, independent of order), which ``verify``
recomputes from the new part. The new parts become visible through a swap record
(``catalog.store``), and the old parts are removed only after the manifest listing the new ones is
written: a crash before that undoes the swap (``recover``), a crash after it finishes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from catalog import digest
from catalog.schema import SORT_KEYS, TABLES
from catalog.store import RUN_COUNTS_NOTE, Catalog, Swap, to_table
from pipeline.archive import sealindex
from pipeline.archive.intent import Journal
from pipeline.archive.manifests import MANIFESTS, read_manifest
from pipeline.common.i18n import _
from pipeline.native.hashing import sha256_path

TAG = "compact"


@dataclass(frozen=True)
class Part:
    table: str
    name: str
    size: int
    sha256: str                   # as its manifest recorded it
    manifest: str

    @property
    def path(self) -> str:
        return f"catalog/{self.table}/{self.name}"


@dataclass
class TablePlan:
    table: str
    parts: int                                 # visible parts before
    groups: list[list[Part]] = field(default_factory=list)
    left_alone: list[str] = field(default_factory=list)   # small parts not merged, and why

    @property
    def merged(self) -> int:
        return sum(len(g) for g in self.groups)

    @property
    def after(self) -> int:
        return self.parts - self.merged + len(self.groups)


@dataclass(frozen=True)
class Limits:
    min_parts: int                # compact a table once it has this many small parts
    part_bytes: int               # a group holds at most this much; parts of half of it are left alone
    row_group_rows: int


def limits_of(cfg, *, merge_any: bool = False) -> Limits:
    """``cfg``: the ``[compact]`` section; ``merge_any``: merge as soon as two small parts are there."""
    return Limits(2 if merge_any else cfg.min_parts, cfg.part_mb * 1024 * 1024, cfg.row_group_rows)


def small_part_counts(catalog: Catalog, limits: Limits) -> dict[str, int]:
    """Per table, how many visible parts are small: the cheap test of whether to compact at all."""
    out = {}
    for table in TABLES:
        out[table] = sum(1 for p in catalog.visible_parts(table) if p.stat().st_size < limits.part_bytes // 2)
    return out


def plan(archive: Path, catalog: Catalog, limits: Limits, tables: tuple[str, ...] | None = None) -> list[TablePlan]:
    """Which parts of which tables to merge, in groups: only sealed parts still as sealed."""
    archive = Path(archive)
    index = sealindex.load(archive)
    confirmed: dict = {}
    plans = []
    for table in tables or tuple(TABLES):
        visible = catalog.visible_parts(table)
        small = [p for p in visible if p.stat().st_size < limits.part_bytes // 2]
        result = TablePlan(table, len(visible))
        plans.append(result)
        if len(small) < limits.min_parts:
            continue
        ready = []
        for path in small:
            rel = f"catalog/{table}/{path.name}"
            sealed = index.catalog.get(rel)
            if sealed is None:
                result.left_alone.append(_("{path}: no manifest lists it (not merged; `fieldrec verify` reports "
                                           "it)").format(path=rel))
                continue
            sha, size, manifest = sealed
            if not sealindex.confirm(archive, rel, sha, manifest, confirmed) or sha256_path(path) != sha:
                result.left_alone.append(_("{path}: not what {manifest} sealed (not merged; `fieldrec verify` "
                                           "reports it)").format(path=rel, manifest=manifest))
                continue
            ready.append(Part(table, path.name, path.stat().st_size, sha, manifest))
        ready.sort(key=lambda p: (p.manifest, p.name))          # the order they were sealed in
        group: list[Part] = []
        for part in ready:
            if group and sum(p.size for p in group) + part.size > limits.part_bytes:
                result.groups.append(group)
                group = []
            group.append(part)
        result.groups.append(group)
        result.groups = [g for g in result.groups if len(g) > 1]
    return plans


class CompactionError(RuntimeError):
    """A merged part does not hold the rows of the parts it was to replace: nothing was replaced."""


def group_rows(archive: Path, group: list[Part]) -> pa.Table:
    """A group's rows in the table's schema, in the order its parts were sealed."""
    table = group[0].table
    return pa.concat_tables([to_table(table, pq.read_table(Path(archive) / p.path)) for p in group])


def sorted_rows(table: str, rows: pa.Table) -> pa.Table:
    """``rows`` in the table's ``SORT_KEYS`` order (stable: equal keys keep their order)."""
    keys = SORT_KEYS.get(table)
    return rows.sort_by([(k, "ascending") for k in keys]) if keys and rows.num_rows else rows


def run_counts(rows: pa.Table) -> dict[str, str]:
    """The footer note of a merged part of a table with ``run_id``: [[run id or null, rows], ...], so
    that a reader counting rows per run (``gaprefresh``) need not read the column of a part holding
    many runs."""
    if "run_id" not in rows.column_names:
        return {}
    import pyarrow.compute as pc

    counts = pc.value_counts(rows["run_id"].combine_chunks()).to_pylist()
    return {RUN_COUNTS_NOTE: json.dumps(sorted(([c["values"], c["counts"]] for c in counts),
                                          key=lambda pair: (pair[0] is None, pair[0] or "")))}


def replace(archive: Path, catalog: Catalog, journal: Journal, table_plan: TablePlan, limits: Limits,
            run_id: str) -> Swap | None:
    """Merge each group of ``table_plan`` into a new part and put the new parts in place of the old
    (hidden from readers until ``finish``). The rows' digest is taken from the old parts as read and
    checked against the new part as written (read back) before anything is replaced; the journal
    notes each replacement for the seal. Raises ``CompactionError`` when they differ."""
    staged = []
    table = table_plan.table
    columns = list(TABLES[table].names)
    try:
        for group in table_plan.groups:
            rows = group_rows(archive, group)
            count, expected = rows.num_rows, digest.rows_digest(rows, columns)
            rows = sorted_rows(table, rows)
            part = catalog.stage(table, rows, tag=TAG, row_group_rows=limits.row_group_rows, notes=run_counts(rows))
            staged.append(part)
            del rows
            written = to_table(table, pq.read_table(part.tmp))
            if written.num_rows != count or digest.rows_digest(written, columns) != expected:
                raise CompactionError(_("the part merged from {n} part(s) of {table} does not hold their rows "
                                        "({rows} rows written, {count} read): nothing was replaced").format(
                    n=len(group), table=table, rows=written.num_rows, count=count))
            journal.record_replacement({
                "table": table,
                "parts": [{"path": p.path, "sha256": p.sha256, "size": p.size} for p in group],
                "by": [{"path": f"catalog/{table}/{part.name}", "sha256": part.sha256, "size": part.size,
                        "rows": part.rows}],
                "rows": count, "digest": expected, "digest_format": digest.FORMAT, "columns": columns,
            })
    except BaseException:
        for part in staged:
            part.tmp.unlink(missing_ok=True)
        raise
    if not staged:
        return None
    return catalog.swap(table, [p.name for g in table_plan.groups for p in g], staged, run_id=run_id)


def sealed_by(archive: Path, swap: Swap) -> bool:
    """Whether the manifest of ``swap``'s run lists every new part (then the swap must be finished)."""
    root = Path(archive) / MANIFESTS
    for path in root.glob(f"*-{swap.run_id}.json") if root.is_dir() else ():
        listed = {e.get("path") for e in (read_manifest(path).doc or {}).get("catalog", ())}
        if all(f"catalog/{swap.table}/{name}" in listed for name in swap.by):
            return True
    return False


def recover(archive: Path, catalog: Catalog) -> list[tuple[Swap, str]]:
    """Finish the swaps whose new parts were sealed (remove the old parts) and undo the others
    (remove the new parts): what a compaction killed mid-way leaves. Run under the archive lock
    before a run writes or audits. Returns each swap with ``finished`` or ``undone``."""
    done = []
    for swap in catalog.swaps():
        if sealed_by(archive, swap):
            catalog.finish_swap(swap)
            done.append((swap, "finished"))
        else:
            catalog.undo_swap(swap)
            done.append((swap, "undone"))
    return done
