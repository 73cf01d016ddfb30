"""The fixity audit: re-hash the archive (local engine or Ray) and hold it against the manifest chain and the catalog.

Every object and catalog part file a manifest lists must exist (else ``missing``) and, when
re-hashed, still have the SHA-256 the manifest recorded (else ``changed``); every object and part
file present must be listed by some manifest (else ``untracked``); every ``recordings`` row's
object must exist; the manifests must form an unbroken chain with good signatures (``chain``,
``signature``). Existence and the chain are always checked in full; ``sample_pct`` and ``since``
narrow only what is re-hashed. The results are appended to the ``fixity`` table, and that part
file is sealed in a manifest of its own (``command = "verify"``), which lists nothing else.
"""

from __future__ import annotations

import math
import random
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from catalog.store import Catalog
from pipeline.archive import chain, compact
from pipeline.runs import engines, runner, supervise
from pipeline.common import vocabulary
from pipeline.common.i18n import _, ngettext
from pipeline.common.text import pad
from pipeline.common.clock import new_id, now_utc
from pipeline.config import Config, ConfigError
from pipeline.archive import proxies, settings, witness
from pipeline.archive.lock import ArchiveLock
from pipeline.archive.writer import writing_run
from pipeline.native import signing
from pipeline.native.hashing import sha256_path
from pipeline.common.units import human_bytes, human_duration
from pipeline.stages import fixity
from pipeline.common.errors import ArchiveWriteError

PROBLEMS = ("changed", "missing", "untracked", "unreadable", "chain", "signature", "witness")


class AuditError(ValueError):
    """The audit was asked for something that cannot be done (no such run, not an archive)."""


@dataclass
class Finding:
    kind: str                       # object | proxy | catalog | manifest | settings | witness
    status: str                     # one of PROBLEMS
    path: str                       # relative to the archive
    message: str
    expected_sha256: str | None = None
    actual_sha256: str | None = None
    manifest: str | None = None
    size: int | None = None         # bytes read when re-hashed


@dataclass
class AuditReport:
    run_id: str
    archive: str
    started_at: datetime
    finished_at: datetime | None = None
    manifests: int = 0
    chain_head: str = chain.GENESIS
    signatures_checked: int = 0
    trusted_key: str | None = None
    sample_pct: float = 100.0
    since: str | None = None
    objects_tracked: int = 0
    objects_hashed: int = 0
    bytes_hashed: int = 0
    catalog_tracked: int = 0
    catalog_hashed: int = 0
    proxies_tracked: int = 0
    proxies_hashed: int = 0
    wall_s: float = 0.0
    sealed_as: str | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def counts(self, kind: str) -> Counter:
        return Counter(f.status for f in self.findings if f.kind == kind)

    def to_dict(self) -> dict:
        return {
            "run_id": self.run_id, "archive": self.archive, "ok": self.ok,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "manifests": self.manifests, "chain_head": self.chain_head,
            "signatures_checked": self.signatures_checked, "trusted_key": self.trusted_key,
            "sample_pct": self.sample_pct, "since": self.since,
            "objects_tracked": self.objects_tracked, "objects_hashed": self.objects_hashed,
            "bytes_hashed": self.bytes_hashed, "catalog_tracked": self.catalog_tracked,
            "catalog_hashed": self.catalog_hashed,
            "proxies_tracked": self.proxies_tracked, "proxies_hashed": self.proxies_hashed, "wall_s": round(self.wall_s, 3),
            "sealed_as": self.sealed_as, "problems": [asdict(f) for f in self.findings],
        }

    def render(self) -> str:
        obj, cat, prox = self.counts("object"), self.counts("catalog"), self.counts("proxy")
        verdict = _("OK") if self.ok else ngettext("{n} problem", "{n} problems", len(self.findings)).format(
            n=len(self.findings))
        if self.signatures_checked:
            who = _("the trusted key {key}…").format(key=self.trusted_key[:16]) if self.trusted_key else \
                _("the keys the manifests name")
            signed = _("{n} signature(s) checked against {who}").format(n=self.signatures_checked, who=who)
        else:
            signed = _("unsigned")
        if self.sample_pct >= 100 and not self.since:
            scope = ""
        elif self.since:
            scope = _(" (sample {pct}%, since {run})").format(pct=f"{self.sample_pct:g}", run=self.since)
        else:
            scope = _(" (sample {pct}%)").format(pct=f"{self.sample_pct:g}")

        def states(counts: Counter) -> str:
            return _(", ").join(_("{n} {state}").format(n=counts.get(s, 0), state=vocabulary.value("status", s))
                                for s in ("changed", "missing", "untracked"))

        lines = [
            _("fieldrec verify {run_id}: {verdict}").format(run_id=self.run_id, verdict=verdict),
            _("  manifests  {n} manifest(s), {signed}").format(n=self.manifests, signed=signed),
            _("  chain head {head}").format(head=self.chain_head),
            _("  objects    {tracked} tracked, {hashed} re-hashed{scope} ({bytes} in {wall}); {states}").format(
                tracked=self.objects_tracked, hashed=self.objects_hashed, scope=scope,
                bytes=human_bytes(self.bytes_hashed), wall=human_duration(self.wall_s), states=states(obj)),
            _("  catalog    {tracked} part file(s) tracked, {hashed} re-hashed; {states}").format(
                tracked=self.catalog_tracked, hashed=self.catalog_hashed, states=states(cat)),
            _("  proxies    {tracked} tracked, {hashed} re-hashed; {states}").format(
                tracked=self.proxies_tracked, hashed=self.proxies_hashed, states=states(prox)),
            _("  archive    {archive}").format(archive=self.archive),
        ]
        for f in self.findings:
            lines.append(f"  ! {pad(vocabulary.value('status', f.status), 10)} {pad(vocabulary.value('kind', f.kind), 8)} "
                         f"{f.path}: {f.message}")
        return "\n".join(lines)


