"""The embedded local engine: a pool of worker processes on this machine, nothing listening.

Each worker is a fresh interpreter (``subprocess``: safe whatever threads the driver runs, and
nothing of the driver's state inherited), joined to the driver by an unnamed socket pair of its
own, spoken with ``multiprocessing.connection``. There is no server, port or socket file: the
driver hands a task to an idle worker down its pipe, the worker sends back an event as each item
starts and finishes (the streaming task ``supervise`` expects), and the driver watches every pipe
at once (a worker that dies closes its end: the driver sees it at once).

Why not ``concurrent.futures.ProcessPoolExecutor``: when one worker dies it marks the whole pool
broken and fails every pending task, and it cannot stop one running task. Here a worker that dies
costs only its own task (``supervise`` splits it and isolates the culprit); a task over its time
budget is stopped by killing its worker; either way a fresh worker takes the dead one's place.

Workers start the moment the pool is made and import what they will need (``preload``) while the
driver walks the drop; the kernel kills each one when the driver dies (``die_with_parent``), and
workers ignore Ctrl-C (the driver stops them). Tasks may ask for more than one CPU (proxies): a
task waits until enough of the pool's CPUs are free.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import traceback
from pathlib import Path
from collections import deque
from dataclasses import dataclass, field
from multiprocessing import Pipe
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Sequence

from pipeline.common.i18n import _
from pipeline.runs import runner, supervise
from pipeline.runs.preload import import_meanwhile


def machine_cpus() -> int:
    """CPUs this process may run on (its affinity mask, as a container or `taskset` sets it)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:
        return os.cpu_count() or 1


@dataclass(frozen=True)
class _Raised:
    """A task let an exception through (the archive failed): the driver raises it."""
    error: BaseException


@dataclass
class _Task:
    handle: int
    fn: Callable
    items: list
    ctx: Any
    note_path: str | None
    env: dict[str, str]
    cpus: float


@dataclass(eq=False)
class _Worker:
    process: subprocess.Popen
    conn: Connection
    task: _Task | None = None
    contexts: set[int] = field(default_factory=set)     # ids of contexts this worker holds


