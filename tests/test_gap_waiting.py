"""The end summary's counts carried from the last summary (``records.gapwaiting``) are what the
reference listing counts, carried or counted again; a kept row that no longer fits is not carried."""

from __future__ import annotations

import json
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
from hypothesis import HealthCheck, event, given, settings, strategies as st

from catalog.store import Catalog, PartCache
from pipeline.config import load_config
from pipeline.records import gapwaiting
from pipeline.runs.ingest import RunSummary, _identities_and_gaps, _known_contents
from tests.test_gap_count import T0, _pause_between, reference
from tests.test_set_rules import gap_catalog

UTC = timezone.utc
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _repeated(catalog: Catalog) -> bool:
    """Whether a content has two recordings rows, as the ingest reads it before its walk."""
    return getattr(_known_contents(catalog), "repeated", False)


def _kept(catalog: Catalog, config, run_id: str, now: datetime = NOW) -> gapwaiting.Tally:
    """A summary as ingest keeps it: counted, its row committed under the run's tag."""
    tally = gapwaiting.tally(catalog, config, run_id, now, repeated=_repeated(catalog))
    if tally.keep is not None:
        catalog.commit({"gap_waiting": [tally.keep]}, tag=run_id)
    return tally


def _summarised(archive: Path, tables: dict, config) -> tuple[Catalog, gapwaiting.Tally]:
    """A catalog of ``tables`` whose first summary (run r0) kept its row."""
    catalog = Catalog(archive, fsync=False).create()
    catalog.commit(tables, tag="m-old")
    return catalog, _kept(catalog, config, "r0")


def _split(tables: dict, names, data) -> dict:
    """Each named table's rows cut at a drawn place: the first ones left in ``tables``, the others
    returned (to be committed later)."""
    later = {}
    for name in names:
        rows = tables.get(name, [])
        cut = data.draw(st.integers(0, len(rows)))
        tables[name], later[name] = rows[:cut], rows[cut:]
    return later


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gap_catalog(), st.data())
def test_carried_counts_match_the_reference(drawn, data):
    """What was there at the last summary, then gaps, states and explanations added (a gap found
    again, a state event, an explanation of any gap, in parts listed before or after the older ones)."""
    tables, config = drawn
    run_id = data.draw(st.sampled_from(("r1", "r2", "r9")))
    later = _split(tables, gapwaiting.TRACKED + ("explanations",), data)
    tag = data.draw(st.sampled_from(("a-run", "z-run")))        # listed before or after the older parts
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp)
        catalog, first = _summarised(archive, tables, config)
        assert first.counts.summary() == reference(archive, config, "r0")
        catalog.commit({k: v for k, v in later.items() if v}, tag=tag)
        second = gapwaiting.tally(catalog, config, run_id, NOW + timedelta(days=1), repeated=_repeated(catalog))
        event(f"carried={second.carried}")
        assert second.counts.summary() == reference(archive, config, run_id)


def _night(archive: Path, i: int, ended: bool = True, **extra) -> None:
    """A new long pause of CAM1 on day ``i`` between two recordings marked important, open,
    unexplained, detected by run ``n<i>``; ``ended`` False: the recordings stored without their end."""
    t = T0 + timedelta(days=i)
    shas = [f"{i:04d}{j:060x}" for j in (0, 1)]
    recordings = [{"sha256": sha, "kind": "video", "device_id": "CAM1", "officer_id": "O1",
                   "start_utc": t + timedelta(hours=j), "start_time": (t + timedelta(hours=j)).replace(tzinfo=None),
                   "end_utc": t + timedelta(hours=j, minutes=5) if ended else None, "duration_s": 300.0,
                   "time_source": "filename", "time_zone": "Asia/Shanghai", "important": True,
                   "source_name": f"d{i}-{j}.mp4"}
                  for j, sha in enumerate(shas)]
    gap = {"gap_id": f"g-{i}", "kind": "between_files", "device_id": "CAM1", "officer_id": "O1",
           "start_utc": t + timedelta(minutes=5), "end_utc": t + timedelta(hours=1), "duration_s": 3300.0,
           "start_time": (t + timedelta(minutes=5)).replace(tzinfo=None),
           "end_time": (t + timedelta(hours=1)).replace(tzinfo=None),
           "before_sha256": shas[0], "after_sha256": shas[1], "detected_run_id": f"n{i}", "detail": "x"}
    Catalog(archive, fsync=False).commit({"recordings": recordings, "gaps": [gap], **extra}, tag=f"n{i}")


def _archive(tmp_path: Path) -> tuple[Catalog, object]:
    catalog = Catalog(tmp_path, fsync=False).create()
    catalog.commit(_pause_between(True, []), tag="n0")
    return catalog, load_config()