def _select(manifests: list[chain.Manifest], since: str | None) -> list[chain.Manifest]:
    if not since:
        return manifests
    for i, m in enumerate(manifests):
        if m.run_id == since or m.name.startswith(since):
            return manifests[i:]
    known = ", ".join(m.run_id for m in manifests[-5:]) or _("none")
    raise AuditError(_("no manifest for run {run!r} (latest runs: {known}); give a run id from the runs table or "
                       "a manifest number").format(run=since, known=known))


def trusted_key_for(config: Config, key_path: str | None) -> str | None:
    """The public key (raw hex) signatures must match: --key, else the configured keys, else None."""
    path = key_path or config.integrity.verify_key or config.integrity.signing_key
    return signing.load_public_hex(path) if path else None


def verify(archive: Path, config: Config, *, sample_pct: float = 100.0, since: str | None = None,
           key_path: str | None = None, engine: str | None = None, address: str | None = None,
           workers: int | None = None,
           seed: int | None = None, lock_wait_s: float = 24 * 3600, witnesses: tuple[str, ...] = (),
           expect_head: str | None = None) -> AuditReport:
    """Audit ``archive``; raises ``AuditError`` for a bad request, ``ArchiveBusy`` while another writes.

    The chain is also held against every witness file (``witnesses`` and the archive's configured
    ones) and, with ``expect_head``, must contain a manifest whose chain value starts with it (a
    head kept on paper): removing the newest manifests is then found too.
    """
    engines.engine_for(engine, address)
    archive = Path(archive).resolve()
    if not (archive / "catalog").is_dir() and not (archive / chain.MANIFESTS).is_dir():
        raise AuditError(_("{archive} is not a fieldrec archive (no catalog/ or manifests/ folder)").format(
            archive=archive))
    if not 0 < sample_pct <= 100:
        raise AuditError(_("the sample must be a percentage above 0 and at most 100, not {pct}").format(
            pct=f"{sample_pct:g}"))
    if expect_head is not None and not re.fullmatch(r"[0-9a-f]{16,64}", expect_head.lower()):
        raise AuditError(_("--expect-head {value}: give the chain head as 16 to 64 hex digits, as verify printed "
                           "it").format(value=repr(expect_head)))
    try:
        config = settings.effective(archive, config)
    except ConfigError:
        pass                            # an unreadable settings file is one of the findings below
    trusted = trusted_key_for(config, key_path)
    run_id = new_id()
    report = AuditReport(run_id, str(archive), now_utc(), trusted_key=trusted,
                         sample_pct=sample_pct, since=since)
    t0 = time.monotonic()
    with ArchiveLock(archive, f"verify {run_id}"):
        catalog = Catalog(archive, fsync=config.ingest.fsync).create()     # finishes an interrupted commit
        compact.recover(archive, catalog)                                  # and an interrupted compaction
        manifests = chain.read_manifests(archive)
        selected = {m.name for m in _select(manifests, since)}
        report.manifests = len(manifests)
        problems, report.chain_head, report.signatures_checked = chain.check_chain(manifests, trusted)
        findings = [Finding("manifest", p.status, f"{chain.MANIFESTS}/{p.manifest}", p.message,
                            manifest=p.manifest) for p in problems]
        findings += _held_against_outside(manifests, (*config.integrity.witness_paths, *witnesses), expect_head)
        sealed = chain.sealed_files(manifests)
        findings += _settings_findings(archive, sealed)
        adoptable = chain.pending(archive)
        report.objects_tracked, report.catalog_tracked = len(sealed.objects), len(sealed.catalog)
        checked: list[Finding] = []            # ok items, for the fixity table only

        parts = set(chain.catalog_parts(archive))
        for rel, (sha, size, mname) in sorted(sealed.catalog.items()):
            if rel not in parts:
                if rel not in sealed.replaced:          # else removed by the compaction that replaced it
                    why = _("listed in {manifest} but not in the archive").format(manifest=mname)
                    findings.append(Finding("catalog", "missing", rel, why, sha, None, mname))
            elif rel in sealed.replaced:
                findings.append(Finding("catalog", "untracked", rel, _(
                    "replaced by the compaction of {manifest}, yet still here: its rows are also in the part that "
                    "replaced it and would be read twice; `fieldrec quarantine` moves it aside").format(
                    manifest=sealed.replaced[rel]), sha, None, mname))
            elif mname in selected:
                actual = sha256_path(archive / rel)
                report.catalog_hashed += 1
                if actual != sha:
                    why = _("content changed since {manifest} recorded it (sha256 {actual}…, recorded {recorded}…)"
                            ).format(manifest=mname, actual=actual[:16], recorded=sha[:16])
                    findings.append(Finding("catalog", "changed", rel, why, sha, actual, mname))
                else:
                    checked.append(Finding("catalog", "ok", rel, "", sha, actual, mname, size))
        findings += [Finding("catalog", "untracked", rel, _untracked_why(rel, adoptable))
                     for rel in sorted(parts - sealed.catalog.keys())]
        findings += _compaction_findings(archive, manifests, sealed, parts, selected)

        objects = set(chain.stored_objects(archive))
        # An object removed by an approved purge is gone on purpose: its purges row says who and why.
        purged = {p for p in catalog.read("purges", ["archive_path"])["archive_path"].to_pylist() if p}
        missing = sorted(rel for rel in sealed.objects if rel not in objects and rel not in purged)
        findings += [Finding("object", "missing", rel,
                             _("listed in {manifest} but not in the archive").format(manifest=sealed.objects[rel][2]),
                             sealed.objects[rel][0], None, sealed.objects[rel][2]) for rel in missing]
        findings += [Finding("object", "untracked", rel, _untracked_why(rel, adoptable))
                     for rel in sorted(objects - sealed.objects.keys())]
        findings += _catalog_vs_store(catalog, objects, sealed, set(missing) | purged)

        items = [fixity.FixityItem(rel, sha, size, mname) for rel, (sha, size, mname) in sorted(sealed.objects.items())
                 if rel in objects and mname in selected]
        if sample_pct < 100 and items:
            items = random.Random(seed).sample(items, max(1, math.ceil(len(items) * sample_pct / 100)))
        # An untracked object is still named by its SHA-256: hold its bytes against its name.
        items += [fixity.FixityItem(rel, Path(rel).name, (archive / rel).stat().st_size, None)
                  for rel in sorted(objects - sealed.objects.keys())]
        proxy_findings, proxy_items, report.proxies_tracked = _proxies(archive, catalog, manifests, selected,
                                                                       purged, sample_pct, seed)
        findings += proxy_findings
        items += proxy_items
    # Re-hashing a large archive takes hours: it runs without the lock (what it reads is immutable
    # and listed above), so ingests can go on meanwhile; results are written under the lock again.
    for result in _rehash(items, archive, config, engine, address, workers):
        if result.item.kind == "proxy":
            report.proxies_hashed += 1
        else:
            report.objects_hashed += 1
        report.bytes_hashed += result.actual_size or 0
        f = Finding(result.item.kind, result.status, result.item.path, result.message or "",
                    result.item.expected_sha256, result.actual_sha256, result.item.manifest, result.actual_size)
        (checked if result.status == "ok" else findings).append(f)
    report.findings = sorted(findings, key=lambda f: (f.kind, f.status, f.path))
    report.finished_at = now_utc()
    report.wall_s = time.monotonic() - t0
    # Results are recorded as a run of their own, waiting for a run that started meanwhile to end.
    # It adopts nothing (it never hides what it just reported), and an audit host without the
    # private key seals its fixity part unsigned.
    with writing_run(archive, config, "verify", run_id=run_id, adopt=False, need_signer=False,
                     wait_s=lock_wait_s, own_settings=False) as run:
        _record(run.catalog, report, checked)
    report.sealed_as = run.sealed.name if run.sealed else None
    return report


