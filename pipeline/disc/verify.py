"""Verifying a disc: a staged folder, a mounted burned disc or an ISO image, byte by byte.

Every file listed in ``manifest-sha256.txt`` and ``tagmanifest-sha256.txt`` is read again and
hashed; a file that differs is *changed*, one that is listed but absent is *missing*, one that
is present but listed nowhere is *extra*. Payload-Oxum and the bag declaration are checked too.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from pipeline.common.i18n import _
from pipeline.native.hashing import sha256_stream
from pipeline.native.iso import IsoError, IsoTree, is_iso

MANIFEST = "manifest-sha256.txt"
TAGMANIFEST = "tagmanifest-sha256.txt"
LINE = re.compile(r"^([0-9a-fA-F]{64})[ \t]+\*?(.+)$")


@dataclass
class Report:
    target: str
    kind: str                              # folder | iso
    label: str | None = None
    files_checked: int = 0
    bytes_checked: int = 0
    manifest_sha256: str | None = None
    bag_info: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {"target": self.target, "kind": self.kind, "label": self.label, "ok": self.ok,
                "files_checked": self.files_checked, "bytes_checked": self.bytes_checked,
                "manifest_sha256": self.manifest_sha256, "problems": self.problems}

    def render(self) -> str:
        head = (_("disc {label} (folder {target}): {result}, {files} files, {bytes} bytes read") if self.kind == "folder"
                else _("disc {label} (ISO image {target}): {result}, {files} files, {bytes} bytes read")).format(
            label=self.label or "?", target=self.target, result=_("OK") if self.ok else _("FAILED"),
            files=self.files_checked, bytes=self.bytes_checked)
        return "\n".join([head] + [f"  {p}" for p in self.problems])


class _Folder:
    def __init__(self, root: Path):
        self.root = root

    def files(self) -> list[str]:
        found = []
        for dirpath, dirs, names in os.walk(self.root):
            dirs.sort()
            rel = Path(dirpath).relative_to(self.root).as_posix()
            found += [n if rel == "." else f"{rel}/{n}" for n in names]
        return sorted(found)

    def open(self, rel: str) -> BinaryIO:
        return open(self.root / rel, "rb")


def verify(path: Path, chunk_bytes: int = 4 * 1024 * 1024) -> Report:
    """Check a disc; never raises for what it finds on the disc, only reports."""
    path = Path(path)
    if path.is_dir():
        return _check(_Folder(path), Report(str(path), "folder"), chunk_bytes)
    report = Report(str(path), "iso")
    if not is_iso(path):
        report.problems.append("invalid: " + _("{path} is neither a folder nor an ISO 9660 image").format(path=path))
        return report
    try:
        with IsoTree(path) as tree:
            _compare_namespaces(tree, report)
            return _check(tree, report, chunk_bytes)
    except (IsoError, OSError) as exc:
        report.problems.append("invalid: " + _("the image cannot be read: {why}").format(why=exc))
        return report


def _check(tree, report: Report, chunk_bytes: int) -> Report:
    present = set(tree.files())
    declaration = _text(tree, "bagit.txt", present)
    if declaration is None or "BagIt-Version:" not in declaration:
        report.problems.append("missing: bagit.txt " + _("(this is not a BagIt bag)"))
    info_text = _text(tree, "bag-info.txt", present) or ""
    report.bag_info = dict(_fields(info_text))
    report.label = report.bag_info.get("External-Identifier")
    manifest_text = _text(tree, MANIFEST, present)
    if manifest_text is None:
        report.problems.append(f"missing: {MANIFEST}")
        manifest_text = ""
    report.manifest_sha256 = hashlib.sha256(manifest_text.encode()).hexdigest() if manifest_text else None
    payload = _entries(manifest_text, MANIFEST, report)
    tags = _entries(_text(tree, TAGMANIFEST, present) or "", TAGMANIFEST, report)
    if TAGMANIFEST not in present:
        report.problems.append(f"missing: {TAGMANIFEST}")
    payload_bytes = 0
    for listed, expected in [*payload.items(), *tags.items()]:
        if listed not in present:
            report.problems.append(f"missing: {listed}")
            continue
        with tree.open(listed) as fh:
            actual, size = sha256_stream(fh, chunk_bytes)
        report.files_checked += 1
        report.bytes_checked += size
        if listed in payload:
            payload_bytes += size
        if actual != expected:
            report.problems.append("changed: " + _("{path} (SHA-256 {actual}, manifest says {expected})").format(
                path=listed, actual=actual, expected=expected))
    for rel in sorted(present - set(payload) - set(tags) - {TAGMANIFEST}):
        report.problems.append("extra: " + _("{path} (listed in no manifest)").format(path=rel))
    for listed in payload:
        if not listed.startswith("data/"):
            report.problems.append("invalid: " + _("{manifest} lists {path} outside data/").format(manifest=MANIFEST,
                                                                                                  path=listed))
    oxum = report.bag_info.get("Payload-Oxum")
    actual_oxum = f"{payload_bytes}.{sum(1 for p in payload if p in present)}"
    if oxum is None:
        report.problems.append("missing: " + _("Payload-Oxum in bag-info.txt"))
    elif oxum != actual_oxum and not any(p.startswith(("missing", "changed")) for p in report.problems):
        report.problems.append("changed: " + _("Payload-Oxum says {oxum}, data/ holds {actual}").format(
            oxum=oxum, actual=actual_oxum))
    return report


def _compare_namespaces(tree: IsoTree, report: Report) -> None:
    """Rock Ridge, Joliet and UDF must name the same files (readers differ in which they use)."""
    listings = {ns: set(tree.files(ns)) for ns in tree.namespaces()}
    reference = listings.get(tree.namespace, set())
    for ns, names in listings.items():
        for rel in sorted(reference ^ names):
            report.problems.append("invalid: " + (_("the {namespace} names lack {path}") if rel in reference
                                                  else _("the {namespace} names add {path}")).format(
                namespace=ns.split("_")[0], path=rel))


def _text(tree, rel: str, present: set[str]) -> str | None:
    if rel not in present:
        return None
    with tree.open(rel) as fh:
        return fh.read().decode("utf-8", errors="replace")


def _fields(text: str):
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and not line[:1].isspace():
            yield key.strip(), value.strip()


def _entries(text: str, name: str, report: Report) -> dict[str, str]:
    entries: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = LINE.match(line)
        if not match:
            report.problems.append("invalid: " + _("{manifest} line {n} is not 'SHA256  PATH': {line}").format(
                manifest=name, n=n, line=repr(line[:80])))
            continue
        entries[match.group(2)] = match.group(1).lower()
    return entries
