"""Packing files onto as few discs as possible: pure arithmetic, no I/O.

First-fit-decreasing, then a pass that tries to empty the least-filled disc by moving and
swapping files into the others. Files of one group (a case) go on consecutive discs: a group
may start on the last disc of the group before it, never on an earlier one. Within a group, if
laying the files out in recording order (device, then start time) takes no more discs than the
size-driven packing, the recording order is used instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from pipeline.common.i18n import _

SECTOR = 2048

# Usable bytes of a blank disc (sectors x 2048) as burning tools report them. M-DISC media
# have the capacities of the ordinary media of the same kind.
MEDIA: dict[str, int] = {
    "dvd": 4_700_372_992,            # DVD+R 2,295,104 sectors (DVD-R has a few more)
    "bd25": 25_025_314_816,          # BD-R single layer
    "bd50": 50_050_629_632,          # BD-R dual layer
    "bd100": 100_103_356_416,        # BDXL triple layer
    "mdisc-dvd": 4_700_372_992,
    "mdisc-bd25": 25_025_314_816,
    "mdisc-bd50": 50_050_629_632,
    "mdisc-bd100": 100_103_356_416,
}

# What the file systems (ISO 9660 + Joliet + Rock Ridge + UDF) and the bag's own files take
# besides the payload: a fixed part (system area, volume descriptors, path tables, UDF anchors,
# README, bag files) and, per file, its directory records in each name space and a UDF file
# entry. Estimates on the safe side; `disc stage --iso` checks the real image size.
FIXED_OVERHEAD = 8 * 1024 * 1024
PER_FILE_OVERHEAD = 4 * SECTOR


def on_disc(size: int) -> int:
    """Bytes a file of ``size`` bytes occupies: whole sectors."""
    return -(-size // SECTOR) * SECTOR


def usable_bytes(capacity: int, reserve_pct: float = 0.0) -> int:
    """Bytes left for files after the reserve (a margin kept free) and the fixed overhead."""
    return int(capacity * (1 - reserve_pct / 100)) - FIXED_OVERHEAD


@dataclass(frozen=True)
class Item:
    key: str                 # the original's SHA-256
    cost: int                # bytes on disc, its derivatives and overheads included
    group: str = ""          # files of one group go on consecutive discs
    order: tuple = ()        # recording order: (device_id, start_time, ...); [0] names the device


@dataclass
class Disc:
    capacity: int
    items: list[Item] = field(default_factory=list)
    used: int = 0

    @property
    def free(self) -> int:
        return self.capacity - self.used

    def add(self, item: Item) -> None:
        self.items.append(item)
        self.used += item.cost

    def remove(self, item: Item) -> None:
        self.items.remove(item)
        self.used -= item.cost


@dataclass
class Packing:
    discs: list[Disc]
    order_kept: dict[str, bool]          # per group: laid out in recording order?

    @property
    def count(self) -> int:
        return len(self.discs)


class Oversize(ValueError):
    """Some items are larger than one disc."""

    def __init__(self, items: list[Item], capacity: int):
        self.items, self.capacity = items, capacity
        super().__init__(_("{n} file(s) larger than one disc of {capacity} usable bytes").format(
                             n=len(items), capacity=capacity))


def lower_bound(items: Iterable[Item], capacity: int) -> int:
    """No packing can use fewer discs than this."""
    total = sum(i.cost for i in items)
    return math.ceil(total / capacity) if total else 0


def pack(items: Sequence[Item], capacity: int) -> Packing:
    """Discs in order; groups in order of first appearance in ``items``.

    Each group is packed by size and in recording order; the recording order is kept when the
    whole packing (the later groups packed after it) takes no more discs that way.
    """
    too_big = [i for i in items if i.cost > capacity]
    if too_big:
        raise Oversize(too_big, capacity)
    groups: dict[str, list[Item]] = {}
    for item in items:
        groups.setdefault(item.group, []).append(item)
    names = list(groups)
    discs: list[Disc] = []
    order_kept: dict[str, bool] = {}
    for index, name in enumerate(names):
        later = [groups[n] for n in names[index + 1:]]
        options = _group_options(groups[name], capacity, discs)
        discs, order_kept[name] = min(options, key=lambda o: (_count_after(o[0], later, capacity), not o[1]))
    return Packing([d for d in discs if d.items], order_kept)


def _group_options(items: list[Item], capacity: int, discs: list[Disc]) -> list[tuple[list[Disc], bool]]:
    """The discs so far followed by one group, packed in recording order and by size.

    The group may start on the last disc so far (it takes files there, never gives any). Packed by
    size, its emptiest disc goes last, where the next group can use its room.
    """
    done, shared = [_copy(d) for d in discs[:-1]], (discs[-1] if discs else Disc(capacity))
    in_order = _device_first_fit(items, capacity, _copy(shared))
    by_size = _eliminate_discs(_first_fit_decreasing(items, capacity, _copy(shared)))
    return [(done + in_order, True), (done + _emptiest_last(by_size), False)]


def _emptiest_last(discs: list[Disc]) -> list[Disc]:
    """The first disc (shared with the group before) stays first; the fullest follow it."""
    return discs[:1] + sorted(discs[1:], key=lambda d: -d.used)


def _count_after(discs: list[Disc], later: list[list[Item]], capacity: int) -> int:
    """Discs used once the ``later`` groups are packed by size after ``discs``."""
    discs = [_copy(d) for d in discs]
    for items in later:
        shared = discs.pop() if discs else Disc(capacity)
        discs += _emptiest_last(_eliminate_discs(_first_fit_decreasing(items, capacity, shared)))
    return sum(1 for d in discs if d.items)


def _device_first_fit(items: list[Item], capacity: int, first: Disc) -> list[Disc]:
    """First fit that never puts a device's file on a disc before its predecessor's.

    Devices go largest first, each in recording order; a device's next file may fill a gap
    left on any disc from its previous file's disc on.
    """
    devices: dict = {}
    for item in sorted(items, key=lambda i: i.order):
        devices.setdefault(item.order[:1], []).append(item)
    discs = [first]
    for files in sorted(devices.values(), key=lambda fs: -sum(i.cost for i in fs)):
        at = 0
        for item in files:
            while at < len(discs) and discs[at].free < item.cost:
                at += 1
            if at == len(discs):
                discs.append(Disc(capacity))
            discs[at].add(item)
    return discs


def _copy(disc: Disc) -> Disc:
    return Disc(disc.capacity, list(disc.items), disc.used)


def _first_fit_decreasing(items: list[Item], capacity: int, first: Disc) -> list[Disc]:
    discs = [first]
    for item in sorted(items, key=lambda i: (-i.cost, i.order)):
        target = next((d for d in discs if d.free >= item.cost), None)
        if target is None:
            target = Disc(capacity)
            discs.append(target)
        target.add(item)
    return discs


def _next_fit(items: list[Item], capacity: int, first: Disc) -> list[Disc]:
    discs = [first]
    for item in items:
        if discs[-1].free < item.cost:
            discs.append(Disc(capacity))
        discs[-1].add(item)
    return discs


def _eliminate_discs(discs: list[Disc]) -> list[Disc]:
    """Empty the least-filled new disc into the others while that works (moves, then swaps).

    ``discs[0]`` may hold the previous group's files: it takes files, never gives any.
    """
    while len(discs) > 1:
        candidates = [d for d in discs[1:] if d.items]
        if not candidates:
            break
        victim = min(candidates, key=lambda d: d.used)
        others = [_copy(d) for d in discs if d is not victim]
        if not _redistribute(list(victim.items), others):
            break
        discs = others
    return discs


def _redistribute(pending: list[Item], discs: list[Disc]) -> bool:
    """Place every pending item into ``discs``, swapping a smaller item out where needed."""
    budget = 20 * (len(pending) + sum(len(d.items) for d in discs))
    while pending and budget > 0:
        budget -= 1
        pending.sort(key=lambda i: i.cost)
        item = pending.pop()                       # the largest first
        fits = [d for d in discs if d.free >= item.cost]
        if fits:
            min(fits, key=lambda d: d.free).add(item)      # best fit
            continue
        swap = None
        for disc in discs:
            for other in disc.items:
                if other.group == item.group and other.cost < item.cost <= disc.free + other.cost:
                    if swap is None or other.cost < swap[1].cost:
                        swap = (disc, other)
        if swap is None:
            return False
        disc, other = swap
        disc.remove(other)
        disc.add(item)
        pending.append(other)                      # strictly smaller: the loop ends
    return not pending
