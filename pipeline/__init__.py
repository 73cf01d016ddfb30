"""fieldrec: ingest, fixity and review pipeline for body-worn camera footage."""

__version__ = "0.1.0"
