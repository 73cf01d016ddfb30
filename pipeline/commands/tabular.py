"""Printing an Arrow table of rows exactly as ``options.emit`` prints a list of dicts, a column at a time.

``emit`` formats every cell in Python: at a million rows that alone takes longer than the query.
Here each column is formatted with Arrow compute (instants shown in the site's zone, a device
clock in its own, CSV quoting, JSON escaping), a batch of rows at a time, and only cells with
characters a terminal must not see, or wide characters, go through ``emit``'s own Python
functions. What a column can need (quoting, escaping, a formula guard) is asked once of its bytes.
In CSV, neighbouring columns whose values repeat (a retention's class, date, state and reason) are
written once per distinct combination and taken back per row (``_csv_plan``).
``tests/test_tabular.py`` holds the output to ``emit``'s, byte for byte.
"""

from __future__ import annotations

import json
import sys
from datetime import tzinfo
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TextIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.commands.columns import EMIT, Col, Dialect
from pipeline.commands.options import DEFAULT_ZONE
from pipeline.common import i18n, timecols, vocabulary
from pipeline.common.text import display_width, for_terminal
from pipeline.common.times import zone_label

BATCH = 32_768
_WORKERS = 2                      # batches formatted at once (beside the one being written)
_TERMINAL_UNSAFE = r"[\x00-\x1f\x7f-\x9f\x{2028}\x{2029}\x{202a}-\x{202e}\x{2066}-\x{2069}]"
_NON_ASCII = r"[^\x00-\x7f]"
_SHOWN_WIDTH = len("2026-12-01 06:00:00 +08:00")


def _text_bytes(values) -> tuple[np.ndarray, np.ndarray]:
    """A text array's UTF-8 bytes and the offsets of its values in them (a dictionary array: its
    dictionary's, which says it for every row)."""
    if pa.types.is_dictionary(values.type):
        values = values.dictionary
    if not pa.types.is_string(values.type):
        values = values.cast(pa.large_string())
    wide = np.int64 if pa.types.is_large_string(values.type) else np.int32
    if not len(values) or values.buffers()[2] is None:
        return np.zeros(0, np.uint8), np.zeros(len(values) + 1, np.int64)
    offsets = np.frombuffer(values.buffers()[1], dtype=wide, count=len(values) + 1,
                            offset=values.offset * np.dtype(wide).itemsize)
    return np.frombuffer(values.buffers()[2], dtype=np.uint8), offsets


def _rows_holding(values: pa.Array, flagged: np.ndarray) -> np.ndarray:
    """For each value (plain text, not a dictionary), whether one of its bytes is ``flagged`` (a
    table of 256): one pass over the bytes, no pattern matched per row."""
    data, offsets = _text_bytes(values)
    first, last = int(offsets[0]), int(offsets[-1])
    seen = np.zeros(last - first + 1, np.int64)          # flagged bytes before each position
    np.cumsum(flagged[data[first:last]], out=seen[1:])
    at = offsets.astype(np.int64) - first
    return seen[at[1:]] > seen[at[:-1]]


def _rows_starting(values: pa.Array, flagged: np.ndarray) -> np.ndarray:
    """For each value (plain text), whether its first byte is ``flagged`` (a table of 256)."""
    data, offsets = _text_bytes(values)
    starts, ends = offsets[:-1], offsets[1:]
    present = ends > starts
    out = np.zeros(len(starts), bool)
    out[present] = flagged[data[starts[present]]]
    return out


def _byte_table(chars: bytes) -> np.ndarray:
    table = np.zeros(256, bool)
    table[np.frombuffer(chars, np.uint8)] = True
    return table


def _pieces(values):
    """(bytes, offsets) of each piece of a text column, as stored: a column of a million rows is
    asked a piece at a time, never copied whole."""
    for piece in (values.chunks if isinstance(values, pa.ChunkedArray) else [values]):
        yield _text_bytes(piece)


_SEARCHED = 4 << 20              # bytes of text copied out at once for ``_holds``


def _holds(values, chars: bytes) -> bool:
    """Whether any value holds one of ``chars`` (single bytes): a byte search of the column's text
    (memchr speed), not a set lookup per byte. The text is copied out a few MiB at a time: one
    copy of a million SHA-256 (68 MB) is 17,000 fresh pages to fault in, a few MiB reused are not."""
    for data, offsets in _pieces(values):
        for at in range(int(offsets[0]), int(offsets[-1]), _SEARCHED):
            text = data[at:min(at + _SEARCHED, int(offsets[-1]))].tobytes()
            if any(bytes([c]) in text for c in chars):
                return True
    return False


