"""Which gaps are current, and which are explained, from append-only history.

Nothing is edited in place, so "current" is computed:

- ``gaps`` holds one row per gap_id, written when the gap is first detected (per-file gaps by
  the worker that read the file, device-wide gaps by ``refresh``), with ``detected_run_id``.
- ``gap_state`` holds an event each time a refresh finds a gap's state changed: ``open`` when
  it is found (again), ``closed`` when it is no longer found (a late-docked file filled it).
  A gap is current when its latest event is ``open``, or when it has no event yet.
- ``explanations`` holds every explanation given; a gap is explained by a spoken note, or by a
  written report once a team lead approved it.

Whether a gap needs an explanation at all (a pause inside a recording session, or inside a case's
window, does; a pause between sessions does not) is computed when read: ``pipeline.records.sessions``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from catalog.store import Catalog
from pipeline.common.clock import now_utc
from pipeline.common.times import UTC, Zones
from pipeline.config import Config
from pipeline.records import attribution, sessions, statements
from pipeline.rules import gap_events, timeline

EARLIEST = datetime.min.replace(tzinfo=UTC)


@dataclass
class Refresh:
    new: int = 0            # gaps detected for the first time
    opened: int = 0         # state events written
    closed: int = 0
    current: int = 0


def refresh(catalog: Catalog, run_id: str, config: Config, *, now: datetime | None = None) -> Refresh:
    """Re-evaluate every device's timeline; record new gaps and every change of state.

    Run by the ingest driver after its last commit, under the archive lock. Idempotent: a
    second refresh with nothing new writes nothing.
    """
    now = now or now_utc()
    zones = config.zones()
    identities = attribution.load(catalog, config.identity)
    recordings = identities.apply_table(catalog.read("recordings", timeline.COLUMNS))
    known = catalog.rows("gaps", ["gap_id", "kind", "sha256", "device_id", "end_time", "end_utc", "duration_s"])
    found = timeline.device_gaps(recordings, gap_events.damaged_tails(known, zones), config.gaps, run_id=run_id,
                                 detected_at=now, zones=zones)
    known_ids = {g["gap_id"] for g in known}
    current = {g["gap_id"] for g in found} | {g["gap_id"] for g in known if g["kind"] in gap_events.PER_FILE_KINDS}
    new_rows, seen = [], set()
    for g in found:
        if g["gap_id"] not in known_ids and g["gap_id"] not in seen:
            new_rows.append(g)
            seen.add(g["gap_id"])
    events = gap_events.state_changes(current, known_ids, latest_states(catalog), run_id=run_id, now=now)
    catalog.commit({"gaps": new_rows, "gap_state": events}, tag=run_id)
    return Refresh(new=len(new_rows), opened=sum(e["state"] == "open" for e in events),
                   closed=sum(e["state"] == "closed" for e in events), current=len(current))


def listing(catalog: Catalog, zones: Zones | None = None, config: Config | None = None) -> list[dict]:
    """Every gap ever detected with ``current``, ``explanation``, the file names involved, its
    start and end as instants (``start_utc``, ``end_utc``; ``zones`` places older rows), its
    recording session and whether it needs an explanation (``session_id``, ``needs_explanation``,
    ``need_reason``; ``config``: the session break and naming profiles, default the built-in ones)."""
    config = config or Config()
    zones = zones or config.zones()
    gaps = gap_events.placed(catalog.rows("gaps"), zones)
    states = latest_states(catalog)
    explanations: dict[str, list[dict]] = {}
    for e in sorted(catalog.rows("explanations"), key=lambda e: e["explained_at"]):
        explanations.setdefault(e["gap_id"], []).append(e)
    rec = catalog.read("recordings", sessions.COLUMNS)
    names = dict(zip(rec["sha256"].to_pylist(), rec["source_name"].to_pylist()))
    out, seen = [], set()
    for g in gaps:
        if g["gap_id"] in seen:
            continue
        seen.add(g["gap_id"])
        given = explanations.get(g["gap_id"], [])
        last = given[-1] if given else {}
        out.append({
            **g,
            "current": states.get(g["gap_id"], "open") == "open",
            "explanation": gap_events.explanation_status(given),
            "explanation_reason": last.get("reason"),
            "explained_by": last.get("explained_by"),
            "approved_by": next((e["approved_by"] for e in reversed(given) if e["approved_by"]), None),
            "file": names.get(g["sha256"]) if g["sha256"] else None,
            "before_file": names.get(g["before_sha256"]) if g["before_sha256"] else None,
            "after_file": names.get(g["after_sha256"]) if g["after_sha256"] else None,
        })
    out.sort(key=lambda g: (g["device_id"] or "", g["start_utc"] or EARLIEST, g["gap_id"]))
    return sessions.annotate(catalog, out, config, zones, recordings=rec,
                             identities=attribution.load(catalog, config.identity))


class UnknownGap(LookupError):
    """No gap, or more than one, has this id (or id prefix)."""


def resolve(catalog: Catalog, gap_id: str) -> str:
    """The full gap_id for ``gap_id`` or a unique prefix of one (at least 6 characters)."""
    ids = set(catalog.read("gaps", ["gap_id"])["gap_id"].to_pylist())
    if gap_id in ids:
        return gap_id
    matches = sorted(i for i in ids if len(gap_id) >= 6 and i.startswith(gap_id))
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UnknownGap(f"gap id prefix '{gap_id}' matches {len(matches)} gaps ({', '.join(matches[:5])}); "
                         "give more characters")
    raise UnknownGap(f"no gap with id '{gap_id}' in this archive; list them with `fieldrec gaps --archive DIR`")


def explain(catalog: Catalog, gap_id: str, *, reason: str, by: str, approved_by: str | None = None,
            spoken: bool = False, statement: tuple[str, bytes, str] | None = None,
            file_mode: int | None = None) -> tuple[dict, dict | None]:
    """Append an explanation (the caller holds the archive lock), with its written statement
    (file name, bytes, media type) stored as an object and linked. Returns the rows written."""
    full = resolve(catalog, gap_id)
    row = {
        "explanation_id": uuid.uuid4().hex, "gap_id": full, "source": "spoken" if spoken else "report",
        "reason": reason, "explained_by": by, "approved_by": approved_by or None, "explained_at": now_utc(),
    }
    attached = None
    if statement is not None:
        name, data, media = statement
        attached = statements.row(explanation_id=row["explanation_id"], gap_id=full, file_name=name, data=data,
                                  media_type=media, by=by, at=row["explained_at"],
                                  archive_path=statements.store(catalog.archive, data, fsync=catalog.fsync,
                                                                mode=file_mode or statements.FILE_MODE))
    catalog.commit({"explanations": [row], "statements": [attached] if attached else []},
                   tag=f"explain-{row['explanation_id'][:8]}")
    return row, attached


def latest_states(catalog: Catalog) -> dict[str, str]:
    return gap_events.latest_states(catalog.rows("gap_state", ["gap_id", "state", "evaluated_at"]))
