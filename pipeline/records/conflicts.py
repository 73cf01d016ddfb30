"""How many of a run's contents were docked under names that disagree on device, officer or time:
the ingest summary's count, read only for the contents seen more than once.

Most of a night's contents are new, seen once, by this run: names cannot disagree. One DuckDB scan
of the sightings' SHA-256 column alone finds the contents seen twice or more; only their sightings
are read whole (``gaplist.sightings_of``) and judged (``records.attribution``).
"""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pyarrow.dataset as ds

from catalog.query import Scan, list_literal, scanning
from catalog.store import Catalog
from pipeline.config import IdentityConfig


def seen_more_than_once(catalog: Catalog, shas: list[str]) -> list[str]:
    """Those of ``shas`` that two or more sightings name, sorted."""
    def work(scan: Scan) -> list[str]:
        paths = scan.paths("sightings")
        if not paths or not shas:
            return []
        scan.con.register("wanted", pa.table({"sha256": pa.array(shas, pa.string())}))
        rows = scan.con.sql(f"""
            SELECT sha256 FROM read_parquet({list_literal(paths)}, union_by_name=true)
            WHERE sha256 IN (SELECT sha256 FROM wanted) GROUP BY sha256 HAVING count(*) > 1""").fetchall()
        return sorted(sha for (sha,) in rows)
    return scanning(catalog.archive, work)


def sighted(catalog: Catalog):
    """Every content a sighting names (``runs.known.KnownContents``: ``sha in`` it), as of now."""
    from pipeline.runs.known import KnownContents

    return KnownContents(catalog.read("sightings", ["sha256"])["sha256"])


def of_run(catalog: Catalog, run_id: str, identity: IdentityConfig | None, *, sighted=None) -> int:
    """How many contents the run saw under names that disagree (``Identities.conflicts``).
    ``sighted``: ``sighted(catalog)`` from before the run's own sightings were committed (or some of
    them): a content the run saw once is seen more than once only if an earlier run saw it, so
    the contents it names, and those the run saw twice, are all that can be (one sighted by the
    run alone is looked at and found to have one name: the same count)."""
    from pipeline.records import attribution, gaplist

    seen = Counter(catalog.read("sightings", ["sha256"], filter=ds.field("run_id") == run_id)["sha256"].to_pylist())
    shas = sorted(s for s in seen if s)
    twice = seen_more_than_once(catalog, shas) if sighted is None else \
        [s for s in shas if seen[s] > 1 or s in sighted]
    named = gaplist.sightings_of(catalog.archive, twice).to_pylist() if twice else []
    paths: dict[str, set] = {}
    for row in named:
        paths.setdefault(row["sha256"], set()).add(row["source_path"])
    several = [row for row in named if len(paths[row["sha256"]]) > 1]
    return len(attribution.for_contents([], several, identity).conflicts())
