"""Which originals go on discs: explicit SHA-256s, a device's recordings, or cases.

Every resolver returns ``{sha256: [group, ...]}``; the first group of a file is the one whose
discs it goes on (a file in two cases is burned once). Case selection reads the ``cases`` and
``assignments`` tables when the catalog schema has them (they belong to the retention
feature); the columns this module expects are listed in ``ASSIGNMENT_COLUMNS``.
"""

from __future__ import annotations

from datetime import datetime

from catalog.store import Catalog
from pipeline.records.lookup import LookupProblem, resolve_shas
from pipeline.common.clock import now_utc
from pipeline.common.times import Zones, as_utc
from pipeline.rules.clocks import placed_start

SELECTION_GROUP = "selection"

# Columns read from ``assignments`` (one row per case membership; absent columns are skipped):
#   case_id                        the case
#   sha256                         one recording, or null when the row names a window below
#   device_id, from_time, to_time  a device's recordings starting in [from_time, to_time]
#   officer_id, from_time, to_time an officer's recordings starting in [from_time, to_time]
#   retention_class                the case's class (else taken from ``cases``)
#   action                         'assign' (or null) adds, 'unassign' / 'remove' takes away
# and from ``cases``: case_id, retention_class (the last row of a case wins).
ASSIGNMENT_COLUMNS = ("case_id", "sha256", "device_id", "officer_id", "from_time", "to_time",
                      "retention_class", "action")
REMOVE_ACTIONS = {"unassign", "remove", "removed", "unassigned"}


class SelectionError(ValueError):
    """The selection names nothing, or something the archive does not have."""


def recordings(catalog: Catalog) -> dict[str, dict]:
    """Recordings by SHA-256 (the first row of each content)."""
    rows: dict[str, dict] = {}
    for row in catalog.rows("recordings"):
        rows.setdefault(row["sha256"], row)
    return rows


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


def by_cases(catalog: Catalog, known: dict[str, dict], case_ids: list[str] | None = None,
             retention_class: str | None = None, strict: bool = True, zones: Zones | None = None) -> dict[str, list[str]]:
    """Members of the cases named, or of every case of a retention class.

    ``strict``: a named case with no recordings is an error (not when called for grouping).
    """
    table = catalog.read("assignments")
    names = set(table.column_names)
    rows = table.to_pylist()
    if retention_class is not None:
        classes = _case_classes(catalog, rows)
        case_ids = sorted(c for c, k in classes.items() if k == retention_class)
        if not case_ids:
            raise SelectionError(f"no case has retention class {retention_class!r}")
    wanted = list(dict.fromkeys(case_ids or []))
    members: dict[str, set[str]] = {c: set() for c in wanted}
    for row in rows:                              # events in commit order; later rows win
        case = row.get("case_id")
        if case not in members:
            continue
        shas = _matching(row, known, names, zones or Zones())
        if str(row.get("action") or "assign").lower() in REMOVE_ACTIONS:
            members[case] -= shas
        else:
            members[case] |= shas
    empty = [c for c in wanted if not members[c]]
    if empty and retention_class is None and strict:
        raise SelectionError(f"case(s) with no recordings assigned: {', '.join(empty)}")
    chosen: dict[str, list[str]] = {}
    for case in wanted:
        for sha in sorted(members[case]):
            chosen.setdefault(sha, []).append(case)
    return chosen


def _case_classes(catalog: Catalog, assignments: list[dict]) -> dict[str, str]:
    classes: dict[str, str] = {}
    for row in assignments:
        if row.get("retention_class"):
            classes[row["case_id"]] = row["retention_class"]
    for row in catalog.read("cases").to_pylist():
        if row.get("retention_class"):
            classes[row["case_id"]] = row["retention_class"]
    return classes


def _matching(row: dict, known: dict[str, dict], names: set[str], zones: Zones) -> set[str]:
    if row.get("sha256"):
        return {row["sha256"]} if row["sha256"] in known else set()
    for key in ("device_id", "officer_id"):
        if key in names and row.get(key):
            return {sha for sha, r in known.items() if r[key] == row[key]
                    and _in_window(_start(r, zones), _bound(row, "from_time", "range_start"),
                                   _bound(row, "to_time", "range_end"))}
    return set()


def _start(row: dict, zones: Zones) -> datetime | None:
    """A recording's start instant (its device clock placed in the device's zone)."""
    return placed_start(row, zones.device(row.get("device_id"))[0])


def _bound(row: dict, *names: str):
    """The first of the window columns present (the retention feature names them range_*)."""
    return next((row[n] for n in names if row.get(n) is not None), None)


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
    catalog = state.catalog
    case_ids = sorted({r["case_id"] for r in catalog.rows("assignments") if r.get("case_id")})
    if case_ids:
        known = recordings(catalog)
        try:
            members = by_cases(catalog, known, case_ids=case_ids, strict=False, zones=config.zones())
        except SelectionError:
            members = {}
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

