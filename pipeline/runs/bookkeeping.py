"""What every run records about itself: its ``runs`` row, written when it ends, failed or not."""

from __future__ import annotations

import json
import socket
from datetime import datetime

import pipeline
from catalog.schema import SCHEMA_VERSION
from catalog.store import Catalog
from pipeline.config import Config
from pipeline.runs import runner


def run_row(command: str, run_id: str, config: Config, *, started_at: datetime, finished_at: datetime | None,
            wall_s: float, outcome: str, engine: runner.Runner, **counts) -> dict:
    """The ``runs`` row: the columns every run fills, plus the command's own ``counts``.
    ``ray_address`` is the Ray cluster's address ("local": a private instance), null on the local engine."""
    return {
        "run_id": run_id, "command": command, "started_at": started_at, "finished_at": finished_at,
        "host": socket.gethostname(), "engine": engine.engine,
        "ray_address": engine.address if engine.engine == runner.RAY else None, "wall_s": wall_s, "outcome": outcome,
        "config_json": json.dumps(config.to_dict(), default=str), "schema_version": SCHEMA_VERSION,
        "fieldrec_version": pipeline.__version__, **counts,
    }


def close_run(catalog: Catalog, row: dict, engine: runner.Runner) -> None:
    """Record the run, a failed one too, and stop the engine it started (workers, a private Ray)."""
    try:
        catalog.commit({"runs": [row]}, tag=row["run_id"])
    except OSError:
        pass                            # the archive itself is failing: the caller reports that
    engine.close()
