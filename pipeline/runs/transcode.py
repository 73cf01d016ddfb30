"""The transcode run: review proxies for recordings that lack one, as tasks with their own resources.

Proxies cost far more CPU than every other stage together, so they run as tasks of their own
(on the local engine or Ray) with their own resource request (``[transcode]`` in the config): after an ingest's files are
committed (``fieldrec ingest --proxies``) or later, overnight (``fieldrec transcode --missing``).
Each finished proxy is committed as a ``derivatives`` row; a killed run is finished by running
it again, which makes only what is still missing.
"""

from __future__ import annotations

import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from catalog.store import Catalog
from pipeline.records.lookup import resolve_shas
from pipeline.runs import engines, runner, supervise
from pipeline.runs.bookkeeping import close_run, run_row
from pipeline.common import vocabulary
from pipeline.common.i18n import _
from pipeline.common.text import pad
from pipeline.common.clock import new_id, now_utc
from pipeline.config import Config
from pipeline.archive.writer import writing_run
from pipeline.runs.perfile import Context, speak
from pipeline.common.units import human_duration
from pipeline.runs.progress import Progress
from pipeline.stages import transcode as stage
from pipeline.common.errors import ArchiveWriteError, TranscodeError


RECORDING_COLUMNS = ["sha256", "kind", "status", "error_message", "archive_path", "size", "rotation",
                     "duration_s", "source_name"]


@dataclass
class ProxySummary:
    run_id: str
    archive: str
    started_at: datetime
    finished_at: datetime | None = None
    selected: int = 0                  # recordings that need a proxy decision now
    already: int = 0                   # already have a proxy (or a recorded reason) for these settings
    by_status: Counter = field(default_factory=Counter)     # ok | skipped | failed
    media_s: float = 0.0               # seconds of original media proxied
    cpu_s: float = 0.0                 # CPU seconds the workers spent on proxies
    wall_s: float = 0.0
    engine: str = "none"               # local | ray | none (no proxy needed making)
    ray_address: str = "none"
    cluster_cpus: int = 0
    outcome: str = "finished"
    problems: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "run_id": self.run_id, "archive": self.archive, "outcome": self.outcome,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "selected": self.selected, "already": self.already, "proxies_by_status": dict(self.by_status),
            "media_s": round(self.media_s, 3), "cpu_s": round(self.cpu_s, 3), "wall_s": round(self.wall_s, 3),
            "realtime_per_core": round(self.media_s / self.cpu_s, 3) if self.cpu_s else None,
            "engine": self.engine, "ray_address": self.ray_address, "cluster_cpus": self.cluster_cpus,
            "problems": self.problems,
        }

    def render(self) -> str:
        speed = _(", {x}x real time per core").format(x=f"{self.media_s / self.cpu_s:.2f}") if self.cpu_s else ""
        lines = [
            _("fieldrec transcode {run_id}: {outcome}").format(run_id=self.run_id,
                                                               outcome=vocabulary.outcome(self.outcome)),
            _("  proxies    {made} made, {skipped} skipped, {failed} failed; {already} already present").format(
                made=self.by_status.get("ok", 0), skipped=self.by_status.get("skipped", 0),
                failed=self.by_status.get("failed", 0), already=self.already),
            _("  media      {duration} proxied with {cpu} CPU-s{speed}").format(
                duration=human_duration(self.media_s), cpu=f"{self.cpu_s:.1f}", speed=speed),
            _("  engine     {engine}, {cpus} CPU(s); wall {wall}").format(
                engine=self.engine + (f" {self.ray_address}" if self.engine == "ray" else ""),
                cpus=self.cluster_cpus, wall=human_duration(self.wall_s)),
        ]
        for p in self.problems[:20]:
            lines.append(f"  ! {pad(vocabulary.value('status', p['status']), 8)} {p['message']}")
        if len(self.problems) > 20:
            lines.append(_("  … {n} more (see the derivatives table)").format(n=len(self.problems) - 20))
        return "\n".join(lines)


def plan(catalog: Catalog, config: Config, shas: list[str] | None = None) -> tuple[list[stage.ProxyJob], int]:
    """Jobs for the recordings (all, or those ``shas`` name, whole or by unique prefix) that lack
    a proxy for the current settings, and how many already have one.

    A recorded ``skipped`` decision counts as done; a ``failed`` one is tried again, and so is an
    ``ok`` one whose file has gone missing from the archive. A purged recording gets none.
    """
    cfg = config.transcode
    if shas:
        shas = set(resolve_shas(shas, catalog.read("recordings", ["sha256"])["sha256"].to_pylist()))  # LookupProblem
    done = set()
    for row in catalog.rows("derivatives", ["parent_sha256", "params_hash", "status", "archive_path"]):
        if row["status"] == "skipped" or (row["status"] == "ok" and (catalog.archive / row["archive_path"]).exists()):
            done.add((row["parent_sha256"], row["params_hash"]))
    purged = set(catalog.read("purges", ["sha256"])["sha256"].to_pylist())     # nothing left to make one of
    jobs, already, seen = [], 0, set()
    for rec in catalog.rows("recordings", RECORDING_COLUMNS):
        if (shas and rec["sha256"] not in shas) or rec["sha256"] in purged:
            continue
        job = stage.job_for(rec)
        if job is None or job.parent_sha256 in seen:
            continue
        seen.add(job.parent_sha256)
        if (job.parent_sha256, stage.params_hash(job.kind, cfg)) in done:
            already += 1
        else:
            jobs.append(job)
    return jobs, already


