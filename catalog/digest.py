"""A digest of a table's rows: the same for the same rows, however they are ordered or stored.

A compaction writes the rows of many part files into a few, in another order and with other
Parquet encodings, so the files' SHA-256 cannot show that no row was lost, added or changed. This
digest can: every row is written out in one canonical byte form, the row forms are sorted, and
SHA-256 is taken over them. Equal multisets of rows give equal digests; a row changed, dropped or
duplicated changes it.

The canonical form of a row (``FORMAT``), column by column in the order of ``columns``: a null is
``\\x1e``; text and bytes are themselves with ``\\``, ``\\x1c``-``\\x1f`` escaped (``\\\\``, ``\\c``,
``\\d``, ``\\e``, ``\\f``); integers and timestamps (in their stored unit) are decimal; floats are the
decimal of their IEEE-754 bits (so -0.0, NaN payloads and every digit count); booleans ``1``/``0``;
lists are their element count, ``:``, and their elements' forms separated by ``\\x1d``. Fields are
separated by ``\\x1f`` and each row ends with ``\\x1c``. Columns a part lacks (written before they
existed) are null, so the digest names the columns it covers: a later schema does not change it.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa

# pyarrow.compute (its function table: a tenth of a second to import) is imported by the functions
# that use it: every run imports this module (through the compaction), few digest anything.

FORMAT = "fieldrec-rows/1"
NULL, FIELD, ITEM, ROW = b"\x1e", b"\x1f", b"\x1d", b"\x1c"
_ESCAPES = ((b"\\", b"\\\\"), (b"\x1c", b"\\c"), (b"\x1d", b"\\d"), (b"\x1e", b"\\e"), (b"\x1f", b"\\f"))


def _escaped(values: pa.Array) -> pa.Array:
    import pyarrow.compute as pc

    values = values.cast(pa.large_binary())
    if not pc.any(pc.match_substring_regex(values, rb"[\\\x1c-\x1f]")).as_py():
        return values                        # nothing to escape (nearly always): one pass, not five
    for raw, escape in _ESCAPES:
        values = pc.replace_substring(values, raw, escape)
    return values


def _decimal(values: pa.Array) -> pa.Array:
    return values.cast(pa.string()).cast(pa.large_binary())


def _float_bits(values: pa.Array) -> pa.Array:
    doubles = np.ascontiguousarray(values.cast(pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False))
    missing = values.is_null().to_numpy(zero_copy_only=False)
    return _decimal(pa.array(doubles.view(np.uint64), mask=missing))


def _form(values: pa.Array) -> pa.Array:
    """Each value's canonical bytes (nulls stay null here)."""
    import pyarrow.compute as pc

    kind = values.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind) \
            or pa.types.is_large_binary(kind):
        return _escaped(values)
    if pa.types.is_boolean(kind):
        return _decimal(values.cast(pa.int8()))
    if pa.types.is_integer(kind):
        return _decimal(values)
    if pa.types.is_floating(kind):
        return _float_bits(values)
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind) or pa.types.is_time(kind) or pa.types.is_duration(kind):
        return _decimal(values.cast(pa.int64() if kind.bit_width == 64 else pa.int32()))
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        flat = _form(pc.list_flatten(values))
        flat = pc.if_else(flat.is_valid(), flat, pa.scalar(NULL, pa.large_binary()))
        offsets = pc.list_value_length(values).fill_null(0).to_numpy(zero_copy_only=False)
        joined = pa.LargeListArray.from_arrays(pa.array(np.concatenate([[0], np.cumsum(offsets)]), pa.int64()), flat)
        joined = pc.binary_join(joined, pa.scalar(ITEM, pa.large_binary()))
        counts = _decimal(pc.list_value_length(values))
        return pc.if_else(values.is_valid(),
                          pc.binary_join_element_wise(counts, joined, pa.scalar(b":", pa.large_binary())), None)
    raise TypeError(f"no canonical form for a column of type {kind}")


def canonical_rows(table: pa.Table, columns: list[str]) -> pa.Array:
    """Each row of ``table`` in its canonical byte form (``columns`` it lacks are null)."""
    import pyarrow.compute as pc

    n = table.num_rows
    fields = []
    nulls = pa.scalar(NULL, pa.large_binary())
    for name in columns:
        values = table[name].combine_chunks() if name in table.column_names else None
        if values is None or values.null_count == n:
            fields.append(nulls)             # a scalar: joined into every row
        else:
            form = _form(values)
            fields.append(form.fill_null(nulls) if form.null_count else form)
    end = pa.scalar(ROW, pa.large_binary())
    joined = pc.binary_join_element_wise(*fields, end, pa.scalar(FIELD, pa.large_binary()))
    return joined if isinstance(joined, pa.Array) else pa.array([joined.as_py()] * n, pa.large_binary())


def rows_digest(table: pa.Table, columns: list[str]) -> str:
    """SHA-256 (hex) of ``table``'s rows over ``columns``, independent of row order."""
    import pyarrow.compute as pc

    rows = canonical_rows(table, columns)
    ordered = rows.take(pc.sort_indices(rows)) if len(rows) else rows
    digest = hashlib.sha256(FORMAT.encode() + b"\n")
    if len(ordered):
        offsets = np.frombuffer(ordered.buffers()[1], dtype=np.int64, count=len(ordered) + 1, offset=ordered.offset * 8)
        digest.update(memoryview(ordered.buffers()[2])[int(offsets[0]):int(offsets[-1])])
    return digest.hexdigest()
