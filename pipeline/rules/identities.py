"""Who recorded a file, when several sources say: its own name, the other names identical bytes
were docked under, and a person's attribution. Pure: no I/O.

A file's identity comes from, first to last: the latest attribution a person recorded (``fieldrec
attribute``), the name it was first cataloged under, and the names of its other sightings (a
copy docked once as ``copy.bin`` and once under its recorder's name is attributed by the latter,
when all such names agree). Names that disagree about device, officer or time flag the recording;
both identities are kept and shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

FIELDS = ("device_id", "officer_id", "name_time")


@dataclass(frozen=True)
class Named:
    """One name's identity (a ``sightings`` row, or the recording's own row)."""
    source: str                  # the path or file name it was seen under
    device_id: str | None
    officer_id: str | None
    name_time: object | None     # the time written in the name (naive, the device's clock)
    naming_profile: str | None = None

    @property
    def says_anything(self) -> bool:
        return any(getattr(self, f) is not None for f in FIELDS)


def disagreement(names: Iterable[Named]) -> tuple[str, ...]:
    """The fields (device_id, officer_id, name_time) on which names that give them differ. A name
    that gives no officer does not disagree with one that does."""
    names = [n for n in names if n.says_anything]
    return tuple(f for f in FIELDS if len({getattr(n, f) for n in names if getattr(n, f) is not None}) > 1)


def distinct(names: Iterable[Named]) -> list[Named]:
    """One of each identity (first seen kept), for showing the identities side by side."""
    out, seen = [], set()
    for n in names:
        key = tuple(getattr(n, f) for f in FIELDS)
        if n.says_anything and key not in seen:
            seen.add(key)
            out.append(n)
    return out


@dataclass(frozen=True)
class Identity:
    device_id: str | None
    officer_id: str | None
    source: str                  # name | other name | person | none


def effective(own: Named, others: Iterable[Named], attribution: dict | None) -> Identity:
    """The identity the archive uses for a recording (see the module's docstring)."""
    if attribution is not None:
        return Identity(attribution["device_id"], attribution["officer_id"], "person")
    if own.device_id is not None:
        return Identity(own.device_id, own.officer_id, "name")
    named = [n for n in others if n.device_id is not None]
    if named and not disagreement(named):
        first = named[0]
        officer = next((n.officer_id for n in named if n.officer_id is not None), None)
        return Identity(first.device_id, officer, "other name")
    return Identity(None, own.officer_id, "none")
