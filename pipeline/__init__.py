"""fieldrec: ingest, fixity and review pipeline for body-worn camera footage."""

import os

# fieldrec does no linear algebra: OpenBLAS's thread pool (one thread per CPU, started when numpy is
# imported, joined at exit) costs every process a tenth of a second of start and stop. Set before
# any numpy import here; workers inherit it. An operator's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