def test_a_night_with_only_new_gaps_is_carried(tmp_path):
    catalog, config = _archive(tmp_path)
    assert not _kept(catalog, config, "n0").carried                  # nothing kept yet: counted
    for i in (1, 2, 3):
        _night(tmp_path, i, explanations=[{"explanation_id": f"e{i}", "gap_id": f"g-{i - 1}" if i > 1 else "g-long",
                                           "source": "spoken", "reason": "battery", "explained_by": "PC A",
                                           "explained_at": NOW}] if i == 2 else [])
        tally = _kept(catalog, config, f"n{i}", NOW + timedelta(days=i))
        assert tally.carried
        assert tally.counts.summary() == reference(tmp_path, config, f"n{i}")
    assert tally.counts.summary() == {"found": 1, "need": 1, "free": 0, "waiting": 3}     # g-1 explained


def test_the_recordings_beside_a_pause_are_found_when_stored_without_their_end(tmp_path):
    """The pause is decided by its two marked recordings: the read of recent ones (by their stored
    end) misses them, the read of every recording finds them."""
    catalog, config = _archive(tmp_path)
    _kept(catalog, config, "n0")
    _night(tmp_path, 1, ended=False)
    tally = _kept(catalog, config, "n1")
    assert tally.carried
    assert tally.counts.summary() == reference(tmp_path, config, "n1") == {"found": 1, "need": 1, "free": 0,
                                                                           "waiting": 2}


def test_an_assignment_since_the_last_summary_counts_everything_again(tmp_path):
    catalog, config = _archive(tmp_path)
    _kept(catalog, config, "n0")
    _night(tmp_path, 1, assignments=[{"assignment_id": "a", "case_id": "C1", "retention_class": "case",
                                      "selector": "device", "device_id": "CAM1", "range_start": T0,
                                      "range_end": T0 + timedelta(days=3), "at": T0}])
    tally = _kept(catalog, config, "n1")
    assert not tally.carried
    assert tally.counts.summary() == reference(tmp_path, config, "n1")


def test_a_kept_row_naming_a_part_that_went_is_not_carried(tmp_path):
    """A compaction replaces the parts a kept row names: the row is stale, everything is counted."""
    catalog, config = _archive(tmp_path)
    tally = gapwaiting.tally(catalog, config, "n0", NOW, repeated=_repeated(catalog))
    parts = json.loads(tally.keep["parts"])
    parts["gaps"] = ["part-compacted-away-00001-abcdef.parquet"]
    catalog.commit({"gap_waiting": [{**tally.keep, "parts": json.dumps(parts)}]}, tag="n0")
    _night(tmp_path, 1)
    again = gapwaiting.tally(catalog, config, "n1", NOW + timedelta(days=1), repeated=_repeated(catalog))
    assert not again.carried
    assert again.counts.summary() == reference(tmp_path, config, "n1")


def test_a_changed_setting_is_not_carried(tmp_path):
    import dataclasses

    catalog, config = _archive(tmp_path)
    _kept(catalog, config, "n0")
    _night(tmp_path, 1)
    longer = dataclasses.replace(config, gaps=dataclasses.replace(config.gaps, session_break_s=4000.0))
    tally = gapwaiting.tally(catalog, longer, "n1", NOW + timedelta(days=1), repeated=_repeated(catalog))
    assert not tally.carried
    assert tally.counts.summary() == reference(tmp_path, longer, "n1")


def test_the_ingest_summary_keeps_its_row(tmp_path):
    catalog, config = _archive(tmp_path)
    for i in (0, 1):
        if i:
            _night(tmp_path, i)
        summary = RunSummary(run_id=f"n{i}", archive=str(tmp_path), started_at=NOW)
        _identities_and_gaps(summary, catalog, config, repeated=_repeated(catalog))
        assert summary.gaps == reference(tmp_path, config, f"n{i}")
    kept = catalog.rows("gap_waiting")
    assert [r["run_id"] for r in kept] == ["n0", "n1"]
    assert kept[-1]["waiting"] == ["g-1", "g-long"]


def test_reattributed_is_read_again_once_an_attribution_is_added(tmp_path):
    """``gaprefresh.reattributed`` gives its last answer again only for the same parts."""
    from pipeline.records.gaprefresh import reattributed

    catalog, config = _archive(tmp_path)
    assert reattributed(catalog, config.identity) == {}
    catalog.commit({"attributions": [{"sha256": f"{0:064x}", "device_id": "CAM9", "officer_id": "O9",
                                      "reason": "docked in the wrong cradle", "by": "Sgt", "at": NOW}]}, tag="p1")
    assert reattributed(catalog, config.identity) == {f"{0:064x}": ("CAM9", "O9")}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gap_catalog(), st.data())
