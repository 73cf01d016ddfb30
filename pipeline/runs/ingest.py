"""The ingest run: a dock drop in, originals stored and cataloged, a summary out."""

from __future__ import annotations

import importlib
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import pyarrow as pa

from catalog.store import Catalog, to_table
from pipeline.archive.writer import writing_run
from pipeline.common import paths
from pipeline.runs import engines, perfile, runner, supervise
from pipeline.runs.bookkeeping import close_run, run_row
from pipeline.common import vocabulary
from pipeline.common.i18n import _
from pipeline.common.clock import new_id, now_utc
from pipeline.config import Config
from pipeline.runs.discover import SourceFile, walk
from pipeline.runs.perfile import Context, FileResult, process_file
from pipeline.runs.ahead import Ahead, ahead
from pipeline.runs.preload import import_meanwhile
from pipeline.common.text import for_terminal, pad
from pipeline.common.units import human_bytes, human_duration
from pipeline.runs.progress import Progress
from pipeline.archive.objects import ObjectStore
from pipeline.common.errors import ArchiveWriteError

if TYPE_CHECKING:
    from pipeline.runs.known import KnownContents

# Arrow's datasets and compute (a tenth of a second) are imported by the first read of a table that
# has parts: a new archive's first run reads none before its first task (see ``_ingest``).
# The gap refresh runs once the files are in, and brings DuckDB, Arrow's compute and the gap rules
# (a quarter of a second to import): imported by a thread (``LATE_MODULES``) from the moment the
# run opens, while this thread mostly waits: on the disk (the lock, the journal, a new archive's
# settings, each synced) and then on its workers.
GAP_REFRESH = "pipeline.records.gaprefresh"


def refresh_gaps(catalog: Catalog, run_id: str, config: Config, early: Ahead | None = None):
    """``records.gaprefresh.refresh``, imported when it runs (``early``: what was read ahead)."""
    if early is not None:
        early.ending()
    return importlib.import_module(GAP_REFRESH).refresh(catalog, run_id, config,
                                                        cache=early.parts if early is not None else None,
                                                        survey=early.survey if early is not None else None)


