"""Errors that many modules raise and catch."""

from __future__ import annotations


class ArchiveWriteError(OSError):
    """Writing into the archive failed (disk full, read-only, permissions): the run cannot go on."""


class TranscodeError(Exception):
    """Proxies cannot be scheduled as configured (a resource no node offers). Here, not in the
    transcode run, so that a command can catch it without importing the encoders."""
