"""The contents an archive already holds, asked once per file an ingest stores.

A Python set of every recording's SHA-256 text costs ~350 MiB and ~0.8 CPU s to build at a
million recordings (a string object, its hash and a set slot each). Here the stored values that
are plain SHA-256 texts (64 lowercase hex digits: all of them in a catalog ingest wrote) are one
array of 64-byte strings taken straight from the column's Arrow buffer (64 MiB, no Python
object per row), ordered by their first 8 bytes and asked by binary search; anything else (an upper-case or odd value written by a
hand or an old version, null) and every content added by this run sit in a small set, so the
answers are exactly those of ``value in set(column)``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc




class KnownContents:
    """``sha in known`` and ``known.add(sha)``, as a set of the column's values would answer."""

    def __init__(self, column: pa.ChunkedArray | pa.Array):
        chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
        plain, self._others, others = [], set(), 0
        for chunk in chunks:
            chunk = chunk.cast(pa.string())
            fixed, rest = _split(chunk)
            plain.append(fixed)
            self._others.update(rest)
            others += len(rest)
        rows = np.concatenate(plain) if plain else np.empty(0, dtype="S64")
        # Ordered by their first 8 bytes as one number (a sort of integers, several times quicker
        # than one of 64-byte strings); rows sharing those bytes are told apart when asked.
        head = rows.view(np.uint64).reshape(-1, 8)[:, 0] if len(rows) else np.empty(0, np.uint64)
        order = np.argsort(head)
        self._head, self._rows = head[order], rows[order]
        # Whether a content has two rows (a part put in the catalog by hand: ingest writes none).
        shared = np.zeros(len(rows), bool)
        if len(rows) > 1:
            same = self._head[1:] == self._head[:-1]
            shared[1:] |= same
            shared[:-1] |= same
        self.repeated = others != len(self._others) or len(np.unique(self._rows[shared])) < int(shared.sum())

    def __contains__(self, sha) -> bool:
        if sha in self._others:
            return True
        if not isinstance(sha, str):
            return False
        key = sha.encode("utf-8", "surrogatepass")
        if len(key) != 64 or key[-1] == 0:
            return False
        head = np.frombuffer(key, dtype=np.uint64, count=1)[0]
        lo, hi = np.searchsorted(self._head, head, "left"), np.searchsorted(self._head, head, "right")
        return bool((self._rows[lo:hi] == key).any())

    def add(self, sha) -> None:
        self._others.add(sha)

    def __len__(self) -> int:       # distinct values, as len(set) would count them
        return len(np.unique(self._rows)) + len(self._others)


def _split(values: pa.StringArray) -> tuple[np.ndarray, list]:
    """The values of 64 bytes not ending in NUL (an ``S64`` array compares them exactly: every
    SHA-256 text), and the others (null ones left out) as Python values."""
    n = len(values)
    if not n:
        return np.empty(0, dtype="S64"), []
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32, count=n + 1, offset=4 * values.offset)
    data = np.frombuffer(values.buffers()[2] or b"", dtype=np.uint8)
    ends = offsets[1:]
    fixed = (np.diff(offsets) == 64) & (data[np.maximum(ends - 1, 0)] != 0) if len(data) else np.zeros(n, bool)
    if values.null_count:
        fixed &= np.asarray(values.is_valid())
    if fixed.all() and offsets[-1] - offsets[0] == 64 * n:
        return np.frombuffer(data, dtype="S64", count=n, offset=int(offsets[0])), []
    starts = offsets[:-1][fixed]
    rows = data[starts[:, None] + np.arange(64)].view("S64").ravel() if len(starts) else np.empty(0, dtype="S64")
    rest = values.filter(pa.array(~fixed & np.asarray(values.is_valid()))).to_pylist()
    return rows, rest