def test_carried_counts_from_the_refresh_s_recordings_match_the_reference(drawn, data):
    """The recordings beside the pauses looked up first among those the run's refresh read
    (``gaprefresh.recent_recordings``: any part of them, as stored), then read: the same counts; a
    memo read before recordings were added since is not used."""
    from pipeline.records import gaprefresh
    from pipeline.rules import timeline

    tables, config = drawn
    later = _split(tables, gapwaiting.TRACKED, data)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp)
        catalog, _ = _summarised(archive, tables, config)
        catalog.commit({k: v for k, v in later.items() if v}, tag="z-run")
        recordings = catalog.read("recordings", timeline.COLUMNS + ["important"])
        keep = data.draw(st.lists(st.booleans(), min_size=recordings.num_rows, max_size=recordings.num_rows))
        gaprefresh._remember(catalog, recordings.filter(pa.array(keep, pa.bool_())))
        stale = data.draw(st.booleans())
        if stale:           # a recording added since the refresh read: its rows are not looked at
            catalog.commit({"recordings": [{"sha256": "f" * 64, "kind": "video", "device_id": "CAMX"}]}, tag="z-more")
        event(f"kept all={all(keep)} stale={stale}")
        second = gapwaiting.tally(catalog, config, "r9", NOW + timedelta(days=1), repeated=_repeated(catalog))
        assert gaprefresh.recent_recordings(catalog) is None            # handed over once, then forgotten
        assert second.counts.summary() == reference(archive, config, "r9")


def test_the_recordings_beside_pauses_are_those_read_without_the_refresh_s(tmp_path):
    """``gapwaiting._sides`` with the refresh's recordings (all, or some: the others read) gives the
    rows it reads without them."""
    from pipeline.records import gaprefresh
    from pipeline.rules import timeline

    catalog, config = _archive(tmp_path)
    for i in (1, 2, 3):
        _night(tmp_path, i)
    pauses = catalog.read("gaps", ["gap_id", "before_sha256", "after_sha256", "start_utc", "end_utc"])
    read = gapwaiting._sides(catalog, pauses).sort_by("sha256")
    recordings = catalog.read("recordings", timeline.COLUMNS + ["important"])
    for some in (recordings, recordings.slice(0, 3), recordings.slice(0, 0)):
        gaprefresh._remember(catalog, some)
        assert gapwaiting._sides(catalog, pauses).sort_by("sha256").equals(read)
    gaprefresh._remember(catalog, recordings)
    _night(tmp_path, 4)                       # recordings added since the refresh read: not looked at
    assert gaprefresh.recent_recordings(catalog) is None


# -- the count ahead: everything counted while the run's files are stored, carried at its end ----------
_CASE = {"assignment_id": "a", "case_id": "C1", "retention_class": "case", "selector": "device",
         "device_id": "CAM1", "range_start": T0, "range_end": T0 + timedelta(days=3), "at": T0}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gap_catalog(), st.data())
def test_counts_carried_from_the_count_ahead_match_the_reference(drawn, data):
    """A summary was kept, then the day's cases and assignments came (the kept row does not fit);
    the run counts ahead, then adds its gaps and states (and explanations come): its summary
    carries the count ahead, and counts as the reference does."""
    tables, config = drawn
    later = _split(tables, gapwaiting.TRACKED + ("explanations",), data)
    held = _split(tables, gapwaiting.FIXED, data)
    held["assignments"] = held.get("assignments", []) + [_CASE]      # the day's case: never a fit
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp)
        catalog, _ = _summarised(archive, tables, config)
        catalog.commit({k: v for k, v in held.items() if v}, tag="p-day")
        ahead = gapwaiting.before(archive, config)
        cache = PartCache() if data.draw(st.booleans()) else None       # the states read ahead too
        if cache is not None:
            cache.read(catalog, "gap_state", ["gap_id", "state", "evaluated_at"])
        catalog.commit({k: v for k, v in later.items() if v}, tag=data.draw(st.sampled_from(("a-run", "z-run"))))
        tally = gapwaiting.tally(catalog, config, "r9", NOW + timedelta(days=1), repeated=_repeated(catalog),
                                 ahead=lambda: ahead, cache=cache)
        event(f"ahead={ahead is not None} carried={tally.carried} from ahead={tally.ahead}")
        assert (ahead is None) == (not tables.get("gaps"))      # counted ahead unless there was no gap
        assert tally.counts.summary() == reference(archive, config, "r9")


