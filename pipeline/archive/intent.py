"""The intent journal: what a writing run is about to make visible, recorded before it does.

``ARCHIVE/intents/<run_id>.jsonl`` is appended to (and synced) line by line: first a header (run,
command, host, process, start), then one line per file the run is about to publish, with the
SHA-256 and size it will have: every catalog part (before its commit point) and the settings
file; a compaction also notes which parts its new ones replace. A run's seal lists exactly its own journal's files and then removes the journal.

A journal still there at the next seal belongs to a run that died before sealing (killed, power
lost, disk full). Its files are real evidence, and the journal is how the next sealing run knows
which ones: it adopts those alone, each re-hashed and compared with what the journal recorded.
Nothing else is ever adopted: a part or object that no run recorded stays ``untracked`` until an
operator quarantines it. With a signing key every line is signed, so a journal cannot be forged
to get a planted file adopted without the key.
"""

from __future__ import annotations

import errno
import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from catalog.durable import sync_together
from pipeline.common.clock import now_utc
from pipeline.native import signing
from pipeline.common.i18n import _

INTENTS = "intents"
FORMAT = "fieldrec-intent/1"


@dataclass(frozen=True)
class Entry:
    path: str                      # relative to the archive
    sha256: str
    size: int


@dataclass
class Intent:
    """A journal as read back: the files its run recorded, and the lines that could not be trusted."""
    path: Path
    run_id: str
    command: str = ""
    entries: list[Entry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _canonical(line: dict, run_id: str) -> bytes:
    body = {k: v for k, v in line.items() if k != "sig"}
    return json.dumps({**body, "run": run_id}, sort_keys=True, separators=(",", ":")).encode()


class Journal:
    """The open journal of the run writing now."""

    def __init__(self, archive: Path, run_id: str, command: str, *, signer: signing.Signer | None = None,
                 fsync: bool = True):
        self.archive, self.run_id, self.command = Path(archive), run_id, command
        self.path = self.archive / INTENTS / f"{run_id}.jsonl"
        self.signer, self.fsync = signer, fsync
        self.entries: list[Entry] = []
        self.replacements: list[dict] = []       # parts a compaction replaced, and by what
        self._fd: int | None = None

    def open(self) -> "Journal":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o444)
        self._append({"intent": FORMAT, "run_id": self.run_id, "command": self.command,
                      "host": socket.gethostname(), "pid": os.getpid(),
                      "started_at": now_utc().isoformat(timespec="seconds")}, sync=False)
        if self.fsync:              # the journal's name in its folder and its header, synced together
            sync_together([self.path.parent], meanwhile=lambda: os.fsync(self._fd))
        return self

    def record(self, files: list[tuple[str, str, int]]) -> None:
        """Note files about to be published; returns once the note is on disk (one write, one sync)."""
        self._append(*({"path": path, "sha256": sha256, "size": size} for path, sha256, size in files))
        self.entries += [Entry(*f) for f in files]

    def record_replacement(self, replacement: dict) -> None:
        """Note that parts are about to be replaced (``pipeline.archive.compact``): the run's seal
        lists it. A run that dies before its seal has its replacement undone, never adopted."""
        self._append({"replace": replacement})
        self.replacements.append(replacement)

    def _append(self, *lines: dict, sync: bool = True) -> None:
        if self.signer:
            lines = tuple({**line, "sig": self.signer.sign(_canonical(line, self.run_id))} for line in lines)
        data = "".join(json.dumps(line, sort_keys=True) + "\n" for line in lines).encode()
        if os.write(self._fd, data) != len(data):       # a full disk: the files must not appear unrecorded
            raise OSError(errno.ENOSPC, _("cannot record the run's intent: the disk is full"), str(self.path))
        if sync and self.fsync:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def remove(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


def read_intents(archive: Path, trusted_key: str | None = None) -> list[Intent]:
    """Every journal left in ``archive``. With ``trusted_key`` (raw public hex), lines not signed by
    it are left out (and named in ``problems``)."""
    root = Path(archive) / INTENTS
    if not root.is_dir():
        return []
    out = []
    for path in sorted(p for p in root.iterdir() if p.suffix == ".jsonl" and not p.name.startswith(".")):
        intent = Intent(path, path.stem)
        try:
            lines = path.read_bytes().split(b"\n")
        except OSError as exc:
            intent.problems.append(_("cannot read: {strerror}").format(strerror=exc.strerror))
            out.append(intent)
            continue
        torn = lines.pop()             # after the last newline: empty, or a line cut by a crash
        if torn:
            intent.problems.append(_("its last line was cut off (the run died writing it): ignored"))
        for number, raw in enumerate(lines, start=1):
            try:
                line = json.loads(raw)
                if not isinstance(line, dict):
                    raise ValueError(_("not an object"))
            except ValueError:
                intent.problems.append(_("line {number} is not JSON: ignored").format(number=number))
                continue
            if trusted_key and not signing.verify(trusted_key, _canonical(line, intent.run_id), str(line.get("sig"))):
                intent.problems.append(_("line {number} is not signed by the archive's key: ignored").format(
                                           number=number))
                continue
            if "intent" in line:
                intent.command = str(line.get("command") or "")
            elif isinstance(line.get("path"), str) and isinstance(line.get("sha256"), str) \
                    and isinstance(line.get("size"), int):
                intent.entries.append(Entry(line["path"], line["sha256"], line["size"]))
        out.append(intent)
    return out