def _holds_control_or_wide(values) -> bool:
    for data, offsets in _pieces(values):
        chunk = data[int(offsets[0]):int(offsets[-1])]
        if len(chunk) and (chunk.max() >= 0x7f or chunk.min() < 0x20):
            return True
    return False


def _may_be_formula(values) -> bool:
    """Whether any value starts like a spreadsheet formula (= + - @, tab, carriage return)."""
    for data, offsets in _pieces(values):
        starts = offsets[:-1][offsets[1:] > offsets[:-1]]
        if len(starts) and _FORMULA_START[data[starts]].any():
            return True
    return False


_FORMULA_START = np.zeros(256, bool)
_FORMULA_START[np.frombuffer(b"=+-@\t\r", np.uint8)] = True


def _as_array(values) -> pa.Array:
    """One array of a column (``combine_chunks`` copies even a column of one piece: not that)."""
    if isinstance(values, pa.ChunkedArray):
        return values.chunk(0) if values.num_chunks == 1 else values.combine_chunks()
    return values


# -- the printer ---------------------------------------------------------------------------------------
class _Printer:
    def __init__(self, table: pa.Table, cols: list[Col], fmt: str, zone: tzinfo, zones: dict[str, tzinfo],
                 dialect: Dialect = EMIT):
        self.cols, self.fmt, self.zone, self.zones, self.dialect = cols, fmt, zone, zones, dialect
        texts = [c.name for c in cols if c.kind == "text"]
        whole = {name: table[name] for name in texts}
        self.special = b',"' + dialect.csv_newline.encode() + (b"" if "\n" in dialect.csv_newline else b"\n")
        self.special_bytes = _byte_table(self.special)
        self.formula = {n: fmt == "csv" and _may_be_formula(v) for n, v in whole.items()}
        self.quoting = {n: fmt == "csv" and _holds(v, self.special) for n, v in whole.items()}
        self.escaping = {n: fmt == "json" and (_holds(v, b'\\"') or _holds_control(v)) for n, v in whole.items()}

    def _shown(self, values: pa.Array, zone: tzinfo, memo: list) -> pa.Array:
        """An instant column as text (site or device zone): the same instants shown twice in a batch
        (a recording's start, and its device clock in the site's zone) are formatted once (``memo``:
        the batch's, so that batches can be formatted side by side)."""
        label = zone_label(zone)
        for seen, seen_label, text in memo:
            if seen_label == label and seen.equals(values):
                return text
        text = _repeated_once(values, zone, timecols.iso if self.fmt == "json" else timecols.show)
        memo.append((values, label, text))
        return text

    def _instants(self, part: pa.Table, col: Col, memo: list) -> pa.Array:
        values = _as_array(part[col.name]).cast(timecols.UTC_TYPE)
        if col.kind != "reading":
            return self._shown(values, self.zone, memo)
        labels = _as_array(part[col.zone_col])
        present = pc.unique(labels.drop_null()).to_pylist()
        if len(present) == 1 and not labels.null_count:
            return self._shown(values, self.zones[present[0]], memo)
        out = pa.nulls(len(values), pa.string())
        for label in present:
            out = pc.if_else(pc.fill_null(pc.equal(labels, label), False),
                             self._shown(values, self.zones[label], memo), out)
        return out

    def cells(self, part: pa.Table, col: Col, memo: list | None = None) -> pa.Array:
        """Each value of ``col`` in this batch as ``emit`` writes it; null where the value is None
        (CSV: quoted as needed; JSON: a JSON value). ``memo``: instants already shown in this batch."""
        fmt = self.fmt
        if col.kind in ("instant", "reading"):
            text = self._instants(part, col, [] if memo is None else memo)
            return pc.binary_join_element_wise('"', text, '"', "") if fmt == "json" else text
        values = _as_array(part[col.name])
        if col.kind == "float":
            floats, d = values.cast(pa.float64()).to_pylist(), self.dialect
            if fmt == "json":
                shown = json.dumps if d.json_float == "repr" else (lambda v: json.dumps(round(v, 3)))
            elif fmt == "csv" and d.csv_float == "repr":
                shown = repr
            else:
                shown = "{:.2f}".format
            return pa.array([None if v is None else shown(v) for v in floats], pa.string())
        if col.kind == "bool":
            yes, no = ("true", "false") if fmt == "json" else self.dialect.yes_no
            return pc.if_else(values, yes, no)
        if col.kind == "int":
            return values.cast(pa.int64()).cast(pa.string())
        values = values.cast(pa.string())
        if fmt == "json":
            return _json_text(values, self.escaping[col.name])
        if fmt == "csv":
            if self.formula[col.name]:                 # csv_cell: a formula start becomes text
                starts = _rows_starting(values, _FORMULA_START)
                if starts.any():
                    values = pc.if_else(pa.array(starts), pc.binary_join_element_wise("'", values, ""), values)
            if self.quoting[col.name]:
                needs = _rows_holding(values, self.special_bytes)
                if needs.any():
                    values = pc.if_else(pa.array(needs), pc.binary_join_element_wise(
                        '"', pc.replace_substring(values, '"', '""'), '"', ""), values)
        return values


