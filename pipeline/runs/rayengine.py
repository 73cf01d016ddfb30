"""The Ray engine: join a cluster or start a private local instance, run tasks as streaming tasks.

The only module that imports Ray for per-file work (``runner.start`` imports it only when Ray is
the engine). Tasks are spread by the driver over every node alive when the run starts (and those
that join later): each goes to the node with the fewest tasks per CPU, pinned there softly, so a
second machine works from the first minute instead of waiting until the first one's queue spills.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import time
from typing import Callable, Sequence

# fieldrec never calls out: Ray's usage statistics stay off whatever the environment says.
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ.setdefault("RAY_DEDUP_LOGS", "0")

import ray  # noqa: E402
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy  # noqa: E402

from pipeline.common.i18n import _  # noqa: E402
from pipeline.runs import reaper, runner, supervise  # noqa: E402
from pipeline.runs.address import ClusterUnreachable, check_address  # noqa: E402

# A private instance lives on 127.0.0.1, where Ray binds every server of the node (GCS, raylet,
# object manager, workers) to the loopback alone; on any other address, 127.0.0.2 included, they
# listen on every interface. Ray rewrites 127.0.0.1 to the machine's outward address unless its
# "no multi-node clusters" switch is off, which is meant for exactly this: one machine's instance.
PRIVATE_NODE_IP = "127.0.0.1"
_SINGLE_MACHINE = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
NODES_REFRESH_S = 10.0      # how often the driver looks for nodes that joined or died


def _loopback_host(address: str) -> str | None:
    """The host of a ``host:port`` cluster address when it is a loopback address."""
    host = address.split("://")[-1].rsplit(":", 1)[0].strip("[]")
    try:
        return host if ipaddress.ip_address(host).is_loopback else None
    except ValueError:
        return None


@contextlib.contextmanager
def _single_machine():
    """While Ray starts or joins a node on 127.0.0.1: keep that address (see ``PRIVATE_NODE_IP``)."""
    from ray._private import ray_constants

    saved_env, saved_flag = os.environ.get(_SINGLE_MACHINE), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[_SINGLE_MACHINE] = "0"           # for Ray's own processes started now
    ray_constants.ENABLE_RAY_CLUSTER = False    # read by this process when it places the node
    try:
        yield
    finally:
        # Not for this process's later children: a `ray start` of a worker node refuses to run with it.
        ray_constants.ENABLE_RAY_CLUSTER = saved_flag
        if saved_env is None:
            os.environ.pop(_SINGLE_MACHINE, None)
        else:
            os.environ[_SINGLE_MACHINE] = saved_env


# The environment the workers of a local instance started by this process inherited; None when
# joined to a cluster started elsewhere, whose workers know nothing of ours.
_inherited: dict[str, str] | None = None


class RayRunner(runner.Runner):
    """Ray as a ``runner.Runner``: a cluster joined, or a private instance this process started."""

    engine = runner.RAY

    def __init__(self, address: str, cpus: int, nodes: int, started_here: bool,
                 watchdog: reaper.Watchdog | None = None):
        self.address, self.cpus, self.nodes = address, cpus, nodes
        self.started_here, self.watchdog = started_here, watchdog

    @classmethod
    def connect(cls, address: str | None = None, workers: int | None = None) -> "RayRunner":
        """Join ``address`` (or ``RAY_ADDRESS``); without one, start a private local instance.

        Never attaches silently to a cluster that merely happens to run on this machine. Raises
        ``ClusterUnreachable`` within seconds when the address cannot be used.
        """
        global _inherited
        started, watchdog = False, None
        if not ray.is_initialized():
            address = address or os.environ.get("RAY_ADDRESS") or None
            common = dict(logging_level="ERROR", log_to_driver=False, configure_logging=True)
            if address:
                _inherited = None
                check_address(address)
                # A driver joining a cluster on this machine's loopback must say so, or Ray looks
                # for a node at the outward address.
                host = _loopback_host(address)
                try:
                    # An instance on 127.0.0.1 (another fieldrec's private one) is reached there only.
                    with _single_machine() if host == PRIVATE_NODE_IP else contextlib.nullcontext():
                        ray.init(address=address, **({"_node_ip_address": host} if host else {}), **common)
                except (Exception, SystemExit) as exc:     # Ray ends the process when the GCS never answers
                    raise ClusterUnreachable(_("cannot join the Ray cluster at {address}: {error}").format(
                        address=address, error=str(exc) or type(exc).__name__)) from None
            else:
                _inherited = dict(os.environ)
                watchdog = reaper.Watchdog()       # the private instance dies with this process
                with _single_machine():
                    ray.init(address="local", num_cpus=workers or os.cpu_count() or 1, include_dashboard=False,
                             _node_ip_address=PRIVATE_NODE_IP, object_store_memory=256 * 1024 * 1024, **common)
            started = True
        resources = ray.cluster_resources()
        alive = [n for n in ray.nodes() if n.get("Alive")]
        return cls(address or "local", int(resources.get("CPU", 1)), len(alive), started, watchdog)

    def node_resources(self) -> list[dict[str, float]]:
        return [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]

    def tasks(self, request: dict | None, env: Sequence[str]) -> supervise.Engine:
        return RayEngine(request, env)

    def close(self) -> None:
        if self.started_here and ray.is_initialized():
            ray.shutdown()
        if self.watchdog is not None:
            self.watchdog.stop()


def _run_batch(fn: Callable, items: list, ctx, note_path: str | None):
    """One task: each item through ``fn`` in turn, each result sent as soon as it is there (a
    streaming task). Items run back to back, so the end of one is the start of the next."""
    node = ray.get_runtime_context().get_node_id()
    note = (lambda content: supervise.write_note(note_path, content)) if note_path else None
    yield supervise.Started(0)
    for i, item in enumerate(items):
        yield supervise.Finished(i, fn(item, ctx, node, note))


# No retries by Ray: a task whose worker dies is split up and its items isolated (``supervise``),
# never re-run whole until the run fails.
_remote_batch = ray.remote(num_cpus=1, max_retries=0, num_returns="streaming")(_run_batch)


class Spread:
    """Which node the next task goes to: the live node (able to run it) with the fewest tasks in
    flight per CPU. Nodes are looked up again every ``NODES_REFRESH_S``."""

    def __init__(self, request: dict, nodes: Callable[[], list[dict]] = ray.nodes, clock=time.monotonic):
        self.cpus = float(request.get("num_cpus", 1))
        self.resources = dict(request.get("resources") or {})
        self._nodes, self._clock = nodes, clock
        self.capacity: dict[str, float] = {}
        self.load: dict[str, int] = {}
        self._looked = None

    def _refresh(self) -> None:
        now = self._clock()
        if self._looked is not None and now - self._looked < NODES_REFRESH_S:
            return
        self._looked = now
        self.capacity = {}
        for n in self._nodes():
            res = n.get("Resources", {})
            if n.get("Alive") and res.get("CPU", 0.0) >= self.cpus and all(
                    res.get(k, 0.0) >= v for k, v in self.resources.items()):
                self.capacity[n["NodeID"]] = res.get("CPU", 1.0) or 1.0

    def take(self) -> str | None:
        self._refresh()
        if not self.capacity:
            return None                 # Ray's own placement decides (and reports what cannot run)
        node = min(self.capacity, key=lambda n: ((self.load.get(n, 0) + 1) / self.capacity[n], n))
        self.load[node] = self.load.get(node, 0) + 1
        return node

    def give_back(self, node: str | None) -> None:
        if node is not None and self.load.get(node, 0) > 0:
            self.load[node] -= 1


class RayEngine:
    """``supervise.Engine`` on Ray: a task is a streaming generator, cancelled by killing its worker."""

    def __init__(self, request: dict | None = None, env: Sequence[str] = ()):
        options = dict(request or {})
        # Variables the workers must see as the driver does now. Workers that inherited them
        # already need nothing; others get them with each task (a runtime environment, which costs
        # seconds of worker start-up: only when needed).
        wanted = {name: os.environ.get(name, "") for name in env}
        env = {k: v for k, v in wanted.items() if (v != _inherited.get(k, "") if _inherited is not None else v)}
        if env:
            options["runtime_env"] = {"env_vars": env}
        self.options = options
        self.spread = Spread(options)
        self.node_of: dict = {}
        self._shared: dict[int, tuple] = {}

    def _refs(self, fn: Callable, ctx) -> tuple:
        key = (id(fn), id(ctx))
        if key not in self._shared:            # shipped once per run, not once per task
            self._shared[key] = (ray.put(fn), ray.put(ctx), fn, ctx)
        return self._shared[key][:2]

    def submit(self, fn: Callable, items: list, ctx, note_path: str | None):
        fn_ref, ctx_ref = self._refs(fn, ctx)
        node = self.spread.take()
        options = dict(self.options)
        if node is not None:
            # Soft: a node that dies or leaves does not strand the task; one that is busy keeps it.
            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node, soft=True)
        handle = _remote_batch.options(**options).remote(fn_ref, items, ctx_ref, note_path)
        self.node_of[handle] = node
        return handle

    def _release(self, handle) -> None:
        self.spread.give_back(self.node_of.pop(handle, None))

    def poll(self, handles: list, timeout: float) -> list[tuple]:
        if not handles:
            return []
        ready, rest = ray.wait(handles, num_returns=1, timeout=timeout)
        if ready and rest:
            more, _waiting = ray.wait(rest, num_returns=len(rest), timeout=0)
            ready += more
        events = [(gen, self._next(gen)) for gen in ready]      # one each; the next poll gets the rest
        for gen, event in events:
            if isinstance(event, (supervise.Ended, supervise.Died)):
                self._release(gen)
        return events

    @staticmethod
    def _next(gen):
        try:
            ref = next(gen)
        except StopIteration:
            return supervise.Ended()
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            if isinstance(exc.cause, Exception):
                raise exc.cause from None     # the task's own error (ArchiveWriteError), errno intact
            raise
        except ray.exceptions.OutOfMemoryError:
            return supervise.Died("Ray's memory monitor stopped its process (out of memory)")
        except ray.exceptions.WorkerCrashedError:
            return supervise.Died("its process ended unexpectedly")
        except ray.exceptions.NodeDiedError:
            return supervise.Died("the node it ran on died")
        except ray.exceptions.RayError as exc:
            return supervise.Died(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")

    def cancel(self, handle) -> None:
        ray.cancel(handle, force=True)
        self._release(handle)

    def close(self, handles: list) -> None:
        for gen in handles:
            ray.cancel(gen, force=True)
            self._release(gen)
        ray.wait(handles, num_returns=len(handles), timeout=30)
