"""The gap refresh after an ingest, for only the devices and times the new recordings touch.

``gapstate.refresh`` (the reference) walks every device's whole timeline: seconds at a million
recordings, after every ingest. Here a refresh walks, for each device and kind a new recording
belongs to, only the stretch between the clean cuts around the new recordings
(``rules.windows``): the gaps ending in that stretch are found again and compared with what the
catalog holds; every other gap is as the last refresh left it. A device whose new numbered
recordings do not simply continue its sequence is walked whole. The result is what a full refresh
would write (``tests/test_gap_refresh.py`` holds the two together).

Where the survey of each walked device's older recordings starts from: the whole history's figures
each incremental refresh keeps (``gap_survey``, ``records.gapsurvey``), and one read of the
recordings around the stretches for the rest (``_figures``).

Each refresh appends a ``gap_refreshes`` row: the runs whose recordings it took in, the settings it
judged by (``basis``: the ``[gaps]`` section and the device clocks' zones) and the number of
recordings there were. The next refresh takes in the recordings of every run no refresh has taken
in (a run killed before its refresh included), and walks everything (``mode`` full) when the
settings changed, when recordings appeared or went other than through runs (a quarantined part),
or when no refresh is recorded yet.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from catalog.schema import TABLES
from catalog.store import RUN_COUNTS_NOTE, Catalog, PartCache, read_through
from pipeline.common.clock import now_utc
from pipeline.common.times import UTC, Zones, zone_label
from pipeline.config import Config, GapsConfig
from pipeline.records import gapstate, gapsurvey
from pipeline.rules import gap_events, timeline, windows
from pipeline.rules.clocks import placed_end, placed_start
from pipeline.rules.sets.recordings import device_zones
from pipeline.stages.gaps import gap_id

MARGIN = timedelta(days=1)           # stretches starting this close share a read's bucket; the least widening
WIDEN_STEPS = 8                      # a stretch is widened (twice as far) this many times before it is read whole
DEVICE_KINDS = ("between_files", "overlap")


@dataclass
class Result(gapstate.Refresh):
    mode: str = "full"               # full | incremental
    devices: int = 0                 # devices whose timelines were walked (in part)
    recordings: int = 0              # recordings taken in
    whole: int = 0                   # device timelines (of one kind) walked whole
    widened: int = 0                 # stretches read again, wider (a clean cut lay beyond)
    wall_s: float = 0.0


def basis(config: Config, reattributed: dict[str, tuple] | None = None) -> str:
    """What gaps depend on besides the recordings' own rows: the ``[gaps]`` settings, the device
    clocks' zones, and the recordings attributed other than by their own name (a person's word, or
    other names for a file whose own says nothing): when any of these changes, a refresh walks
    every timeline again."""
    text = json.dumps({"gaps": dataclasses.asdict(config.gaps), "zones": dataclasses.asdict(config.zones()),
                       "attributed": sorted((sha, list(who)) for sha, who in (reattributed or {}).items())},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


_REATTRIBUTED: dict = {}             # the last answer, by what it was read from (an ingest's refresh, then its summary)


def reattributed(catalog: Catalog, identity) -> dict[str, tuple[str | None, str | None]]:
    """sha256 -> (device, officer) of the recordings whose device and officer do not come from their
    own name (``records.attribution``): a person's attribution, or the other names of a file whose
    own name gives no device. Read from the attributions and the device-less recordings alone; the
    same parts (never rewritten: a new name is a new part) and settings give the last answer again."""
    key = (str(catalog.archive), repr(identity),
           tuple(tuple(p.name for p in catalog.visible_parts(t)) for t in ("attributions", "recordings", "sightings")))
    last = _REATTRIBUTED.get("last")             # (key, value), replaced whole: an ingest's thread reading
    if last is not None and last[0] == key:      # ahead (``runs.ahead``) asks too
        return dict(last[1])
    value = _reattributed(catalog, identity)
    _REATTRIBUTED["last"] = (key, value)
    return dict(value)


def _reattributed(catalog: Catalog, identity) -> dict[str, tuple[str | None, str | None]]:
    from pipeline.records import attribution

    attributions = catalog.rows("attributions")
    loose = catalog.rows("recordings", ["sha256", "device_id", "officer_id", "source_name", "name_time"],
                         filter=ds.field("device_id").is_null())
    shas = sorted({r["sha256"] for r in loose if r["sha256"]})
    sightings = catalog.rows("sightings", attribution.SIGHTING_COLUMNS, filter=ds.field("sha256").isin(pa.array(shas, pa.string()))) \
        if shas else []
    paths: dict[str, set] = {}
    for s in sightings:
        paths.setdefault(s["sha256"], set()).add(s["source_path"])
    identities = attribution.for_contents(attributions, [s for s in sightings if len(paths[s["sha256"]]) > 1],
                                          identity)
    out = {a: (row["device_id"], row["officer_id"]) for a, row in identities.attributions.items()}
    for r in loose:
        who = identities.of(r)
        if r["sha256"] not in out and who.device_id is not None:
            out[r["sha256"]] = (who.device_id, who.officer_id)
    return out


def _run_counts(catalog: Catalog) -> dict[str, int]:
    """Recordings per run id (none as ""). A part whose footer counts them (``RUN_COUNTS_NOTE``: a
    compacted one) or whose row groups all hold one run (an ingest's) is counted from its footer;
    only the others' ``run_id`` is read, as dictionary codes. Listed and read again when a part
    went meanwhile (a compaction)."""
    def now() -> dict[str, int]:
        counts: dict[str, int] = {}
        unread = [path for path in catalog.visible_parts("recordings") if not _counted_from_footer(path, counts)]
        if unread:
            fmt = ds.ParquetFileFormat(read_options=ds.ParquetReadOptions(dictionary_columns=["run_id"]))
            column = ds.dataset([str(f) for f in unread], format=fmt).to_table(columns=["run_id"])["run_id"]
            column = column.combine_chunks()
            for c in pc.value_counts(pc.dictionary_decode(column) if pa.types.is_dictionary(column.type)
                                     else column).to_pylist():
                counts[c["values"] or ""] = counts.get(c["values"] or "", 0) + c["counts"]
        return counts
    return catalog.relisting(now)


def _counted_from_footer(path, counts: dict[str, int]) -> bool:
    """Add ``path``'s rows per run to ``counts`` from its footer alone, if it can tell (else False,
    nothing added)."""
    import pyarrow.parquet as pq

    meta = pq.read_metadata(path)
    note = (meta.metadata or {}).get(RUN_COUNTS_NOTE.encode())
    if note is not None:
        try:
            pairs = json.loads(note)
        except ValueError:
            return False
        if not isinstance(pairs, list) or not all(
                isinstance(pair, list) and len(pair) == 2 and (pair[0] is None or isinstance(pair[0], str))
                and type(pair[1]) is int and pair[1] >= 0 for pair in pairs):
            return False
        pairs = [(run or "", n) for run, n in pairs]
        if sum(n for _, n in pairs) != meta.num_rows:
            return False
        for run, n in pairs:
            counts[run] = counts.get(run, 0) + n
        return True
    leaves = [meta.schema.column(i).path for i in range(meta.num_columns)]
    if "run_id" not in leaves:
        return False
    column = leaves.index("run_id")
    found: dict[str, int] = {}
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        stats = group.column(column).statistics
        if group.num_rows == 0:
            continue
        # one run, exactly: no null, and a value short enough that no writer truncates it
        if stats is None or not stats.has_min_max or not stats.has_null_count or stats.null_count != 0 \
                or stats.min != stats.max or not isinstance(stats.min, str) or len(stats.min) > 256:
            return False
        found[stats.min] = found.get(stats.min, 0) + group.num_rows
    for run, n in found.items():
        counts[run] = counts.get(run, 0) + n
    return True


@dataclass(frozen=True)
class SurveyAhead:
    """The whole-history figures an ingest's refresh counts from every recording when the last
    refresh kept none (``gapsurvey.older``), counted while its files are stored (``survey_ahead``)."""
    runs: dict            # rows per run (``_run_counts``) when they were counted
    but: frozenset        # the runs whose recordings they leave out
    figures: pa.Table


def survey_ahead(catalog: Catalog, config: Config, run_id: str) -> SurveyAhead | None:
    """For the refresh at the end of run ``run_id``: the figures of every recording but those of
    the runs no refresh has covered yet and of the run itself, when the last refresh kept none (the
    first incremental refresh after a full one: an upgrade, a build, a changed setting); None when
    the end will read kept figures or refresh in full. The end takes them only if no other run's
    rows came or went meanwhile (``_incremental``)."""
    history = catalog.rows("gap_refreshes", ["run_id", "refreshed_at", "runs"])
    last = max(history, key=lambda h: h["refreshed_at"], default=None)
    if last is None:
        return None
    covered = {r for h in history for r in (h["runs"] or ())}
    counts = _run_counts(catalog)
    fresh = sorted(r for r in counts if r not in covered)
    if "" not in fresh and gapsurvey.kept(catalog, last["run_id"]) is not None:
        return None
    but = frozenset(fresh) | {run_id}
    params = _survey_params(config.gaps, config.zones().site_zone)
    return SurveyAhead(counts, but, gapsurvey.counted_but(catalog, sorted(but), params))


def refresh(catalog: Catalog, run_id: str, config: Config, *, now: datetime | None = None,
            full: bool = False, cache: PartCache | None = None, survey: SurveyAhead | None = None) -> Result:
    """Bring the gaps up to the recordings, incrementally when it can, else as ``gapstate.refresh``.
    Run by the ingest driver after its last commit, under the archive lock. ``cache``: the gaps'
    and states' parts read while the run's files were stored, ``survey``: the whole history's
    figures counted then (``runs.ahead``)."""
    now = now or now_utc()
    t0 = time.monotonic()
    history = catalog.rows("gap_refreshes", ["run_id", "refreshed_at", "basis", "recordings", "runs"])
    covered = {r for h in history for r in (h["runs"] or ())}
    last = max(history, key=lambda h: h["refreshed_at"], default=None)
    counts = _run_counts(catalog)
    total = sum(counts.values())
    fresh = sorted(r for r in counts if r not in covered)
    moved = reattributed(catalog, config.identity)
    here = basis(config, moved)
    batch: dict[str, list] = {}
    if full or last is None or last["basis"] != here or last["recordings"] + sum(counts[r] for r in fresh) != total:
        done = Result(**dataclasses.asdict(gapstate.refresh(catalog, run_id, config, now=now)), recordings=total)
        taken = sorted(counts)
    else:
        ahead = survey.figures if survey is not None and _still(survey, counts, fresh, run_id) else None
        done, batch = _incremental(catalog, run_id, config, now, fresh, moved, last["run_id"], cache, ahead)
        taken = fresh
    done.wall_s = time.monotonic() - t0
    batch["gap_refreshes"] = [{
        "run_id": run_id, "refreshed_at": now, "mode": done.mode, "basis": here, "recordings": total, "runs": taken,
        "devices": done.devices, "new_gaps": done.new, "events": done.opened + done.closed, "wall_s": done.wall_s}]
    catalog.commit(batch, tag=run_id)
    return done


def _still(survey: SurveyAhead, counts: dict, fresh: list[str], run_id: str) -> bool:
    """Whether ``survey``'s figures are those of every recording but the ``fresh`` runs' now: it left
    out the same runs (and the run, which is among them once it has a recording), and no other
    run's rows came or went since it counted (the run's own may have: it leaves them out)."""
    others = lambda runs: {r: n for r, n in runs.items() if r != run_id}       # noqa: E731
    return set(fresh) | {run_id} == survey.but and others(counts) == others(survey.runs)


# -- reading what the walk needs ------------------------------------------------------------------------------
def _naive(t: datetime | None) -> datetime | None:
    return t.astimezone(UTC).replace(tzinfo=None) if t is not None and t.tzinfo is not None else t


def _instant(t: datetime) -> pa.Scalar:
    t = min(max(t, datetime(1, 1, 2)), datetime(9999, 12, 30))
    return pa.scalar(t.replace(tzinfo=UTC), pa.timestamp("us", tz="UTC"))


def _read(catalog: Catalog, zones: Zones, expr, moved: dict | None = None, cache: PartCache | None = None
          ) -> list[dict]:
    """Recordings rows as ``timeline.device_gaps`` prepares them: attributed (``moved``), placed, as
    naive UTC instants."""
    return _prepared(read_through(catalog, cache, "recordings", timeline.COLUMNS, expr), zones, moved)


# The recordings' columns the refresh reads of the recent parts, read ahead whole.
RECENT_COLUMNS = list(dict.fromkeys(timeline.COLUMNS + ["important", "run_id"]))
RECENT_DAYS = 45


def recent_ahead(catalog: Catalog, cache: PartCache, now: datetime) -> None:
    """Read ahead, whole, the recordings' parts that hold a recording stored as starting or ending
    in the last ``RECENT_DAYS`` (or whose statistics cannot say): those the stretches around a
    night's recordings are read from; the older parts are each read where a walk needs them."""
    import pyarrow.parquet as pq

    since = now - timedelta(days=RECENT_DAYS)
    recent = []
    for path in catalog.visible_parts("recordings"):
        meta = pq.ParquetFile(path).metadata
        names = meta.schema.to_arrow_schema().names
        where = [names.index(c) for c in ("start_utc", "end_utc") if c in names]
        for g in range(meta.num_row_groups):
            stats = [meta.row_group(g).column(i).statistics for i in where]
            if not where or any(st is None or not st.has_min_max or st.max is None or st.max >= since for st in stats):
                recent.append(path)
                break
    cache.keep(catalog, "recordings", RECENT_COLUMNS, recent)


