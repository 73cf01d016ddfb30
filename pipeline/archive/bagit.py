"""BagIt bags (RFC 8493) of copies out of the archive: the one writer for exports and discs.

Each payload file is copied into ``data/`` while it is hashed (one read), checked against the
SHA-256 the catalog expects, and listed in ``manifest-sha256.txt``. ``bag-info.txt`` values are
kept to one line each, so free text (a reason, a name) cannot forge a tag line.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.archive.publish import copy_hashed, write_new
from pipeline.native.hashing import Digest

BAGIT_TXT = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


class BagMismatch(ValueError):
    """A payload copy does not have the SHA-256 it should: the archived original is damaged."""

    def __init__(self, name: str, expected: str, actual: str):
        super().__init__(f"{name}: read SHA-256 {actual}, expected {expected}")
        self.name, self.expected, self.actual = name, expected, actual


def one_line(value: object) -> str:
    """A tag value on one line: control characters and line breaks become single spaces."""
    return " ".join(_CONTROL.sub(" ", str(value)).split())


@dataclass
class Bag:
    """A bag being written into ``root`` (a new or empty folder)."""

    root: Path
    chunk_bytes: int = 4 * 1024 * 1024
    fsync: bool = True
    manifest: list[tuple[str, str]] = field(default_factory=list)      # (sha256, "data/…")
    tag_files: list[str] = field(default_factory=list)
    payload_bytes: int = 0

    def add_payload(self, src: Path, name: str, expected_sha256: str | None = None) -> Digest:
        """Copy ``src`` to ``data/<name>``; raises ``BagMismatch`` (the copy removed) if it is not
        ``expected_sha256``, ``OSError`` if either side fails."""
        target = self.root / "data" / name
        digest = copy_hashed(src, target, chunk_bytes=self.chunk_bytes, fsync=self.fsync)
        if expected_sha256 is not None and digest.sha256 != expected_sha256:
            target.unlink()
            raise BagMismatch(name, expected_sha256, digest.sha256)
        self.manifest.append((digest.sha256, f"data/{name}"))
        self.payload_bytes += digest.size
        return digest

    def add_bytes(self, data: bytes, name: str, expected_sha256: str | None = None) -> Digest:
        """Write ``data`` as ``data/<name>`` (bytes kept inside the catalog, not an object)."""
        sha = hashlib.sha256(data).hexdigest()
        if expected_sha256 is not None and sha != expected_sha256:
            raise BagMismatch(name, expected_sha256, sha)
        write_new(self.root / "data" / name, data, fsync=self.fsync)
        self.manifest.append((sha, f"data/{name}"))
        self.payload_bytes += len(data)
        return Digest(sha256=sha, xxh3_128="", size=len(data), head=data[:64])

    def add_tag_file(self, name: str, data: bytes | str) -> None:
        write_new(self.root / name, data, fsync=self.fsync)
        self.tag_files.append(name)

    def manifest_text(self) -> str:
        return "".join(f"{sha}  {path}\n" for sha, path in sorted(self.manifest, key=lambda m: m[1]))

    def close(self, info: list[tuple[str, object]], *, tagmanifest: bool = True) -> None:
        """Write the manifest, ``bagit.txt``, ``bag-info.txt`` (with ``Payload-Oxum``) and, with
        ``tagmanifest``, ``tagmanifest-sha256.txt`` over every tag file."""
        info = [*info, ("Payload-Oxum", f"{self.payload_bytes}.{len(self.manifest)}")]
        self.add_tag_file("manifest-sha256.txt", self.manifest_text())
        self.add_tag_file("bagit.txt", BAGIT_TXT)
        self.add_tag_file("bag-info.txt", "".join(f"{one_line(k)}: {one_line(v)}\n" for k, v in info))
        if tagmanifest:
            lines = [f"{hashlib.sha256((self.root / n).read_bytes()).hexdigest()}  {n}\n"
                     for n in sorted(self.tag_files)]
            write_new(self.root / "tagmanifest-sha256.txt", "".join(lines), fsync=self.fsync)
