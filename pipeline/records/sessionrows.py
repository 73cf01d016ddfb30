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
    rows = np.flatnonzero(usable)
    if not len(rows) or not asked[rows].any():
        return np.zeros(0, np.int64)
    code = pc.dictionary_encode(device.take(pa.array(rows))).indices.to_numpy(zero_copy_only=False)
    t0 = us_of(start)[rows]
    t1 = np.maximum(np.where(valid_of(end)[rows], us_of(end)[rows], t0), t0)
    known = [s for s, t in tails.items() if t is not None]
    if known:                                       # a damaged tail: as far as it may reach
        reach = pc.index_in(sha.take(pa.array(rows)), value_set=pa.array(known, pa.string())).fill_null(-1) \
            .to_numpy(zero_copy_only=False)
        ends = np.array([timecols.micros(tails[s]) for s in known], dtype=np.int64)
        t1 = np.where(reach >= 0, np.maximum(t1, ends[np.maximum(reach, 0)]), t1)
    order = np.lexsort((t0, code))
    c, a, b, wanted = code[order], t0[order], t1[order], asked[rows][order]
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
    group = np.cumsum(~same) - 1
    last = np.searchsorted(group, group, side="right") - 1
    at = np.flatnonzero(wanted)
    marks = np.zeros(len(c) + 1, np.int64)
    np.add.at(marks, begun[at], 1)
    np.add.at(marks, last[at] + 1, -1)
    kept = np.cumsum(marks[:-1]) > 0
    return np.sort(rows[order[kept]])