@dataclass
class RunSummary:
    run_id: str
    archive: str
    started_at: datetime
    finished_at: datetime | None = None
    sources: list[str] = field(default_factory=list)
    files_seen: int = 0
    files_skipped: int = 0          # already ingested by an earlier run
    files_new: int = 0              # new distinct content
    files_duplicate: int = 0        # content already in the archive or seen earlier in this run
    by_status: Counter = field(default_factory=Counter)
    bytes_by_status: Counter = field(default_factory=Counter)
    media_s_by_status: Counter = field(default_factory=Counter)
    bytes_read: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    cluster_cpus: int = 0
    cluster_nodes: int = 0
    engine: str = "none"            # local | ray | none (nothing to run)
    ray_address: str = "none"       # the Ray cluster's address ("local": a private instance) on the Ray engine
    outcome: str = "finished"
    problems: list[dict] = field(default_factory=list)
    proxies: dict = field(default_factory=dict)     # proxy rows by status, when made in this run
    compaction: dict = field(default_factory=dict)  # the catalog compaction run after it, if any
    files_unattributed: int = 0     # new recordings no naming profile attributed to a device
    unattributed: list[str] = field(default_factory=list)       # their source paths (the first 20)
    conflicting: int = 0            # contents this run saw under names that disagree on who or when
    gaps: dict = field(default_factory=dict)        # interruptions found in this run, and what needs explaining

    def to_dict(self) -> dict:
        mb_s = self.bytes_read / 1e6 / self.wall_s if self.wall_s else 0.0
        return {
            "run_id": self.run_id, "archive": self.archive, "outcome": self.outcome,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "sources": self.sources, "files_seen": self.files_seen, "files_skipped": self.files_skipped,
            "files_new": self.files_new, "files_duplicate": self.files_duplicate,
            "files_by_status": dict(self.by_status), "bytes_by_status": dict(self.bytes_by_status),
            "media_hours_by_status": {k: v / 3600 for k, v in self.media_s_by_status.items()},
            "bytes_read": self.bytes_read, "wall_s": round(self.wall_s, 3), "mb_per_s": round(mb_s, 2),
            "cluster_cpus": self.cluster_cpus, "cluster_nodes": self.cluster_nodes,
            "engine": self.engine, "ray_address": self.ray_address, "problems": self.problems,
            "proxies_by_status": self.proxies, "compaction": self.compaction,
            "files_unattributed": self.files_unattributed, "unattributed": self.unattributed,
            "files_conflicting": self.conflicting, "gaps": self.gaps,
        }

    def _where(self) -> str:
        if self.engine == "local":
            return _("local: {cpus} worker process(es) on this machine").format(cpus=self.cluster_cpus)
        if self.engine == "ray":
            return _("ray {address}: {nodes} node(s), {cpus} CPU(s)").format(
                address=self.ray_address, nodes=self.cluster_nodes, cpus=self.cluster_cpus)
        return _("none (nothing new to store)")

    def render(self) -> str:
        media_h = sum(self.media_s_by_status.values()) / 3600
        rate = self.bytes_read / self.wall_s if self.wall_s else 0.0
        statuses = []
        for s in ("ok", "damaged", "unreadable"):
            n = self.by_status.get(s, 0)
            detail = human_bytes(self.bytes_by_status.get(s, 0)) if n else ""
            state = vocabulary.value("status", s)
            statuses.append(_("{n} {state} ({size})").format(n=n, state=state, size=detail) if detail
                            else _("{n} {state}").format(n=n, state=state))
        lines = [
            _("fieldrec ingest {run_id}: {outcome}").format(run_id=self.run_id,
                                                            outcome=vocabulary.outcome(self.outcome)),
            _("  files      {seen} seen, {new} new, {duplicate} duplicate, {skipped} already ingested").format(
                seen=self.files_seen, new=self.files_new, duplicate=self.files_duplicate, skipped=self.files_skipped),
            _("  status     {statuses}").format(statuses=_(", ").join(statuses)),
            _("  read       {bytes} in {wall} ({rate}/s)").format(
                bytes=human_bytes(self.bytes_read), wall=human_duration(self.wall_s), rate=human_bytes(rate)),
            _("  media      {hours} hours ({duration})").format(hours=f"{media_h:.2f}",
                                                              duration=human_duration(media_h * 3600)),
            _("  engine     {where}").format(where=self._where()),
            _("  archive    {archive}").format(archive=self.archive),
        ]
        if self.proxies:
            lines.append(_("  proxies    {counts}").format(
                counts=_(", ").join(_("{n} {state}").format(n=n, state=vocabulary.value("status", s))
                                    for s, n in sorted(self.proxies.items()))))
        if self.gaps:
            lines.append(_("  gaps       {found} found in this run: {need} need an explanation, {free} are pauses "
                           "between recording sessions; {waiting} in the archive wait for one "
                           "(fieldrec gaps --unexplained)").format(**self.gaps))
        if self.files_unattributed:
            lines.append(_("  attributed {n} new recording(s) matched no naming profile: kept, listed as unattributed "
                           "(fieldrec ledger; fieldrec attribute SHA --device D --officer O --by NAME --reason TEXT)"
                           ).format(n=self.files_unattributed))
            lines += [f"    {for_terminal(p)}" for p in self.unattributed]
        if self.conflicting:
            lines.append(_("  names      {n} file(s) docked under names that disagree on device, officer or time: "
                           "flagged, both kept (fieldrec ledger)").format(n=self.conflicting))
        if self.compaction.get("merged"):
            lines.append("  catalog    " + _("merged {n} small part file(s) into {m} (sealed as {manifest})").format(
                n=self.compaction["merged"], m=self.compaction["written"], manifest=self.compaction["sealed_as"]))
        elif self.compaction.get("problem"):
            lines.append("  catalog    " + self.compaction["problem"])
        if self.problems:
            lines.append(_("  problems   {n} file(s) not ok, each with its row and reason:").format(n=len(self.problems)))
        for p in self.problems[:20]:
            message = p["message"] or ""
            if len(message) > 160:
                message = message[:159] + "…"
            lines.append(f"    {pad(vocabulary.value('status', p['status']), 10)} {p['path']}\n               {message}")
        if len(self.problems) > 20:
            lines.append(_("    … {n} more: {command}").format(
                n=len(self.problems) - 20, command=f"fieldrec sql --archive {self.archive} "     # untranslated: a command
                "\"SELECT source_path, status, failure, error_message FROM sightings WHERE status <> 'ok'\""))
        review = f"fieldrec report --archive {self.archive} -o report.html"        # untranslated: a command
        lines.append(_("  review     {command}").format(command=review))
        return "\n".join(lines)


ROW_TABLES = ("sightings", "recordings")


