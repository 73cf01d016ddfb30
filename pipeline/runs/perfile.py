"""One source file through every per-file stage, in one pass. No engine here: the runner calls ``guarded``.

The pass is a loop over ``STAGES`` (each of the shape ``pipeline.stages.contract.FileStage``). A
stage that raises becomes a problem of that stage, with the last line of its traceback, and the
stages that needed its findings are skipped; once the copy is stored, the recording row is always
written. Files that never came back (their worker died, or they ran out of time) get their rows
from ``lost`` in the driver, from what the pass last noted down.
"""

from __future__ import annotations

import functools
import importlib
import os
import signal
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from pipeline.archive.objects import ObjectStore
from pipeline.common import paths
from pipeline.common.clock import now_utc
from pipeline.common.errors import ArchiveWriteError
from pipeline.common import i18n
from pipeline.common.i18n import _
from pipeline.config import Config
from pipeline.runs.discover import SourceFile
from pipeline.stages import naming
from pipeline.stages.contract import SEVERITY, Columns, FileContext, FileStage, Problem, StageOutput

# No Arrow in a worker: a stage's rows cross to the driver as lists of dicts or ``Columns``, which
# arrive there as Arrow tables.
if TYPE_CHECKING:
    import pyarrow as pa

# The stages, in order: (module, class). Imported by the workers (``WORKER_MODULES``, by a thread
# while the worker already takes files: ``localpool.main``) and as a file's pass reaches each one,
# never by a driver that only hands files out: they bring in PyAV and its codecs (a third of a
# second of a one-file run's start-up, on a CPU the workers need then). The copy needs none of
# that, so a worker's first copy is written while the decoders are still being imported.
STAGES = (("pipeline.stages.checksum", "Checksum"), ("pipeline.stages.demux", "Demux"),
          ("pipeline.stages.naming", "Naming"), ("pipeline.stages.gaps", "Gaps"),
          ("pipeline.stages.thumbnails", "Thumbnails"))
STAGE_MODULES = tuple(module for module, _name in STAGES)


@functools.cache
def stage_at(index: int) -> FileStage:
    """The ``index``-th stage, its module imported now if it is not yet (or waited for, if a
    thread is importing it)."""
    module, name = STAGES[index]
    return getattr(importlib.import_module(module), name)()


def stages() -> tuple[FileStage, ...]:
    """Every stage, in order."""
    return tuple(stage_at(i) for i in range(len(STAGES)))

# Test-only fault injection, read only here: "NAME:STAGE:ACTION[;NAME:STAGE:ACTION...]" makes the
# file called NAME, as it enters STAGE, abort (os.abort), be killed (SIGKILL to its own process),
# raise an exception, or hang. The ingest has the runner pass it on to the workers.
TEST_FAULT_ENV = "FIELDREC_TEST_CRASH"

Note = Callable[[dict], None]     # told {"stage": ..., "fields": {...}} as each stage starts

# What a worker imports before its first task (while the driver walks the drop): this pass and
# every stage, nothing of the driver's.
WORKER_MODULES = (__name__, *STAGE_MODULES)


@dataclass(frozen=True)
class Context:
    archive: str
    run_id: str
    config: Config
    # the run's language, so that the reasons a worker writes into the catalog read as the run's do
    language: str = field(default_factory=i18n.current_language)


def speak(ctx: Context) -> None:
    """A worker process takes the language of the run that sent it the file."""
    if i18n.current_language() != ctx.language:
        i18n.use_language(ctx.language)


@dataclass
class FileResult:
    source: SourceFile
    sighting: dict
    recording: dict | None = None                 # None when nothing was stored
    dependents: dict[str, list[dict] | Columns | pa.Table] = field(default_factory=dict)  # rows keyed to the recording
    bytes_read: int = 0
    new_object: bool = False

    @property
    def sha256(self) -> str | None:
        return self.sighting["sha256"]

    @property
    def status(self) -> str:
        return self.recording["status"] if self.recording else self.sighting["status"]


