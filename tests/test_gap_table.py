"""``fieldrec gaps``'s table column WHERE, written a column at a time, is ``_where``'s row by row."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import HealthCheck, given, settings, strategies as st

from pipeline.commands import gaps as command

texts = st.one_of(st.none(), st.just(""), st.text(max_size=16), st.sampled_from(("a.mp4", "名前.MP4", "x\u202ey")))
shas = st.one_of(st.none(), st.just(""), st.text(min_size=0, max_size=20),
                 st.sampled_from((f"{7:064x}", "é" * 14, "\U0001d11e" * 13)))
gap = st.fixed_dictionaries({
    "kind": st.sampled_from((None, "between_files", "overlap", "within_file", "clock", "damaged_tail")),
    "file": texts, "sha256": shas, "before_file": texts, "before_sha256": shas, "after_file": texts,
    "after_sha256": shas, "offset_s": st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    "stream": st.one_of(st.none(), st.just(""), st.sampled_from(("0", "1:a")))})
SCHEMA = pa.schema([(k, pa.float64() if k == "offset_s" else pa.string()) for k in
                    ("kind", "file", "sha256", "before_file", "before_sha256", "after_file", "after_sha256",
                     "offset_s", "stream")])


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(gap, max_size=12), st.integers(1, 4))
def test_where_a_column_at_a_time_is_where_row_by_row(rows, pieces):
    table = pa.Table.from_pylist(rows, SCHEMA)
    cut = len(rows) // pieces                           # columns in several chunks, as a listing's slices
    table = pa.concat_tables([table.slice(0, cut), table.slice(cut)]) if 0 < cut < len(rows) else table
    assert command._where_column(table).to_pylist() == [command._where(g) for g in rows]
