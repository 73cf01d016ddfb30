"""Disc packing: capacity, every file once, close to the lower bound, cases on consecutive discs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.disc.pack import MEDIA, Item, Oversize, lower_bound, on_disc, pack, usable_bytes

CAPACITY = usable_bytes(MEDIA["bd25"], 2.0)


@st.composite
def recording_mixes(draw, groups=1):
    """Body-worn camera days: mostly clips much smaller than a disc, a few long ones."""
    n = draw(st.integers(1, 250))
    items = []
    for k in range(n):
        kind = draw(st.sampled_from(["short"] * 16 + ["long"] * 3 + ["huge"]))
        low, high = {"short": (10_000, CAPACITY // 30), "long": (CAPACITY // 30, CAPACITY // 4),
                     "huge": (CAPACITY // 4, CAPACITY * 7 // 10)}[kind]
        device = draw(st.integers(0, 6))
        items.append(Item(key=f"f{k}", cost=on_disc(draw(st.integers(low, high))),
                          group=f"case{draw(st.integers(0, groups - 1))}", order=(f"dev{device}", k)))
    return sorted(items, key=lambda i: i.group)


def check(items, capacity, slack=1):
    result = pack(items, capacity)
    placed = [i.key for d in result.discs for i in d.items]
    assert sorted(placed) == sorted(i.key for i in items), "every file exactly once"
    for disc in result.discs:
        assert disc.items, "no empty disc"
        assert sum(i.cost for i in disc.items) <= capacity, "no disc over capacity"
    assert result.count <= lower_bound(items, capacity) + slack
    for group in {i.group for i in items}:
        on = [n for n, d in enumerate(result.discs) if any(i.group == group for i in d.items)]
        assert on == list(range(on[0], on[-1] + 1)), f"{group} is not on consecutive discs"
        if result.order_kept[group]:
            for device in {i.order[0] for i in items if i.group == group}:
                seq = [(i.order, n) for n, d in enumerate(result.discs) for i in d.items
                       if i.group == group and i.order[0] == device]
                discs_in_time_order = [n for _, n in sorted(seq)]
                assert discs_in_time_order == sorted(discs_in_time_order)
    return result


@settings(max_examples=80, deadline=None)
@given(recording_mixes())
def test_one_case_packs_within_one_disc_of_the_lower_bound(items):
    check(items, CAPACITY)


@settings(max_examples=60, deadline=None)
@given(recording_mixes(groups=4))
def test_several_cases_stay_on_consecutive_discs(items):
    """Cases in a fixed order, each on consecutive discs: that order can cost a disc at each
    boundary between cases over the bound of the bytes alone (see the test after this one), so the
    promise is one disc over it per case."""
    check(items, CAPACITY, slack=len({i.group for i in items}))


def test_cases_in_order_can_need_two_discs_over_the_bound_of_their_bytes():
    """Found by hypothesis: 4.24 discs of bytes, bound 5, six discs used, and six are the least.
    Case1 is two 15.1 GB files (no two share a disc), so case0 (1.73 discs of bytes) needs discs 0-2
    beside the first; case2's 12.9, 6.1, 4.4 and 0.8 GB then share the second case1 disc (9.4 GB
    free) and the disc of case3 (7.2 GB: 17.3 GB free): 12.9 + 4.4 GB miss that by 1,721 bytes."""
    big = {1: 4465135616, 5: 4465135616, 8: 4465135616, 16: 801402880, 18: 801402880, 25: 7160713216,
           26: 3426502656, 27: 536870912, 33: 666265600, 37: 801402880, 38: 817215488, 39: 11536486400,
           41: 801402880, 72: 801402880, 83: 801394688, 84: 15078373376, 85: 15078373376, 86: 6129106944,
           87: 4372748288, 88: 12935761920, 89: 801402880, 90: 4700372992, 91: 2507538432}
    group = {**{k: "case0" for k in range(84)}, 84: "case1", 85: "case1", 86: "case2", 87: "case2",
             88: "case2", 89: "case2", 90: "case3", 91: "case3"}
    items = [Item(f"f{k}", big.get(k, 10240), group[k], ("dev0", k)) for k in range(92)]
    assert lower_bound(items, CAPACITY) == 5
    assert check(items, CAPACITY, slack=2).count == 6


def test_a_case_of_discs_that_cannot_share_leaves_its_emptiest_disc_for_the_next_case():
    """Found by hypothesis: case0 has four files no two of which share a disc, then comes case1.
    Packing case0 in recording order left its fullest disc last, and case1 took a fifth disc."""
    big = {0: 13_316_380_672, 4: 13_316_380_672, 72: 13_316_380_672, 79: 11_200_040_960, 87: 6_129_106_944,
           48: 817_215_488, 57: 6_369_935_360}
    case1 = {17, 19, 29, 36, 39, 48, 57}
    items = [Item(f"f{k}", big.get(k, 10240), "case1" if k in case1 else "case0", ("dev0", k))
             for k in range(88)]
    items = sorted(items, key=lambda i: i.group)
    assert check(items, CAPACITY).count == 4         # 11.2 GB + 13.3 GB do not share: 4 is the least


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 1000), min_size=1, max_size=60), st.integers(1000, 3000))
def test_any_sizes_never_overfill_and_place_everything(sizes, capacity):
    """Arbitrary sizes (no lower-bound promise there): still valid packings."""
    items = [Item(f"f{k}", s, order=("dev", k)) for k, s in enumerate(sizes)]
    result = pack(items, capacity)
    assert sorted(i.key for d in result.discs for i in d.items) == sorted(i.key for i in items)
    assert all(d.used <= capacity for d in result.discs)


def test_recording_order_is_kept_when_it_costs_nothing():
    items = [Item(f"f{k}", 30, order=("dev1", k)) for k in range(10)]
    result = pack(items, 100)
    assert result.count == 4 and result.order_kept[""]
    assert [i.key for d in result.discs for i in d.items] == [f"f{k}" for k in range(10)]


def test_size_beats_order_when_order_would_cost_a_disc():
    # in time order 60,50,40,50 takes 3 discs of 100; by size 60+40, 50+50 takes 2
    items = [Item(f"f{k}", s, order=("dev1", k)) for k, s in enumerate([60, 50, 40, 50])]
    result = pack(items, 100)
    assert result.count == 2 and not result.order_kept[""]


def test_a_file_larger_than_a_disc_is_refused():
    with pytest.raises(Oversize) as exc:
        pack([Item("small", 10), Item("big", 101)], 100)
    assert [i.key for i in exc.value.items] == ["big"]