def _sighting(src: SourceFile, ctx: Context, sha256: str | None, status: str, message: str | None,
              failure: str | None = None, stage: str | None = None) -> dict:
    return {
        "sha256": sha256, "source_path": paths.readable(src.path), "source_path_bytes": paths.exact(src.path),
        "size": src.size, "mtime": datetime.fromtimestamp(src.mtime_ns / 1e9, timezone.utc),
        "mtime_ns": src.mtime_ns, "status": status, "error_message": message,
        "link_target": paths.readable(src.link_target) if src.link_target is not None else None,
        "failure": failure, "error_stage": stage, "run_id": ctx.run_id, "seen_at": now_utc(),
    }


def not_read(src: SourceFile, ctx: Context, message: str, failure: str = "read_error",
             stage: str | None = None) -> FileResult:
    """A source that was not stored: a sighting with the reason, no object."""
    return FileResult(src, _sighting(src, ctx, None, "unreadable", f"{paths.readable(src.path)}: {message}",
                                     failure, stage))


def failed(src: SourceFile, ctx: Context, exc: BaseException) -> FileResult:
    """The guard's result for an unexpected error outside any stage: the file fails alone."""
    text = "".join(traceback.format_exception(exc)).strip()
    return not_read(src, ctx, _("internal error, please report: {text}").format(text=text), "stage_error")


def _recording(src: SourceFile, ctx: Context, node: str | None, fields: dict, status: str,
               stage: str | None, message: str | None) -> dict:
    name = os.path.basename(src.path)
    return {
        "kind": "other", **fields,
        "source_name": paths.readable(name), "source_name_bytes": paths.exact(name),
        "status": status, "error_stage": stage,
        "error_message": f"{paths.readable(name)}: {message}" if message else None,
        "processed_on": node, "run_id": ctx.run_id, "ingested_at": now_utc(),
    }


def process_file(src: SourceFile, ctx: Context, node: str | None = None, note: Note | None = None) -> FileResult:
    """Take one file through every stage. Raises only ``ArchiveWriteError`` (the archive failed)."""
    speak(ctx)
    if src.problem:
        return not_read(src, ctx, src.problem, src.failure or "read_error")
    cfg = ctx.config
    file = FileContext(src.path, src.read_path or src.path, src.name, cfg,
                       ObjectStore(Path(ctx.archive), fsync=cfg.ingest.fsync, mode=cfg.ingest.file_mode,
                                   direct=cfg.ingest.direct_io), ctx.run_id)
    found: dict[str, object] = {}
    fields: dict = {}
    rows: dict[str, list[dict] | Columns | pa.Table] = {}
    problems: list[tuple[str, Problem]] = []
    for index in range(len(STAGES)):
        stage = stage_at(index)
        if any(need not in found for need in stage.needs):
            continue
        if note is not None:
            note({"stage": stage.name, "fields": {k: v for k, v in fields.items() if _plain(v)},
                  **_copy_noted(found)})
        try:
            _test_fault(src.name, stage.name)
            out = stage.run(file, found)
        except ArchiveWriteError:
            raise
        except Exception as exc:            # noqa: BLE001 - the stage fails, the file goes on
            last = traceback.format_exception_only(exc)[-1].strip()
            out = StageOutput(problem=Problem(
                "damaged" if "checksum" in found else "unreadable",
                _("the {stage} stage failed: {error} (internal error, please report)").format(stage=stage.name, error=last),
                "stage_error"))
        if out.found is not None:
            found[stage.name] = out.found
        fields.update(out.fields)
        rows.update(out.rows)
        if out.problem is not None:
            problems.append((stage.name, out.problem))

    status = max((p.status for _s, p in problems), key=SEVERITY.index, default="ok")
    first = next(((s, p) for s, p in problems if p.status != "ok"), (None, None))
    stage_name, failure = first[0], first[1].failure if first[1] else None
    message = "; ".join(p.message for _s, p in problems if p.message) or None
    copied = found.get("checksum")
    if copied is None:
        return not_read(src, ctx, message or _("not stored"), failure or "read_error", stage_name)
    # The copy was read by the stages while it was being synced; it becomes the archive's object
    # now (a worker that died before this leaves it to the driver: ``lost``).
    stored = copied.publish()
    fields["archive_path"] = stored.archive_path
    recording = _recording(src, ctx, node, fields, status, stage_name, message)
    return FileResult(
        src, {**_sighting(src, ctx, stored.digest.sha256, status, recording["error_message"], failure, stage_name),
              **_named(fields)},
        recording, rows, bytes_read=stored.digest.size, new_object=stored.newly_stored,
    )