def test_a_day_s_assignment_is_carried_from_the_count_ahead(tmp_path):
    catalog, config = _archive(tmp_path)
    _kept(catalog, config, "n0")
    catalog.commit({"assignments": [_CASE]}, tag="p-day")
    ahead = gapwaiting.before(tmp_path, config)
    assert ahead["run_id"] == "" and ahead["waiting"] == ["g-long"]
    _night(tmp_path, 1)
    tally = gapwaiting.tally(catalog, config, "n1", NOW + timedelta(days=1), repeated=_repeated(catalog),
                             ahead=lambda: ahead)
    assert tally.carried and tally.ahead
    assert tally.counts.summary() == reference(tmp_path, config, "n1") == {"found": 1, "need": 1, "free": 0,
                                                                           "waiting": 2}
    assert tally.keep["run_id"] == "n1" and tally.keep["waiting"] == ["g-1", "g-long"]


def test_no_count_ahead_where_the_kept_row_fits_or_no_gap_is(tmp_path):
    catalog, config = _archive(tmp_path)
    _kept(catalog, config, "n0")
    assert gapwaiting.before(tmp_path, config) is None                # the end carries the kept row
    empty = tmp_path / "empty"
    Catalog(empty, fsync=False).create()
    assert gapwaiting.before(empty, config) is None


def test_the_count_ahead_reads_the_parts_it_listed(tmp_path, monkeypatch):
    """Parts committed while it counts (the run's own) are not read by it: they are what the end
    decides again. The listing is taken, then a night is committed before the reads."""
    from pipeline.records import gapcount

    catalog, config = _archive(tmp_path)
    _kept(catalog, config, "n0")
    catalog.commit({"assignments": [_CASE]}, tag="p-day")
    counted = gapcount.counted

    def meanwhile(*args, **kwargs):
        _night(tmp_path, 1)
        return counted(*args, **kwargs)
    monkeypatch.setattr(gapcount, "counted", meanwhile)
    ahead = gapwaiting.before(tmp_path, config)
    assert ahead["waiting"] == ["g-long"]                     # not g-1, committed after the listing
    assert "n1" not in ahead["parts"]
    monkeypatch.setattr(gapcount, "counted", counted)
    tally = gapwaiting.tally(catalog, config, "n1", NOW + timedelta(days=1), repeated=_repeated(catalog),
                             ahead=lambda: ahead)
    assert tally.ahead and tally.counts.summary() == reference(tmp_path, config, "n1")


def test_a_count_ahead_that_no_longer_fits_is_not_carried(tmp_path):
    """The run marks a recording important where nothing could make a long pause need an
    explanation when it began: the count ahead was made without deciding pauses, so everything is
    counted again at the end."""
    catalog = Catalog(tmp_path, fsync=False).create()
    config = load_config()
    catalog.commit(_pause_between(False, []), tag="n0")
    _kept(catalog, config, "n0")
    catalog.commit({"assignments": [{**_CASE, "retention_class": "routine"}]}, tag="p-day")
    ahead = gapwaiting.before(tmp_path, config)
    assert ahead is not None and ahead["decide"] is False and ahead["waiting"] == []
    _night(tmp_path, 1)                                      # two recordings marked important
    tally = gapwaiting.tally(catalog, config, "n1", NOW + timedelta(days=1), repeated=_repeated(catalog),
                             ahead=lambda: ahead)
    assert not tally.carried and not tally.ahead
    assert tally.counts.summary() == reference(tmp_path, config, "n1") == {"found": 1, "need": 1, "free": 0,
                                                                           "waiting": 1}


def test_a_state_committed_after_the_states_were_read_ahead_is_seen(tmp_path):
    """The states read ahead (``cache``), then the run closes the old pause (a state event in its own
    part): the summary reads that part too, and the pause no longer waits."""
    catalog, config = _archive(tmp_path)
    catalog.commit({"gap_state": [{"gap_id": "g-long", "state": "open", "evaluated_at": T0, "run_id": "n0"}]},
                   tag="n0")
    _kept(catalog, config, "n0")
    catalog.commit({"assignments": [_CASE]}, tag="p-day")
    ahead = gapwaiting.before(tmp_path, config)
    cache = PartCache()
    cache.read(catalog, "gap_state", ["gap_id", "state", "evaluated_at"])
    _night(tmp_path, 1, gap_state=[{"gap_id": "g-long", "state": "closed", "evaluated_at": NOW, "run_id": "n1"}])
    tally = gapwaiting.tally(catalog, config, "n1", NOW + timedelta(days=1), repeated=_repeated(catalog),
                             ahead=lambda: ahead, cache=cache)
    assert tally.carried and tally.ahead
    assert tally.counts.summary() == reference(tmp_path, config, "n1") == {"found": 1, "need": 1, "free": 0,
                                                                           "waiting": 1}