class CatalogBuffer:
    """Rows waiting for the next commit; duplicates of known content keep only their sighting."""

    def __init__(self, catalog: Catalog, run_id: str, known_sha: KnownContents | set):
        self.catalog, self.run_id, self.known_sha = catalog, run_id, known_sha
        self.tables: dict[str, list] = {}
        self.files = 0
        self.last_commit = time.monotonic()

    def add(self, result: FileResult) -> bool:
        """Queue a result's rows; True when it brought new content."""
        self.files += 1
        self.tables.setdefault("sightings", []).append(result.sighting)     # row tables hold dicts
        sha = result.sha256
        if result.recording is None or sha in self.known_sha:
            return False
        self.known_sha.add(sha)
        self.tables.setdefault("recordings", []).append(result.recording)
        for name, rows in result.dependents.items():
            self.tables.setdefault(name, []).append(rows)                  # others: row lists or tables
        return True

    def due(self, every_files: int, every_s: float) -> bool:
        return self.files >= every_files or (self.files and time.monotonic() - self.last_commit >= every_s)

    def commit(self) -> None:
        """Make every queued row visible in one atomic catalog commit."""
        batches = {name: pa.concat_tables([to_table(name, p) for p in parts]) if name not in ROW_TABLES else parts
                   for name, parts in self.tables.items()}
        try:
            self.catalog.commit(batches, tag=self.run_id)
        except OSError as exc:
            raise ArchiveWriteError(exc.errno, _("cannot write the catalog: {why}").format(why=exc.strerror),
                                    exc.filename or str(self.catalog.root)) from exc
        self.tables, self.files, self.last_commit = {}, 0, time.monotonic()


@dataclass
class Seen:
    """What earlier runs recorded about the sources, by exact path, size and mtime."""
    done: set = field(default_factory=set)              # stored: skipped
    gave_up: set = field(default_factory=set)           # killed their worker or timed out, never stored
    outcome: dict = field(default_factory=dict)         # never stored: the latest (status, failure, message)

    def skip(self, key, *, retry_unreadable: bool, retry_failed: bool) -> bool:
        if key in self.done:
            return True
        if key in self.gave_up:
            return not retry_failed
        return key in self.outcome and not retry_unreadable

    def unchanged(self, result: FileResult) -> bool:
        """A source tried again that failed the same way: nothing new to record."""
        s = result.sighting
        return self.outcome.get(result.source.key) == (s["status"], s["failure"], s["error_message"])


SEEN_COLUMNS = ["source_path", "source_path_bytes", "size", "mtime_ns", "sha256", "status", "failure",
                "error_message", "seen_at"]


def _known_contents(catalog: Catalog) -> KnownContents | set:
    """The contents the archive holds: none in a catalog without recordings, whose empty set answers
    as ``KnownContents`` of its empty column would."""
    if not catalog.visible_parts("recordings"):
        return set()
    from pipeline.runs.known import KnownContents

    return KnownContents(catalog.read("recordings", ["sha256"])["sha256"])


def _seen(catalog: Catalog, paths: Iterable[bytes]) -> Seen:
    """What earlier runs recorded about ``paths`` (exact bytes: the walk's), from their sightings
    alone: the filter goes into the scan, so a night's drop does not turn every sighting of a year
    into Python rows (seconds and a gigabyte at a million recordings)."""
    import pyarrow.dataset as ds

    wanted = sorted(set(paths))
    if not wanted:
        return Seen()
    # A row written before names were kept as bytes has only its text, whose UTF-8 is the name:
    # the text of each walked name that is UTF-8 finds those.
    texts = []
    for raw in wanted:
        try:
            texts.append(raw.decode("utf-8"))
        except UnicodeDecodeError:      # not UTF-8: no text-only row can name it
            continue
    by_bytes = ds.field("source_path_bytes")
    expr = by_bytes.isin(pa.array(wanted, pa.binary())) | (
        by_bytes.is_null() & ds.field("source_path").isin(pa.array(texts, pa.string())))
    return _gathered(_picked(catalog, expr))


def _picked(catalog: Catalog, expr) -> pa.Table:
    """The sightings ``expr`` picks: the path columns read in every part, the others only in the
    parts where it picks a row (a night's walk names a few recent parts' rows: the rest of a year's
    columns are not decoded). Listed and read again if a part was removed meanwhile."""
    paths = ["source_path_bytes", "source_path"]

    def read() -> pa.Table:
        dataset = catalog.dataset("sightings")
        schema = dataset.schema
        found = [part.to_table(schema=schema, columns=SEEN_COLUMNS, filter=expr) for part in dataset.get_fragments()
                 if part.to_table(schema=schema, columns=paths, filter=expr).num_rows]
        return pa.concat_tables(found) if found else schema.empty_table().select(SEEN_COLUMNS)

    return catalog.relisting(read)