def _repeated_once(values: pa.Array, zone: tzinfo, write: Callable[[pa.Array, tzinfo], pa.Array]) -> pa.Array:
    """``write(values, zone)``, each distinct instant written once when a column repeats them (a
    retention date is the end of a day: thousands of recordings share it), judged by a sample."""
    n = len(values)
    if n >= 256 and pc.count_distinct(values.slice(0, 256)).as_py() <= 128:
        distinct = pc.unique(values)
        if len(distinct) <= n // 2:
            return pc.take(write(distinct, zone), pc.index_in(values, value_set=distinct))
    return write(values, zone)


def _holds_control(values) -> bool:
    return any(offsets[-1] > offsets[0] and data[int(offsets[0]):int(offsets[-1])].min() < 0x20
               for data, offsets in _pieces(values))


def _json_text(values: pa.Array, escaping: bool) -> pa.Array:
    """``json.dumps(value, ensure_ascii=False)`` of each string."""
    if not escaping:
        return pc.binary_join_element_wise('"', values, '"', "")
    out = pc.replace_substring(pc.replace_substring(values, "\\", "\\\\"), '"', '\\"')
    if pc.any(pc.match_substring_regex(out, r"[\x00-\x1f]")).as_py():
        out = pa.array([None if v is None else json.dumps(v, ensure_ascii=False)[1:-1]
                        for v in values.to_pylist()], pa.string())
    return pc.binary_join_element_wise('"', out, '"', "")


def _write(out: TextIO, lines: pa.Array) -> None:
    """Lines (each ending in a newline) to ``out``: the bytes as Arrow holds them, when ``out`` has a
    byte buffer (a terminal, a pipe, a file), without a Python string per line."""
    if not len(lines):
        return
    raw = getattr(out, "buffer", None)
    if raw is None:
        out.write("".join(lines.to_pylist()))
        return
    out.flush()
    lines = lines.cast(pa.large_string()) if not pa.types.is_large_string(lines.type) else lines
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64, count=len(lines) + 1, offset=lines.offset * 8)
    raw.write(memoryview(lines.buffers()[2])[int(offsets[0]):int(offsets[-1])])
    raw.flush()


def _batches(table: pa.Table, order: pa.Array | None):
    """(first row, rows) of the table a batch at a time, in ``order`` when given."""
    for start in range(0, _count(table, order), BATCH):
        yield start, _part(table, order, start)


def _part(table: pa.Table, order: pa.Array | None, start: int) -> pa.Table:
    return table.slice(start, BATCH) if order is None else table.take(order.slice(start, BATCH))


def _formatted(table: pa.Table, order: pa.Array | None, lines: Callable[[int, pa.Table], pa.Array]):
    """``lines(first row, rows)`` of each batch, in order, the next batches taken and formatted by
    worker threads while one is written: Arrow's kernels let go of the GIL, so a second core
    formats while the first writes (each batch its own memo; a few batches in memory at once)."""
    count = _count(table, order)
    if count <= BATCH:
        if count:
            yield lines(0, _part(table, order, 0))
        return
    pending: deque = deque()
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        for start in range(0, count, BATCH):
            pending.append(pool.submit(lambda at: lines(at, _part(table, order, at)), start))
            if len(pending) > _WORKERS:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _count(table: pa.Table, order: pa.Array | None) -> int:
    """How many rows are printed: the table's, or those ``order`` names."""
    return table.num_rows if order is None else len(order)


