"""The Ray adapter: start or join Ray, plan balanced tasks, run stages in a bounded window.

This is the only module that imports Ray for per-file work. Stages know nothing of it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence, TypeVar

T = TypeVar("T")

# fieldrec never calls out: Ray's usage statistics stay off whatever the environment says.
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ.setdefault("RAY_DEDUP_LOGS", "0")

import ipaddress  # noqa: E402

import ray  # noqa: E402

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

    Never attaches silently to a cluster that merely happens to run on this machine.
    """
    started = False
    watchdog = None
    if not ray.is_initialized():
        address = address or os.environ.get("RAY_ADDRESS") or None
        common = dict(logging_level="ERROR", log_to_driver=False, configure_logging=True)
        if address:
            # A driver joining a cluster on this machine's loopback must say so, or Ray looks for
            # a node at the outward address.
            host = _loopback_host(address)
            ray.init(address=address, **({"_node_ip_address": host} if host else {}), **common)
        else:
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


def _run_batch(fn: Callable, items: list, ctx) -> list:
    node = ray.get_runtime_context().get_node_id()
    return [fn(item, ctx, node) for item in items]


# SPREAD: a cluster's nodes share the drop from the first task on, instead of the driver's node
# queueing short tasks that others could run. On a single node it changes nothing.
_remote_batch = ray.remote(num_cpus=1, max_retries=3, scheduling_strategy="SPREAD")(_run_batch)


def run_batches(fn: Callable, batches: Sequence[list], ctx, *, window: int,
                resources: dict | None = None) -> Iterator[list]:
    """Run ``fn(item, ctx, node)`` over every batch on Ray, at most ``window`` tasks in flight.

    Yields each batch's list of results as it completes. ``fn`` must guard its own per-item
    errors; an exception it lets through (an archive that cannot be written) ends the run.
    """
    remote = _remote_batch.options(**resources) if resources else _remote_batch
    ctx_ref = ray.put(ctx)
    fn_ref = ray.put(fn)
    pending = []
    it = iter(batches)
    try:
        while True:
            while len(pending) < window:
                batch = next(it, None)
                if batch is None:
                    break
                pending.append(remote.remote(fn_ref, batch, ctx_ref))
            if not pending:
                return
            done, pending = ray.wait(pending, num_returns=1)
            try:
                results = ray.get(done[0])
            except ray.exceptions.RayTaskError as exc:
                if isinstance(exc.cause, Exception):
                    raise exc.cause from None     # the task's own error (ArchiveWriteError), errno intact
                raise
            yield results
    finally:
        # Stopped early (an archive error, an interrupt): stop the tasks still running and wait for
        # them to end, so no worker goes on writing after the caller has cleaned up.
        for ref in pending:
            ray.cancel(ref, force=True)
        if pending:
            ray.wait(pending, num_returns=len(pending), timeout=30)


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
