"""The one shape of a per-file stage: the file and what earlier stages found in; columns, rows and a problem out.

Every per-file stage (``checksum``, ``demux``, ``naming``, ``gaps``, ``thumbnails``) is a small
object with a ``name``, the ``needs`` (names of earlier stages whose findings it reads) and
``run(file, found)``. The per-file pass (``pipeline.runs.perfile``) is a loop over them: it skips a
stage whose needs are missing, turns a stage that raises into that stage's problem, and names the
stage of the first problem as the recording's ``error_stage`` by itself. Stages catch only what
they expect (``OSError`` of a source, FFmpeg's errors); the loop catches the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Protocol

from pipeline.archive.objects import ObjectStore
from pipeline.config import Config

# No Arrow here: the workers import this module, and a stage hands over the rows it computed as
# ``Columns``, which become an Arrow table in the process that writes them (the driver).
if TYPE_CHECKING:
    import pyarrow as pa

# Problem statuses from the mildest: a remark leaves the file ``ok`` and only explains it.
SEVERITY = ("ok", "damaged", "unreadable")


@dataclass(frozen=True)
class FileContext:
    """What every stage may know of the file it works on."""
    path: str                  # the source as found in the drop (not always UTF-8)
    read_path: str             # what to open: ``path``, or the target of a followed link
    name: str                  # the file name, as found
    config: Config
    store: ObjectStore
    run_id: str


@dataclass(frozen=True)
class Problem:
    status: str                # ok (a remark) | damaged | unreadable
    message: str
    failure: str | None = None  # catalog.schema.FAILURES: the file was not taken to its end


@dataclass
class StageOutput:
    found: Any = None                                   # what later stages read; None: nothing
    fields: dict = field(default_factory=dict)          # columns of the file's `recordings` row
    rows: dict[str, list[dict] | Columns | pa.Table] = field(default_factory=dict)   # rows of other tables
    problem: Problem | None = None


class Columns:
    """Rows of the catalog table ``table`` as columns (numpy arrays or lists, one mapping of column
    to values per group of rows: a video stream's keyframes), made an Arrow table of that table's
    schema by ``arrow()``. Pickled (a worker's result on its way to the driver) it arrives as that
    Arrow table, so the worker that computed the columns with numpy never imports Arrow (a
    twentieth of a second of its start)."""

    def __init__(self, table: str, groups: list[dict[str, Any]]):
        self.table, self.groups = table, groups

    @property
    def num_rows(self) -> int:
        return sum(len(next(iter(group.values()))) for group in self.groups if group)

    def arrow(self) -> pa.Table:
        return arrow_table(self.table, self.groups)

    def __reduce__(self):
        return arrow_table, (self.table, self.groups)


def arrow_table(table: str, groups: list[dict[str, Any]]) -> pa.Table:
    """The Arrow table of ``Columns``: each group a table of the catalog schema (each column
    converted to its schema type), concatenated; the schema's empty table for no group."""
    import pyarrow as pa

    from catalog.schema import TABLES

    schema = TABLES[table]
    parts = [pa.table({name: _column(values, schema.field(name).type) for name, values in group.items()},
                      schema=schema) for group in groups]
    return pa.concat_tables(parts) if parts else schema.empty_table()


def _column(values: Any, type_: pa.DataType) -> pa.Array:
    """``values`` as an Arrow array of ``type_``. A numpy array of numbers already of that type is
    taken by its buffer: ``pa.array`` would first ask whether it is a masked array, which imports
    numpy.ma (a fiftieth of a second of the driver's, as a one-file run's result arrives)."""
    import numpy as np
    import pyarrow as pa

    if (isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype.kind in "iuf"
            and values.dtype.isnative and pa.from_numpy_dtype(values.dtype) == type_):
        return pa.Array.from_buffers(type_, len(values), [None, pa.py_buffer(np.ascontiguousarray(values))])
    return pa.array(values, type_)


class FileStage(Protocol):
    name: str
    needs: tuple[str, ...]

    def run(self, file: FileContext, found: Mapping[str, Any]) -> StageOutput: ...