def emit_table(table: pa.Table, cols: list[Col], fmt: str, out: TextIO | None = None, zone: tzinfo | None = None,
               zones: dict[str, tzinfo] | None = None, order: pa.Array | None = None,
               dialect: Dialect = EMIT) -> None:
    """``options.emit(rows, [c.name for c in cols], fmt, out, zone)`` for the rows of ``table``, in
    ``order`` (row indices) when given: taken a batch at a time, never all at once. ``order`` may
    name only some rows (a listing's selection): only those are printed, the table is not copied."""
    out = out or sys.stdout
    zone, zones = zone or DEFAULT_ZONE, zones or {}
    table = table.select(list(dict.fromkeys([c.name for c in cols] + [c.zone_col for c in cols if c.zone_col])))
    printer = _Printer(table, cols, fmt, zone, zones, dialect)
    if fmt == "json":
        _emit_json(table, cols, out, printer, order)
    elif fmt == "csv":
        newline = dialect.csv_newline
        header = [c.name for c in cols]
        out.write(",".join(f'"{h}"' if any(ch in h for ch in ',"\r\n') else h for h in header) + newline)

        table, plan = _csv_plan(table, cols, printer, newline)
        ends_in_group = isinstance(plan[-1], str)

        def lines(_start: int, part: pa.Table) -> pa.Array:
            memo: list = []
            # an empty cell for a null: replaced as the line is joined, not a copy of each column; a
            # group of columns: its cells as written once per distinct combination, taken per row
            cells = [_decoded(part[item]) if isinstance(item, str) else printer.cells(part, item, memo)
                     for item in plan]
            if not ends_in_group:                   # the line's end (a last group holds its own)
                cells[-1] = pc.binary_join_element_wise(cells[-1], newline, "", null_handling="replace")
            return pc.binary_join_element_wise(*cells, ",", null_handling="replace") if len(cells) > 1 else cells[0]

        for text in _formatted(table, order, lines):
            _write(out, text)
    else:
        if i18n.current_language() != "en":
            table, cols = _in_language(table, cols, dialect)
            printer = _Printer(table, cols, fmt, zone, zones, dialect)
        _emit_aligned(table, cols, out, printer, order)


# -- CSV: columns whose values repeat, written once per distinct combination ----------------------------
_CODED_ROWS = 4096               # fewer rows than this: every cell formatted as it comes
_CODED_SHARE = 8                 # a column is coded when it has at most 1/8 as many distinct values as rows
_SAMPLE = 1024


def _codes(values, col: Col, n: int) -> tuple[np.ndarray, pa.Array] | None:
    """(a code per row, the distinct values: code ``len(distinct) - 1`` is null) of a column whose
    values repeat (a dictionary column as it is; others dictionary-encoded when a sample of their
    rows says they repeat), or None. Readings (shown in each row's own zone) are not coded."""
    if col.kind == "reading":
        return None
    values = _as_array(values)
    if not pa.types.is_dictionary(values.type):
        sample = values.slice(0, _SAMPLE)
        if pc.count_distinct(sample, mode="all").as_py() * _CODED_SHARE > len(sample):
            return None
        values = pc.dictionary_encode(values)
        if len(values.dictionary) * _CODED_SHARE > n:
            return None
    dictionary, indices = values.dictionary, values.indices
    if indices.type not in (pa.int32(), pa.int64()):
        indices = indices.cast(pa.int64())
    if indices.null_count:
        indices = indices.fill_null(len(dictionary))
    return indices.to_numpy(zero_copy_only=False), pa.concat_arrays([dictionary, pa.nulls(1, dictionary.type)])