def _prepared(table: pa.Table, zones: Zones, moved: dict | None = None) -> list[dict]:
    """``_read`` for rows already read: a Python call per row, so only for the rows a walk needs.
    A row stored where it lies (``_as_stored``, nearly every one) takes its instants as stored,
    picked by Arrow; only the others are placed row by row (``clocks.placed_start``, ``placed_end``).
    The rows are built column by column (``_values``: Arrow's own conversion of an instant with its
    zone costs several times the naive one)."""
    naive = pa.timestamp("us")
    stored = _as_stored(table, zones, moved)
    picked = {"start_time": pc.if_else(stored, table["start_utc"].cast(naive), table["start_time"]),
              "end_time": pc.if_else(stored, table["end_utc"].cast(naive), table["end_time"]),
              "ingested_at": table["ingested_at"].cast(naive)}
    names = table.column_names
    columns = [_values(picked.get(name, table[name])) for name in names]
    rows = [dict(zip(names, values)) for values in zip(*columns)]
    for r, as_stored in zip(rows, stored.to_pylist()):
        if not as_stored:
            if moved and r["sha256"] in moved:
                r["device_id"], r["officer_id"] = moved[r["sha256"]]
            zone, _ = zones.device(r["device_id"])
            start = placed_start(r, zone)
            r["start_time"], r["end_time"] = _naive(start), _naive(placed_end(r, zone, start))
    return rows


