"""The device ledger (台账, art. 6, 8, 16): per device its registration, its holders and their
periods, what was recorded in each period, interruptions explained and not, late uploads, damaged
files, faults and repairs, and what was recorded while nobody held it; and the recordings no device
is attributed to.

Built from the archive as the rules see it (``pipeline.records.state``), the gaps as `fieldrec
gaps` lists them, and the ``device_events`` table. Nothing here writes.
"""

from __future__ import annotations

from collections import defaultdict
from pipeline.records.attribution import MEDIA_KINDS, Conflict
from pipeline.records.state import ArchiveState, Record
from pipeline.rules.custody import Period
from pipeline.rules.gap_events import waiting

UNATTRIBUTED = "unattributed"


def registration(events: list[dict]) -> dict | None:
    """A device's registration: the first ``register`` event, its fields updated by later ones."""
    regs = sorted((e for e in events if e["event"] == "register"), key=lambda e: (e["at"], e["recorded_at"]))
    if not regs:
        return None
    out = {"registered_at": regs[0]["at"], "registered_by": regs[0]["by"], "model": None, "serial": None,
           "unit": None, "note": None, "updated_at": regs[-1]["at"] if len(regs) > 1 else None}
    for e in regs:
        out.update({k: e[k] for k in ("model", "serial", "unit", "note") if e[k] is not None})
    return out


def _interruptions(gaps: list[dict]) -> dict:
    needing = [g for g in gaps if g["current"] and g["needs_explanation"]]
    return {"needing": len(needing), "explained": sum(g["explanation"] == "explained" for g in needing),
            "unexplained": sum(waiting(g) for g in needing),
            "not_needed": sum(1 for g in gaps if g["current"] and not g["needs_explanation"])}


def _file(r: Record) -> dict:
    return {"sha256": r.sha256, "source_name": r.row["source_name"], "kind": r.row["kind"],
            "start_time": r.subject.start, "first_seen": r.first_seen, "status": r.row["status"]}


def _period(p: Period, recs: list[Record], gaps: list[dict]) -> dict:
    mine = [r for r in recs if r.subject.start is not None and r.clock is None and p.holds(r.subject.start)]
    held = [g for g in gaps if g["kind"] != "clock" and g.get("start_utc") is not None and p.holds(g["start_utc"])]
    counts = _interruptions(held)
    return {"officer_id": p.officer_id, "from": p.start, "to": p.end, "ended_by": p.ended_by, "by": p.by,
            "recordings": len(mine), "hours": sum(r.row["duration_s"] or 0.0 for r in mine) / 3600,
            "interruptions_explained": counts["explained"], "interruptions_unexplained": counts["unexplained"],
            "late": sum(r.late for r in mine), "damaged": sum(r.row["status"] != "ok" for r in mine)}


def _conflict(c: Conflict) -> dict:
    return {"sha256": c.sha256, "disagree_on": list(c.fields),
            "names": [{"source": n.source, "device_id": n.device_id, "officer_id": n.officer_id,
                       "name_time": n.name_time, "naming_profile": n.naming_profile} for n in c.names]}