def _proxies(archive: Path, catalog: Catalog, manifests: list[chain.Manifest], selected: set[str],
             purged: set[str], sample_pct: float, seed: int | None) -> tuple[list[Finding], list[fixity.FixityItem], int]:
    """Review proxies against their ``derivatives`` rows (which a sealed part vouches for): every
    proxy a row names must exist (else ``missing``), every proxy file must be named by a row (else
    ``untracked``), unless an approved purge removed it with its original; those in scope (made by a run whose manifest is selected, or by one no manifest
    names, sampled like the objects) are re-hashed. Returns the findings, the items to re-hash, how many rows name a proxy."""
    known = {rel: t for rel, t in proxies.tracked(catalog).items() if rel not in purged}
    present = set(proxies.stored(archive)) - purged          # one a purge removes next: as for originals
    manifest_of = {m.run_id: m.name for m in manifests}
    findings = [Finding("proxy", "missing", rel, _(
        "its derivatives row (sha256 {sha}…) names it but it is not in the archive: `fieldrec transcode --missing` "
        "makes it again").format(sha=t.sha256[:16]), t.sha256, None, manifest_of.get(t.run_id))
        for rel, t in sorted(known.items()) if rel not in present]
    findings += [Finding("proxy", "untracked", rel, _(
        "no derivatives row names this proxy: left by a run that died before recording it (the next `fieldrec "
        "transcode` of its recording makes it again and replaces it) or put there by hand; `fieldrec quarantine` "
        "moves it aside")) for rel in sorted(present - known.keys())]
    def in_scope(run_id: str | None) -> bool:
        return run_id not in manifest_of or manifest_of[run_id] in selected

    items = [fixity.FixityItem(rel, t.sha256, t.size, manifest_of.get(t.run_id), kind="proxy")
             for rel, t in sorted(known.items()) if rel in present and in_scope(t.run_id)]
    if sample_pct < 100 and items:
        items = random.Random(seed).sample(items, max(1, math.ceil(len(items) * sample_pct / 100)))
    return findings, items, len(known)