def _values(column) -> list:
    """``column.to_pylist()``; instants stored in UTC converted naive, then given the zone Arrow gives."""
    kind = column.type
    if not pa.types.is_timestamp(kind) or kind.tz not in ("UTC", "Etc/UTC", "+00:00"):
        return column.to_pylist()
    zone = pa.scalar(0, kind).as_py().tzinfo
    return [None if t is None else t.replace(tzinfo=zone) for t in column.cast(pa.timestamp(kind.unit)).to_pylist()]


def _as_stored(table: pa.Table, zones: Zones, moved: dict | None = None) -> pa.Array:
    """Rows placed where they are stored: not attributed elsewhere (``moved``), stored with both
    instants, in their device's zone as now configured (or none): ``clocks.placed_start`` gives
    their ``start_utc``, and ``placed_end`` their ``end_utc``."""
    if not table.num_rows:
        return pa.array([], pa.bool_())
    label = device_zones(table["device_id"].combine_chunks(), zones)[0]
    zone = table["time_zone"]
    ok = pc.and_(pc.and_(pc.is_valid(table["start_utc"]), pc.is_valid(table["end_utc"])),
                 pc.or_kleene(pc.is_null(zone), pc.fill_null(pc.equal(zone, label), False)))
    if moved:
        ok = pc.and_(ok, pc.invert(pc.is_in(table["sha256"], value_set=pa.array(sorted(moved), pa.string()))))
    return pc.fill_null(ok, False).combine_chunks() if isinstance(ok, pa.ChunkedArray) else pc.fill_null(ok, False)


@dataclass
class _Group:
    """One device's recordings of one kind, as far as read: ``rows`` hold those placed in ``[lo, hi]``
    (naive UTC), and every new one."""
    device: str
    kind: str
    new: set[str]
    lo: datetime = datetime.max
    hi: datetime = datetime.min
    rows: dict[str, dict] = field(default_factory=dict)
    whole: bool = False                # every recording of this device and kind is in ``rows``
    first_old: datetime | None = None  # the earliest and latest start among its older recordings
    last_old: datetime | None = None
    reach_in: datetime | None = None   # how far recordings before ``lo`` reach into the stretch
    steps: int = 0
    recount: tuple | None = None       # (numbered new, latest older numbered start): see ``_count_over``

    @property
    def key(self) -> tuple[str, str]:
        return (self.device, self.kind)


