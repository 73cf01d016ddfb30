"""Gaps as ``fieldrec gaps`` lists them, read from the catalog and listed by the set-based rules.

``gapstate.listing`` gives the same rows as dicts, one Python call per gap; this gives them as one
Arrow table, for archives with hundreds of thousands of gaps (``tests/test_set_rules.py`` holds
the two together).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from catalog.store import Catalog
from pipeline.common.times import Zones
from pipeline.rules.sets import gaps as gap_sets


def listing(archive: Path, zones: Zones | None = None) -> pa.Table:
    """Every gap ever detected, with ``gap_sets.EXTRA``, sorted by device, start and id."""
    catalog = Catalog(archive)
    return gap_sets.listing(catalog.read("gaps"), catalog.read("gap_state", ["gap_id", "state", "evaluated_at"]),
                            catalog.read("explanations"), catalog.read("recordings", ["sha256", "source_name"]),
                            zones or Zones())