def make_proxies(jobs: list[stage.ProxyJob], catalog: Catalog, config: Config, run_id: str,
                 summary: ProxySummary, active: runner.Runner, *, progress: bool = True) -> None:
    """Run ``jobs`` on ``active`` (needed only if one is not a mere skip); commit their rows as
    they finish."""
    cfg = config.transcode
    decided = [stage.make(j, catalog.archive, cfg, run_id) for j in jobs if j.skip_reason]  # cost nothing
    made = sorted((j for j in jobs if not j.skip_reason), key=lambda j: -j.size)           # longest first
    options, window = {}, 1
    if made:
        try:
            options, at_once = active.fit_request(cfg.cpus_per_task, cfg.resources)
        except ValueError as exc:
            raise TranscodeError(_("cannot schedule proxies: {why} (config: [transcode] resources)").format(
                why=exc)) from None
        window = cfg.max_in_flight or at_once + 1
    ctx = Context(str(catalog.archive), run_id, config)
    size_of = {j.parent_sha256: j.size for j in made}
    for row in decided:
        _count(summary, row)
    bar = Progress(len(made), sum(size_of.values()), label="transcode", enabled=progress)
    rows, last_commit = decided, time.monotonic()
    try:
        finished = (active.run_items(_guarded, [[j] for j in made], ctx, window=window, request=options)
                    if made else iter(()))
        for outcome in finished:
            row = outcome.result if isinstance(outcome, supervise.Done) else stage.row(
                outcome.item, cfg, run_id, None, "failed",
                _("making the proxy killed the worker process: {detail}").format(detail=outcome.detail))
            rows.append(row)
            _count(summary, row)
            bar.advance(1, size_of[row["parent_sha256"]])
            if len(rows) >= config.ingest.commit_every_files or time.monotonic() - last_commit >= config.ingest.commit_every_s:
                _commit(catalog, rows, run_id)
                rows, last_commit = [], time.monotonic()
    finally:
        bar.close()
        if rows:
            _commit(catalog, rows, run_id)


def _commit(catalog: Catalog, rows: list[dict], run_id: str) -> None:
    try:
        catalog.commit({"derivatives": rows}, tag=run_id)
    except OSError as exc:
        raise ArchiveWriteError(exc.errno, _("cannot write the catalog: {why}").format(why=exc.strerror),
                                exc.filename or str(catalog.root)) from exc


def _guarded(job: stage.ProxyJob, ctx: Context, node: str | None, note=None) -> dict:
    """The one guard: an unexpected error fails this proxy alone, with its traceback."""
    speak(ctx)
    cfg = ctx.config
    try:
        return stage.make(job, Path(ctx.archive), cfg.transcode, ctx.run_id, node, fsync=cfg.ingest.fsync,
                          mode=cfg.ingest.file_mode)
    except ArchiveWriteError:
        raise
    except Exception as exc:            # noqa: BLE001 - turned into a row, never lost
        text = "".join(traceback.format_exception(exc)).strip()
        return stage.row(job, cfg.transcode, ctx.run_id, node, "failed",
                         _("internal error, please report: {text}").format(text=text))


def _count(summary: ProxySummary, row: dict) -> None:
    summary.by_status[row["status"]] += 1
    summary.cpu_s += row.get("cpu_s") or 0.0
    if row["status"] == "ok":
        summary.media_s += row.get("parent_duration_s") or 0.0
    else:
        summary.problems.append({"status": row["status"], "message": row["error_message"]})


def transcode(archive: Path, config: Config, *, shas: list[str] | None = None, engine: str | None = None,
              address: str | None = None, workers: int | None = None, progress: bool = True) -> ProxySummary:
    """Make the proxies ``archive`` lacks (for every recording, or those named by ``shas``), on
    ``engine`` (see ``engines.engine_for``)."""
    engines.engine_for(engine, address)
    archive = Path(archive).resolve()
    run_id = new_id()
    summary = ProxySummary(run_id, str(archive), now_utc())
    t0 = time.monotonic()
    with writing_run(archive, config, "transcode", run_id=run_id) as run:
        config, catalog = run.config, run.catalog
        stage.sweep(archive)
        jobs, summary.already = plan(catalog, config, shas)
        summary.selected = len(jobs)
        needs_workers = any(not j.skip_reason for j in jobs)
        active = engines.start(engine, address, workers) if needs_workers else runner.NOTHING
        summary.engine, summary.cluster_cpus = active.engine, active.cpus
        summary.ray_address = active.address if active.engine == runner.RAY else "none"
        try:
            make_proxies(jobs, catalog, config, run_id, summary, active, progress=progress)
        except KeyboardInterrupt:
            summary.outcome = "interrupted"
            raise
        except BaseException:
            summary.outcome = "failed"
            raise
        finally:
            summary.wall_s = time.monotonic() - t0
            summary.finished_at = now_utc()
            close_run(catalog, _run_row(summary, config, active), active)
            stage.sweep(archive)        # temporaries of workers killed or cancelled mid-proxy
    return summary


def _run_row(s: ProxySummary, config: Config, engine: runner.Runner) -> dict:
    # The runs table is shaped for ingest; a transcode run fills: files_seen = recordings selected,
    # files_skipped = already had a proxy, files_new = files_ok = proxies made,
    # files_damaged = declined (original damaged), files_unreadable = failed.
    return run_row(
        "transcode", s.run_id, config, started_at=s.started_at, finished_at=s.finished_at, wall_s=s.wall_s,
        outcome=s.outcome, engine=engine, sources=[],
        files_seen=s.selected, files_new=s.by_status.get("ok", 0), files_duplicate=0,
        files_skipped=s.already, files_ok=s.by_status.get("ok", 0),
        files_damaged=s.by_status.get("skipped", 0), files_unreadable=s.by_status.get("failed", 0),
        media_s_ok=s.media_s,
    )