def _csv_plan(table: pa.Table, cols: list[Col], printer: "_Printer", newline: str) -> tuple[pa.Table, list]:
    """What each CSV line joins: a column (its cells formatted a batch at a time), or the name of a
    column of this table that holds, for a run of neighbouring columns whose values repeat (a
    class, a retention date, a state and its reason), their cells as written, joined by commas:
    each distinct combination formatted once (``printer.cells``, the same as row by row), taken
    back per row by a dictionary's codes. A run that ends the line holds the newline too."""
    n = table.num_rows
    if n < _CODED_ROWS:
        return table, list(cols)
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:       # Arrow's kernels let go of the GIL
        coded = list(pool.map(lambda c: _codes(table[c.name], c, n), cols))
    plan: list = []
    runs: list[list[int]] = []
    for i, c in enumerate(cols):                # runs of coded neighbours whose codes fit one int64
        if coded[i] is None:
            plan.append(c)
            continue
        if runs and plan and plan[-1] is None and runs[-1][-1] == i - 1 and \
                _radix([coded[j] for j in runs[-1]]) * len(coded[i][1]) < 2**62:
            runs[-1].append(i)
            continue
        runs.append([i])
        plan.append(None)                       # the run's place: named below
    def written(run: list[int]) -> pa.DictionaryArray:
        key = coded[run[0]][0].astype(np.int64)
        for j in run[1:]:                       # in place: a million rows' key, no copy per member
            key *= len(coded[j][1])
            key += coded[j][0]
        encoded = pc.dictionary_encode(pa.array(key, pa.int64()))
        del key
        distinct = encoded.dictionary.to_numpy()
        members: dict[str, pa.Array] = {}
        for j in reversed(run):                 # each member's value in each distinct combination
            size = len(coded[j][1])
            members[cols[j].name] = coded[j][1].take(pa.array(distinct % size))
            distinct = distinct // size
            coded[j] = None                     # its codes are in the key now
        small = pa.table({cols[j].name: members[cols[j].name] for j in run})
        cells = [printer.cells(small, cols[j], []) for j in run]
        text = pc.binary_join_element_wise(*cells, ",", null_handling="replace") if len(cells) > 1 else cells[0]
        if run[-1] == len(cols) - 1:
            text = pc.binary_join_element_wise(text, newline, "", null_handling="replace")
        return pa.DictionaryArray.from_arrays(encoded.indices, text)

    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        for number, column in enumerate(pool.map(written, runs)):
            name = f"\x00group{number}"
            plan[plan.index(None)] = name
            table = table.append_column(name, column)
    needed = {c.name for c in plan if isinstance(c, Col)} | {c.zone_col for c in plan if isinstance(c, Col) and c.zone_col}
    return table.select([name for name in table.column_names if name in needed or name.startswith("\x00group")]), plan


def _radix(members: list) -> int:
    size = 1
    for _codes_of, values in members:
        size *= len(values)
    return size


def _decoded(values) -> pa.Array:
    values = _as_array(values)
    return values.dictionary.take(values.indices)


def _in_language(table: pa.Table, cols: list[Col], dialect: Dialect) -> tuple[pa.Table, list[Col]]:
    """A table for people in another language than English: each enumerated value (a status, a
    kind, yes and no) in the regulation's words, as ``options.emit`` shows them. They become text
    columns, so their wide characters are measured by terminal columns like any other."""
    out = []
    for c in cols:
        if c.name not in vocabulary.ENUMERATED or c.kind not in ("text", "bool"):
            out.append(c)
            continue
        values = _as_array(table[c.name])
        if c.kind == "bool":
            yes, no = dialect.yes_no
            values = pc.if_else(values, yes, no)
        values = values.cast(pa.string())
        words = pc.unique(values.drop_null())
        shown = pa.array([vocabulary.value(c.name, w) for w in words.to_pylist()], pa.string())
        table = table.set_column(table.schema.get_field_index(c.name), c.name,
                                 pc.take(shown, pc.index_in(values, value_set=words)))
        out.append(Col(c.name))
    return table, out


def _emit_json(table: pa.Table, cols: list[Col], out: TextIO, printer: _Printer, order) -> None:
    if not _count(table, order):
        out.write("[]\n")
        return
    out.write("[\n")
    keys = [(",\n" if i else "") + f"    {json.dumps(c.name, ensure_ascii=False)}: " for i, c in enumerate(cols)]
    count = _count(table, order)

    def objects(start: int, part: pa.Table) -> pa.Array:
        memo: list = []
        pieces: list = ["  {\n"]
        for key, c in zip(keys, cols):
            pieces += [key, printer.cells(part, c, memo)]
        if start + BATCH >= count:                  # the last object has no comma after it
            ends = np.full(part.num_rows, "\n  },\n", dtype=object)
            ends[-1] = "\n  }\n"
            pieces.append(pa.array(ends, pa.string()))
        else:
            pieces.append("\n  },\n")
        return pc.binary_join_element_wise(*pieces, "", null_handling="replace", null_replacement="null")

    for text in _formatted(table, order, objects):
        _write(out, text)
    out.write("]\n")


