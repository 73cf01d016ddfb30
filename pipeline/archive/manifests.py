"""The manifest files: where they are, how each is read, and the chain value each one carries.

``ARCHIVE/manifests/<seq:06d>-<run_id>.json``; ``pipeline.archive.chain`` writes and checks them,
``pipeline.archive.sealindex`` keeps what they vouch for at hand.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from pipeline.common.i18n import _
from pipeline.native.hashing import sha256_path

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

def manifest_paths(archive: Path) -> list[Path]:
    """Every manifest file, in name (= sequence) order, without reading any."""
    root = Path(archive) / MANIFESTS
    return [root / name for name in manifest_names(archive)]


def manifest_names(archive: Path) -> list[str]:
    """The names of ``manifest_paths``, in its order: listed as text, without a ``Path`` made and
    compared for each (a seal loads the index twice; a year's nights are a thousand manifests)."""
    try:
        names = os.listdir(Path(archive) / MANIFESTS)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(n for n in names if n.endswith(".json") and not n.startswith("."))


def read_manifest(path: Path) -> Manifest:
    """One manifest file; an unreadable one carries its ``error``."""
    seq_text = path.name.split("-", 1)[0]
    seq = int(seq_text) if seq_text.isdigit() else -1
    try:
        doc = json.loads(path.read_bytes())
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} manifest")
        return Manifest(path, seq, doc)
    except (OSError, ValueError) as exc:
        return Manifest(path, seq, None, _("cannot read manifest: {exc}").format(exc=exc))


def read_manifests(archive: Path) -> list[Manifest]:
    """Every manifest file in name (= sequence) order; unreadable ones carry their ``error``."""
    return [read_manifest(path) for path in manifest_paths(archive)]


def run_of(path: Path) -> str:
    """The run a manifest file's name names (``000042-<run_id>.json``)."""
    return path.stem.partition("-")[2]


def previous_chain(last: Manifest | None) -> str:
    """What the manifest after ``last`` chains onto: its chain value, or the hash of its bytes when
    it cannot be read (the chain goes on over damage, which verify reports)."""
    if last is None:
        return GENESIS
    return last.stored_chain or sha256_path(last.path)
