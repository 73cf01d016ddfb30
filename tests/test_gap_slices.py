"""The whole listing named and given its sessions a slice of devices at a time (``gaplist.SLICE_ROWS``)
is the listing done at once, on random catalogs: contents cataloged under two devices, reattributed
recordings, device-less gaps, cases and marks around long pauses."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pyarrow as pa
from hypothesis import HealthCheck, assume, event, given, settings, strategies as st

from catalog.store import Catalog
from pipeline.records import gaplist
from tests.test_gap_deciding import _with_pauses
from tests.test_set_rules import catalog, gap_catalog


def _listings(archive: Path, config, size: int, **filters) -> tuple[pa.Table, pa.Table]:
    """The listing at once and in slices of ``size`` gaps (each slice at least a device's)."""
    whole = gaplist.listing(archive, config, **filters)
    kept = gaplist.SLICE_ROWS
    gaplist.SLICE_ROWS = size
    try:
        sliced = gaplist.listing(archive, config, **filters)
    finally:
        gaplist.SLICE_ROWS = kept
    event(f"{len(gaplist._slices(whole['device_id'], size)) - 1} slice(s)")
    return whole, sliced


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(catalog(), st.integers(1, 3), st.booleans(), st.booleans())
def test_a_listing_in_slices_is_the_listing_at_once(drawn, size, include_closed, only_unexplained):
    tables, config, as_of = drawn
    assume(sum(r["start_utc"] is not None for r in tables["recordings"]) > 3)       # a few gaps at least
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp)
        Catalog(archive, fsync=False).create().commit(_with_pauses(tables, as_of), tag="t")
        whole, sliced = _listings(archive, config, size, include_closed=include_closed,
                                  only_unexplained=only_unexplained)
    assert sliced.schema == whole.schema
    assert sliced.to_pylist() == whole.to_pylist()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gap_catalog(), st.integers(1, 3))
def test_contents_named_by_gaps_of_other_devices_get_the_same_sessions_in_slices(drawn, size):
    tables, config = drawn               # four contents over three devices: most cataloged twice
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp)
        Catalog(archive, fsync=False).create().commit(tables, tag="t")
        whole, sliced = _listings(archive, config, size)
    assert sliced.to_pylist() == whole.to_pylist()


@given(st.lists(st.sampled_from(("CAM1", "CAM2", "CAM3", None)), max_size=30).map(
    lambda ds: sorted(ds, key=lambda d: d or "")), st.integers(1, 8))
def test_slices_cover_every_row_once_and_keep_a_device_whole(devices, size):
    cuts = gaplist._slices(pa.chunked_array([pa.array(devices, pa.string())]), size)
    assert cuts[0] == 0 and cuts[-1] == len(devices)
    assert all(a < b for a, b in zip(cuts, cuts[1:])) or cuts == [0, 0]
    for before, cut in zip(cuts, cuts[1:-1]):
        assert devices[cut] != devices[cut - 1]      # where the device changes
        assert cut - before >= size                  # after a slice's rows at least
    if len(devices) > size:                          # and at the first such change
        for before, cut in zip(cuts, cuts[1:-1]):
            assert all(devices[i] == devices[i - 1] for i in range(before + size, cut))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(catalog(), st.booleans())
def test_one_devices_listing_is_its_rows_of_the_whole_listing(drawn, include_closed):
    """``gaps --device X``: the whole listing's rows of X, sessions and needs included (a pause next
    to a recording reattributed to another device is decided by that device's sessions)."""
    tables, config, as_of = drawn
    assume(sum(r["start_utc"] is not None for r in tables["recordings"]) > 3)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp)
        Catalog(archive, fsync=False).create().commit(_with_pauses(tables, as_of), tag="t")
        whole = gaplist.listing(archive, config, include_closed=include_closed).to_pylist()
        for device in sorted({r["device_id"] for r in whole if r["device_id"]}):
            mine = gaplist.listing(archive, config, include_closed=include_closed, device=device).to_pylist()
            assert mine == [r for r in whole if r["device_id"] == device], device