# -- the aligned table ----------------------------------------------------------------------------------
def _measure(printer: _Printer):
    return display_width if printer.dialect.width == "display" else len


def _widths(table: pa.Table, cols: list[Col], printer: _Printer, special: np.ndarray) -> list[int]:
    """Each column's width: its widest cell (without formatting every cell: instants are all
    ``2026-12-01 06:00:00 +08:00`` wide, text as long as its characters, but for ``special`` rows)."""
    widths, measure = [], _measure(printer)
    for c in cols:
        values = _as_array(table[c.name])
        width = measure(vocabulary.heading(c.name))
        if c.kind in ("instant", "reading"):
            if len(values) > values.null_count:
                span = pc.min_max(values.cast(timecols.UTC_TYPE))
                if 1001 <= span["min"].as_py().year and span["max"].as_py().year <= 9998:
                    width = max(width, _SHOWN_WIDTH)      # every one is 2026-12-01 06:00:00 +08:00
                else:
                    width = max(width, pc.max(pc.utf8_length(printer.cells(table, c))).as_py())
        elif c.kind == "float":
            width = max([width] + [len(f"{v:.2f}") for v in values.cast(pa.float64()).drop_null().to_pylist()])
        elif c.kind == "bool":
            yes, no = printer.dialect.yes_no
            width = max(width, *(len(yes if v else no) for v in pc.unique(values.drop_null()).to_pylist()), 0)
        else:
            text = values.cast(pa.int64()).cast(pa.string()) if c.kind == "int" else values.cast(pa.string())
            plain = pc.filter(text, pa.array(~special)) if special.any() else text
            width = max(width, pc.max(pc.utf8_length(plain)).as_py() or 0)
            for v in pc.filter(text, pa.array(special)).drop_null().to_pylist() if special.any() else ():
                width = max(width, measure(for_terminal(v)))
        widths.append(width)
    return widths


def _special_rows(table: pa.Table, cols: list[Col], wide: bool = True) -> np.ndarray:
    """Rows with a cell a terminal must see escaped, or (``wide``) with wide characters: emit's own
    functions write those."""
    special = np.zeros(table.num_rows, bool)
    for c in cols:
        if c.kind == "text" and _holds_control_or_wide(table[c.name]):
            values = _as_array(table[c.name]).cast(pa.string())
            if wide:
                special |= pc.fill_null(pc.match_substring_regex(values, _NON_ASCII), False).to_numpy(
                    zero_copy_only=False)
            special |= pc.fill_null(pc.match_substring_regex(values, _TERMINAL_UNSAFE), False).to_numpy(
                zero_copy_only=False)
    return special


def _emit_aligned(table: pa.Table, cols: list[Col], out: TextIO, printer: _Printer, order) -> None:
    """The aligned table: every cell made safe for a terminal, columns padded to their widest cell."""
    names = [vocabulary.heading(c.name) for c in cols]
    special = _special_rows(table, cols, wide=printer.dialect.width == "display")
    if order is None or len(order) == table.num_rows:
        widths = _widths(table, cols, printer, special)
    else:                                             # the widest of the rows printed, not of all
        widths = _widths(table.take(order), cols, printer, special[order.to_numpy()])
    pad = _pad if printer.dialect.width == "display" else (lambda value, width: value.ljust(width))
    out.write(_line([pad(n, w) for n, w in zip(names, widths)]))
    for start, part in _batches(table, order):
        rows = (order.slice(start, BATCH).to_numpy() if order is not None
                else np.arange(start, start + part.num_rows))
        memo: list = []
        cells = [pc.fill_null(printer.cells(part, c, memo), "") for c in cols]
        padded = [pc.utf8_rpad(cell, w, " ") for cell, w in zip(cells, widths)]
        lines = pc.utf8_rtrim(pc.binary_join_element_wise(*padded, "  "), " ") if len(padded) > 1 else \
            pc.utf8_rtrim(padded[0], " ")
        mine = np.flatnonzero(special[rows])
        if len(mine):                                 # the few rows emit's own functions write
            text = lines.to_pylist()
            for i in mine.tolist():
                text[i] = _line([pad(for_terminal(cell[i].as_py()), w) for cell, w in zip(cells, widths)])[:-1]
            lines = pa.array(text, pa.string())
        _write(out, pc.binary_join_element_wise(lines, "\n", ""))


