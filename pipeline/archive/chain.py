"""The tamper-evident manifest chain: a chained, optionally signed manifest for every run that writes.

``ARCHIVE/manifests/<seq:06d>-<run_id>.json`` lists every original (``objects/…``) and every
catalog part file (``catalog/<table>/part-….parquet``) that the run made visible, each with its
SHA-256 and size. Its ``chain`` is SHA-256 over the previous manifest's chain (hex, ASCII) followed
by the canonical JSON of this manifest's body, and the body names that previous chain too: removing,
editing or reordering any earlier manifest, or any file one lists, breaks either the chain or a hash
that ``fieldrec verify`` recomputes. With ``[integrity] signing_key`` set, the chain value is also
signed with Ed25519 and the signature kept in the same file (``signature``), so a forger who
rewrites the whole chain also needs the key.

The settings file (``fieldrec.toml``) is listed under ``settings`` by the manifest of the run that
wrote (or changed) it; the latest such entry is what the file must hash to.

Sealing lists only what fieldrec's own runs recorded (``pipeline.archive.intent``): a run's own
journal, and the journals of runs killed before their seal, whose files are re-hashed and must
still be what that run recorded. A part or object that no journal names (planted by hand, or
one whose manifest was deleted) is never adopted by a later command: ``verify`` reports it as
``untracked`` until ``fieldrec quarantine`` moves it aside. An object is listed through the
``recordings`` (or ``statements``) row that names it, and only when its bytes are that row's SHA-256.

Signing covers the chain from the first signed manifest on: with a trusted key, a later unsigned
manifest is a problem, except a verify run's own (which lists only its ``fixity`` part), so an
audit host need not hold the private key.

Every seal also appends the new head to each witness file (``[integrity] witness_paths``, outside
the archive): removing the newest manifests together with their files is seen by comparing the
chain with a witness (``pipeline.archive.witness``).

Writing commands seal through ``pipeline.archive.writer.writing_run``, which holds the lock, keeps
the journal and seals at the end. ``fieldrec verify`` does not adopt: its manifest lists only its
own ``fixity`` part, so it never hides what it has just reported as untracked.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

import pipeline
from catalog.store import JOURNAL_DIR
from pipeline.common.clock import now_utc
from pipeline.config import SETTINGS_FILE, Config
from pipeline.native import signing
from pipeline.native.hashing import sha256_path
from pipeline.archive import sealindex, witness
from pipeline.archive.intent import Entry, Journal, read_intents
from pipeline.archive.objects import OBJECTS, files_below
from pipeline.archive.publish import write_atomic
from pipeline.common.errors import ArchiveWriteError
from pipeline.common.i18n import _

from pipeline.archive.manifests import (FORMAT, GENESIS, MANIFESTS, UNSIGNED_FIELDS, Manifest,  # noqa: F401
                                       canonical, chain_of, manifest_paths, previous_chain, read_manifest,
                                       read_manifests, run_of)


@dataclass
class SealedFiles:
    """What the manifests vouch for: relative path -> (sha256, size, manifest name); the settings
    file as its latest manifest recorded it (it is the one file that changes, by `config set`)."""
    objects: dict[str, tuple[str, int, str]] = field(default_factory=dict)
    catalog: dict[str, tuple[str, int, str]] = field(default_factory=dict)
    settings_sha256: str | None = None
    settings_manifest: str | None = None
    replaced: dict[str, str] = field(default_factory=dict)    # part -> the manifest of the compaction that replaced it

def sealed_files(manifests: list[Manifest]) -> SealedFiles:
    sealed = SealedFiles()
    for m in manifests:
        for key, target in (("objects", sealed.objects), ("catalog", sealed.catalog)):
            for entry in (m.doc or {}).get(key, ()):
                target.setdefault(entry["path"], (entry["sha256"], entry["size"], m.name))
        for entry in (m.doc or {}).get("settings", ()):
            sealed.settings_sha256, sealed.settings_manifest = entry["sha256"], m.name
        for replacement in (m.doc or {}).get("replaced", ()):
            for part in replacement.get("parts", ()):
                sealed.replaced.setdefault(part.get("path"), m.name)
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
    return files_below(archive, OBJECTS)

def signer_for(config: Config) -> signing.Signer | None:
    key = config.integrity.signing_key
    return signing.load_signer(key) if key else None


SETTINGS = SETTINGS_FILE
# A catalog part, one folder down, by name only (a journal read back names nothing else).
_ADOPTABLE = re.compile(r"^catalog/[A-Za-z0-9_]+/part-[^/\x00]+\.parquet$")


@dataclass(frozen=True)
class Sealed:
    """A manifest written by ``seal``, and the witnesses that could not be told of it."""
    path: Path
    seq: int
    chain: str
    witness_problems: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.path.name


def seal(archive: Path, run_id: str, config: Config, *, command: str, journal: Journal,
         created_objects: frozenset[str] | set[str] = frozenset(), adopt: bool = True) -> Sealed | None:
    """Write the next manifest: the files this run's ``journal`` recorded, and (with ``adopt``) the
    files journals of runs that died before sealing recorded, each re-hashed and compared.

    Objects are listed through the ``recordings`` rows of those parts: an object the run stored
    itself (``created_objects``) as it is, any other (a dead run's, or one already there) only if
    its bytes still have the SHA-256 the row names. Nothing no journal recorded is ever listed.
    Then every witness file is appended the new head. Call once at the end of a writing run,
    under its ``ArchiveLock``; returns None when there was nothing to list. Raises
    ``ArchiveWriteError`` if the archive cannot be written, ``signing.KeyFileError`` if the key
    cannot be used.
    """
    archive = Path(archive)
    signer = signer_for(config)
    root = archive / MANIFESTS
    try:
        root.mkdir(parents=True, exist_ok=True)
        for stray in root.glob(".*.tmp"):          # a seal that died before its rename
            stray.unlink()
    except OSError as exc:
        raise ArchiveWriteError(exc.errno, _("cannot write the manifest: {strerror}").format(
                                               strerror=exc.strerror), str(root)) from exc
    index = sealindex.load(archive)             # the newest manifest, and what the chain vouches for
    settings_before = sealed_settings(archive, index)
    listing = _Listing(archive, index.catalog, settings_before)
    for entry in journal.entries:
        listing.take(entry, None)
    adopted: list[dict] = []
    spent: list[Path] = []                     # journals of dead runs, consumed by this seal
    if adopt:
        for intent in read_intents(archive, signer.public_hex if signer else None):
            if intent.run_id == run_id:
                continue
            if intent.run_id not in index.runs:
                before = len(listing.catalog)
                for entry in intent.entries:
                    listing.take(entry, intent.run_id)
                adopted.append({"run_id": intent.run_id, "command": intent.command,
                                "files": len(listing.catalog) - before, "problems": intent.problems})
            spent.append(intent.path)
    objects = listing.objects(created_objects)
    replaced = [r for r in journal.replacements if all(b["path"] in listing.catalog for b in r["by"])]
    if not listing.catalog and not objects and listing.settings is None:
        _remove(spent)
        return None

    seq = index.seq + 1
    body = {
        "format": FORMAT, "seq": seq, "run_id": run_id, "command": command,
        "created_at": now_utc().isoformat(timespec="seconds"),
        "host": socket.gethostname(), "fieldrec_version": pipeline.__version__,
        "prev_chain": index.chain, "signed_by": signer.public_hex if signer else None,
        "objects": sorted(objects, key=lambda e: e["path"]),
        "catalog": sorted(listing.catalog.values(), key=lambda e: e["path"]),
    }
    if listing.settings is not None:
        body["settings"] = [listing.settings]
    if adopted:
        body["adopted"] = adopted
    if replaced:
        body["replaced"] = replaced
    final = root / f"{seq:06d}-{run_id}.json"
    # The settings file the chain vouches for from this manifest on, so the next command need
    # read only this manifest to check it (``settings.check_sealed``).
    body["settings_sealed"] = ({"sha256": listing.settings["sha256"], "manifest": final.name}
                               if listing.settings is not None else settings_before)
    chain = chain_of(body)
    doc = {**body, "chain": chain}
    if signer:
        doc["signature"] = signer.sign(chain.encode("ascii"))
    try:
        write_atomic(final, _pretty(doc), fsync=config.ingest.fsync, mode=0o444)
    except OSError as exc:
        raise ArchiveWriteError(exc.errno, _("cannot write the manifest: {strerror}").format(
                                               strerror=exc.strerror), str(final)) from exc
    _remove(spent)
    index.fold(Manifest(final, seq, doc))
    try:
        sealindex.save(archive, index, fsync=config.ingest.fsync)
    except OSError:
        pass                                  # a cache: the next seal rebuilds it from the manifests
    problems = witness.append_all(config.integrity.witness_paths, archive_id(index.first_chain), seq, chain,
                                  fsync=config.ingest.fsync)
    return Sealed(final, seq, chain, tuple(problems))


def sealed_settings(archive: Path, index: "sealindex.SealIndex | None" = None) -> dict | None:
    """The settings file the chain vouches for now: ``{"sha256", "manifest"}`` as the newest
    manifest carries it, or (manifests written before they carried it) from every manifest."""
    index = index if index is not None else sealindex.load(archive)
    if index.name is None:
        return None
    newest = read_manifest(Path(archive) / MANIFESTS / index.name)
    if newest.doc is not None and "settings_sealed" in newest.doc:
        carried = newest.doc["settings_sealed"]
        return {"sha256": carried["sha256"], "manifest": carried["manifest"]} if carried else None
    sealed = sealed_files(read_manifests(archive))
    return {"sha256": sealed.settings_sha256, "manifest": sealed.settings_manifest} if sealed.settings_sha256 else None


class _Listing:
    """The files one seal lists: journal entries checked against the archive as it is now."""

    def __init__(self, archive: Path, sealed_catalog: dict[str, tuple[str, int, str]], settings: dict | None):
        self.archive, self.sealed_catalog = archive, sealed_catalog
        self.settings_sealed = settings["sha256"] if settings else None
        self.catalog: dict[str, dict] = {}
        self.own_parts: set[str] = set()
        self.settings: dict | None = None

    def take(self, entry: Entry, origin: str | None) -> None:
        """A journal entry of this run (``origin`` None: its files are as it wrote them) or of the
        dead run ``origin`` (re-hashed: listed only if still what that run recorded)."""
        path = self.archive / entry.path
        if not path.is_file():
            return                          # never made visible: the run died before its commit point
        extra = {"run_id": origin} if origin else {}
        if entry.path == SETTINGS:
            if self.settings_sealed != entry.sha256 and sha256_path(path) == entry.sha256:
                self.settings = {"path": SETTINGS, "sha256": entry.sha256, "size": entry.size, **extra}
            return
        if not _ADOPTABLE.match(entry.path) or entry.path in self.sealed_catalog or entry.path in self.catalog:
            return
        if origin is not None and sha256_path(path) != entry.sha256:
            return                          # changed since its run recorded it: stays untracked
        self.catalog[entry.path] = {"path": entry.path, "sha256": entry.sha256, "size": entry.size, **extra}
        if origin is None:
            self.own_parts.add(entry.path)

    def objects(self, created: frozenset[str] | set[str]) -> list[dict]:
        """Objects the listed ``recordings`` (and ``statements``) parts name: trusted when this run
        stored them itself, else only if their bytes hash to the row's SHA-256.

        An object is listed by the seal of the part whose row first names it. The seal no longer
        reads every manifest to see whether an object was listed before (``sealindex``): one listed
        twice (a statement with a recording's bytes) is harmless, ``verify`` holds it to the first
        listing, the same SHA-256.
        """
        out: dict[str, dict] = {}
        for part in self.catalog:
            run_id = self.catalog[part].get("run_id")
            for row in _objects_named(self.archive / part, part, run_id):
                rel = row["archive_path"]
                if not rel or not _is_object_path(rel, row["sha256"]) or rel in out or not (self.archive / rel).is_file():
                    continue          # a missing object is verify's to report, not ours to vouch for
                trusted = part in self.own_parts and rel in created
                if not trusted and sha256_path(self.archive / rel) != row["sha256"]:
                    continue          # bytes that are not what the row says: stays untracked
                out[rel] = {"path": rel, "sha256": row["sha256"], "size": (self.archive / rel).stat().st_size,
                            "run_id": row["run_id"]}
        return list(out.values())


@dataclass(frozen=True)
class Stray:
    kind: str                  # object | catalog | proxy
    path: str                  # relative to the archive


def pending(archive: Path, signer: signing.Signer | None = None) -> dict[str, str]:
    """Files the next seal will adopt: path -> the run (killed before its seal) whose journal
    recorded them, for parts still as recorded and the objects their ``recordings`` rows name."""
    out: dict[str, str] = {}
    for intent in read_intents(archive, signer.public_hex if signer else None):
        for entry in intent.entries:
            path = Path(archive) / entry.path
            if _ADOPTABLE.match(entry.path) and path.is_file() and sha256_path(path) == entry.sha256:
                out[entry.path] = intent.run_id
                for row in _objects_named(path, entry.path, intent.run_id):
                    if row["archive_path"] and _is_object_path(row["archive_path"], row["sha256"]):
                        out.setdefault(row["archive_path"], intent.run_id)
    return out


def untracked(archive: Path, signer: signing.Signer | None = None) -> list[Stray]:
    """Catalog parts and objects present that no manifest lists and no seal will adopt: what was
    put there by hand (or whose manifest was removed). Only ``fieldrec quarantine`` moves them."""
    sealed = sealed_files(read_manifests(archive))
    adoptable = pending(archive, signer)
    # A part a sealed compaction replaced is untracked too, once no swap hides it: its rows are in
    # its successor, and would be read twice.
    return ([Stray("catalog", p) for p in catalog_parts(archive)
             if (p not in sealed.catalog or p in sealed.replaced) and p not in adoptable]
            + [Stray("object", o) for o in stored_objects(archive) if o not in sealed.objects and o not in adoptable])


def archive_id(first_chain: str | None) -> str:
    """An archive's name in witness files: the start of its first manifest's chain value."""
    return (first_chain or GENESIS)[:16]


def _is_object_path(rel: str, sha256: str | None) -> bool:
    """Only a content address ``objects/ab/cd/<sha256>`` can be vouched for."""
    return bool(sha256) and rel == f"{OBJECTS}/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def _remove(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


# Tables whose rows name objects: originals (recordings) and written statements (statements).
OBJECT_TABLES = ("recordings", "statements")


def _objects_named(path: Path, relpath: str, run_id: str | None) -> list[dict]:
    """(sha256, archive_path, run_id) of the objects a catalog part names (a statements row has no
    run of its own: the run that wrote the part); [] for other tables and for statement parts
    written before statements became objects (they carry their bytes)."""
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
            problems.append(ChainProblem(m.name, "chain", _("manifest sequence number {seq} where {index} "
                                                             "was expected: a manifest was removed, added or "
                                                             "renamed").format(seq=m.seq, index=index)))
        if m.doc is None:
            problems.append(ChainProblem(m.name, "chain", m.error or _("cannot read manifest")))
            expected_prev = sha256_path(m.path)
            continue
        body = m.body
        if body.get("prev_chain") != expected_prev:
            problems.append(ChainProblem(m.name, "chain", _("does not follow the manifest before it "
                                                             "(prev_chain {found}…, expected {expected}…): an "
                                                             "earlier manifest was removed, edited or "
                                                             "reordered").format(
                                                              found=str(body.get('prev_chain'))[:16],
                                                              expected=expected_prev[:16])))
        try:
            actual = chain_of(body)
        except (KeyError, AttributeError, TypeError):
            actual = hashlib.sha256(canonical(body)).hexdigest()
        if actual != m.stored_chain:
            problems.append(ChainProblem(m.name, "chain", _("its content does not match its chain hash: the "
                                                             "manifest was edited after it was written")))
        signed_by, signature = body.get("signed_by"), (m.doc or {}).get("signature")
        if signed_by or signature:
            signed_seen = True
            checked += 1
            key = trusted_key or signed_by
            if not signature:
                problems.append(ChainProblem(m.name, "signature", _("names a signing key but carries no "
                                                                     "signature")))
            elif trusted_key and signed_by != trusted_key:
                problems.append(ChainProblem(m.name, "signature", _("signed by key {key}…, not by the "
                                                                     "trusted key {trusted}…").format(
                                                                      key=str(signed_by)[:16],
                                                                      trusted=trusted_key[:16])))
            elif not key or not signing.verify(key, str(m.stored_chain).encode("ascii"), signature):
                problems.append(ChainProblem(m.name, "signature", _("signature does not match the manifest")))
        elif trusted_key and signed_seen and not _only_fixity(body):
            problems.append(ChainProblem(m.name, "signature", _("unsigned, although earlier manifests are "
                                                                 "signed")))
        expected_prev = m.stored_chain or actual      # what the next manifest was built on
    return problems, expected_prev, checked