class LocalPool:
    """``supervise.Engine`` on worker processes of this machine (see the module docstring)."""

    def __init__(self, cpus: int, *, preload: Sequence[str] = (), spawn_now: int = 1):
        self.cpus = max(1, cpus)
        self.preload = tuple(preload)
        self.node = socket.gethostname()
        self.workers: list[_Worker] = []
        self.queue: deque[_Task] = deque()
        self.running: dict[int, _Worker] = {}
        self.contexts: dict[int, Any] = {}
        self._next_handle = 0
        self._closed = False
        try:
            self.grow(spawn_now)
        except BaseException:
            # A spawn failed partway (no process to be had): nobody gets this pool to close, so the
            # workers it already started are stopped now, not left up until the driver exits.
            self.shutdown()
            raise

    # ------------------------------------------------------------------ workers

    def grow(self, wanted: int) -> None:
        """Start workers until there are ``wanted`` (at most one per CPU)."""
        while not self._closed and len(self.workers) < min(wanted, self.cpus):
            self.workers.append(self._spawn())

    def _spawn(self) -> _Worker:
        here, there = Pipe(duplex=True)                 # a socketpair: connected, never listening
        argv = [sys.executable, "-P", "-c", WORKER_MAIN, str(there.fileno()), str(os.getpid()), ROOT]
        try:
            process = subprocess.Popen(argv,
                                       pass_fds=(there.fileno(),), stdin=subprocess.DEVNULL,
                                       stdout=sys.stderr.fileno() if _has_fd(sys.stderr) else subprocess.DEVNULL)
        except BaseException:
            here.close()                                # no worker: neither end of its pipe is kept
            raise
        finally:
            there.close()
        try:
            here.send((list(sys.path), self.preload, self.node))    # what the worker imports, and from where
        except OSError:
            pass            # it died at once (killed): its closed pipe is seen, and it replaced, by poll_tasks
        return _Worker(process, here)

    def _retire(self, worker: _Worker) -> None:
        """A worker that died or was killed: gone from the pool, a fresh one in its place."""
        worker.conn.close()
        _reap(worker.process)
        self.workers.remove(worker)
        if worker.task is not None:
            self.running.pop(worker.task.handle, None)
            worker.task = None
        if not self._closed:
            self.workers.append(self._spawn())

    def _kill(self, worker: _Worker) -> None:
        _kill(worker.process)
        self._retire(worker)

    # ------------------------------------------------------------------ tasks

    def _busy_cpus(self) -> float:
        return sum(w.task.cpus for w in self.workers if w.task is not None)

    def _dispatch(self) -> None:
        """Hand queued tasks, in order, to idle workers while enough CPUs are free."""
        self.grow(len(self.running) + len(self.queue))
        while self.queue:
            task = self.queue[0]
            idle = next((w for w in self.workers if w.task is None), None)
            if idle is None or (self._busy_cpus() + task.cpus > self.cpus and self.running):
                return
            self.queue.popleft()
            idle.task = task
            self.running[task.handle] = idle
            key = id(task.ctx)
            carried = (task.ctx,) if key not in idle.contexts else ()     # each context crosses once per worker
            try:
                idle.conn.send((task.handle, task.fn, task.items, key, carried, task.note_path, task.env))
            except OSError:
                # The idle worker was killed (its pipe is broken): the task never reached it. It
                # goes back to the head of the queue, not counted as an attempt, and a fresh worker
                # takes the dead one's place; the next poll hands it out again.
                idle.task = None
                self.running.pop(task.handle, None)
                self.queue.appendleft(task)
                self._retire(idle)
                return
            idle.contexts.add(key)

    def submit_task(self, fn: Callable, items: list, ctx, note_path: str | None, *, cpus: float = 1.0,
                    env: dict[str, str] | None = None) -> int:
        handle = self._next_handle
        self._next_handle += 1
        self.contexts.setdefault(id(ctx), ctx)      # kept alive: its id names it for the workers
        self.queue.append(_Task(handle, fn, list(items), ctx, note_path, dict(env or {}), min(cpus, self.cpus)))
        self._dispatch()
        return handle

    def poll_tasks(self, handles: list, timeout: float) -> list[tuple]:
        """Events of the tasks ``handles``; waits up to ``timeout`` for the first."""
        self._dispatch()
        wanted = set(handles)
        events: list[tuple] = []
        raised: BaseException | None = None
        watched = {w.conn: w for w in self.workers}
        for ready in wait(list(watched), timeout):
            worker = watched[ready]
            died = self._drain(worker, wanted, events)
            if isinstance(died, _Raised):
                raised = raised or died.error
                died = False
            if died:                                        # its end of the pipe closed: it is gone
                _reap(worker.process)
                task = worker.task
                if task is not None and task.handle in wanted:
                    events.append((task.handle, supervise.Died(_exit_detail(worker.process))))
                self._retire(worker)
        self._dispatch()
        if raised is not None:
            raise raised
        return events

    def _drain(self, worker: _Worker, wanted: set, events: list) -> bool | _Raised:
        """Read every message ``worker`` has sent; True when its pipe is closed (it died)."""
        outcome: bool | _Raised = False
        try:
            while worker.conn.poll():
                handle, event = worker.conn.recv()
                if isinstance(event, (supervise.Ended, _Raised)):
                    worker.task = None
                    self.running.pop(handle, None)
                if isinstance(event, _Raised):
                    outcome = event if handle in wanted else outcome
                elif handle in wanted:
                    events.append((handle, event))
        except (EOFError, OSError):
            return True
        return outcome

    def cancel_task(self, handle: int) -> None:
        """Stop a task now: out of the queue, or its worker killed (a fresh one takes its place)."""
        for task in list(self.queue):
            if task.handle == handle:
                self.queue.remove(task)
                return
        worker = self.running.get(handle)
        if worker is not None:
            self._kill(worker)

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop every worker now. Idle workers hold nothing (a task's copy is published by rename,
        its leftovers swept by the driver), so they are killed like busy ones: no waiting for a
        worker still importing. With ``wait`` False the idle ones are collected by a thread (a
        process takes ~10 ms to go once killed, time the end of a run need not wait for); one
        killed in a task is waited for, so that nothing it was writing outlives this call."""
        self._closed = True
        self.queue.clear()
        for worker in self.workers:
            _kill(worker.process)
        later = [w.process for w in self.workers if not wait and w.task is None]
        for worker in self.workers:
            if worker.process not in later:
                _reap(worker.process)
            worker.conn.close()
        if later:
            threading.Thread(target=lambda: [_reap(p) for p in later], name="fieldrec-reap", daemon=True).start()
        self.workers.clear()
        self.running.clear()


def _kill(process: subprocess.Popen) -> None:
    try:
        process.kill()
    except OSError:
        pass


def _reap(process: subprocess.Popen) -> None:
    """Collect a worker that is dead or being killed (its pipe closed as it went)."""
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        _kill(process)
        process.wait()


def _has_fd(stream) -> bool:
    try:
        stream.fileno()
        return True
    except (AttributeError, OSError, ValueError):       # pytest's captured streams have none
        return False


def _exit_detail(process: subprocess.Popen) -> str:
    code = process.returncode
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return _("its process ended unexpectedly ({signal})").format(signal=name)
    return _("its process ended unexpectedly (exit status {code})").format(code=code)


class _Tasks:
    """``supervise.Engine`` for one kind of task (its CPUs, the environment it must see)."""

    def __init__(self, pool: LocalPool, cpus: float, env: Sequence[str]):
        self.pool, self.cpus, self.env_names = pool, cpus, tuple(env)

    def submit(self, fn, items, ctx, note_path):
        env = {name: os.environ.get(name, "") for name in self.env_names}
        return self.pool.submit_task(fn, items, ctx, note_path, cpus=self.cpus, env=env)

    def poll(self, handles, timeout):
        return self.pool.poll_tasks(handles, timeout)

    def cancel(self, handle):
        self.pool.cancel_task(handle)

    def close(self, handles):
        for handle in handles:
            self.pool.cancel_task(handle)


class LocalRunner(runner.Runner):
    """The embedded engine as a ``runner.Runner``: this machine, its CPUs."""

    engine = runner.LOCAL
    address = "local"
    nodes = 1

    def __init__(self, workers: int | None = None, *, preload: Sequence[str] = (), expected_tasks: int = 1):
        self.cpus = workers or machine_cpus()
        self.pool = LocalPool(self.cpus, preload=preload, spawn_now=max(1, expected_tasks))

    def node_resources(self) -> list[dict[str, float]]:
        return [{"CPU": float(self.cpus)}]

    def tasks(self, request: dict | None, env: Sequence[str]) -> supervise.Engine:
        return _Tasks(self.pool, float((request or {}).get("num_cpus", 1.0)), env)

    def grow(self, expected_tasks: int) -> None:
        self.pool.grow(expected_tasks)

    def close(self) -> None:
        self.pool.shutdown(wait=False)


# ---------------------------------------------------------------------- the worker side


# Started with ``-P`` (no current or script directory on sys.path): a worker imports fieldrec from
# where the driver's came from (the folder above the ``pipeline`` package, its third argument),
# never a ``pipeline/`` that happens to lie in the folder fieldrec was started from.
WORKER_MAIN = ("import sys; sys.path.insert(0, sys.argv[3]); "
               "from pipeline.runs.localpool import main; main(sys.argv[1:3])")
ROOT = str(Path(__file__).resolve().parents[2])        # the folder holding this ``pipeline`` package


def main(argv: list[str]) -> None:
    """A worker process's entry point: ``FD PARENT_PID`` (its end of the pipe, its driver)."""
    from pipeline.native.process import die_with_parent

    fd, parent_pid = int(argv[0]), int(argv[1])
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)        # Ctrl-C is the driver's to handle
    conn = Connection(fd)
    try:
        path, preload, node = conn.recv()
    except (EOFError, OSError):
        return
    sys.path[:] = path                                  # the driver's: its tasks' modules are found alike
    # What the tasks will need is imported by a thread while this one already serves: a task that
    # needs a module still being imported waits on that module's import lock, one that needs only
    # the first modules (an ingest's copy, before the decoders) goes ahead meanwhile.
    if preload:
        import_meanwhile(preload, "fieldrec-preload")
    serve(conn, node)


def serve(conn: Connection, node: str) -> None:
    """Run tasks until the pipe closes: each item through the task's function, an event for each."""
    contexts: dict[int, Any] = {}
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        handle, fn, items, key, carried, note_path, env = message
        if carried:
            contexts[key] = carried[0]
        _set_env(env)
        note = (lambda content: supervise.write_note(note_path, content)) if note_path else None
        conn.send((handle, supervise.Started(0)))
        try:
            for i, item in enumerate(items):
                conn.send((handle, supervise.Finished(i, fn(item, contexts[key], node, note))))
        except BaseException as exc:        # noqa: BLE001 - the driver decides; the worker goes on
            conn.send((handle, _Raised(_sendable(exc))))
        else:
            conn.send((handle, supervise.Ended()))


def _set_env(env: dict[str, str]) -> None:
    for name, value in env.items():
        if value:
            os.environ[name] = value
        else:
            os.environ.pop(name, None)


def _sendable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling (ArchiveWriteError does, errno intact), else its traceback."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:                       # noqa: BLE001 - any exception type can fail to pickle
        return RuntimeError("".join(traceback.format_exception(exc)).strip())
