"""Errors that many modules raise and catch."""

from __future__ import annotations


class ArchiveWriteError(OSError):
    """Writing into the archive failed (disk full, read-only, permissions): the run cannot go on."""
