"""Which recordings naming a few recordings' sessions needs: of each asked one's device, those from
a session's start at or before it up to it, not the device's whole year.

``rules.sets.sessions.session_ids`` walks a device's recordings in order of start, and a recording
begins a session when it starts more than the break after every earlier one has ended. The rows
before such a start change nothing from it on: whatever they are, they ended before it by more than
the break. Here those starts are found with each recording's end at its furthest (a damaged tail
reaching as far as the gaps record, a second of slack for rounding), so each start found here is
one ``session_ids`` finds too (it may find more), and ``session_ids`` over the rows kept names the
asked ones' sessions as it does over all of them. A listing asks about a few thousand of a million.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.common import timecols
from pipeline.rules.sets.recordings import us_of, valid_of, whole

_SLACK_US = 1_000_000


def needed(sha: pa.Array, device: pa.Array, start: pa.Array, end: pa.Array, tails: dict[str, datetime | None],
           break_s: float, asked: np.ndarray) -> np.ndarray:
    """The positions (ascending) of the rows ``session_ids`` needs to name the sessions of the
    ``asked`` rows (a mask) as it names them over every row; rows without a device or a start are
    in no session and left out."""
    sha, device, start, end = whole(sha), whole(device), whole(start), whole(end)
    usable = valid_of(device) & valid_of(start)
    if not (usable & asked).any():
        return np.zeros(0, np.int64)
    # whole columns, no row copied: a device by its code; unusable rows a group of their own, never kept
    code = pc.dictionary_encode(device).indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    code[~usable] = -1
    t0 = us_of(start)
    t1 = np.maximum(np.where(valid_of(end), us_of(end), t0), t0)
    known = [s for s, t in tails.items() if t is not None]
    if known:                                       # a damaged tail: as far as it may reach
        reach = pc.index_in(sha, value_set=pa.array(known, pa.string())).fill_null(-1).to_numpy(
            zero_copy_only=False)
        ends = np.array([timecols.micros(tails[s]) for s in known], dtype=np.int64)
        t1 = np.where(reach >= 0, np.maximum(t1, ends[np.maximum(reach, 0)]), t1)
    order = _by_device_and_start(code, t0, usable)
    c, a, b, wanted = code[order], t0[order], t1[order], (asked & usable)[order]
    first = np.concatenate([[True], c[1:] != c[:-1]])
    heads = np.flatnonzero(first).tolist() + [len(c)]
    furthest = np.empty_like(b)
    for lo, hi in zip(heads[:-1], heads[1:]):       # each device's furthest end so far
        furthest[lo:hi] = np.maximum.accumulate(b[lo:hi])
    before = np.concatenate([[0], furthest[:-1]])
    begins = first | ((a - before) > break_s * 1e6 + _SLACK_US)
    begun = np.maximum.accumulate(np.where(begins, np.arange(len(c)), 0))   # the start at or before each row
    # each asked row with the rows starting at the same instant on its device (their order is by sha256)
    same = np.concatenate([[False], (c[1:] == c[:-1]) & (a[1:] == a[:-1])])
    at = np.flatnonzero(wanted)
    last = at.copy()
    while True:                                     # to the last of its instant (a run is rarely long)
        more = (last + 1 < len(c))
        more[more] &= same[last[more] + 1]
        if not more.any():
            break
        last[more] += 1
    marks = np.bincount(begun[at], minlength=len(c) + 1) - np.bincount(last + 1, minlength=len(c) + 1)
    kept = np.cumsum(marks[:-1]) > 0
    kept &= usable[order]
    return np.sort(order[kept])


def _by_device_and_start(code: np.ndarray, t0: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """Positions by device, then start (a stable sort of one int64 key where it fits: a compacted
    catalog is nearly in that order already)."""
    lo, hi = (int(t0[usable].min()), int(t0[usable].max())) if usable.any() else (0, 0)
    bits = max(hi - lo, 1).bit_length()
    if bits + int(code.max() + 2).bit_length() <= 62:
        key = ((code + 1) << bits) | np.where(usable, t0 - lo, 0)
        return np.argsort(key, kind="stable")
    return np.lexsort((t0, code))
