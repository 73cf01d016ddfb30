"""Which originals go on discs: explicit SHA-256s, a device's recordings, or cases.

Every resolver returns ``{sha256: [group, ...]}``; the first group of a file is the one whose
discs it goes on (a file in two cases is burned once). A case's members are those retention
holds for it: ``ArchiveState.members``, the one rule (overlapping time ranges compared in UTC,
the ledger's officer) that ``fieldrec retention`` and ``fieldrec case show`` use too.
"""

from __future__ import annotations

from datetime import datetime

from catalog.store import Catalog
from pipeline.records.lookup import LookupProblem, resolve_shas
from pipeline.records.state import ArchiveState
from pipeline.common.clock import now_utc
from pipeline.common.times import Zones, as_utc
from pipeline.rules.clocks import placed_start

SELECTION_GROUP = "selection"


class SelectionError(ValueError):
    """The selection names nothing, or something the archive does not have."""


def recordings(catalog: Catalog) -> dict[str, dict]:
    """Recordings by SHA-256 (the first row of each content), attributed as the archive attributes
    them (pipeline.records.attribution)."""
    from pipeline.records import attribution

    rows: dict[str, dict] = {}
    for row in attribution.load(catalog).apply(catalog.rows("recordings")):
        rows.setdefault(row["sha256"], row)
    return rows


def important_only(chosen: dict[str, list[str]], known: dict[str, dict]) -> dict[str, list[str]]:
    """The chosen recordings the recorder marked important."""
    kept = {sha: groups for sha, groups in chosen.items() if known.get(sha, {}).get("important")}
    if not kept:
        raise SelectionError("none of the selected recordings is marked important")
    return kept


def by_important(known: dict[str, dict], since: datetime | None, until: datetime | None,
                 zones: Zones | None = None) -> dict[str, list[str]]:
    """Every recording marked important whose start is in [since, until] (instants)."""
    zones = zones or Zones()
    chosen = {sha: [SELECTION_GROUP] for sha, row in known.items()
              if row.get("important") and _in_window(_start(row, zones), since, until)}
    if not chosen:
        raise SelectionError("no recording marked important" + (" in the --since/--until window" if since or until else ""))
    return chosen


def by_sha(known: dict[str, dict], shas: list[str]) -> dict[str, list[str]]:
    """Full SHA-256s or unique prefixes (6+ hex digits)."""
    try:
        return {sha: [SELECTION_GROUP] for sha in resolve_shas(shas, known)}
    except LookupProblem as exc:
        raise SelectionError(str(exc)) from None


def by_device(known: dict[str, dict], devices: list[str], since: datetime | None,
              until: datetime | None, zones: Zones | None = None) -> dict[str, list[str]]:
    """Recordings of the devices whose start is in [since, until] (instants)."""
    zones = zones or Zones()
    chosen: dict[str, list[str]] = {}
    present = {r["device_id"] for r in known.values()}
    missing = [d for d in devices if d not in present]
    if missing:
        names = ", ".join(sorted(str(d) for d in present if d)[:20])
        raise SelectionError(f"no recordings of device(s) {', '.join(missing)} (devices in the archive: {names})")
    for sha, row in known.items():
        if row["device_id"] in devices and _in_window(_start(row, zones), since, until):
            chosen[sha] = [SELECTION_GROUP]
    if not chosen:
        raise SelectionError("the devices have no recordings starting in the --since/--until window")
    return chosen


def by_cases(state: ArchiveState, case_ids: list[str], strict: bool = True) -> dict[str, list[str]]:
    """Members of the cases named. ``strict``: a case that holds no recording is an error (not
    when called for grouping)."""
    wanted = list(dict.fromkeys(case_ids))
    members = {case: [r.sha256 for r in state.members(case)] for case in wanted}
    empty = [c for c in wanted if not members[c]]
    if empty and strict:
        raise SelectionError(f"case(s) with no recordings assigned: {', '.join(empty)}")
    chosen: dict[str, list[str]] = {}
    for case in wanted:
        for sha in sorted(members[case]):
            chosen.setdefault(sha, []).append(case)
    return chosen


def _start(row: dict, zones: Zones) -> datetime | None:
    """A recording's start instant (its device clock placed in the device's zone)."""
    return placed_start(row, zones.device(row.get("device_id"))[0])


def by_class(archive, config, retention_class: str) -> dict[str, list[str]]:
    """Every recording whose retention, computed from cases and assignments, is of this class."""
    from pipeline.records.state import load

    state = load(archive, config, now_utc())
    chosen: dict[str, list[str]] = {}
    for record in state.records:
        r = record.retention
        if record.purge is None and (r.retention_class == retention_class
                                     or (retention_class == "permanent" and r.permanent)):
            chosen[record.sha256] = [retention_class]
    if not chosen:
        raise SelectionError(f"no recording has retention class {retention_class!r}")
    # Keep each case's files together: name the cases that hold each chosen file.
    members = by_cases(state, sorted(state.cases), strict=False)
    for sha in chosen:
        if members.get(sha):
            chosen[sha] = members[sha]
    return chosen


def _in_window(start, since, until) -> bool:
    """Instants compared as instants (a bound without a zone is taken as UTC, as stored)."""
    if since is None and until is None:
        return True
    if start is None:
        return False
    start, since, until = (as_utc(t) if isinstance(t, datetime) else t for t in (start, since, until))
    return (since is None or start >= since) and (until is None or start <= until)

