"""Ingest reads only the sightings of the paths its walk found, and knows of them what reading every
sighting told it: skipped, given up on, or failing as before."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from catalog.store import Catalog
from pipeline.runs.ingest import SEEN_COLUMNS, Seen, _gathered, _seen

UTC = timezone.utc
# Names as docks give them: plain, UTF-8 beyond ASCII, bytes that are not UTF-8, and a name whose
# text looks like the readable form of such bytes.
NAMES = (b"/dock/BWC1_20260301.MP4", b"/dock/BWC1_20260302.MP4", "/dock/执法仪_0001.mp4".encode(),
         b"/dock/bad\xff\xfe.mp4", b"/dock/bad\\xff\\xfe.mp4", b"/dock/other/clip.wav")


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


UTF8 = tuple(n for n in NAMES if _utf8(n))


def _readable(raw: bytes) -> str:
    return raw.decode("utf-8", "backslashreplace")


def _reference(catalog: Catalog) -> Seen:
    """The ingest's reading before it filtered by path: every sighting, folded as ingest folds them
    (what changed is which rows are read, and how: the filter pushed into the scan, part by part)."""
    return _gathered(catalog.read("sightings", SEEN_COLUMNS))


@st.composite
def sighting(draw) -> dict:
    old = draw(st.integers(0, 4)) == 0          # written before names were kept as bytes: UTF-8 text only
    raw = draw(st.sampled_from(UTF8 if old else NAMES))
    stored = draw(st.booleans())
    failure = None if stored else draw(st.sampled_from((None, "read_error", "stage_error", "worker_died",
                                                        "timed_out", "not_a_file")))
    return {"sha256": f"{draw(st.integers(0, 3)):064x}" if stored else None,
            "source_path": _readable(raw), "source_path_bytes": None if old else raw,
            "size": draw(st.sampled_from((0, 10, 4096))), "mtime_ns": draw(st.sampled_from((1, 2))),
            "status": "ok" if stored else draw(st.sampled_from(("unreadable", "damaged"))),
            "failure": failure, "error_message": None if stored else draw(st.sampled_from(("cut short", "no moov"))),
            "run_id": "R", "seen_at": datetime(2026, 3, 1, tzinfo=UTC) + timedelta(minutes=draw(st.integers(0, 5)))}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(sighting(), max_size=12), max_size=3),
       st.sets(st.sampled_from(NAMES + (b"/dock/never.mp4",))))
def test_the_walked_paths_sightings_say_what_every_sighting_says_of_them(runs, walked):
    with tempfile.TemporaryDirectory() as tmp:
        catalog = Catalog(Path(tmp) / "archive", fsync=False).create()
        for n, rows in enumerate(runs):
            if rows:
                catalog.commit({"sightings": rows}, tag=f"run{n}")
        everything = _reference(catalog)
        mine = lambda keys: {k for k in keys if k[0] in walked}      # noqa: E731
        seen = _seen(catalog, walked)
        assert seen.done == mine(everything.done)
        assert seen.gave_up == mine(everything.gave_up)
        assert seen.outcome == {k: v for k, v in everything.outcome.items() if k[0] in walked}


def test_nothing_walked_reads_nothing(tmp_path):
    catalog = Catalog(tmp_path / "archive", fsync=False).create()
    assert _seen(catalog, []) == Seen()
