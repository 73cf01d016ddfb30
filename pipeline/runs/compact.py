"""A compaction run: merge the catalog's small part files, as a writing run of its own, sealed.

``fieldrec compact`` runs it; an ingest runs it after its own seal when a table has gathered
``compact.min_parts`` small parts (``compact.auto``). See ``pipeline.archive.compact``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from catalog.store import Catalog
from pipeline.archive import compact
from pipeline.archive.writer import writing_run
from pipeline.common.clock import new_id
from pipeline.config import Config


@dataclass
class TableResult:
    table: str
    parts_before: int
    parts_after: int
    merged: int                   # parts replaced
    written: int                  # parts written
    rows: int = 0
    bytes_before: int = 0
    bytes_after: int = 0


@dataclass
class CompactSummary:
    run_id: str
    archive: str
    dry_run: bool
    tables: list[TableResult] = field(default_factory=list)
    left_alone: list[str] = field(default_factory=list)
    sealed_as: str | None = None
    wall_s: float = 0.0

    @property
    def merged(self) -> int:
        return sum(t.merged for t in self.tables)

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "archive": self.archive, "dry_run": self.dry_run, "merged": self.merged,
                "sealed_as": self.sealed_as, "wall_s": round(self.wall_s, 3), "left_alone": self.left_alone,
                "tables": [vars(t) for t in self.tables]}


def _result(p: compact.TablePlan) -> TableResult:
    return TableResult(p.table, p.parts, p.after, p.merged, len(p.groups),
                       bytes_before=sum(part.size for g in p.groups for part in g))


def compact_archive(archive: Path, config: Config, *, tables: tuple[str, ...] | None = None, merge_any: bool = False,
                    dry_run: bool = False, progress: Callable[[str], None] | None = None) -> CompactSummary:
    """Merge the small parts of ``tables`` (default: all) of ``archive``: those of a table with at
    least ``compact.min_parts`` small parts (``merge_any``: two). ``dry_run`` only plans. Raises what
    ``writing_run`` raises (busy, not writable, settings not sealed)."""
    archive = Path(archive).resolve()
    limits = compact.limits_of(config.compact, merge_any=merge_any)
    t0 = time.monotonic()
    if dry_run:
        plans = compact.plan(archive, Catalog(archive), limits, tables)
        summary = CompactSummary(new_id("compact"), str(archive), True, [_result(p) for p in plans])
        summary.left_alone = [why for p in plans for why in p.left_alone]
        summary.wall_s = time.monotonic() - t0
        return summary
    run_id = new_id("compact")
    summary = CompactSummary(run_id, str(archive), False)
    with writing_run(archive, config, "compact", run_id=run_id) as run:
        plans = compact.plan(archive, run.catalog, limits, tables)
        for p in plans:
            result = _result(p)
            if p.groups:
                if progress:
                    progress(f"{p.table}: {p.merged} part(s) into {len(p.groups)}")
                swap = compact.replace(archive, run.catalog, run.journal, p, limits, run.run_id)
                result.bytes_after = sum((run.catalog.root / p.table / name).stat().st_size for name in swap.by)
                result.rows = sum(r["rows"] for r in run.journal.replacements if r["table"] == p.table)
            summary.tables.append(result)
            summary.left_alone += p.left_alone
    summary.sealed_as = run.sealed.name if run.sealed else None
    summary.wall_s = time.monotonic() - t0
    return summary


def auto(archive: Path, config: Config, progress: Callable[[str], None] | None = None) -> CompactSummary | None:
    """Compact after a run, when ``compact.auto`` is on and some table has ``compact.min_parts``
    small parts (counted from the file sizes: cheap when there is nothing to do)."""
    if not config.compact.auto:
        return None
    limits = compact.limits_of(config.compact)
    counts = compact.small_part_counts(Catalog(archive), limits)
    wanted = tuple(t for t, n in counts.items() if n >= limits.min_parts)
    if not wanted:
        return None
    return compact_archive(archive, config, tables=wanted, progress=progress)
