"""Witness files: the chain's head, kept where whoever can rewrite the archive cannot reach.

Every seal appends one line to each witness file (``[integrity] witness_paths``: another disk, a
share, a write-only drop box), opened for appending and synced::

    000042 5f1c…e9 2026-03-01T10:00:00Z 3a9f1c0b2d4e6f70

sequence number, chain value of that manifest, time (UTC) and the archive's id (the start of its
first manifest's chain value, so one witness file can serve several archives). ``verify`` holds
the chain against every witness it is given: a line whose manifest no longer exists means the
newest manifests were removed; a line whose manifest has another chain value means the chain was
rewritten; a witness that stops before the chain's head means a seal could not append to it (or
the witness itself was cut back).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.common.clock import now_utc
from pipeline.common.i18n import _

_LINE = re.compile(r"^(\d{6,}) ([0-9a-f]{64}) (\S+) ([0-9a-f]{16})$")


@dataclass(frozen=True)
class Line:
    seq: int
    head: str
    at: str
    archive_id: str


def append_all(paths: tuple[str, ...] | list[str], archive_id: str, seq: int, head: str, *,
               fsync: bool = True) -> list[str]:
    """Append the head to every witness; returns a problem per witness that could not be written."""
    problems = []
    line = f"{seq:06d} {head} {now_utc():%Y-%m-%dT%H:%M:%SZ} {archive_id}\n".encode()
    for path in paths:
        try:
            fd = os.open(Path(path).expanduser(), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
                if fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            problems.append(_("could not append manifest {seq:06d} to the witness {path}: {why}").format(
                seq=seq, path=path, why=exc.strerror or exc))
    return problems


def read(path: str | Path) -> tuple[list[Line], list[str]]:
    """A witness file's lines, and the lines that are not witness lines."""
    lines, bad = [], []
    text = Path(path).expanduser().read_bytes().decode("utf-8", errors="replace")
    for number, raw in enumerate(text.splitlines(), start=1):
        m = _LINE.match(raw.strip())
        if m:
            lines.append(Line(int(m.group(1)), m.group(2), m.group(3), m.group(4)))
        elif raw.strip():
            bad.append(_("line {number} is not a witness line").format(number=number))
    return lines, bad


def check(path: str | Path, chain_by_seq: dict[int, str | None], archive_id: str) -> list[str]:
    """Problems found holding the chain (manifest sequence number -> stored chain value) against the
    witness at ``path``."""
    try:
        lines, problems = read(path)
    except FileNotFoundError:
        return [_("the witness {path} does not exist (deleted, or a disk not mounted)").format(path=path)]
    except OSError as exc:
        return [_("the witness {path} cannot be read: {why}").format(path=path, why=exc.strerror or exc)]
    mine = [line for line in lines if line.archive_id == archive_id]
    if not mine:
        if chain_by_seq:
            problems.append(_("the witness {path} has no entry for this archive (id {id}): it was never told of "
                              "this chain, or the chain's first manifest is gone").format(path=path, id=archive_id))
        return problems
    head = max(chain_by_seq, default=0)
    for line in mine:
        if line.seq > head:
            problems.append(_("the witness {path} saw manifest {seq:06d} (chain {head}…, {at}) but the chain ends "
                              "at {last:06d}: newer manifests were removed").format(
                path=path, seq=line.seq, head=line.head[:16], at=line.at, last=head))
        elif chain_by_seq.get(line.seq) != line.head:
            problems.append(_("manifest {seq:06d} is not the one the witness {path} saw on {at} (chain {head}…): "
                              "the chain was rewritten or that manifest removed").format(
                seq=line.seq, path=path, at=line.at, head=line.head[:16]))
    last = max(line.seq for line in mine)
    if last < head:
        problems.append(_("the witness {path} stops at manifest {last:06d} while the chain has {head:06d}: a seal "
                          "could not append to it (its command said so), or the witness was cut back").format(
            path=path, last=last, head=head))
    return problems
