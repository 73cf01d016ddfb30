"""The one runner interface: plan balanced tasks, run a function over items on an engine.

Two engines answer it. The embedded local engine (``localpool``: worker processes of the standard
library, nothing listening) is the default; Ray (``rayengine``) runs when the work outgrows one
machine or when asked for (``engines`` chooses and starts one). Both offer the same plan, bounded
window, time budgets, isolation of what kills a worker (``supervise``'s policy) and resource
requests; drivers (ingest, transcode, verify) and stages know neither.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator, Sequence

from pipeline.common.i18n import _
from pipeline.runs import supervise

LOCAL, RAY = "local", "ray"
ENGINES = (LOCAL, RAY)


class Runner:
    """Where a run's tasks go. ``engine`` names it (local, ray, or none when a run had nothing to
    run), ``address`` where it runs ("local" for this machine), ``cpus`` and ``nodes`` its size."""

    engine = "none"
    address = "none"
    cpus = 0
    nodes = 0

    def node_resources(self) -> list[dict[str, float]]:
        """The resources each live node offers (``CPU`` and custom ones)."""
        return []

    def tasks(self, request: dict | None, env: Sequence[str]) -> supervise.Engine:
        """An engine running tasks of ``request``'s size; ``env`` names variables they must see as
        this process does now."""
        raise RuntimeError("this run started no engine")

    def fit_request(self, num_cpus: float, resources: dict[str, float] | None = None) -> tuple[dict, int]:
        """A request for tasks of their own size, and how many of them run at once.

        CPUs are capped at the largest node's, so a request never waits for a node that does not
        exist; a custom resource no node offers is an error (the task would wait forever).
        """
        resources = dict(resources or {})
        nodes = self.node_resources()
        largest = max((n.get("CPU", 0.0) for n in nodes), default=1.0) or 1.0
        cpus = min(float(num_cpus), largest)
        missing = [f"{name} ({amount:g})" for name, amount in resources.items()
                   if not any(n.get(name, 0.0) >= amount and n.get("CPU", 0.0) >= cpus for n in nodes)]
        if missing:
            where = (_("the Ray cluster") if self.engine == RAY
                     else _("this machine (the local engine offers CPUs only; use a Ray cluster whose nodes were "
                            "started with --resources)"))
            raise ValueError(_("no node of {where} offers the resources {missing}; start nodes with --resources "
                               "or change the request").format(where=where, missing=", ".join(missing)))
        at_once = sum(min([int(n.get("CPU", 0.0) // cpus)]
                          + [int(n.get(name, 0.0) // amount) for name, amount in resources.items()])
                      for n in nodes)
        request = {"num_cpus": cpus, **({"resources": resources} if resources else {})}
        return request, max(1, at_once)

    def run_items(self, fn: Callable, batches: Sequence[list], ctx, *, window: int, request: dict | None = None,
                  budget_s: Callable | None = None, retries: int = 2, notes_dir: Path | None = None,
                  env: Sequence[str] = ()) -> Iterator[supervise.Done | supervise.Lost]:
        """Run ``fn(item, ctx, node, note)`` over every item of ``batches``, at most ``window`` tasks
        in flight, each item within ``budget_s(item)`` seconds; see ``supervise.run``.

        ``fn`` (a module-level function) must guard its own per-item errors; an exception it lets
        through (an archive that cannot be written) ends the run. ``notes_dir`` must be seen by
        every worker (in the archive); ``request`` comes from ``fit_request`` (default: one CPU).
        """
        yield from supervise.run(self.tasks(request, env), fn, batches, ctx, window=window, budget_s=budget_s,
                                 retries=retries, notes_dir=notes_dir)

    def grow(self, expected_tasks: int) -> None:
        """A hint while the work is being found: this many tasks are coming (workers may start now)."""

    def close(self) -> None:
        """Stop what this run started (workers, a private Ray instance)."""


NOTHING = Runner()          # a run that found nothing to run


def plan_tasks(sizes: Sequence[int], *, cpus: int, task_bytes: int, task_max_files: int) -> list[list[int]]:
    """Group item indices into tasks of balanced weight, largest first.

    A large file is a task of its own; small files share a task up to a byte budget that also
    leaves several tasks per CPU, so a 4 GB file and a 50 KB photo are not weighed alike. The
    budget is a share of the bytes still to plan, so tasks get smaller towards the end of the run
    (guided scheduling): the last ones are single files, and no CPU waits idle at the end while
    another works through a whole batch.
    """
    order = sorted(range(len(sizes)), key=lambda i: -sizes[i])
    remaining = sum(sizes)

    def budget_for(left: int) -> int:
        return max(1, min(task_bytes, left // max(1, cpus * 4)))

    budget = budget_for(remaining)
    tasks: list[list[int]] = []
    current: list[int] = []
    weight = 0
    for i in order:
        if sizes[i] >= budget:
            tasks.append([i])
            remaining -= sizes[i]
            continue
        if current and (weight + sizes[i] > budget or len(current) >= task_max_files):
            tasks.append(current)
            remaining -= weight
            budget = budget_for(remaining)
            current, weight = [], 0
        current.append(i)
        weight += sizes[i]
    if current:
        tasks.append(current)
    return tasks
