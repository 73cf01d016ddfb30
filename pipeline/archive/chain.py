"""The tamper-evident manifest chain: a chained, optionally signed manifest for every run that writes.

``ARCHIVE/manifests/<seq:06d>-<run_id>.json`` lists every original (``objects/…``) and every
catalog part file (``catalog/<table>/part-….parquet``) that the run made visible, each with its
SHA-256 and size. Its ``chain`` is SHA-256 over the previous manifest's chain (hex, ASCII) followed
by the canonical JSON of this manifest's body, and the body names that previous chain too: removing,
editing or reordering any earlier manifest, or any file one lists, breaks either the chain or a hash
that ``fieldrec verify`` recomputes. With ``[integrity] signing_key`` set, the chain value is also
signed with Ed25519 and the signature kept in the same file (``signature``), so a forger who
rewrites the whole chain also needs the key.

Sealing adopts what earlier runs left unsealed. A run killed before its end writes no manifest,
but its committed catalog parts and their objects are real data: the next run that seals lists
them too (each object with the ``run_id`` that cataloged it), so after a kill and a re-run nothing
is left untracked. Until then ``verify`` reports them as ``untracked``.

Adoption trusts what it finds: a part file planted by hand between a crash and the next sealing
run would be adopted as well (and named in that manifest). A ``verify`` right after a crash, before
the re-run, lists exactly what the re-run will adopt.

Signing covers the chain from the first signed manifest on: with a trusted key, a later unsigned
manifest is a problem, except a verify run's own (which lists only its ``fixity`` part), so an
audit host need not hold the private key.

Any command that writes to the archive calls ``seal(archive, run_id, config, command=...)`` once
at its end, while it still holds the ``ArchiveLock``. ``fieldrec verify`` seals with
``adopt=False``: its manifest lists only its own ``fixity`` part, so it never hides what it has
just reported as untracked.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

import pipeline
from catalog.store import JOURNAL_DIR
from pipeline.common.clock import new_id, now_utc
from pipeline.config import Config
from pipeline.native import signing
from pipeline.native.hashing import sha256_path
from pipeline.archive.objects import OBJECTS, TMP
from pipeline.archive.publish import write_atomic
from pipeline.common.errors import ArchiveWriteError

MANIFESTS = "manifests"
FORMAT = "fieldrec-manifest/1"
GENESIS = "0" * 64                       # the chain value before the first manifest
UNSIGNED_FIELDS = ("chain", "signature")  # stored beside the body, not part of it

def canonical(body: dict) -> bytes:
    """The exact bytes the chain hashes: sorted keys, no spaces, UTF-8."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

def chain_of(body: dict) -> str:
    return hashlib.sha256(body["prev_chain"].encode("ascii") + canonical(body)).hexdigest()

@dataclass
class Manifest:
    path: Path
    seq: int                             # from the file name
    doc: dict | None = None              # None when the file cannot be parsed
    error: str | None = None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def body(self) -> dict:
        return {k: v for k, v in (self.doc or {}).items() if k not in UNSIGNED_FIELDS}

    @property
    def run_id(self) -> str:
        return (self.doc or {}).get("run_id") or self.path.stem.partition("-")[2]

    @property
    def stored_chain(self) -> str | None:
        return (self.doc or {}).get("chain")

def read_manifests(archive: Path) -> list[Manifest]:
    """Every manifest file in name (= sequence) order; unreadable ones carry their ``error``."""
    root = Path(archive) / MANIFESTS
    if not root.is_dir():
        return []
    out = []
    for path in sorted(p for p in root.iterdir() if p.suffix == ".json" and not p.name.startswith(".")):
        seq_text = path.name.split("-", 1)[0]
        seq = int(seq_text) if seq_text.isdigit() else -1
        try:
            doc = json.loads(path.read_bytes())
            if not isinstance(doc, dict) or doc.get("format") != FORMAT:
                raise ValueError(f"not a {FORMAT} manifest")
            out.append(Manifest(path, seq, doc))
        except (OSError, ValueError) as exc:
            out.append(Manifest(path, seq, None, f"cannot read manifest: {exc}"))
    return out

@dataclass
class SealedFiles:
    """What the manifests vouch for: relative path -> (sha256, size, manifest name)."""
    objects: dict[str, tuple[str, int, str]] = field(default_factory=dict)
    catalog: dict[str, tuple[str, int, str]] = field(default_factory=dict)

def sealed_files(manifests: list[Manifest]) -> SealedFiles:
    sealed = SealedFiles()
    for m in manifests:
        for key, target in (("objects", sealed.objects), ("catalog", sealed.catalog)):
            for entry in (m.doc or {}).get(key, ()):
                target.setdefault(entry["path"], (entry["sha256"], entry["size"], m.name))
    return sealed

