"""Finding recordings by what people type: a whole SHA-256 or a unique prefix of one."""

from __future__ import annotations

import re
from typing import Iterable
from pipeline.common.i18n import _

MIN_PREFIX = 6
_HEX = re.compile(rf"[0-9a-f]{{{MIN_PREFIX},64}}")


class LookupProblem(ValueError):
    """A typed SHA-256 (prefix) is malformed, unknown or ambiguous; the message names each one."""


def resolve_shas(given: Iterable[str], known: Iterable[str], describe=None) -> list[str]:
    """The full SHA-256 for each of ``given`` (whole, or a unique prefix of 6+ hex digits), in order,
    without repeats. ``describe(sha)`` adds a readable hint (a file name) to ambiguity messages."""
    known = sorted(set(known))
    out, problems = [], []
    for text in given:
        wanted = text.strip().lower()
        if not _HEX.fullmatch(wanted):
            problems.append(_("{text} is not a SHA-256 or a prefix of one ({min_prefix} to 64 hex digits)").format(
                                text=repr(text), min_prefix=MIN_PREFIX))
            continue
        hits = [s for s in known if s.startswith(wanted)]
        if not hits:
            problems.append(_("{wanted}: no recording in this archive has a SHA-256 starting with these "
                               "digits").format(wanted=wanted))
        elif len(hits) > 1:
            some = ", ".join(s[:16] + (f" ({describe(s)})" if describe else "") for s in hits[:5])
            problems.append(_("{wanted} matches {n} recordings ({some}); give more digits").format(
                                wanted=wanted, n=len(hits), some=some))
        elif hits[0] not in out:
            out.append(hits[0])
    if problems:
        raise LookupProblem("; ".join(problems))
    return out
