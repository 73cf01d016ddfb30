"""Run items on an engine so that no item can cost more than itself: a bounded window of tasks,
a time budget per item, and isolation of whatever kills its worker.

The policy lives here, apart from any engine. An engine runs a batch of items as one task and
reports, per task, when each item starts and finishes, whether the task ended, died (its process
crashed or was killed) or raised. Then:

- a task that dies or runs an item past its budget is stopped and split: the item it was on runs
  again in a task of its own, "traced": it notes down as it goes (the stage it is in, what it has
  found) in a note file the driver can read after the process is gone; the items after it go
  back in line as a batch (if one of them was the culprit, the next split finds it);
- an item that still kills its worker alone is tried ``retries`` more times (the out-of-memory
  killer may have picked it by chance), then given up as ``Lost(reason="crashed")``;
- an item that overruns its budget alone is given up at once as ``Lost(reason="timed_out")``.

Every other item comes back as ``Done``. Only an error the item's function raises on purpose
(``ArchiveWriteError``: the archive itself failed) ends the run.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, Sequence

from pipeline.common.i18n import _, ngettext

# How often the driver looks at the clock when nothing else happens.
TICK_S = 0.5


@dataclass(frozen=True)
class Done:
    item: Any
    result: Any


@dataclass(frozen=True)
class Lost:
    item: Any
    reason: str                 # crashed | timed_out
    detail: str                 # in words, for the item's row
    progress: dict | None       # the traced item's last note: where it was, what it had found


# Events an engine reports for a task. Items of a task run one after the other: ``Started`` is
# said of the first; each ``Finished`` also starts the next.
@dataclass(frozen=True)
class Started:
    index: int


@dataclass(frozen=True)
class Finished:
    index: int
    result: Any


@dataclass(frozen=True)
class Ended:
    pass


@dataclass(frozen=True)
class Died:
    detail: str


class Engine(Protocol):
    """What ``run`` needs of an engine (``localpool`` and ``rayengine`` each offer one)."""

    def submit(self, fn: Callable, items: list, ctx: Any, note_path: str | None) -> Any:
        """Start a task running ``fn(item, ctx, node, note)`` for each item in turn; a handle."""

    def poll(self, handles: list, timeout: float) -> list[tuple[Any, object]]:
        """Events (Started, Finished, Ended, Died) of the tasks, waiting up to ``timeout`` for one.
        An exception the task raised is raised here."""

    def cancel(self, handle: Any) -> None:
        """Stop a task now, killing its process if need be."""

    def close(self, handles: list) -> None:
        """Stop the tasks still running and wait (a while) until they have."""


@dataclass
class _Work:
    items: list
    traced: bool = False        # one item, noting its progress
    attempt: int = 0            # worker deaths so far (traced work only)
    note_path: str | None = None


@dataclass
class _Running:
    work: _Work
    finished: set[int] = field(default_factory=set)
    current: int | None = None
    since: float = 0.0          # driver clock when ``current`` was seen to start


def run(engine: Engine, fn: Callable, batches: Sequence[list], ctx: Any, *, window: int,
        budget_s: Callable[[Any], float] | None = None, retries: int = 2,
        notes_dir: Path | None = None, clock: Callable[[], float] = time.monotonic) -> Iterator[Done | Lost]:
    """Every item of ``batches`` as one ``Done`` or ``Lost``, in the order they complete."""
    queue: deque[_Work] = deque(_Work(list(b)) for b in batches if b)
    running: dict[Any, _Running] = {}

    def note_path() -> str | None:
        return str(notes_dir / f"note-{uuid.uuid4().hex}.json") if notes_dir is not None else None

    def isolate(state: _Running) -> None:
        """Split a stopped batch: the first item it had not finished (items run in order, so that is
        the one it was on) runs next as a traced task of its own; the items after it, as a batch."""
        left = [item for i, item in enumerate(state.work.items) if i not in state.finished]
        if len(left) > 1:
            queue.appendleft(_Work(left[1:]))
        if left:
            queue.appendleft(_Work(left[:1], traced=True, note_path=note_path()))

    def give_up(state: _Running, reason: str, detail: str) -> Lost:
        work = state.work
        return Lost(work.items[0], reason, detail, _read_note(work.note_path))

    try:
        while queue or running:
            while queue and len(running) < window:
                work = queue.popleft()
                handle = engine.submit(fn, work.items, ctx, work.note_path)
                running[handle] = _Running(work)
            for handle, event in engine.poll(list(running), TICK_S):
                state = running.get(handle)
                if state is None:
                    continue
                if isinstance(event, Started):
                    state.current, state.since = event.index, clock()
                elif isinstance(event, Finished):
                    state.finished.add(event.index)
                    # Items run back to back: the next one starts now.
                    more = event.index + 1 < len(state.work.items)
                    state.current, state.since = (event.index + 1 if more else None), clock()
                    _drop_note(state.work.note_path)
                    yield Done(state.work.items[event.index], event.result)
                elif isinstance(event, Ended) and len(state.finished) == len(state.work.items):
                    del running[handle]
                elif isinstance(event, (Ended, Died)):              # ended without a word on some items
                    del running[handle]
                    detail = event.detail if isinstance(event, Died) else _("the task ended without a result")
                    work = state.work
                    if not work.traced:
                        isolate(state)
                    elif work.attempt < retries:
                        _drop_note(work.note_path)
                        queue.appendleft(_Work(work.items, traced=True, attempt=work.attempt + 1,
                                               note_path=note_path()))
                    else:
                        yield give_up(state, "crashed", _died(detail, work.attempt + 1))
                        _drop_note(work.note_path)
            if budget_s is None:
                continue
            now = clock()
            for handle, state in list(running.items()):
                if state.current is None:
                    continue
                budget = budget_s(state.work.items[state.current])
                if now - state.since <= budget:
                    continue
                engine.cancel(handle)
                del running[handle]
                if state.work.traced:
                    yield give_up(state, "timed_out", _("still running after {s:.0f} s, its time budget; the task "
                                                        "was stopped").format(s=budget))
                    _drop_note(state.work.note_path)
                else:
                    isolate(state)
    finally:
        # Stopped early (an archive error, an interrupt): stop what still runs, so no worker goes on
        # writing after the caller has cleaned up.
        if running:
            engine.close(list(running))


def _died(detail: str, attempts: int) -> str:
    return _("{detail} (a native crash such as a segmentation fault, or the out-of-memory killer); tried alone "
             "{times}; not tried again unless the run is given --retry-failed").format(
                 detail=detail.strip().rstrip("."), times=ngettext("once", "{n} times", attempts).format(n=attempts))


def write_note(path: str, note: dict) -> None:
    """Replace the note file whole (a reader never sees half of one). Not synced: it has to outlive
    a process, not the machine."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as fh:
        json.dump(note, fh, default=str)
    os.replace(tmp, path)


def _read_note(path: str | None) -> dict | None:
    if not path:
        return None
    try:
        with open(path) as fh:
            note = json.load(fh)
        return note if isinstance(note, dict) else None
    except (OSError, ValueError):
        return None


def _drop_note(path: str | None) -> None:
    if path:
        try:
            os.unlink(path)
        except OSError:
            pass