def _pad(value: str, width: int) -> str:
    return value + " " * max(0, width - display_width(value))


def _line(cells: list[str]) -> str:
    return "  ".join(cells).rstrip() + "\n"


def device_order(table: pa.Table, device: str = "device_id", time: str = "start_time",
                 tiebreak: str = "sha256", *, rows: pa.Array | np.ndarray | None = None) -> pa.Array:
    """Indices that put rows in the order ``sorted(key=lambda r: (r[device] or "", r[time] or EARLIEST,
    r[tiebreak]))`` would: numbers sorted by numpy, text compared only where device and time tie.
    ``rows``: only these rows (indices into the table, ascending), as a listing's selection, without
    taking them out of the table first."""
    picked = None if rows is None else np.asarray(rows.to_numpy(zero_copy_only=False) if isinstance(rows, pa.Array)
                                                  else rows, np.int64)
    n = table.num_rows if picked is None else len(picked)
    if not n:
        return pa.array([], pa.int64())
    rank = _device_rank(_as_array(table[device]))
    when = _as_array(table[time]).cast(pa.int64())
    at = when.fill_null(0).to_numpy(zero_copy_only=False)
    known = when.is_valid().to_numpy(zero_copy_only=False)
    if picked is not None:
        rank, at, known = rank[picked], at[picked], known[picked]
    # one number per row, device first, then time (no time: before every time): one sort, quick on
    # a catalog compacted in (device, time) order, where the rows already lie nearly so
    low = int(at[known].min()) if known.any() else 0
    span = (int(at[known].max()) - low + 2) if known.any() else 1
    if (int(rank.max()) + 1) * span < 2**62:
        key = rank.astype(np.int64) * span + np.where(known, at - low + 1, 0)
        order = np.argsort(key, kind="stable")
    else:                                         # times too far apart: by time, then by device
        key = None
        stamp = np.where(known, at, np.iinfo(np.int64).min)
        by_time = np.argsort(stamp, kind="stable")
        order = by_time[np.argsort(rank[by_time], kind="stable")]
    if key is not None:
        ordered = key[order]
    else:
        ordered = np.where(known, at, np.iinfo(np.int64).min)[order]
        ordered_rank = rank[order]
    index = order if picked is None else picked[order]
    changes = ordered[1:] != ordered[:-1]
    if key is None:
        changes |= ordered_rank[1:] != ordered_rank[:-1]
    if not changes.all():                         # the few rows of one device at one instant: by text
        starts = np.concatenate([[0], np.flatnonzero(changes) + 1])
        ends = np.concatenate([starts[1:], [n]])
        tied = ends - starts > 1
        groups = list(zip(starts[tied].tolist(), ends[tied].tolist()))
        members = np.concatenate([index[first:last] for first, last in groups])
        ties = table[tiebreak]                    # a few rows looked up alone; many taken at once
        text = {i: ties[i].as_py() for i in members.tolist()} if len(members) < 1000 else \
            dict(zip(members.tolist(), _as_array(ties).take(pa.array(members)).cast(pa.string()).to_pylist()))
        for first, last in groups:
            index[first:last] = sorted(index[first:last].tolist(), key=lambda i: text[i])
    return pa.array(index, pa.int64())


def _device_rank(devices: pa.Array) -> np.ndarray:
    """Each row's place among the device names sorted as text (none counts as ""): a small integer
    per row, the names sorted once each, not a text per row."""
    if not pa.types.is_dictionary(devices.type):
        devices = pc.dictionary_encode(devices.cast(pa.string()))
    names = devices.dictionary.cast(pa.string()).to_pylist()
    keys = [name or "" for name in names]
    places = {k: i for i, k in enumerate(sorted(set(keys) | {""}))}
    of_name = np.array([places[k] for k in keys] + [places[""]], np.int32)   # the last: a null
    codes = devices.indices.cast(pa.int32()).fill_null(len(names)).to_numpy(zero_copy_only=False)
    return of_name[codes]
