"""Recordings as the archive attributes them: by their own name, by the other names of the same
bytes, or by a person (``fieldrec attribute``); and the recordings whose names disagree.

Reads ``attributions`` and ``sightings`` once; ``Identities.apply`` gives recordings rows with
``device_id``/``officer_id`` as attributed (the row's own values kept as ``name_device_id`` and
``name_officer_id``) and ``attributed_by`` (name, other name, person, none). The rule is
``pipeline.rules.identities``. Nothing here writes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from catalog.store import Catalog
from pipeline.config import IdentityConfig
from pipeline.rules.identities import Identity, Named, disagreement, distinct, effective
from pipeline.stages.naming import match_name

MEDIA_KINDS = ("video", "audio", "photo")
SIGHTING_COLUMNS = ["sha256", "source_path", "device_id", "officer_id", "name_time", "naming_profile", "seen_at"]


@dataclass(frozen=True)
class Conflict:
    sha256: str
    fields: tuple[str, ...]          # device_id, officer_id, name_time: where the names disagree
    names: tuple[Named, ...]         # one of each identity, first seen first


@dataclass
class Identities:
    attributions: dict[str, dict] = field(default_factory=dict)      # sha256 -> the latest attribution
    names: dict[str, list[Named]] = field(default_factory=dict)      # sha256 -> names of its sightings (2+)

    def of(self, row: dict) -> Identity:
        own = Named(row.get("source_name") or "", row.get("device_id"), row.get("officer_id"), row.get("name_time"))
        return effective(own, self.names.get(row["sha256"], ()), self.attributions.get(row["sha256"]))

    def apply(self, rows: list[dict]) -> list[dict]:
        """``rows`` (recordings) with device_id and officer_id as attributed."""
        out = []
        for row in rows:
            who = self.of(row)
            out.append({**row, "name_device_id": row.get("device_id"), "name_officer_id": row.get("officer_id"),
                        "device_id": who.device_id, "officer_id": who.officer_id, "attributed_by": who.source})
        return out

    def apply_table(self, table: pa.Table) -> pa.Table:
        """The same for an Arrow table with sha256, device_id and officer_id (the timeline reads these)."""
        shas = set(self.attributions) | set(self.names)
        if not shas or not table.num_rows:
            return table
        wanted = pc.is_in(table["sha256"], value_set=pa.array(sorted(shas), pa.string()))
        if not pc.any(wanted).as_py():
            return table
        rows = table.select([c for c in ("sha256", "device_id", "officer_id", "source_name", "name_time")
                             if c in table.column_names]).to_pylist()
        who = [self.of(r) if r["sha256"] in shas else None for r in rows]
        device = pa.array([w.device_id if w else r["device_id"] for w, r in zip(who, rows)], pa.string())
        officer = pa.array([w.officer_id if w else r["officer_id"] for w, r in zip(who, rows)], pa.string())
        table = table.set_column(table.column_names.index("device_id"), "device_id", device)
        return table.set_column(table.column_names.index("officer_id"), "officer_id", officer)

    def conflicts(self) -> list[Conflict]:
        out = []
        for sha, names in sorted(self.names.items()):
            fields = disagreement(names)
            if fields:
                out.append(Conflict(sha, fields, tuple(distinct(names))))
        return out


def load(catalog: Catalog, identity: IdentityConfig | None = None, *, run_id: str | None = None) -> Identities:
    """The attributions, and the names of every content seen under two or more names (``run_id``:
    only contents that run saw). Sightings from before names were kept with them are read again
    with ``identity`` (the profiles as configured now)."""
    identities = Identities()
    for row in sorted(catalog.rows("attributions"), key=lambda r: r["at"]):
        identities.attributions[row["sha256"]] = row
    table = catalog.read("sightings", SIGHTING_COLUMNS + ["run_id"])
    table = table.filter(pc.is_valid(table["sha256"]))
    if not table.num_rows:
        return identities
    counts = table.group_by("sha256").aggregate([("source_path", "count_distinct")])
    several = set(counts.filter(pc.greater(counts["source_path_count_distinct"], 1))["sha256"].to_pylist())
    if run_id is not None:
        several &= set(table.filter(pc.equal(table["run_id"], run_id))["sha256"].to_pylist())
    if not several:
        return identities
    rows = table.filter(pc.is_in(table["sha256"], value_set=pa.array(sorted(several), pa.string()))).to_pylist()
    rows.sort(key=lambda r: (r["seen_at"] or datetime.min, r["source_path"]))
    for r in rows:
        identities.names.setdefault(r["sha256"], []).append(_named(r, identity))
    return identities


def for_contents(attributions: list[dict], sightings: list[dict], identity: IdentityConfig | None) -> Identities:
    """``load`` for given rows: the ``attributions``, and the ``sightings`` of the contents seen
    under two or more names (``SIGHTING_COLUMNS``); for readers that find those contents themselves
    (``records.frame`` does, in one pass over a million sightings)."""
    identities = Identities()
    for row in sorted(attributions, key=lambda r: r["at"]):
        identities.attributions[row["sha256"]] = row
    for r in sorted(sightings, key=lambda r: (r["seen_at"] or datetime.min, r["source_path"])):
        identities.names.setdefault(r["sha256"], []).append(_named(r, identity))
    return identities


def _named(sighting: dict, identity: IdentityConfig | None) -> Named:
    if sighting["naming_profile"] is None and sighting["device_id"] is None and identity is not None:
        profile, parsed = match_name(os.path.basename(sighting["source_path"]), identity)
        time = parsed.get("time")
        return Named(sighting["source_path"], parsed.get("device"), parsed.get("officer"),
                     time if isinstance(time, datetime) else None, profile.name if profile else None)
    return Named(sighting["source_path"], sighting["device_id"], sighting["officer_id"], sighting["name_time"],
                 sighting["naming_profile"])


def unattributed(rows: list[dict]) -> list[dict]:
    """Recordings (pictures and sound) that no profile, other name or person attributed to a device."""
    return [r for r in rows if r.get("kind") in MEDIA_KINDS and r.get("device_id") is None]