def build(state: ArchiveState, gaps: list[dict], events: list[dict], device: str | None = None) -> list[dict]:
    """One entry per device (``device``: only that one), then, without ``device``, the entry of the
    recordings no device is attributed to (``device_id`` None, ``section`` "unattributed")."""
    per_device: dict[str, list[Record]] = defaultdict(list)
    for r in state.records:
        per_device[r.row["device_id"]].append(r)
    gaps_of: dict[str, list[dict]] = defaultdict(list)
    for g in gaps:
        gaps_of[g["device_id"]].append(g)
    events_of: dict[str, list[dict]] = defaultdict(list)
    for e in events:
        events_of[e["device_id"]].append(e)
    conflicts = {c.sha256: c for c in (state.identities.conflicts() if state.identities else [])}
    devices = sorted({d for d in per_device if d} | set(state.periods) | {d for d in events_of if d})
    if device is not None:
        devices = [device] if device in devices else []
    out = []
    for dev in devices:
        recs, dev_gaps, dev_events = per_device.get(dev, []), gaps_of.get(dev, []), events_of.get(dev, [])
        periods = state.periods.get(dev, [])
        unheld = [r for r in recs if r.subject.start is not None and r.clock is None
                  and not any(p.holds(r.subject.start) for p in periods)]
        out.append({
            "device_id": dev,
            "registration": registration(dev_events),
            "holders": [_period(p, recs, dev_gaps) for p in periods],
            "unheld": {"recordings": len(unheld), "hours": sum(r.row["duration_s"] or 0.0 for r in unheld) / 3600,
                       "files": [_file(r) for r in unheld]},
            "recordings": len(recs),
            "duration_h": sum(r.row["duration_s"] or 0.0 for r in recs) / 3600,
            "gaps": sum(1 for g in dev_gaps if g["current"]),
            "interruptions": _interruptions(dev_gaps),
            "late": sum(r.late for r in recs),
            "clock_problems": sum(r.clock is not None for r in recs),
            "damaged": sum(r.row["status"] != "ok" for r in recs),
            "from_ledger": sum(r.attribution.source == "ledger" for r in recs),
            "unattributed": sum(r.attribution.officer_id is None for r in recs),
            "mismatches": [{"sha256": r.sha256, "source_name": r.row["source_name"],
                            "name_officer": r.row["officer_id"], "ledger_officer": r.attribution.ledger_officer,
                            "start_time": r.subject.start} for r in recs if r.attribution.mismatch],
            "faults": _events(dev_events, "fault"),
            "repairs": _events(dev_events, "repair"),
            "returns": _events(dev_events, "return"),
            "conflicts": [_conflict(conflicts[r.sha256]) for r in recs if r.sha256 in conflicts],
        })
    if device is None:
        loose = {r.sha256 for r in state.records if r.row["device_id"] is None}
        files = [r for r in state.records if r.row["kind"] in MEDIA_KINDS and r.sha256 in loose]
        out.append({"device_id": None, "section": UNATTRIBUTED, "recordings": len(files),
                    "files": [{**_file(r), "officer_id": r.row["officer_id"]} for r in files],
                    "conflicts": [_conflict(c) for sha, c in sorted(conflicts.items()) if sha in loose]})
    return out


def _events(events: list[dict], kind: str) -> list[dict]:
    return [{"at": e["at"], "note": e["note"], "by": e["by"]}
            for e in sorted(events, key=lambda e: (e["at"], e["recorded_at"])) if e["event"] == kind]


def ledger_rows(report: list[dict]) -> list[dict]:
    """The ledger as printable rows (the CSV 台账): per device its summary (``entry`` device, with
    the columns the ledger always had), its registration, each holder's period, recordings made
    while nobody held it, each fault and repair; then each unattributed recording."""
    rows = []
    for d in report:
        if d["device_id"] is None:
            rows += [{"entry": UNATTRIBUTED, "recordings": 1, "from": f["start_time"], "note": f["source_name"],
                      "officer_id": f["officer_id"], "sha256": f["sha256"]} for f in d["files"]]
            continue
        reg = d["registration"] or {}
        base = {"device_id": d["device_id"], "model": reg.get("model"), "serial": reg.get("serial"),
                "unit": reg.get("unit")}
        rows.append({**base, "entry": "device", "holders": "; ".join(h["officer_id"] for h in d["holders"]),
                     "recordings": d["recordings"], "duration_h": d["duration_h"], "hours": d["duration_h"],
                     "gaps": d["gaps"], "late": d["late"], "clock_problems": d["clock_problems"],
                     "damaged": d["damaged"], "from_ledger": d["from_ledger"], "unattributed": d["unattributed"],
                     "mismatches": len(d["mismatches"]), "conflicts": len(d["conflicts"]),
                     "interruptions_explained": d["interruptions"]["explained"],
                     "interruptions_unexplained": d["interruptions"]["unexplained"]})
        if d["registration"]:
            rows.append({**base, "entry": "registered", "from": reg["registered_at"], "by": reg["registered_by"],
                         "note": reg["note"]})
        for h in d["holders"]:
            rows.append({**base, "entry": "held", "officer_id": h["officer_id"], "from": h["from"], "to": h["to"],
                         "ended_by": h["ended_by"], "by": h["by"], "recordings": h["recordings"], "hours": h["hours"],
                         "late": h["late"], "damaged": h["damaged"],
                         "interruptions_explained": h["interruptions_explained"],
                         "interruptions_unexplained": h["interruptions_unexplained"]})
        if d["unheld"]["recordings"]:
            starts = [f["start_time"] for f in d["unheld"]["files"]]
            rows.append({**base, "entry": "not held", "from": min(starts), "to": max(starts),
                         "recordings": d["unheld"]["recordings"], "hours": d["unheld"]["hours"]})
        for kind in ("faults", "repairs"):
            rows += [{**base, "entry": kind[:-1], "from": e["at"], "note": e["note"], "by": e["by"]} for e in d[kind]]
    return rows