def guarded(src: SourceFile, ctx: Context, node: str | None, note: Note | None = None) -> FileResult:
    """The one guard, run by the engine's workers: any unexpected error fails this file alone,
    with its traceback. Only ``ArchiveWriteError`` (the archive itself failed) goes through."""
    try:
        return process_file(src, ctx, node, note)
    except ArchiveWriteError:
        raise
    except Exception as exc:            # noqa: BLE001 - turned into a row, never lost
        return failed(src, ctx, exc)


def lost(src: SourceFile, ctx: Context, reason: str, detail: str, progress: dict | None) -> FileResult:
    """The row of a file that never came back: its worker died (``crashed``) or it ran out of time.

    ``progress`` is what the pass last noted (the stage it was in, the columns found so far); when
    the copy was already stored the file gets its recording row, so the object is never orphaned.
    """
    failure = "worker_died" if reason == "crashed" else "timed_out"
    stage = (progress or {}).get("stage")
    where = _(" (in the {stage} stage)").format(stage=stage) if stage else ""
    message = (_("the worker process died{where}: {detail}") if reason == "crashed"
               else _("timed out{where}: {detail}")).format(where=where, detail=detail)
    fields = {k: v for k, v in ((progress or {}).get("fields") or {}).items() if _plain(v)}
    new_object = False
    if fields.get("sha256") and not fields.get("archive_path") and (progress or {}).get("copy"):
        stored = _adopt(ctx, progress["copy"], fields["sha256"], fields.get("size"))
        if stored is not None:
            fields["archive_path"], new_object = stored.archive_path, stored.newly_stored
    if not fields.get("sha256") or not fields.get("archive_path"):
        return not_read(src, ctx, message, failure, stage)
    # Who and when from the name alone (the container's tags died with the worker).
    who = naming.identify(src.name, {}, None, ctx.config.identity, ctx.config.zones())
    fields.update(naming.identity_columns(who, fields.get("duration_s")))
    recording = _recording(src, ctx, None, fields, "damaged", stage, message)
    return FileResult(src, {**_sighting(src, ctx, fields["sha256"], "damaged", recording["error_message"], failure,
                                        stage), **_named(fields)}, recording, {}, bytes_read=int(fields.get("size") or 0),
                      new_object=new_object)


def _copy_noted(found: dict) -> dict:
    """The finished copy not yet published, for the note: the driver publishes it if the worker dies."""
    copied = found.get("checksum")
    return {"copy": str(copied.path)} if copied is not None else {}


def _adopt(ctx: Context, copy_path, sha256, size):
    """The dead worker's finished copy, published by the driver (``checksum.adopt``); None if not."""
    from pipeline.stages.checksum import adopt

    if not isinstance(copy_path, str) or not isinstance(sha256, str) or not isinstance(size, int):
        return None
    cfg = ctx.config.ingest
    return adopt(ObjectStore(Path(ctx.archive), fsync=cfg.fsync, mode=cfg.file_mode), copy_path, sha256, size)


def _named(fields: dict) -> dict:
    """What the file's name says, kept with its sighting: identical bytes docked under another name
    keep that name's device, officer and time beside the first one's."""
    return {k: fields.get(k) for k in ("device_id", "officer_id", "name_time", "naming_profile", "important")}


def _plain(value) -> bool:
    """Survives a JSON note: the driver reads it back after the worker is gone."""
    return value is None or isinstance(value, (str, int, float, bool))


def _test_fault(name: str, stage: str) -> None:
    """Test-only (see TEST_FAULT_ENV): misbehave for real in ``stage`` of the file called ``name``."""
    spec = os.environ.get(TEST_FAULT_ENV)
    if not spec:
        return
    for entry in spec.split(";"):
        target, _sep, rest = entry.rpartition(":")
        target, _sep, where = target.rpartition(":")
        if target != name or where != stage:
            continue
        if rest == "abort":
            os.abort()
        elif rest == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif rest == "hang":
            while True:
                time.sleep(3600)
        elif rest == "raise":
            raise RuntimeError(f"test fault injected by {TEST_FAULT_ENV} in the {stage} stage")
