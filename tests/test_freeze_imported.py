"""The listings of a million recordings set what was imported apart from the garbage collector's
full passes (``options.freeze_imported``)."""

from __future__ import annotations

import gc


def test_what_was_imported_is_frozen():
    from pipeline.commands import options

    gc.unfreeze()
    try:
        options.freeze_imported()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()                       # the rest of the test session as it was