def _compaction_findings(archive: Path, manifests: list[chain.Manifest], sealed: chain.SealedFiles, parts: set[str],
                         selected: set[str]) -> list[Finding]:
    """Every compaction recorded in the chain: it replaced only parts an earlier manifest sealed,
    with parts its own manifest lists, and (for manifests in scope whose new parts are still there)
    those hold exactly the rows of the parts replaced: the same number, the same row digest."""
    from catalog import digest
    from catalog.store import to_table
    import pyarrow as pa
    import pyarrow.parquet as pq

    findings = []
    earlier: dict[str, str] = {}                 # part -> sha256, as manifests before this one listed it
    for m in manifests:
        doc = m.doc or {}
        own = {e["path"] for e in doc.get("catalog", ())}
        where = f"{chain.MANIFESTS}/{m.name}"
        for r in doc.get("replaced", ()):
            for old in r.get("parts", ()):
                if earlier.get(old.get("path")) != old.get("sha256"):
                    findings.append(Finding("manifest", "chain", where, _(
                        "records replacing {path}, which no earlier manifest lists with that SHA-256").format(
                        path=old.get("path")), manifest=m.name))
            new = [b.get("path") for b in r.get("by", ())]
            if not new or not all(p in own for p in new):
                findings.append(Finding("manifest", "chain", where, _(
                    "records parts replaced by files it does not list"), manifest=m.name))
                continue
            if sum(b.get("rows", 0) for b in r["by"]) != r.get("rows"):
                findings.append(Finding("manifest", "chain", where, _(
                    "records {rows} rows replaced but new parts of {new} rows").format(
                    rows=r.get("rows"), new=sum(b.get("rows", 0) for b in r["by"])), manifest=m.name))
            if m.name not in selected or not all(p in parts for p in new) or r.get("digest_format") != digest.FORMAT:
                continue
            table = new[0].split("/")[1]
            try:
                rows = pa.concat_tables([to_table(table, pq.read_table(archive / p)) for p in new])
            except (OSError, KeyError, pa.ArrowException) as exc:
                findings.append(Finding("catalog", "unreadable", new[0], str(exc), manifest=m.name))
                continue
            actual = digest.rows_digest(rows, list(r.get("columns") or []))
            if rows.num_rows != r.get("rows") or actual != r.get("digest"):
                findings.append(Finding("catalog", "changed", new[0], _(
                    "does not hold the rows of the {n} part(s) it replaced: {rows} rows (recorded {expected}), row "
                    "digest {actual}… (recorded {recorded}…)").format(
                    n=len(r.get("parts", ())), rows=rows.num_rows, expected=r.get("rows"), actual=actual[:16],
                    recorded=str(r.get("digest"))[:16]), r.get("digest"), actual, m.name))
        for e in doc.get("catalog", ()):
            earlier.setdefault(e["path"], e["sha256"])
    return findings