def catalog_parts(archive: Path) -> list[str]:
    """Every visible catalog part file, relative to the archive (temporaries and journal excluded)."""
    root = Path(archive) / "catalog"
    if not root.is_dir():
        return []
    out = []
    for table_dir in sorted(root.iterdir()):
        if table_dir.is_dir() and table_dir.name != JOURNAL_DIR and not table_dir.name.startswith("."):
            out += [f"catalog/{table_dir.name}/{p.name}" for p in sorted(table_dir.iterdir())
                    if p.name.endswith(".parquet") and not p.name.startswith((".", "_"))]
    return out

def stored_objects(archive: Path) -> list[str]:
    """Every file in the object store, relative to the archive (``objects/.tmp`` excluded)."""
    root = Path(archive) / OBJECTS
    out = []
    if root.is_dir():
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not (dirpath == str(root) and d == TMP))
            rel = Path(dirpath).relative_to(archive).as_posix()
            out += [f"{rel}/{f}" for f in sorted(filenames)]
    return out

def signer_for(config: Config) -> signing.Signer | None:
    key = config.integrity.signing_key
    return signing.load_signer(key) if key else None

def _part_tag_is(relpath: str, run_id: str) -> bool:
    return Path(relpath).name.startswith(f"part-{run_id}-")

def seal_command(archive: Path, command: str, config: Config | None = None) -> Path | None:
    """Seal what a non-ingest writing command (case, explain, disc stage, …) just committed.

    Call at the end of the command, still under its ``ArchiveLock``.
    """
    from pipeline.config import load_config

    run_id = new_id(command.split()[0])
    return seal(Path(archive), run_id, config or load_config(), command=command)

def seal(archive: Path, run_id: str, config: Config, *, command: str = "ingest",
         adopt: bool = True) -> Path | None:
    """Write the next manifest: this run's (and, with ``adopt``, any unsealed) parts and objects.

    Call once at the end of a writing command, under its ``ArchiveLock``. Returns the manifest's
    path, or None when there was nothing new to list. Raises ``ArchiveWriteError`` if the archive
    cannot be written, ``signing.KeyFileError`` if the configured key cannot be used.
    """
    archive = Path(archive)
    signer = signer_for(config)
    root = archive / MANIFESTS
    try:
        root.mkdir(parents=True, exist_ok=True)
        for stray in root.glob(".*.tmp"):          # a seal that died before its rename
            stray.unlink()
    except OSError as exc:
        raise ArchiveWriteError(exc.errno, f"cannot write the manifest: {exc.strerror}", str(root)) from exc
    manifests = read_manifests(archive)
    sealed = sealed_files(manifests)

    new_parts = [p for p in catalog_parts(archive) if p not in sealed.catalog and (adopt or _part_tag_is(p, run_id))]
    catalog_entries = [{"path": p, "sha256": sha256_path(archive / p), "size": (archive / p).stat().st_size}
                       for p in new_parts]
    object_entries: dict[str, dict] = {}
    for part in new_parts:
        for row in _objects_named(archive / part, part, run_id):
            rel = row["archive_path"]
            if not rel or rel in sealed.objects or rel in object_entries or not (archive / rel).is_file():
                continue              # a missing object is verify's to report, not ours to vouch for
            object_entries[rel] = {"path": rel, "sha256": row["sha256"], "size": (archive / rel).stat().st_size,
                                   "run_id": row["run_id"]}
    if not catalog_entries and not object_entries:
        return None

    seq = max((m.seq for m in manifests), default=0) + 1
    prev = manifests[-1] if manifests else None
    if prev is None:
        prev_chain = GENESIS
    elif prev.stored_chain:
        prev_chain = prev.stored_chain
    else:                                   # an unreadable predecessor: chain onto its bytes as they are
        prev_chain = sha256_path(prev.path)
    body = {
        "format": FORMAT, "seq": seq, "run_id": run_id, "command": command,
        "created_at": now_utc().isoformat(timespec="seconds"),
        "host": socket.gethostname(), "fieldrec_version": pipeline.__version__,
        "prev_chain": prev_chain, "signed_by": signer.public_hex if signer else None,
        "objects": sorted(object_entries.values(), key=lambda e: e["path"]),
        "catalog": catalog_entries,
    }
    chain = chain_of(body)
    doc = {**body, "chain": chain}
    if signer:
        doc["signature"] = signer.sign(chain.encode("ascii"))
    final = root / f"{seq:06d}-{run_id}.json"
    try:
        write_atomic(final, _pretty(doc), fsync=config.ingest.fsync, mode=0o444)
    except OSError as exc:
        raise ArchiveWriteError(exc.errno, f"cannot write the manifest: {exc.strerror}", str(final)) from exc
    return final

