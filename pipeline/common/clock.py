"""The one clock every module reads, and the time-stamped ids of runs and events."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

UTC = timezone.utc


def now_utc() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str | None = None) -> str:
    """``[PREFIX-]20260301T100000Z-1a2b3c``: sortable by time, unique by its random tail."""
    stamp = f"{now_utc():%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    return f"{prefix}-{stamp}" if prefix else stamp