def _survey(catalog: Catalog, groups: dict, fresh: list[str], labels: list[str], cfg: GapsConfig, zones: Zones,
            older: pa.Table, cache: PartCache | None = None) -> pa.Table:
    """For each group, where its believable older recordings begin and end and the nearest before
    and after its stretch (the stretch is widened to them), and whether it must be walked whole (a
    recording placed other than stored, or new numbered recordings that neither continue the
    sequence nor start it over on a new day). Returns the recordings read around the stretches
    (``_figures``), which ``_fill`` then picks each stretch from."""
    site = zones.site_zone
    order = list(groups)
    by_group, table = _figures(catalog, groups, fresh, labels, cfg, zones, older, cache)
    for i, key in enumerate(order):
        g = groups[key]
        m = by_group.get(i, {})
        g.first_old, g.last_old = _naive(m.get("first_min")), _naive(m.get("first_max"))
        if m.get("before_max") is not None:
            g.lo = min(g.lo, _naive(m["before_max"]))
        if m.get("cut_max") is not None:
            g.lo = min(g.lo, _naive(m["cut_max"]))
        if m.get("after_min") is not None:
            g.hi = max(g.hi, _naive(m["after_min"]))
        numbered = [(r["sequence"], r["start_time"], r["sha256"]) for r in g.rows.values()
                    if r["sequence"] is not None and timeline.clock_problem(r, cfg, site) is None]
        old_max = (m["seq_max"], _naive(m["first_max"]) or datetime.max) if m.get("seq_max") is not None else None
        zone, old_last = zones.device(g.device)[0], _naive(m.get("numbered_max"))
        if m.get("odd_sum"):
            g.whole = True
        elif cfg.check_sequence and not windows.extends_sequence(old_max, numbered) \
                and not windows.starts_count_again(m.get("seq_min"), old_last, numbered, zone):
            # The count may still start over after the last older number (a recorder counting its
            # video and audio files together starts a day's video at 2): decided once that is read.
            if windows.starts_count_again(float("inf"), old_last, numbered, zone):
                g.recount = (numbered, old_last)
            else:
                g.whole = True
    return table.select(timeline.COLUMNS)


def _figures(catalog: Catalog, groups: dict, fresh: list[str], labels: list[str], cfg: GapsConfig, zones: Zones,
             older: pa.Table, cache: PartCache | None = None) -> tuple[dict[int, dict], pa.Table]:
    """What ``gapsurvey.figures`` says of each group (by its position in ``groups``): the whole
    history's figures from ``older`` (``gapsurvey.older``); the stretch's own (the nearest before and
    after it, the clean cut before it) from one read of the recordings around the stretches
    (returned, with ``run_id``: ``_recent``'s, every group's from two days before its last older
    recording). A group with believable older recordings after the start of its stretch (a file
    docked late) is surveyed in DuckDB over its whole history (``gapsurvey.figures``).
    ``tests/test_gap_survey.py`` holds the two together."""
    site = zones.site_zone
    order = list(groups)
    params = _survey_params(cfg, site)
    by_group = gapsurvey.whole_history(older, order, labels)
    late = {i for i, key in enumerate(order) if by_group.get(i, {}).get("first_max") is not None
            and _utc(groups[key].lo) <= by_group[i]["first_max"]}
    if late:
        asked = sorted(late)
        stats = gapsurvey.figures(catalog, pa.table({
            "i": pa.array(asked, pa.int64()), "device_id": pa.array([order[i][0] for i in asked], pa.string()),
            "kind": pa.array([order[i][1] for i in asked], pa.string()),
            "lo": pa.array([_utc(groups[order[i]].lo) for i in asked], pa.timestamp("us", tz="UTC")),
            "hi": pa.array([_utc(groups[order[i]].hi) for i in asked], pa.timestamp("us", tz="UTC"))}),
            {"fresh": fresh, "labels": labels, **params})
        by_group.update({m["i"]: m for m in stats.to_pylist()})
    # The rest: every older believable recording starts before the stretch: the nearest before it is
    # the last of them, none lies after it, and the clean cut is looked for from two days before.
    bound: dict[tuple[str, str], datetime] = {}
    los, ws, keys = [], [], []
    position = {key: i for i, key in enumerate(order)}
    for i, key in enumerate(order):
        m = by_group.setdefault(i, {"first_min": None, "first_max": None, "seq_max": None, "seq_min": None,
                                    "numbered_max": None, "odd_sum": 0})
        lo = _utc(groups[key].lo)
        if i in late:
            widest = min([t for t in (lo, m.get("before_max"), m.get("cut_max")) if t is not None])
            bound[key] = _naive(widest)
            continue
        m["before_max"], m["after_min"] = m["first_max"], None
        w = min(lo, m["first_max"] or lo) - timedelta(days=2)
        bound[key] = _naive(w)
        keys.append(key)
        los.append(lo)
        ws.append(w)
    table = _recent(catalog, list(groups.values()), lambda g: bound[g.key], extra=["run_id"], cache=cache)
    for j, cut in gapsurvey.cut_max(table, fresh, keys, los, ws, params).items():
        by_group[position[keys[j]]]["cut_max"] = cut
    return by_group, table


def _survey_params(cfg: GapsConfig, site) -> dict:
    """What makes a clock believable, as ``gapsurvey`` takes it (``clocks.clock_problem``'s bounds)."""
    from pipeline.rules.clocks import earliest_plausible

    return {"tolerance": int(cfg.future_tolerance_s * 1_000_000),
            "earliest": _utc(_naive(earliest_plausible(cfg.earliest_plausible, site)))}


