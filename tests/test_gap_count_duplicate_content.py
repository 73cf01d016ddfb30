"""A content cataloged twice (two ``recordings`` rows, one SHA-256) beside a long pause: the summary's
counts (``gapcount.count``, ``gapwaiting.tally``) against the reference (``gapstate.listing``) and
the set listing the summary stands for (``gaplist.listing(include_closed=False, sessions=False,
unexplained_or_run=...)``): every row of the content decides, on every path.

Ingest writes no second row for a content it knows (``runs.ingest.CatalogBuffer.add``); two rows
arise only from a part put into the catalog folder by hand (a planted part, or a compacted part
restored from a backup) until ``fieldrec quarantine`` moves it aside. ``verify`` reports such a
part; the counts must not depend on it having been found."""

from __future__ import annotations

from datetime import timedelta


from catalog.store import Catalog
from pipeline.config import load_config
from pipeline.records import gapcount, gaplist, gapwaiting
from tests.test_gap_count import T0, reference
from tests.test_gap_waiting import NOW, _kept, _repeated

A, B = f"{0:064x}", f"{1:064x}"


def _recording(sha: str, hour: float, **over) -> dict:
    t = T0 + timedelta(hours=hour)
    return {"sha256": sha, "kind": "video", "device_id": "CAM1", "officer_id": "O1", "start_utc": t,
            "start_time": t.replace(tzinfo=None), "end_utc": t + timedelta(minutes=5), "duration_s": 300.0,
            "time_source": "filename", "time_zone": "Asia/Shanghai", "important": None,
            "source_name": f"{sha[-1]}-{hour}.mp4", **over}


def _pause(run_id: str = "r1", officer: str | None = "O1") -> dict:
    return {"gap_id": "g-long", "kind": "between_files", "device_id": "CAM1", "officer_id": officer,
            "start_utc": T0 + timedelta(minutes=5), "end_utc": T0 + timedelta(hours=1), "duration_s": 3300.0,
            "start_time": (T0 + timedelta(minutes=5)).replace(tzinfo=None),
            "end_time": (T0 + timedelta(hours=1)).replace(tzinfo=None),
            "before_sha256": A, "after_sha256": B, "detected_run_id": run_id, "detail": "x"}


def _set_listing(archive, config, run_id: str) -> dict:
    """The counts of the listing ``gapcount.count`` stands for."""
    rows = gaplist.listing(archive, config, include_closed=False, sessions=False,
                           unexplained_or_run=run_id).to_pylist()
    mine = [g for g in rows if g["detected_run_id"] == run_id]
    need = sum(g["needs_explanation"] for g in mine)
    waiting = sum(g["needs_explanation"] and g["explanation"] != "explained" for g in rows)
    return {"found": len(mine), "need": need, "free": len(mine) - need, "waiting": waiting}


def test_identical_copies_of_a_row_decide_as_one(tmp_path):
    """The realistic case (a part restored from a backup): the two rows are the same row."""
    config = load_config()
    rows = [_recording(A, 0, important=True), _recording(B, 1, important=True)]
    catalog = Catalog(tmp_path, fsync=False).create()
    catalog.commit({"recordings": rows, "gaps": [_pause()]}, tag="t")
    catalog.commit({"recordings": rows[:1]}, tag="u-copy")                  # the same row again
    expected = {"found": 1, "need": 1, "free": 0, "waiting": 1}
    assert reference(tmp_path, config, "r1") == _set_listing(tmp_path, config, "r1") == expected
    assert gapcount.count(tmp_path, config, "r1").summary() == expected


def test_two_rows_of_a_content_held_by_different_cases(tmp_path):
    """A's rows: officer O1 (case C1's range) then O2 (case C2's); B's: O1. The pause's officer is
    neither (no window covers it). Do both sides share a case?"""
    config = load_config()
    rows = [_recording(A, 0, officer_id="O1"), _recording(A, 0, officer_id="O2"), _recording(B, 1, officer_id="O1")]
    assignments = [{"assignment_id": f"a{c}", "case_id": f"C{c}", "retention_class": "case", "selector": "officer",
                    "officer_id": f"O{c}", "range_start": T0 - timedelta(hours=1),
                    "range_end": T0 + timedelta(hours=3), "at": T0 - timedelta(days=1)} for c in (1, 2)]
    Catalog(tmp_path, fsync=False).create().commit(
        {"recordings": rows, "gaps": [_pause(officer="O9")], "assignments": assignments}, tag="t")
    ref = reference(tmp_path, config, "r1")
    listed = _set_listing(tmp_path, config, "r1")
    counted = gapcount.count(tmp_path, config, "r1").summary()
    print("\nreference (gapstate.listing):", ref, "\nset listing (gaplist.listing):", listed,
          "\nsummary (gapcount.count):", counted)
    assert counted == listed                     # the summary is its listing
    assert counted == ref                        # and the reference


def test_a_carried_summary_decides_by_every_row_of_a_content(tmp_path):
    """A's rows: one unmarked, stored as ending by its pause; one marked important, stored as ending
    days before (the read of recent recordings by their stored end skips it). B is marked. The
    reference holds A marked (one of its rows is); the carried count must too."""
    config = load_config()
    rows = [_recording(A, 0), _recording(A, -72, important=True), _recording(B, 1, important=True)]
    catalog = Catalog(tmp_path, fsync=False).create()
    older = {**_pause("r0"), "gap_id": "g-old", "kind": "within_file", "before_sha256": None, "after_sha256": None,
             "sha256": B}                                             # CAM1 has a gap already
    catalog.commit({"recordings": rows, "gaps": [older]}, tag="m-old")
    _kept(catalog, config, "r0")                                         # the last summary, kept
    catalog.commit({"gaps": [_pause("r1")]}, tag="z-run")               # the new pause, named since
    tally = gapwaiting.tally(catalog, config, "r1", NOW + timedelta(days=1), repeated=_repeated(catalog))
    ref = reference(tmp_path, config, "r1")
    counted = gapcount.count(tmp_path, config, "r1").summary()
    print("\nreference (gapstate.listing):", ref, "\nsummary (gapcount.count):", counted,
          "\ncarried (gapwaiting.tally):", tally.counts.summary(), "carried =", tally.carried)
    assert tally.carried
    assert counted == ref
    assert tally.counts.summary() == ref
