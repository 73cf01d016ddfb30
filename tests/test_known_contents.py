"""Ingest's known contents (``pipeline.runs.known``) answer exactly as a set of the column would."""

from __future__ import annotations

import hashlib

import pyarrow as pa
from hypothesis import given, settings, strategies as st

from pipeline.runs.known import KnownContents

HEX = "0123456789abcdef"
plain = st.text(alphabet=HEX, min_size=64, max_size=64)
odd = st.one_of(
    st.text(alphabet=HEX.upper(), min_size=64, max_size=64),          # upper case: not a plain value
    st.text(min_size=0, max_size=70),                                 # anything, non-ASCII included
    plain.map(lambda s: s[:63] + "\x00"),
    plain.map(lambda s: s + " "),
)
value = st.one_of(plain, plain, odd, st.none())


@settings(max_examples=200, deadline=None)
@given(stored=st.lists(value, max_size=60), chunks=st.integers(1, 4), asked=st.lists(value, max_size=30),
       added=st.lists(value, max_size=10))
def test_membership_is_that_of_a_set_of_the_column(stored, chunks, asked, added):
    size = max(1, len(stored) // chunks)
    parts = [pa.array(stored[i:i + size], pa.string()) for i in range(0, len(stored), size)]
    column = pa.chunked_array(parts, pa.string())
    known, reference = KnownContents(column), set(stored) - {None}
    for sha in added:
        known.add(sha)
        reference.add(sha)
    for sha in [*asked, *stored, *added]:
        assert (sha in known) == (sha in reference), sha


close = st.text(alphabet="01", min_size=64, max_size=64)            # plain values whose first 8 bytes often agree


@settings(max_examples=200, deadline=None)
@given(pool=st.lists(st.one_of(close, value), min_size=1, max_size=12), picks=st.lists(st.integers(0, 11), max_size=30),
       chunks=st.integers(1, 4))
def test_repeated_says_whether_a_content_has_two_rows(pool, picks, chunks):
    stored = [pool[i % len(pool)] for i in picks]
    size = max(1, len(stored) // chunks)
    column = pa.chunked_array([pa.array(stored[i:i + size], pa.string()) for i in range(0, len(stored), size)],
                              pa.string())
    values = [v for v in stored if v is not None]
    assert KnownContents(column).repeated == (len(values) != len(set(values)))


def test_sliced_and_large_string_columns_and_a_million_digests():
    digests = [hashlib.sha256(b"%d" % i).hexdigest() for i in range(20_000)]
    column = pa.array(["X" * 64, *digests, None], pa.large_string()).slice(1, 20_000)   # an offset buffer
    known = KnownContents(column)
    assert all(d in known for d in digests[::97])
    assert "X" * 64 not in known and hashlib.sha256(b"new").hexdigest() not in known
    assert len(known) == 20_000
    assert digests[0].upper() not in known and digests[0][:63] not in known and 5 not in known


def test_an_empty_catalog_knows_nothing_until_a_run_adds_it():
    known = KnownContents(pa.chunked_array([], pa.string()))
    sha = hashlib.sha256(b"clip").hexdigest()
    assert sha not in known
    known.add(sha)
    assert sha in known and len(known) == 1
