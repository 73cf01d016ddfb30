"""Modules a process will need, imported by a thread while it goes on with its work."""

from __future__ import annotations

import importlib
import threading
from typing import Sequence


def import_meanwhile(names: Sequence[str], thread: str) -> None:
    """Import ``names`` in order in a daemon thread named ``thread``. Whoever needs one of them
    meanwhile waits on that module's import lock; one that fails to import stops the thread and is
    imported again, and fails, where it is used."""
    def work() -> None:
        for name in names:
            try:
                importlib.import_module(name)
            except Exception:           # noqa: BLE001 - imported again where used, and fails there
                return

    threading.Thread(target=work, name=thread, daemon=True).start()