# Tables whose rows name objects: originals (recordings) and written statements (statements).
OBJECT_TABLES = ("recordings", "statements")


def _objects_named(path: Path, relpath: str, run_id: str) -> list[dict]:
    """(sha256, archive_path, run_id) of the objects a catalog part names; [] for other tables and
    for statement parts written before statements became objects (they carry their bytes)."""
    table = relpath.split("/")[1]
    if table not in OBJECT_TABLES:
        return []
    names = set(pq.read_schema(path).names)
    if "archive_path" not in names:
        return []
    columns = ["sha256", "archive_path"] + (["run_id"] if "run_id" in names else [])
    rows = pq.read_table(path, columns=columns).to_pylist()
    return [{**r, "run_id": r.get("run_id") or run_id} for r in rows]


def _pretty(doc: dict) -> str:
    """One key per line, one listed file per line: readable, diffable, and parsed back as plain JSON."""
    compact = lambda v: json.dumps(v, ensure_ascii=False, separators=(", ", ": "))  # noqa: E731
    lines = []
    for key, value in doc.items():
        if isinstance(value, list) and value:
            items = ",\n".join(f"  {compact(v)}" for v in value)
            lines.append(f" {json.dumps(key)}: [\n{items}\n ]")
        else:
            lines.append(f" {json.dumps(key)}: {compact(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"

def _only_fixity(body: dict) -> bool:
    """A verify run's own manifest: a host that audits need not hold the signing key."""
    return (body.get("command") == "verify" and not body.get("objects")
            and all(e.get("path", "").startswith("catalog/fixity/") for e in body.get("catalog", ())))

@dataclass(frozen=True)
class ChainProblem:
    manifest: str
    status: str            # chain | signature
    message: str

def check_chain(manifests: list[Manifest], trusted_key: str | None) -> tuple[list[ChainProblem], str, int]:
    """Recompute the chain and check signatures. Returns (problems, head chain, signatures checked).

    With ``trusted_key`` (raw public hex), every signed manifest must be signed by it, and once one
    is signed, every later one must be. Without it, signatures are checked against the key each
    manifest names: that finds damage, not a forger who re-signed with a key of their own.
    """
    problems: list[ChainProblem] = []
    expected_prev = GENESIS
    signed_seen = False
    checked = 0
    for index, m in enumerate(manifests, start=1):
        if m.seq != index:
            problems.append(ChainProblem(m.name, "chain", f"manifest sequence number {m.seq} where {index} was "
                                         "expected: a manifest was removed, added or renamed"))
        if m.doc is None:
            problems.append(ChainProblem(m.name, "chain", m.error or "cannot read manifest"))
            expected_prev = sha256_path(m.path)
            continue
        body = m.body
        if body.get("prev_chain") != expected_prev:
            problems.append(ChainProblem(m.name, "chain", "does not follow the manifest before it (prev_chain "
                                         f"{str(body.get('prev_chain'))[:16]}…, expected {expected_prev[:16]}…): "
                                         "an earlier manifest was removed, edited or reordered"))
        try:
            actual = chain_of(body)
        except (KeyError, AttributeError, TypeError):
            actual = hashlib.sha256(canonical(body)).hexdigest()
        if actual != m.stored_chain:
            problems.append(ChainProblem(m.name, "chain", "its content does not match its chain hash: the "
                                         "manifest was edited after it was written"))
        signed_by, signature = body.get("signed_by"), (m.doc or {}).get("signature")
        if signed_by or signature:
            signed_seen = True
            checked += 1
            key = trusted_key or signed_by
            if not signature:
                problems.append(ChainProblem(m.name, "signature", "names a signing key but carries no signature"))
            elif trusted_key and signed_by != trusted_key:
                problems.append(ChainProblem(m.name, "signature", f"signed by key {str(signed_by)[:16]}…, not by "
                                             f"the trusted key {trusted_key[:16]}…"))
            elif not key or not signing.verify(key, str(m.stored_chain).encode("ascii"), signature):
                problems.append(ChainProblem(m.name, "signature", "signature does not match the manifest"))
        elif trusted_key and signed_seen and not _only_fixity(body):
            problems.append(ChainProblem(m.name, "signature", "unsigned, although earlier manifests are signed"))
        expected_prev = m.stored_chain or actual      # what the next manifest was built on
    return problems, expected_prev, checked