def _untracked_why(rel: str, adoptable: dict[str, str]) -> str:
    if rel in adoptable:
        return _("written by run {run}, which died before its seal; the next writing command adopts it (its "
                 "intent journal recorded it)").format(run=adoptable[rel])
    return _("not listed in any manifest, and no run recorded writing it: put there by hand, or its manifest was "
             "removed. It is never adopted; `fieldrec quarantine` moves it aside")


def _held_against_outside(manifests: list[chain.Manifest], witnesses, expect_head: str | None) -> list[Finding]:
    """The chain held against what was kept outside the archive: witness files, a head on paper."""
    findings = []
    chain_by_seq = {m.seq: m.stored_chain for m in manifests}
    first = next((m.stored_chain for m in manifests if m.seq == 1), None)
    for path in dict.fromkeys(witnesses):
        for problem in witness.check(path, chain_by_seq, chain.archive_id(first)):
            findings.append(Finding("witness", "witness", str(path), problem))
    if expect_head:
        want = expect_head.lower()
        if not any((m.stored_chain or "").startswith(want) for m in manifests):
            findings.append(Finding("manifest", "chain", chain.MANIFESTS, _(
                "no manifest has the chain head {head}… kept outside the archive: the manifests up to it were "
                "removed or rewritten").format(head=want[:16])))
    return findings