def _utc(t: datetime):
    return min(max(t, datetime(1, 1, 2)), datetime(9999, 12, 30)).replace(tzinfo=UTC)


def _fill(catalog: Catalog, zones: Zones, groups: list[_Group], kinds: tuple[str, ...],
          moved: dict | None = None, recent: pa.Table | None = None,
          cache: PartCache | None = None) -> pa.Table | None:
    """Read each group's stretch (whole groups: everything, with the recordings attributed to the
    device other than by their own name) into ``rows``. One read for the whole groups and one for
    the stretches; each group's rows are picked with Arrow before any row becomes a dict (a
    device idle for months widens the scan over the year: the per-row work stays its stretch).
    ``recent``: the recordings read around the stretches already, every one each stretch holds."""
    whole = [g for g in groups if g.whole]
    stretched = [g for g in groups if not g.whole]
    if whole:
        devices = sorted({g.device for g in whole})
        expr = _devices(devices)
        mine = sorted(sha for sha, (device, _) in (moved or {}).items() if device in set(devices))
        if mine:
            expr = expr | ds.field("sha256").isin(pa.array(mine, pa.string()))
        expr = expr & ds.field("kind").isin(pa.array(sorted({g.kind for g in whole}), pa.string()))
        by_key = {g.key: g for g in whole}
        for g in whole:
            g.rows = {}
        for r in _read(catalog, zones, expr, moved, cache):
            g = by_key.get((r["device_id"], r["kind"]))
            if g is not None:
                g.rows[r["sha256"]] = r
    if not stretched:
        return None
    table = _recent(catalog, stretched, cache=cache) if recent is None else recent
    # A stretched group has no recording stored other than where it lies (``_survey`` walks such a
    # device whole), so its stored start_utc picks its stretch; the placed start decides below.
    order = [g.key for g in stretched]
    index = gapsurvey.group_index(table, order)
    los = pa.array([_utc(g.lo) for g in stretched], pa.timestamp("us", tz="UTC"))
    his = pa.array([_utc(g.hi) for g in stretched], pa.timestamp("us", tz="UTC"))
    start = table["start_utc"]
    within = pc.and_(pc.greater_equal(start, pc.take(los, index)), pc.less_equal(start, pc.take(his, index)))
    by_key = {g.key: g for g in stretched}
    for r in _prepared(table.filter(pc.fill_null(within, False)), zones):
        g = by_key.get((r["device_id"], r["kind"]))
        if g is not None and r["start_time"] is not None and g.lo <= r["start_time"] <= g.hi:
            g.rows[r["sha256"]] = r
    return table


def _recent(catalog: Catalog, groups: list[_Group], bound=lambda g: g.lo, extra: tuple = (),
            cache: PartCache | None = None) -> pa.Table:
    """The recordings (of any kind: other kinds are in no group) that start or end at or after the
    start of their group's bucket (``_buckets``), and more: what ``_fill`` picks each stretch from,
    and ``_reach_in`` what reaches into one. One read: every device's from the start of the bucket
    of most groups (a test of the time columns alone is cheap on a million rows; a test of the
    device's name is not), and the devices of the other buckets (a device idle for months, a
    late-docked old file) from the earliest of those, up to there. Each group's rows are picked
    exactly after the read. ``bound``: each group's start (default its stretch's); ``extra``: more
    columns to give back."""
    buckets = _buckets(groups, lambda g: (bound(g), bound(g)))
    main = max(buckets, key=lambda b: len(b[2]))

    def since(t: datetime):
        # the stored end, else (as ``clocks.placed_end``) start plus length: tested apart, so that the
        # parts' statistics still answer the first two
        return (ds.field("start_utc") >= _instant(t)) | (ds.field("end_utc") >= _instant(t)) | \
            (ds.field("end_utc").is_null() & (gapsurvey.stored_end(ds.field) >= _instant(t)))

    expr = since(main[0])
    for lo, _, bucket in buckets:             # each other bucket from its own start, its devices alone
        if bucket is not main[2]:
            expr = expr | (since(lo) & (ds.field("start_utc") < _instant(main[0]))
                           & _devices(sorted({g.device for g in bucket})))
    table = read_through(catalog, cache, "recordings", list(dict.fromkeys(timeline.COLUMNS + ["important", *extra])),
                         expr)
    _remember(catalog, table.select(timeline.COLUMNS + ["important"]))
    return table.select(list(dict.fromkeys(timeline.COLUMNS + list(extra))))


# The recordings the last refresh's stretches were read from (rows as stored), by the archive and the
# recordings' parts they were read from (never rewritten: a new row is a new part). The run's end
# summary looks the recordings beside its new pauses up here first (``gapwaiting._sides``): nearly
# all of them lie in the stretches just read.
_RECENT: dict = {}


def _remember(catalog: Catalog, table: pa.Table) -> None:
    if _RECENT.get("key") != _parts_key(catalog):
        _RECENT.clear()
        _RECENT.update(key=_parts_key(catalog), table=table)


def _parts_key(catalog: Catalog) -> tuple:
    return (str(catalog.archive), tuple(p.name for p in catalog.visible_parts("recordings")))


def recent_recordings(catalog: Catalog) -> pa.Table | None:
    """The recordings a refresh of the catalog as it is now read last (``_recent``: its columns and
    ``important``, as stored), handed over once; None when the catalog's recordings differ since."""
    if not _RECENT or _RECENT["key"] != _parts_key(catalog):
        _RECENT.clear()
        return None
    table = _RECENT["table"]
    _RECENT.clear()
    return table


def forget_recent() -> None:
    _RECENT.clear()


def _devices(devices: list[str]):
    """A filter on these devices (one: an equality, which the parts' statistics answer)."""
    return ds.field("device_id") == devices[0] if len(devices) == 1 else \
        ds.field("device_id").isin(pa.array(devices, pa.string()))


