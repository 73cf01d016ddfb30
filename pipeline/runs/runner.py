"""The Ray engine: start or join Ray, plan balanced tasks, run them as streaming tasks.

This is the only module that imports Ray for per-file work. Stages know nothing of it; the policy
of running them (window, time budgets, isolating what kills a worker) is ``supervise``'s, which an
embedded engine can serve as well.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

# fieldrec never calls out: Ray's usage statistics stay off whatever the environment says.
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ.setdefault("RAY_DEDUP_LOGS", "0")

import ipaddress  # noqa: E402

import ray  # noqa: E402

from pipeline.common.i18n import _  # noqa: E402
from pipeline.runs import supervise  # noqa: E402
from pipeline.runs.address import ClusterUnreachable, check_address  # noqa: E402
from pipeline.runs import reaper  # noqa: E402

# Ray rewrites 127.0.0.1 and "localhost" to the machine's outward address; any other address of
# the loopback range is kept as given. The private local instance lives on this one, so its
# traffic never leaves the machine.
LOOPBACK_NODE_IP = "127.0.0.2"


def _loopback_host(address: str) -> str | None:
    """The host of a ``host:port`` cluster address when it is a loopback address."""
    host = address.split("://")[-1].rsplit(":", 1)[0].strip("[]")
    try:
        return host if ipaddress.ip_address(host).is_loopback else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Cluster:
    address: str            # "local" for the private embedded instance
    cpus: int
    nodes: int
    started_here: bool
    watchdog: object | None = field(default=None, compare=False, repr=False)   # reaper.Watchdog


def connect(address: str | None = None, workers: int | None = None) -> Cluster:
    """Join ``address`` (or ``RAY_ADDRESS``); without one, start a private local instance.

    Never attaches silently to a cluster that merely happens to run on this machine. Raises
    ``ClusterUnreachable`` within seconds when the address cannot be used.
    """
    global _inherited
    started = False
    watchdog = None
    if not ray.is_initialized():
        address = address or os.environ.get("RAY_ADDRESS") or None
        common = dict(logging_level="ERROR", log_to_driver=False, configure_logging=True)
        if address:
            _inherited = None
            check_address(address)
            # A driver joining a cluster on this machine's loopback must say so, or Ray looks for
            # a node at the outward address.
            host = _loopback_host(address)
            try:
                ray.init(address=address, **({"_node_ip_address": host} if host else {}), **common)
            except (Exception, SystemExit) as exc:     # Ray ends the process when the GCS never answers
                raise ClusterUnreachable(_("cannot join the Ray cluster at {address}: {error}").format(
                    address=address, error=str(exc) or type(exc).__name__)) from None
        else:
            _inherited = dict(os.environ)
            watchdog = reaper.Watchdog()       # the private instance dies with this process
            ray.init(
                address="local",
                num_cpus=workers or os.cpu_count() or 1,
                include_dashboard=False,
                _node_ip_address=LOOPBACK_NODE_IP,
                object_store_memory=256 * 1024 * 1024,
                **common,
            )
        started = True
    resources = ray.cluster_resources()
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    return Cluster(address or "local", int(resources.get("CPU", 1)), len(nodes), started, watchdog)


def shutdown(cluster: Cluster) -> None:
    if cluster.started_here and ray.is_initialized():
        ray.shutdown()
    if cluster.watchdog is not None:
        cluster.watchdog.stop()


def plan_tasks(sizes: Sequence[int], *, cpus: int, task_bytes: int, task_max_files: int) -> list[list[int]]:
    """Group item indices into tasks of balanced weight, largest first.

    A large file is a task of its own; small files share a task up to a byte budget that also
    leaves several tasks per CPU, so a 4 GB file and a 50 KB photo are not weighed alike.
    """
    order = sorted(range(len(sizes)), key=lambda i: -sizes[i])
    total = sum(sizes)
    budget = max(1, min(task_bytes, total // max(1, cpus * 4)))
    tasks: list[list[int]] = []
    current: list[int] = []
    weight = 0
    for i in order:
        if sizes[i] >= budget:
            tasks.append([i])
            continue
        if current and (weight + sizes[i] > budget or len(current) >= task_max_files):
            tasks.append(current)
            current, weight = [], 0
        current.append(i)
        weight += sizes[i]
    if current:
        tasks.append(current)
    return tasks


def _run_batch(fn: Callable, items: list, ctx, note_path: str | None):
    """One task: each item through ``fn`` in turn, each result sent as soon as it is there (a
    streaming task). Items run back to back, so the end of one is the start of the next."""
    node = ray.get_runtime_context().get_node_id()
    note = (lambda content: supervise.write_note(note_path, content)) if note_path else None
    yield supervise.Started(0)
    for i, item in enumerate(items):
        yield supervise.Finished(i, fn(item, ctx, node, note))


# SPREAD: a cluster's nodes share the drop from the first task on, instead of the driver's node
# queueing short tasks that others could run. On a single node it changes nothing. No retries by
# Ray: a task whose worker dies is split up and its items isolated (``supervise``), never re-run
# whole until the run fails.
_remote_batch = ray.remote(num_cpus=1, max_retries=0, num_returns="streaming",
                           scheduling_strategy="SPREAD")(_run_batch)

# The environment the workers of a local instance started by this process inherited; None when
# joined to a cluster started elsewhere, whose workers know nothing of ours.
_inherited: dict[str, str] | None = None


class RayEngine:
    """``supervise.Engine`` on Ray: a task is a streaming generator, cancelled by killing its worker."""

    def __init__(self, resources: dict | None = None, env: Sequence[str] = ()):
        options = dict(resources or {})
        # Variables the workers must see as the driver does now. Workers that inherited them
        # already need nothing; others get them with each task (a runtime environment, which costs
        # seconds of worker start-up: only when needed).
        wanted = {name: os.environ.get(name, "") for name in env}
        env = {k: v for k, v in wanted.items() if (v != _inherited.get(k, "") if _inherited is not None else v)}
        if env:
            options["runtime_env"] = {"env_vars": env}
        self.remote = _remote_batch.options(**options) if options else _remote_batch
        self._shared: dict[int, tuple] = {}

    def _refs(self, fn: Callable, ctx) -> tuple:
        key = (id(fn), id(ctx))
        if key not in self._shared:            # shipped once per run, not once per task
            self._shared[key] = (ray.put(fn), ray.put(ctx), fn, ctx)
        return self._shared[key][:2]

    def submit(self, fn: Callable, items: list, ctx, note_path: str | None):
        fn_ref, ctx_ref = self._refs(fn, ctx)
        return self.remote.remote(fn_ref, items, ctx_ref, note_path)

    def poll(self, handles: list, timeout: float) -> list[tuple]:
        if not handles:
            return []
        ready, rest = ray.wait(handles, num_returns=1, timeout=timeout)
        if ready and rest:
            more, _waiting = ray.wait(rest, num_returns=len(rest), timeout=0)
            ready += more
        return [(gen, self._next(gen)) for gen in ready]      # one each; the next poll gets the rest

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

    def close(self, handles: list) -> None:
        for gen in handles:
            ray.cancel(gen, force=True)
        ray.wait(handles, num_returns=len(handles), timeout=30)


def run_items(fn: Callable, batches: Sequence[list], ctx, *, window: int, resources: dict | None = None,
              budget_s: Callable | None = None, retries: int = 2, notes_dir: Path | None = None,
              env: Sequence[str] = ()) -> Iterator[supervise.Done | supervise.Lost]:
    """Run ``fn(item, ctx, node, note)`` over every item of ``batches`` on Ray, at most ``window``
    tasks in flight, each item within ``budget_s(item)`` seconds; see ``supervise.run``.

    ``fn`` must guard its own per-item errors; an exception it lets through (an archive that
    cannot be written) ends the run. ``notes_dir`` must be seen by every worker (in the archive);
    ``env`` names environment variables the workers must see as this process does.
    """
    yield from supervise.run(RayEngine(resources, env), fn, batches, ctx, window=window, budget_s=budget_s,
                             retries=retries, notes_dir=notes_dir)


def fit_request(num_cpus: float, resources: dict[str, float] | None = None) -> tuple[dict, int]:
    """Ray options for tasks of their own size, and how many of them the cluster runs at once.

    CPUs are capped at the largest node's, so a request never waits for a node that does not
    exist; a custom resource no live node offers is an error (the task would wait forever).
    """
    resources = dict(resources or {})
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    largest = max((n.get("CPU", 0.0) for n in nodes), default=1.0) or 1.0
    cpus = min(float(num_cpus), largest)
    missing = [f"{name} ({amount:g})" for name, amount in resources.items()
               if not any(n.get(name, 0.0) >= amount and n.get("CPU", 0.0) >= cpus for n in nodes)]
    if missing:
        raise ValueError("no node of the Ray cluster offers the resources " + ", ".join(missing)
                         + "; start nodes with --resources or change the request")
    at_once = sum(min([int(n.get("CPU", 0.0) // cpus)]
                      + [int(n.get(name, 0.0) // amount) for name, amount in resources.items()])
                  for n in nodes)
    options = {"num_cpus": cpus, **({"resources": resources} if resources else {})}
    return options, max(1, at_once)
