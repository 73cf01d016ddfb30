"""Printing an Arrow table of rows exactly as ``options.emit`` prints a list of dicts, a column at a time.

``emit`` formats every cell in Python: at a million rows that alone takes longer than the query.
Here each column is formatted with Arrow compute (instants shown in the site's zone, a device
clock in its own, CSV quoting, JSON escaping), and only cells with characters a terminal must not
see, or wide characters, go through ``emit``'s own Python functions. ``tests/test_tabular.py``
holds the output to ``emit``'s, byte for byte.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import tzinfo
from typing import TextIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.commands.options import DEFAULT_ZONE
from pipeline.common import timecols
from pipeline.common.text import display_width, for_terminal

BATCH = 65_536
_TERMINAL_UNSAFE = r"[\x00-\x1f\x7f-\x9f\x{2028}\x{2029}\x{202a}-\x{202e}\x{2066}-\x{2069}]"
_NON_ASCII = r"[^\x00-\x7f]"
_FORMULA = r"^[=+\-@\t\r]"


@dataclass(frozen=True)
class Col:
    """A column to print: ``kind`` text | instant | reading | int | float | bool. A ``reading`` is an
    instant shown as a device's clock read it: ``zone_col`` names the column holding each row's
    zone label (``zones`` maps labels to zones)."""
    name: str
    kind: str = "text"
    zone_col: str | None = None


def _json_text(values: pa.Array) -> pa.Array:
    """``json.dumps(value, ensure_ascii=False)`` of each string."""
    out = pc.replace_substring(values, "\\", "\\\\")
    out = pc.replace_substring(out, '"', '\\"')
    if pc.any(pc.match_substring_regex(out, r"[\x00-\x1f]")).as_py():
        out = pa.array([None if v is None else json.dumps(v, ensure_ascii=False)[1:-1]
                        for v in values.to_pylist()], pa.string())
    return pc.binary_join_element_wise('"', out, '"', "")


def _instants(table: pa.Table, col: Col, zone: tzinfo, zones: dict[str, tzinfo], fn) -> pa.Array:
    values = table[col.name].combine_chunks().cast(timecols.UTC_TYPE)
    if col.kind != "reading":
        return fn(values, zone)
    labels = table[col.zone_col].combine_chunks()
    out = pa.nulls(len(values), pa.string())
    for label in pc.unique(labels.drop_null()).to_pylist():
        mine = pc.fill_null(pc.equal(labels, label), False)
        out = pc.if_else(mine, fn(values, zones[label]), out)
    return out


def _cells(table: pa.Table, col: Col, fmt: str, zone: tzinfo, zones: dict[str, tzinfo]) -> pa.Array:
    """Each value of ``col`` as ``emit`` writes it in ``fmt``; null where the value is None."""
    values = table[col.name].combine_chunks()
    if col.kind in ("instant", "reading"):
        text = _instants(table, col, zone, zones, timecols.iso if fmt == "json" else timecols.show)
        return _json_text(text) if fmt == "json" else text
    if col.kind == "float":
        floats = values.cast(pa.float64()).to_pylist()
        if fmt == "json":
            return pa.array([None if v is None else json.dumps(round(v, 3)) for v in floats], pa.string())
        return pa.array([None if v is None else f"{v:.2f}" for v in floats], pa.string())
    if col.kind == "bool":
        yes, no = ("true", "false") if fmt == "json" else ("True", "False")
        return pc.if_else(values, yes, no)
    if col.kind == "int":
        return values.cast(pa.int64()).cast(pa.string())
    values = values.cast(pa.string())
    if fmt == "json":
        return _json_text(values)
    if fmt == "csv":                                   # csv_cell: a formula start becomes text
        return pc.if_else(pc.fill_null(pc.match_substring_regex(values, _FORMULA), False),
                          pc.binary_join_element_wise("'", values, ""), values)
    return values


def _csv_quoted(cells: pa.Array) -> pa.Array:
    """The csv module's minimal quoting (delimiter, quote mark, line terminator), nulls as empty."""
    needs = pc.fill_null(pc.match_substring_regex(cells, r'[,"\n]'), False)
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(cells, '"', '""'), '"', "")
    return pc.fill_null(pc.if_else(needs, quoted, cells), "")