def _count_over(g: _Group, cfg: GapsConfig, site, zone) -> bool:
    """Whether the new numbered recordings of ``g`` start the count over after its last older numbered
    recording that ``timeline.restarts`` sees (its clock can be right): every older numbered one
    starts before the stretch's end, so the stretch read holds it when it lies in the stretch; when
    none does, no. Then ``timeline.restarts`` begins a run at the first new one, as with
    ``windows.starts_count_again`` given that recording's number."""
    numbered, old_last = g.recount
    older = [r for sha, r in g.rows.items() if sha not in g.new and r["sequence"] is not None
             and r["start_time"] is not None and timeline.clock_problem(r, cfg, site) is None]
    if not older:
        return False
    last = max(older, key=lambda r: (r["start_time"], r["sequence"], r["sha256"]))
    return windows.starts_count_again(last["sequence"], old_last, numbered, zone)


def _buckets(groups: list[_Group], bounds) -> list[tuple[datetime, datetime, list[_Group]]]:
    """Groups whose stretches start close together (each within ``MARGIN`` of the one before), as
    (earliest start, latest end, groups): a device idle for months or a late-docked old file gets a
    bucket of its own, so that it does not widen the others' read to months."""
    out: list[tuple[datetime, datetime, list[_Group]]] = []
    last = None
    for g in sorted(groups, key=lambda g: bounds(g)[0]):
        lo, hi = bounds(g)           # stretches all end near now: close starts, not overlaps, make a bucket
        if out and lo <= last + MARGIN:
            out[-1] = (out[-1][0], max(out[-1][1], hi), out[-1][2] + [g])
        else:
            out.append((lo, hi, [g]))
        last = lo
    return out


def _reach_in(zones: Zones, groups: list[_Group], tails: dict, begins: dict, recent: pa.Table | None) -> None:
    """For each group, how far recordings that start before its stretch reach into it. Each group
    looks at the recordings of its device and kind stored as starting before its bucket's end and
    ending after its bucket's start (groups with starts close together share a bucket), among those
    ``_fill`` read for these groups (``_recent``), picked with Arrow before any becomes a dict."""
    bounds: dict[tuple[str, str], tuple[datetime, datetime]] = {}
    for lo, hi, bucket in _buckets(groups, lambda g: (g.lo, g.lo)):
        for g in bucket:
            g.reach_in = None
            bounds[g.key] = (lo, hi)
    if bounds and recent is not None:
        order = list(bounds)
        by_key = {g.key: g for g in groups}
        table = recent
        index = gapsurvey.group_index(table, order)
        los = pa.array([_utc(bounds[k][0]) for k in order], pa.timestamp("us", tz="UTC"))
        # before the group's own stretch (stored as placed: ``_survey`` walks a device whole otherwise)
        his = pa.array([_utc(by_key[k].lo) for k in order], pa.timestamp("us", tz="UTC"))
        ends = gapsurvey.stored_end(lambda name: table[name])
        near = pc.and_(pc.less(table["start_utc"], pc.take(his, index)),
                       pc.greater_equal(ends, pc.take(los, index)))
        # of those, only what can reach the stretch becomes a dict: an end (stored as placed) in it,
        # or a damaged tail of known length (the bucket's other days are thousands of rows)
        tailed = pa.array(sorted(sha for sha, tail in tails.items() if tail.end is not None), pa.string())
        near = pc.and_(near, pc.or_(pc.fill_null(pc.greater_equal(ends, pc.take(his, index)), False),
                                    pc.is_in(table["sha256"], value_set=tailed)))
        for r in _prepared(table.filter(pc.fill_null(near, False)), zones):
            g = by_key.get((r["device_id"], r["kind"]))
            if g is not None and r["start_time"] is not None and r["start_time"] < g.lo:
                end = windows.reach(r, tails)
                if end >= g.lo:
                    g.reach_in = end if g.reach_in is None else max(g.reach_in, end)
    by_device: dict[str, list] = {}
    for sha, tail in tails.items():
        if tail.end is not None and begins.get(sha) is not None:
            by_device.setdefault(begins.get(("device", sha)), []).append((sha, begins[sha], tail.end))
    for g in groups:                          # a file cut short before the stretch, whose tail reaches in
        for sha, begin, end in by_device.get(g.device, ()):
            if sha not in g.rows and begin < g.lo <= end:
                g.reach_in = end if g.reach_in is None else max(g.reach_in, end)


STATE_COLUMNS = ["gap_id", "state", "evaluated_at"]
# The gaps' columns a refresh asks about, read once (three filtered reads decoded every row three times).
GAP_COLUMNS = ["gap_id", "kind", "sha256", "after_sha256", "device_id", "start_time", "start_utc", "end_time",
               "end_utc", "duration_s"]


def _tails(known: pa.Table, zones: Zones, devices: list[str], moved: dict | None = None) -> tuple[dict, dict]:
    """These devices' damaged tails (among the ``known`` gaps' rows) as naive instants, and where each
    one's loss begins (and its device). A tail belongs to its recording's device as attributed
    (``moved``), not to the device its gap row was written under: the full refresh keys tails by
    content alone, so a recording moved to one of these devices brings its tail with it."""
    if not devices:
        return {}, {}
    moved = moved or {}
    # the devices picked from the few damaged tails, not tested on every gap's row
    every = known.filter(pc.fill_null(pc.equal(known["kind"], "damaged_tail"), False))
    mine = pc.is_in(every["device_id"], value_set=pa.array(devices, pa.string()))
    if moved:
        mine = pc.or_(pc.fill_null(mine, False), pc.is_in(every["sha256"], value_set=pa.array(sorted(moved), pa.string())))
    rows = every.filter(mine).select(
        ["gap_id", "kind", "sha256", "device_id", "start_time", "start_utc", "end_time", "end_utc",
         "duration_s"]).to_pylist()
    tails = {sha: timeline.Tail(_naive(t.end)) for sha, t in gap_events.damaged_tails(rows, zones).items()}
    begins: dict = {}
    for g in gap_events.placed(rows, zones):
        if g["sha256"]:
            begins[g["sha256"]] = _naive(g["start_utc"])
            begins[("device", g["sha256"])] = moved[g["sha256"]][0] if g["sha256"] in moved else g["device_id"]
    return tails, begins


