"""The one clock every module reads, and the time-stamped ids of runs and events."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Callable, Iterator

UTC = timezone.utc

_source: Callable[[], datetime] = lambda: datetime.now(UTC)      # noqa: E731


def now_utc() -> datetime:
    return _source()


@contextmanager
def set_to(at: datetime) -> Iterator[None]:
    """Read ``at`` as the time for the ``with`` block (tests run a command "three months later"
    without waiting; no command line reaches this)."""
    global _source
    before, _source = _source, (lambda: at.astimezone(UTC))
    try:
        yield
    finally:
        _source = before


def new_id(prefix: str | None = None) -> str:
    """``[PREFIX-]20260301T100000Z-1a2b3c``: sortable by time, unique by its random tail."""
    stamp = f"{now_utc():%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    return f"{prefix}-{stamp}" if prefix else stamp