def emit_table(table: pa.Table, cols: list[Col], fmt: str, out: TextIO | None = None, zone: tzinfo | None = None,
               zones: dict[str, tzinfo] | None = None) -> None:
    """``options.emit(rows, [c.name for c in cols], fmt, out, zone)`` for the rows of ``table``."""
    out = out or sys.stdout
    zone, zones = zone or DEFAULT_ZONE, zones or {}
    names = [c.name for c in cols]
    if fmt == "json":
        _emit_json(table, cols, out, zone, zones)
    elif fmt == "csv":
        out.write(",".join(_csv_quoted(pa.array(names)).to_pylist()) + "\n")
        for start in range(0, table.num_rows, BATCH):
            part = table.slice(start, BATCH)
            cells = [_csv_quoted(_cells(part, c, "csv", zone, zones)) for c in cols]
            lines = pc.binary_join_element_wise(*cells, ",") if len(cells) > 1 else cells[0]
            out.write("\n".join(lines.to_pylist()) + "\n")
    else:
        _emit_aligned(table, cols, names, out, zone, zones)


def _emit_json(table: pa.Table, cols: list[Col], out: TextIO, zone: tzinfo, zones: dict[str, tzinfo]) -> None:
    if not table.num_rows:
        out.write("[]\n")
        return
    out.write("[\n")
    keys = [f'    {json.dumps(c.name, ensure_ascii=False)}: ' for c in cols]
    for start in range(0, table.num_rows, BATCH):
        part = table.slice(start, BATCH)
        fields = [pc.binary_join_element_wise(key, pc.fill_null(_cells(part, c, "json", zone, zones), "null"), "")
                  for key, c in zip(keys, cols)]
        body = pc.binary_join_element_wise(*fields, ",\n") if len(fields) > 1 else fields[0]
        objects = pc.binary_join_element_wise("  {\n", body, "\n  }", "")
        text = ",\n".join(objects.to_pylist())
        out.write(text + (",\n" if start + BATCH < table.num_rows else "\n"))
    out.write("]\n")


def _emit_aligned(table: pa.Table, cols: list[Col], names: list[str], out: TextIO, zone: tzinfo,
                  zones: dict[str, tzinfo]) -> None:
    """The aligned table: every cell made safe for a terminal, columns padded to their widest cell."""
    cells = [pc.fill_null(_cells(table, c, "table", zone, zones), "") for c in cols]
    # Cells with control or wide characters go through emit's own functions; the rest are ASCII.
    special = np.zeros(table.num_rows, bool)
    for c in cells:
        special |= pc.match_substring_regex(c, _NON_ASCII).to_numpy(zero_copy_only=False)
        special |= pc.match_substring_regex(c, _TERMINAL_UNSAFE).to_numpy(zero_copy_only=False)
    rows_special = np.flatnonzero(special)
    fixed = {}
    for i in rows_special.tolist():
        fixed[i] = [for_terminal(c[i].as_py()) for c in cells]
    widths = []
    for j, (name, c) in enumerate(zip(names, cells)):
        plain = pc.max(pc.utf8_length(c)).as_py() if len(c) else 0
        wide = max((display_width(v[j]) for v in fixed.values()), default=0)
        widths.append(max(display_width(name), plain or 0, wide))
    out.write(_line([_pad(n, w) for n, w in zip(names, widths)]))
    for start in range(0, table.num_rows, BATCH):
        stop = min(start + BATCH, table.num_rows)
        padded = [pc.utf8_rpad(c.slice(start, stop - start), w, " ") for c, w in zip(cells, widths)]
        lines = pc.utf8_rtrim(pc.binary_join_element_wise(*padded, "  "), " ") if len(padded) > 1 else \
            pc.utf8_rtrim(padded[0], " ")
        text = lines.to_pylist()
        for i in rows_special[(rows_special >= start) & (rows_special < stop)].tolist():
            text[i - start] = _line([_pad(v, w) for v, w in zip(fixed[i], widths)])[:-1]
        out.write("\n".join(text) + "\n" if text else "")


def _pad(value: str, width: int) -> str:
    return value + " " * max(0, width - display_width(value))


def _line(cells: list[str]) -> str:
    return "  ".join(cells).rstrip() + "\n"