def _flagged_old(events, groups: list[_Group]) -> set[str]:
    """Older recordings of these stretches whose clock gap is current (a sequence number out of
    order, or a clock that cannot be right): left out of the timeline, as the last refresh left them.
    ``events``: ``_states_of``, given gap ids."""
    ids = {gap_id("clock", g.device, sha, None, None): sha for g in groups if not g.whole
           for sha in g.rows if sha not in g.new}
    if not ids:
        return set()
    states = events(sorted(ids))
    return {ids[i] for i, state in states.items() if state == "open"}


def _states_of(catalog: Catalog, cache: PartCache | None = None):
    """gap ids -> their latest states (``gap_events.latest_states``), the state events read once per
    refresh and asked of as often as the walk needs (each filtered read decoded every event again)."""
    read: list[pa.Table] = []

    def latest(ids: list[str]) -> dict[str, str]:
        if not ids:
            return {}
        if not read:
            read.append(read_through(catalog, cache, "gap_state", STATE_COLUMNS))
        events = read[0]
        return gap_events.latest_states(events.filter(pc.is_in(events["gap_id"], value_set=pa.array(ids, pa.string())))
                                        .to_pylist())
    return latest


# -- the walk ------------------------------------------------------------------------------------------------
@dataclass
class _Walked:
    found: list[dict]                 # gaps found (naive instants, before ``_on_device_clock``)
    decided_after: set[str]           # device gaps ending at these recordings are decided here
    clocks: set[str]                  # clock gaps of these recordings are decided here


def _clock_rows(g: _Group, rows: list[dict], problems: dict, meta: dict) -> list[dict]:
    """The clock gaps of new recordings whose own clock cannot be right (as ``timeline._device_gaps``)."""
    out = []
    for r in rows:
        problem = problems.get(r["sha256"])
        if problem and r["sha256"] in g.new:
            reason, text = problem
            out.append(timeline._row("clock", reason, device=g.device, officer=r["officer_id"], start=r["start_time"],
                                     end=r["end_time"], duration=None, sha256=r["sha256"],
                                     detail=f"{timeline._name(r)}: {text}; left out of the device's timeline", **meta))
    return out


def _walk(g: _Group, tails: dict, flagged_old: set[str], cfg: GapsConfig, site, meta: dict,
          zone=UTC) -> _Walked | str:
    """The gaps of ``g`` its new recordings can change; "earlier" or "later" when a clean cut lies
    beyond the stretch read. ``zone``: the device clock's (its day decides where a count starts over)."""
    rows = list(g.rows.values())
    if g.whole:
        shas = {r["sha256"] for r in rows}
        return _Walked(timeline._device_gaps(g.device, rows, tails, cfg, site, meta, zone), shas, shas)
    problems = {r["sha256"]: timeline.clock_problem(r, cfg, site) for r in rows}
    left_out = {sha for sha, p in problems.items() if p} | flagged_old
    walked = sorted((r for r in rows if r["sha256"] not in left_out), key=windows.order_key)
    found = _clock_rows(g, rows, problems, meta)
    part = windows.span(walked, g.new, tails)
    if part is None:
        return _Walked(found, set(), set(g.new))
    earlier_rows = g.first_old is not None and g.first_old < g.lo
    if (part.from_first and earlier_rows) or \
            (not part.from_first and g.reach_in is not None and g.reach_in > walked[part.start]["start_time"]):
        return "earlier"
    if part.to_last and g.last_old is not None and g.last_old > g.hi:
        return "later"
    found += timeline.timeline_gaps(walked[part.start:part.stop], tails, cfg, **meta)
    return _Walked(found, {r["sha256"] for r in walked[part.after:part.stop]}, set(g.new))