def _settings_findings(archive: Path, sealed: chain.SealedFiles) -> list[Finding]:
    path = archive / chain.SETTINGS
    if not path.is_file():
        return [Finding("settings", "missing", chain.SETTINGS, _("sealed by {manifest} but not in the "
                        "archive").format(manifest=sealed.settings_manifest), sealed.settings_sha256, None,
                        sealed.settings_manifest)] if sealed.settings_sha256 else []
    actual = sha256_path(path)
    if sealed.settings_sha256 is None:
        return [Finding("settings", "untracked", chain.SETTINGS, _("no manifest seals the settings file"), None,
                        actual)]
    if actual != sealed.settings_sha256:
        return [Finding("settings", "changed", chain.SETTINGS, _(
            "not the settings file {manifest} sealed: edited by hand (settings change only with `fieldrec config "
            "set`)").format(manifest=sealed.settings_manifest), sealed.settings_sha256, actual,
            sealed.settings_manifest)]
    return []


def _catalog_vs_store(catalog: Catalog, objects: set[str], sealed: chain.SealedFiles, reported: set[str]) -> list[Finding]:
    """Rows of ``recordings`` (and of ``statements``, stored as objects too) whose object is gone, or
    whose hash the manifest chain contradicts."""
    out = []
    for table in chain.OBJECT_TABLES:
        rows = catalog.read(table, ["sha256", "archive_path"])
        for sha, rel in zip(rows["sha256"].to_pylist(), rows["archive_path"].to_pylist()):
            if not rel or rel in reported:
                continue
            if rel not in objects:
                why = _("cataloged in {table} (sha256 {sha}…) but not in the archive").format(table=table, sha=sha[:16])
                out.append(Finding("object", "missing", rel, why, sha))
                reported.add(rel)
            elif rel in sealed.objects and sealed.objects[rel][0] != sha:
                out.append(Finding("object", "changed", rel, _("{table} says sha256 {sha}…, {manifest} says {sealed}…"
                                                               ).format(
                                   table=table, sha=sha[:16], manifest=sealed.objects[rel][2],
                                   sealed=sealed.objects[rel][0][:16]),
                                   sealed.objects[rel][0], sha, sealed.objects[rel][2]))
                reported.add(rel)
    return out


def _rehash(items: list[fixity.FixityItem], archive: Path, config: Config, engine: str | None,
            address: str | None, workers: int | None):
    if not items:
        return
    active = engines.start(engine, address, workers, preload=(fixity.__name__,))
    try:
        plan = runner.plan_tasks([i.size for i in items], cpus=active.cpus, task_bytes=config.ingest.task_bytes,
                                 task_max_files=config.ingest.task_max_files)
        ctx = fixity.FixityContext(str(archive), config.ingest.chunk_bytes)
        window = max(1, (workers or active.cpus) * config.ingest.window_per_cpu)
        for outcome in active.run_items(fixity.check, [[items[i] for i in task] for task in plan], ctx,
                                        window=window):
            if isinstance(outcome, supervise.Done):
                yield outcome.result
            else:
                yield fixity.FixityResult(outcome.item, "unreadable", None, None,
                                          _("re-hashing it killed the worker process: {detail}").format(
                                              detail=outcome.detail))
    finally:
        active.close()


def _record(catalog: Catalog, report: AuditReport, checked: list[Finding]) -> None:
    rows = [{"run_id": report.run_id, "checked_at": report.finished_at, "item": f.path, "kind": f.kind,
             "status": f.status, "expected_sha256": f.expected_sha256, "actual_sha256": f.actual_sha256,
             "size": f.size, "manifest": f.manifest, "message": f.message or None}
            for f in checked + report.findings]
    if not rows:
        return
    try:
        catalog.commit({"fixity": rows}, tag=report.run_id)
    except OSError as exc:
        raise ArchiveWriteError(exc.errno, _("cannot write the fixity table: {why}").format(why=exc.strerror),
                                exc.filename or str(catalog.root)) from exc