def _gathered(table: pa.Table) -> Seen:
    seen, latest = Seen(), {}
    for row in table.to_pylist():
        # Rows written before names were kept as bytes: their text is the exact name (UTF-8 only).
        raw = row["source_path_bytes"] if row["source_path_bytes"] is not None else os.fsencode(row["source_path"])
        key = (raw, row["size"], row["mtime_ns"])
        if row["sha256"] is not None:
            seen.done.add(key)
        elif key not in latest or row["seen_at"] > latest[key]["seen_at"]:
            latest[key] = row
    for key, row in latest.items():
        if key in seen.done:
            continue
        if row["failure"] in ("worker_died", "timed_out"):
            seen.gave_up.add(key)
        seen.outcome[key] = (row["status"], row["failure"], row["error_message"])
    return seen


def ingest(sources: list[Path], archive: Path, config: Config, *, engine: str | None = None,
           address: str | None = None, workers: int | None = None, progress: bool = True,
           proxies: bool | None = None, follow_links: bool | None = None, retry_failed: bool = False,
           started: runner.Runner | None = None) -> RunSummary:
    """Ingest ``sources`` into ``archive`` on ``engine`` (``engines.engine_for``: the local engine
    unless Ray is named or an address given). ``started``: that engine, started by the caller
    earlier still (its workers importing ``perfile.WORKER_MODULES``); the run closes it. Raises ``ArchiveWriteError`` if the
    archive fails, ``address.ClusterUnreachable`` if the Ray address cannot be used,
    ``engines.EngineChoiceError`` for an engine that cannot run what was asked."""
    try:
        return _ingest(sources, archive, config, engine, address, workers, progress, proxies, follow_links,
                       retry_failed, started)
    finally:
        if started is not None:
            started.close()                         # closed already unless the run failed early


