"""The archive's recording sessions, and which gaps need an explanation, read through
``pipeline.rules.sessions``.

Sessions are computed when read, from the recordings each device's timeline uses (as attributed,
placed in time, without the ones whose clock cannot be right) and the same damaged tails the
timeline uses, so a pause splits two sessions exactly when the pause ``fieldrec gaps`` lists is
longer than ``gaps.session_break_s``. Whether a pause between sessions lies inside a case's
action is read from ``assignments`` and the recordings' importance marks.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from catalog.store import Catalog
from pipeline.common import vocabulary
from pipeline.common.i18n import _
from pipeline.common.times import Zones
from pipeline.config import Config
from pipeline.records.attribution import Identities
from pipeline.rules import sessions as rule
from pipeline.rules.clocks import placed_end, placed_start
from pipeline.rules.custody import attribute, holder_periods
from pipeline.rules.gap_events import damaged_tails
from pipeline.rules.retention import AssignmentIndex, Subject, matches

COLUMNS = ["sha256", "kind", "device_id", "officer_id", "start_time", "end_time", "duration_s", "time_source",
           "start_utc", "end_utc", "time_zone", "container_time_zone", "important", "source_name", "name_time"]


def _placed(recordings: pa.Table, config: Config, zones: Zones, identities: Identities | None,
            devices: set[str] | None = None) -> list[dict]:
    """Recordings of the timeline's kinds, attributed to a device (``devices``: only these), with
    ``start``/``end`` as instants."""
    table = recordings.filter(pc.is_in(recordings["kind"], value_set=pa.array(list(config.gaps.timeline_kinds),
                                                                              pa.string())))
    reattributed = set(identities.attributions) | set(identities.names) if identities is not None else set()
    if devices is not None:           # a person's attribution may move a recording to one of them
        keep = pc.is_in(table["device_id"], value_set=pa.array(sorted(devices), pa.string()))
        if reattributed:
            keep = pc.or_(keep, pc.is_in(table["sha256"], value_set=pa.array(sorted(reattributed), pa.string())))
        table = table.filter(keep)
    rows = table.to_pylist()
    if reattributed:
        rows = identities.apply(rows)
    out = []
    for r in rows:
        if r["device_id"] is None or (devices is not None and r["device_id"] not in devices):
            continue
        zone, _ = zones.device(r["device_id"])
        r["start"] = placed_start(r, zone)
        r["end"] = placed_end(r, zone, r["start"])
        out.append(r)
    return out


def by_device(rows: list[dict], config: Config, zones: Zones, *, left_out: set[str],
              tails: dict[str, datetime | None]) -> dict[str, list[rule.Session]]:
    """Each device's sessions (``left_out``: recordings whose clock cannot be right)."""
    per_device: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r["sha256"] not in left_out and r["start"] is not None:
            per_device[r["device_id"]].append(r)
    return {device: rule.sessions(device, recs, config.gaps.session_break_s, zone=zones.site_zone, tails=tails)
            for device, recs in per_device.items()}


def _sessions(rows: list[dict], gaps: list[dict], config: Config, zones: Zones) -> dict[str, list[rule.Session]]:
    """Sessions over the recordings the timeline uses: those of a current clock gap left out, the
    damaged tails the gaps record reaching as far as they say."""
    left_out = {g["sha256"] for g in gaps if g["kind"] == "clock" and g["current"] and g["sha256"]}
    tails = {sha: t.end for sha, t in damaged_tails(gaps, zones).items()}
    return by_device(rows, config, zones, left_out=left_out, tails=tails)


def of_devices(catalog: Catalog, gaps: list[dict], config: Config, zones: Zones | None = None,
               identities: Identities | None = None) -> dict[str, list[rule.Session]]:
    """Every device's recording sessions (``gaps``: the listing, for clock problems and damaged tails)."""
    zones = zones or config.zones()
    rows = _placed(catalog.read("recordings", COLUMNS), config, zones, identities)
    return _sessions(rows, gaps, config, zones)


def _windows(assignments: list[dict]) -> tuple[rule.Window, ...]:
    """The time windows case (and permanent/other class) assignments name for a device or officer."""
    out = []
    for a in assignments:
        if a["selector"] in ("device", "officer") and not a.get("important") and a["retention_class"] != "routine" \
                and a["range_start"] is not None and a["range_end"] is not None:
            out.append(rule.Window(_label(a), a["device_id"] if a["selector"] == "device" else None,
                                   a["officer_id"] if a["selector"] == "officer" else None,
                                   a["range_start"], a["range_end"]))
    return tuple(out)


def _label(a: dict) -> str:
    if a.get("case_id"):
        return _("case {case_id}").format(case_id=a["case_id"])
    return _("class {cls}").format(cls=vocabulary.value("class", a["retention_class"]))


def annotate(catalog: Catalog, gaps: list[dict], config: Config, zones: Zones, *,
             recordings: pa.Table | None = None, identities: Identities | None = None) -> list[dict]:
    """``gaps`` (placed, with ``current``) with ``session_id``, ``needs_explanation`` and
    ``need_reason`` added."""
    recordings = recordings if recordings is not None else catalog.read("recordings", COLUMNS)
    # Sessions name the gaps' places: only devices with a gap need theirs.
    rows = _placed(recordings, config, zones, identities, {g["device_id"] for g in gaps if g["device_id"]})
    session_of = {sha: s.session_id for sessions in _sessions(rows, gaps, config, zones).values()
                  for s in sessions for sha in s.members}
    pauses = [g for g in gaps if g["kind"] == "between_files" and (g["duration_s"] or 0) > config.gaps.session_break_s]
    around = {sha for g in pauses for sha in (g["before_sha256"], g["after_sha256"]) if sha}
    assignments = [a for a in catalog.rows("assignments") if a["retention_class"] != "routine"]
    ctx = rule.Context(config.gaps.session_break_s, session_of,
                       important=frozenset(r["sha256"] for r in rows if r["important"] and r["sha256"] in around),
                       groups=_groups(catalog, [r for r in rows if r["sha256"] in around], assignments, zones),
                       windows=_windows(assignments))
    out = []
    for g in gaps:
        decided = rule.need(g, ctx)
        out.append({**g, "session_id": decided.session_id, "needs_explanation": decided.needed,
                    "need_reason": decided.why})
    return out


def _groups(catalog: Catalog, rows: list[dict], assignments: list[dict], zones: Zones) -> dict[str, frozenset[str]]:
    """sha256 -> the cases (or classes) whose assignments select it, for the recordings around a
    long pause (an officer selector sees the ledger's holder, as retention does)."""
    if not rows or not assignments:
        return {}
    periods = holder_periods(catalog.rows("handovers"), [e for e in catalog.rows("device_events", ["device_id", "event", "at"])
                                                        if e["event"] == "return"])
    index = AssignmentIndex(assignments)
    out = {}
    for r in rows:
        who = attribute(r["officer_id"], r["start"], periods.get(r["device_id"]))
        subject = Subject(r["sha256"], r["device_id"], who.officer_id, r["start"], r["end"] or r["start"],
                          important=bool(r["important"]))
        labels = frozenset(_label(a) for a in index.candidates(subject) if matches(a, subject))
        if labels:                   # a content cataloged twice: every row's cases (as retention holds it)
            out[r["sha256"]] = out.get(r["sha256"], frozenset()) | labels
    return out

