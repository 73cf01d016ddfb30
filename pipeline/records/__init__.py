"""The catalog read through the rules: each recording's state, gaps and their explanations."""

from pipeline.records.state import ArchiveState, Record, load

__all__ = ["ArchiveState", "Record", "load"]
