"""The seal's index: what the manifest chain vouches for now, so a seal need not re-read every manifest.

``ARCHIVE/manifests/_seal-index`` holds, as of the manifest it names: that manifest's sequence
number and chain value, the first manifest's chain value (the archive's id in witness files), and
each catalog part file the chain vouches for that is still in use (path -> SHA-256, size, the
manifest that listed it; parts a compaction replaced are dropped). Each seal reads it, checks it
against the newest manifest file, reads only the manifests written after it (normally none) and
writes it again. (The settings file a seal must compare with is carried in every manifest
itself, ``settings_sealed``, under the chain.)

It is a cache, never evidence. It is rebuilt from every manifest when it does not match the newest
one (edited, stale after a crash, deleted); ``verify`` never reads it; and whatever a command trusts
from it is first confirmed in the manifest it names (``confirm``): a forged index can make a seal
list less (which ``verify`` reports as untracked), never vouch for a planted file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.archive.manifests import GENESIS, MANIFESTS, Manifest, manifest_names, previous_chain, read_manifest
from pipeline.archive.publish import write_atomic

INDEX = "_seal-index"
FORMAT = "fieldrec-seal-index/1"


@dataclass
class SealIndex:
    seq: int = 0                              # the newest manifest's sequence number (0: none yet)
    name: str | None = None                   # its file name
    chain: str = GENESIS                      # what the next manifest chains onto
    first_chain: str | None = None            # the first manifest's chain value
    catalog: dict[str, tuple[str, int, str]] = field(default_factory=dict)   # live sealed parts
    runs: set[str] = field(default_factory=set)   # runs with a manifest (from the file names)
    rebuilt: bool = False                     # read from every manifest this time

    def fold(self, m: Manifest) -> None:
        """Take in manifest ``m``, written after everything folded so far."""
        doc = m.doc or {}
        for entry in doc.get("catalog", ()):
            self.catalog.setdefault(entry["path"], (entry["sha256"], entry["size"], m.name))
        for replacement in doc.get("replaced", ()):
            for part in replacement.get("parts", ()):
                self.catalog.pop(part.get("path"), None)
        if self.name is None:
            self.first_chain = m.stored_chain
        self.seq = max(self.seq, m.seq)
        self.name = m.name
        self.chain = previous_chain(m)

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "seq": self.seq, "name": self.name, "chain": self.chain,
                           "first_chain": self.first_chain, "catalog": {p: list(v) for p, v in sorted(self.catalog.items())}}, separators=(",", ":"))


def _stored(archive: Path) -> SealIndex | None:
    try:
        doc = json.loads((Path(archive) / MANIFESTS / INDEX).read_bytes())
        if doc.get("format") != FORMAT:
            return None
        return SealIndex(seq=int(doc["seq"]), name=doc["name"], chain=str(doc["chain"]), first_chain=doc["first_chain"],
                         catalog={p: (str(v[0]), int(v[1]), str(v[2])) for p, v in doc["catalog"].items()})
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None


def load(archive: Path) -> SealIndex:
    """The index as of the newest manifest: the stored one brought up to date, or rebuilt."""
    root = Path(archive) / MANIFESTS
    names = manifest_names(archive)
    runs = {n[:-len(".json")].partition("-")[2] for n in names}
    index = _stored(archive)
    if index is not None and index.name in names:
        at = names.index(index.name)
        if previous_chain(read_manifest(root / names[at])) == index.chain:
            for name in names[at + 1:]:
                index.fold(read_manifest(root / name))
            index.runs = runs
            return index
    index = SealIndex(rebuilt=True)
    for name in names:
        index.fold(read_manifest(root / name))
    index.runs = runs
    return index


def save(archive: Path, index: SealIndex, *, fsync: bool = True) -> None:
    write_atomic(Path(archive) / MANIFESTS / INDEX, index.to_json(), fsync=fsync)


def confirm(archive: Path, path: str, sha256: str, manifest: str, _cache: dict | None = None) -> bool:
    """Whether ``manifest`` (a file name) really lists ``path`` with ``sha256``: what the index says,
    held against the manifest itself."""
    cache = _cache if _cache is not None else {}
    if manifest not in cache:
        doc = read_manifest(Path(archive) / MANIFESTS / manifest).doc or {}
        cache[manifest] = {e.get("path"): e.get("sha256") for e in doc.get("catalog", ())}
    return cache[manifest].get(path) == sha256
