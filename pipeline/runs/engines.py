"""Which engine a run uses, and starting it: the embedded local pool unless Ray is asked for.

Ray runs when the work outgrows one machine (``--address``, ``RAY_ADDRESS``) or when asked for
(``--engine ray``: a private local instance); it is imported only then. What a started engine
offers is the runner interface (``runner.Runner``), which both implement.
"""

from __future__ import annotations

import os
from typing import Sequence

from pipeline.common.i18n import _
from pipeline.runs.runner import ENGINES, LOCAL, RAY, Runner


class EngineChoiceError(ValueError):
    """The engine asked for cannot run what was asked (a usage error)."""


def engine_for(engine: str | None, address: str | None) -> str:
    """The engine a run uses: the one named, else Ray when a cluster address is given (or in
    ``RAY_ADDRESS``), else the embedded local engine."""
    if engine is not None and engine not in ENGINES:
        raise EngineChoiceError(_("unknown engine {engine!r}: choose local or ray").format(engine=engine))
    if engine == LOCAL and address:
        raise EngineChoiceError(_("--engine local runs on this machine alone; --address {address} names a Ray "
                                  "cluster: leave out one of them").format(address=address))
    if engine is not None:
        return engine
    return RAY if address or os.environ.get("RAY_ADDRESS") else LOCAL


def start(engine: str | None = None, address: str | None = None, workers: int | None = None, *,
          preload: Sequence[str] = (), expected_tasks: int = 1) -> Runner:
    """Start the engine a run uses (see ``engine_for``). The local engine returns at once, its
    workers (one per expected task, up to one per CPU; more start as work is found) importing
    ``preload`` meanwhile; Ray connects first (seconds) and raises
    ``address.ClusterUnreachable`` within seconds when the address cannot be used."""
    if engine_for(engine, address) == LOCAL:
        from pipeline.runs.localpool import LocalRunner

        return LocalRunner(workers, preload=preload, expected_tasks=expected_tasks)
    from pipeline.runs.rayengine import RayRunner      # the only place Ray is imported from

    return RayRunner.connect(address, workers)


def starts_at_once(engine: str | None, address: str | None) -> bool:
    """Whether starting the engine costs nothing up front (the local pool): a run may then start
    it before it knows there is work, so workers start while the drop is being walked."""
    return engine_for(engine, address) == LOCAL
