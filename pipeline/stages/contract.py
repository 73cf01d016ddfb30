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
from typing import Any, Mapping, Protocol

import pyarrow as pa

from pipeline.archive.objects import ObjectStore
from pipeline.config import Config

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
    rows: dict[str, list[dict] | pa.Table] = field(default_factory=dict)   # rows of other tables
    problem: Problem | None = None


class FileStage(Protocol):
    name: str
    needs: tuple[str, ...]

    def run(self, file: FileContext, found: Mapping[str, Any]) -> StageOutput: ...