def _incremental(catalog: Catalog, run_id: str, config: Config, now: datetime, fresh: list[str],
                 moved: dict[str, tuple] | None = None, last_run: str | None = None,
                 cache: PartCache | None = None, ahead: pa.Table | None = None) -> tuple[Result, dict[str, list]]:
    zones, cfg = config.zones(), config.gaps
    site = zones.site_zone
    meta = {"run_id": run_id, "detected_at": now}
    result = Result(mode="incremental")
    moved = moved or {}
    new_table = catalog.read("recordings", timeline.COLUMNS, filter=ds.field("run_id").isin(pa.array(fresh, pa.string()))) \
        if fresh else TABLES["recordings"].empty_table().select(timeline.COLUMNS)
    new_rows = _prepared(new_table, zones, moved) if new_table.num_rows else []
    result.recordings = len(new_rows)
    new_shas = sorted({r["sha256"] for r in new_rows})
    read: list[pa.Table] = []
    events = _states_of(catalog, cache)

    def known_gaps() -> pa.Table:
        if not read:
            read.append(read_through(catalog, cache, "gaps", GAP_COLUMNS))
        return read[0]
    groups: dict[tuple[str, str], _Group] = {}
    for r in new_rows:
        if r["device_id"] is None or r["kind"] not in cfg.timeline_kinds:
            continue
        g = groups.setdefault((r["device_id"], r["kind"]), _Group(r["device_id"], r["kind"], set()))
        g.new.add(r["sha256"])
        g.rows[r["sha256"]] = r
        if r["start_utc"] is None:     # stored without its instant (as older rows are): walked whole
            g.whole = True
        # The stretch is where the walk can change: a recording whose clock cannot be right is left
        # out of it (its clock gap alone), so it does not stretch it (a reset clock: to the year 2000).
        if r["start_time"] is not None and timeline.clock_problem(r, cfg, site) is None:
            end = max(r["end_time"] or r["start_time"], r["start_time"])
            g.lo, g.hi = min(g.lo, r["start_time"]), max(g.hi, end)      # ``_survey`` widens them to cuts
    for g in groups.values():
        if g.lo > g.hi:                        # only recordings left out of the walk: their clock gaps alone
            g.lo = g.hi = datetime(2000, 1, 1)
    result.devices = len({d for d, _ in groups})
    labels = sorted({zone_label(zones.device(d)[0]) for d, _ in groups})
    walked: list[tuple[_Group, _Walked]] = []
    params = _survey_params(cfg, site)
    # Recordings stored without a run ("": a part put in by hand) are older ones to the survey, as
    # to ``gapsurvey.figures``, but no kept figures count those that appeared since: counted afresh.
    since = None if "" in fresh else last_run
    older = gapsurvey.kept(catalog, since) if since else None
    if groups and older is None:           # counted from every recording (ahead, while the files were stored)
        older = ahead if ahead is not None else gapsurvey.counted_but(catalog, fresh, params)
    if groups:
        tails, begins = _tails(known_gaps(), zones, sorted({d for d, _ in groups}), moved)
        around = _survey(catalog, groups, fresh, labels, cfg, zones, older, cache)
        # A device some recording is attributed to other than by its name is walked whole (rare:
        # a person's word, or a file docked under two names).
        elsewhere = {d for d, _ in moved.values()}
        if moved:                          # and the devices they were moved from (by their own names)
            named = catalog.read("recordings", ["device_id"], filter=ds.field("sha256").isin(
                pa.array(sorted(moved), pa.string())))["device_id"]
            elsewhere |= set(named.drop_null().to_pylist())
        for g in groups.values():
            g.whole = g.whole or g.device in elsewhere
        todo = list(groups.values())
        recent = _fill(catalog, zones, todo, cfg.timeline_kinds, moved, around, cache)
        recount = [g for g in todo if g.recount is not None and not g.whole
                   and not _count_over(g, cfg, site, zones.device(g.device)[0])]
        for g in recount:
            g.whole = True
        if recount:
            _fill(catalog, zones, recount, cfg.timeline_kinds, moved, cache=cache)
        while todo:
            _reach_in(zones, [g for g in todo if not g.whole], tails, begins, recent)
            flagged = _flagged_old(events, todo)
            wider = []
            for g in todo:
                outcome = _walk(g, tails, flagged & g.rows.keys(), cfg, site, meta, zones.device(g.device)[0])
                if isinstance(outcome, _Walked):
                    walked.append((g, outcome))
                    continue
                g.steps += 1
                result.widened += 1
                width = max(g.hi - g.lo, MARGIN)
                if g.steps > WIDEN_STEPS:
                    g.whole = True
                elif outcome == "earlier":
                    g.lo -= width
                else:
                    g.hi += width
                wider.append(g)
            recent = _fill(catalog, zones, wider, cfg.timeline_kinds, moved, cache=cache)
            todo = wider
    result.whole = sum(g.whole for g, _ in walked)
    found = [timeline._on_device_clock(x, zones.device(g.device)[0]) for g, w in walked for x in w.found]
    decided = set().union(*(w.decided_after for _, w in walked))
    clocks = set().union(*(w.clocks for _, w in walked))
    current = {x["gap_id"] for x in found} | _per_file(known_gaps(), new_shas)
    known = _known(known_gaps(), decided, clocks, new_shas)
    asked = sorted(current | known)
    states = events(asked)
    events = gap_events.state_changes(current, known, states, run_id=run_id, now=now)
    rows, seen = [], set()
    for x in found:
        if x["gap_id"] not in known and x["gap_id"] not in seen:
            rows.append(x)
            seen.add(x["gap_id"])
    result.new, result.current = len(rows), len(current)
    result.opened = sum(e["state"] == "open" for e in events)
    result.closed = sum(e["state"] == "closed" for e in events)
    batch: dict = {"gaps": rows, "gap_state": events}
    if older is not None:          # the figures as of this refresh, for the next one
        batch["gap_survey"] = gapsurvey.to_rows(gapsurvey.combine(older, gapsurvey.aggregate(new_table, params)), run_id)
    return result, batch


def _per_file(known: pa.Table, shas: list[str]) -> set[str]:
    """The gaps the workers found inside these recordings: current, whatever else happens."""
    if not shas:
        return set()
    return set(known["gap_id"].filter(_of(known, gap_events.PER_FILE_KINDS, "sha256", shas)).to_pylist())


def _known(known: pa.Table, decided_after: set[str], clocks: set[str], new_shas: list[str]) -> set[str]:
    """The gaps the catalog holds (``known``) whose state this refresh decides."""
    parts = []
    if decided_after:
        parts.append(_of(known, DEVICE_KINDS, "after_sha256", sorted(decided_after)))
    if clocks:
        parts.append(_of(known, ("clock",), "sha256", sorted(clocks)))
    if new_shas:
        parts.append(_of(known, gap_events.PER_FILE_KINDS, "sha256", new_shas))
    if not parts:
        return set()
    mask = parts[0]
    for more in parts[1:]:
        mask = pc.or_(mask, more)
    return set(known["gap_id"].filter(mask).to_pylist())


def _of(known: pa.Table, kinds: tuple[str, ...], column: str, shas: list[str]) -> pa.ChunkedArray:
    """Rows of these kinds naming one of these contents in ``column`` (never null)."""
    return pc.and_(pc.is_in(known["kind"], value_set=pa.array(list(kinds), pa.string())),
                   pc.is_in(known[column], value_set=pa.array(shas, pa.string())))