def _ingest(sources, archive, config, engine, address, workers, progress, proxies, follow_links, retry_failed,
            started) -> RunSummary:
    engines.engine_for(engine, address)                  # a bad choice fails before anything is touched
    archive = Path(archive).resolve()
    archive.mkdir(parents=True, exist_ok=True)
    run_id = new_id()
    summary = RunSummary(run_id, str(archive), now_utc(), sources=[paths.readable(str(s)) for s in sources])
    t0, cpu0 = time.monotonic(), time.process_time()
    import_meanwhile(LATE_MODULES, "fieldrec-imports")
    with writing_run(archive, config, "ingest", run_id=run_id) as run:
        config, catalog = run.config, run.catalog          # the archive's own settings from here on
        cfg = config.ingest
        # The local engine's workers start now (if the caller has not) and import what they need
        # while the catalog is read and the drop walked; Ray starts only once there is work for it.
        active = started or (engines.start(engine, address, workers, preload=perfile.WORKER_MODULES)
                             if engines.starts_at_once(engine, address) else runner.NOTHING)
        early: Ahead | None = None
        try:
            store = ObjectStore(archive, fsync=cfg.fsync, mode=cfg.file_mode).create()
            store.sweep()
            known_sha = _known_contents(catalog)
            early = ahead(catalog, config, run_id)
            follow = cfg.follow_links if follow_links is None else follow_links
            found = list(walk(sources, exclude=archive, follow_links=follow))  # an archive inside a drop is not a drop
            # A table without parts (a new archive) holds nothing to read: not read, so the first
            # task goes out before Arrow's datasets and compute are imported (by the thread, meanwhile).
            seen = _seen(catalog, (src.key[0] for src in found)) if catalog.visible_parts("sightings") else Seen()

            todo: list[SourceFile] = []
            keys = set()
            for src in found:
                summary.files_seen += 1
                if src.key in keys or seen.skip(src.key, retry_unreadable=cfg.retry_unreadable,
                                                retry_failed=retry_failed):
                    summary.files_skipped += 1
                    continue
                keys.add(src.key)
                todo.append(src)
                active.grow(len(todo))
            # Entries the walk already refused (links out, FIFOs) need no worker.
            refused = [src for src in todo if src.problem]
            todo = [src for src in todo if not src.problem]
            if not todo:
                active.close()
                active = runner.NOTHING
            elif active is runner.NOTHING:
                active = engines.start(engine, address, workers)
        except BaseException:
            active.close()
            if early is not None:
                early.close()
            raise
        proxy_jobs: list = []
        summary.engine, summary.cluster_cpus, summary.cluster_nodes = active.engine, active.cpus, active.nodes
        summary.ray_address = active.address if active.engine == runner.RAY else "none"
        try:
            ctx = Context(str(archive), run_id, config)
            plan = runner.plan_tasks([f.size for f in todo], cpus=active.cpus, task_bytes=cfg.task_bytes,
                                     task_max_files=cfg.task_max_files)
            batches = [[todo[i] for i in task] for task in plan]
            window = max(1, (workers or active.cpus) * cfg.window_per_cpu)
            bar = Progress(len(todo), sum(f.size for f in todo), enabled=progress)
            buffer = CatalogBuffer(catalog, run_id, known_sha)
            with_proxies = cfg.proxies if proxies is None else proxies
            # Proxies bring in the encoders: imported only by a run that makes them.
            transcode = importlib.import_module("pipeline.runs.transcode") if with_proxies else None

            def take(result: FileResult) -> None:
                if seen.unchanged(result):
                    _count(summary, result, False)      # still failing as before: reported, not recorded again
                    return
                if result.new_object:
                    run.created_objects.add(result.recording["archive_path"])
                new = buffer.add(result)
                _count(summary, result, new)
                if new and with_proxies and (job := transcode.stage.job_for(result.recording)):
                    proxy_jobs.append(job)

            try:
                for src in refused:
                    take(process_file(src, ctx))
                outcomes = active.run_items(perfile.guarded, batches, ctx, window=window,
                                            budget_s=lambda src: cfg.time_budget(src.size),
                                            retries=cfg.worker_retries, notes_dir=store.tmp,
                                            env=(perfile.TEST_FAULT_ENV,)) if batches else ()
                for outcome in outcomes:
                    take(outcome.result if isinstance(outcome, supervise.Done) else _lost_row(outcome, ctx))
                    bar.advance(1, outcome.item.size)
                    if buffer.due(cfg.commit_every_files, cfg.commit_every_s):
                        buffer.commit()
                buffer.commit()
                refresh_gaps(catalog, run_id, config, early)
                _identities_and_gaps(summary, catalog, config, repeated=getattr(known_sha, "repeated", False),
                                     early=early)
            finally:
                bar.close()
            if proxy_jobs:             # after the originals are safe: proxies never delay them
                transcode.stage.sweep(archive)
                proxy_summary = transcode.ProxySummary(run_id, str(archive), summary.started_at)
                transcode.make_proxies(proxy_jobs, catalog, config, run_id, proxy_summary, active,
                                       progress=progress)
                summary.proxies = dict(proxy_summary.by_status)
        except BaseException:
            summary.outcome = "failed"
            raise
        finally:
            if early is not None:
                early.stop()            # no step more (done by now unless the run ended early)
            summary.wall_s = time.monotonic() - t0
            summary.cpu_s = time.process_time() - cpu0
            summary.finished_at = now_utc()
            close_run(catalog, _run_row(summary, config, active), active)
            store.sweep()               # copies abandoned by killed or cancelled workers, and their notes
            if proxy_jobs:
                transcode.stage.sweep(archive)
            if early is not None:
                early.close()           # the step under way, last: a Ctrl-C while it ends skips nothing
    summary.compaction = _compact_after(archive, config)
    return summary


def _compact_after(archive: Path, config: Config) -> dict:
    """Merge the catalog's small parts once a table has gathered enough (``compact.auto``). The
    ingest is sealed by now: a compaction that cannot run is reported, never fails the ingest."""
    from pipeline.archive.compact import CompactionError
    from pipeline.archive.lock import ArchiveBusy
    from pipeline.runs.compact import auto

    try:
        done = auto(archive, config)
    except (ArchiveBusy, ArchiveWriteError, CompactionError, OSError) as exc:
        return {"problem": _("not compacted ({why}); the ingest is complete; run `fieldrec compact` later").format(
            why=getattr(exc, "strerror", None) or exc)}
    if done is None:
        return {}
    return {"merged": done.merged, "written": sum(t.written for t in done.tables), "sealed_as": done.sealed_as,
            "wall_s": round(done.wall_s, 3)}


# What the driver imports once the files are in (Arrow's datasets first: a run on an archive that
# has recordings reads them before its first task; then the gap refresh and listing with DuckDB, the
# compaction): a thread imports them from the start of the run (see ``GAP_REFRESH``), so that the
# end of a short run does not wait for them (a third of a one-file run).
LATE_MODULES = ("pyarrow.dataset", GAP_REFRESH, "pyarrow.compute", "pyarrow.acero", "duckdb",
                "pipeline.records.attribution", "pipeline.records.gaplist", "pipeline.records.gapcount",
                "pipeline.records.gapwaiting", "pipeline.records.conflicts", "pipeline.runs.compact")


def _identities_and_gaps(summary: RunSummary, catalog: Catalog, config: Config, *, repeated: bool,
                         early: Ahead | None = None) -> None:
    """What the run leaves to people: names that disagree, and interruptions that need explaining.
    Read set-based, counted rather than listed (``records.conflicts``, ``records.gapcount``): seconds
    at a million recordings were spent here otherwise. ``repeated``: whether a content had two
    recordings rows when the run began (``KnownContents.repeated``; the run adds none); ``early``:
    what was read and counted while the files were stored (``runs.ahead``)."""
    from pipeline.records import conflicts, gapwaiting

    summary.conflicting = conflicts.of_run(catalog, summary.run_id, config.identity,
                                           sighted=early.sighted if early is not None else None)
    if not catalog.visible_parts("gaps"):
        # No gap was ever detected here (this run's refresh found none either): nothing to count.
        summary.gaps = {"found": 0, "need": 0, "free": 0, "waiting": 0}
        return
    # Carried from the last run's counts when only gaps, states and explanations were added since
    # (``records.gapwaiting``); the ids that wait are kept for the next run.
    tally = gapwaiting.tally(catalog, config, summary.run_id, now_utc(), repeated=repeated,
                             ahead=early.count if early is not None else None,
                             cache=early.parts if early is not None else None)
    summary.gaps = tally.counts.summary()
    if tally.keep is not None:
        catalog.commit({"gap_waiting": [tally.keep]}, tag=summary.run_id)


def _lost_row(lost: supervise.Lost, ctx: Context) -> FileResult:
    detail = lost.detail
    if lost.reason == "timed_out":
        detail += _("; ingest.time_budget_s and ingest.time_budget_mb_s set the budget")
    return perfile.lost(lost.item, ctx, lost.reason, detail, lost.progress)


def _count(summary: RunSummary, result: FileResult, new: bool) -> None:
    status = result.status
    summary.by_status[status] += 1
    summary.bytes_by_status[status] += result.source.size
    summary.bytes_read += result.bytes_read
    if result.recording is not None:
        if new:
            summary.files_new += 1
            if result.recording.get("device_id") is None and result.recording.get("kind") in ("video", "audio", "photo"):
                summary.files_unattributed += 1
                if len(summary.unattributed) < 20:
                    summary.unattributed.append(paths.readable(result.source.path))
        else:
            summary.files_duplicate += 1
        summary.media_s_by_status[status] += result.recording.get("duration_s") or 0.0
    if status != "ok":
        message = (result.recording or result.sighting).get("error_message") or ""
        path = paths.readable(result.source.path)
        name = os.path.basename(path)
        message = message[len(name) + 2:] if message.startswith(name + ": ") else message
        message = message[len(path) + 2:] if message.startswith(path + ": ") else message
        summary.problems.append({"path": path, "status": status, "message": message,
                                 "failure": result.sighting.get("failure"),
                                 "stage": result.sighting.get("error_stage")})


def _run_row(s: RunSummary, config: Config, engine: runner.Runner) -> dict:
    return run_row(
        "ingest", s.run_id, config, started_at=s.started_at, finished_at=s.finished_at, wall_s=s.wall_s,
        outcome=s.outcome, engine=engine, sources=s.sources,
        files_seen=s.files_seen, files_new=s.files_new, files_duplicate=s.files_duplicate,
        files_skipped=s.files_skipped,
        **{f"files_{k}": s.by_status.get(k, 0) for k in ("ok", "damaged", "unreadable")},
        **{f"bytes_{k}": s.bytes_by_status.get(k, 0) for k in ("ok", "damaged", "unreadable")},
        media_s_ok=s.media_s_by_status.get("ok", 0.0), media_s_damaged=s.media_s_by_status.get("damaged", 0.0),
        bytes_read=s.bytes_read,
    )
