"""What the end of an ingest asks of the archive as it stood when the run began, read while the
run's files are stored.

The end of a run (the gap refresh, the end summary) reads the archive's gaps and their states
and the recordings around the run's (in the parts that hold the last weeks), asks which of the
run's contents were sighted before, and counts the gaps that wait for an explanation (and, on the
first night after a full refresh, every recording's whole-history figures): at a million
recordings most of its second, and none of it depends on the run's own files. A thread reads it from the start (``Ahead``), while the driver mostly waits on its workers;
the end then reads only the parts the run added (``catalog.store.PartCache``), looks the run's
contents up among those sighted before, takes the figures (``records.gaprefresh.survey_ahead``)
and carries the count (``records.gapwaiting.before``).
What the thread has not given yet, or could not, the end reads itself: the answers are the same.
"""

from __future__ import annotations

import threading

from catalog.store import Catalog, PartCache
from pipeline.common.clock import now_utc
from pipeline.config import Config


# The reads (all but the count) begin this long after the run: a run whose files are in by then has
# little to overlap them with, and they would compete with its end for the CPUs (and Python's lock).
READ_AFTER_S = 2.0


class Ahead:
    """The archive's gaps, states and sighted contents, and the count of the gaps that wait, read
    by a thread started here."""

    def __init__(self, catalog: Catalog, config: Config, run_id: str, *, read_after_s: float = READ_AFTER_S):
        self.parts = PartCache()            # the gaps' and states' parts the refresh and summary read
        self.sighted = None                 # ``runs.known.KnownContents`` of every sighting's content
        self.survey = None                  # ``gaprefresh.SurveyAhead``, where the refresh needs one
        self._count: dict | None = None
        self._counted = threading.Event()   # the count is done (or will not be)
        self._ending = threading.Event()    # the end of the run has begun: only the count is still wanted
        self._stop = threading.Event()      # nothing more is wanted
        self._read_after_s = read_after_s
        # Not a daemon: a process leaving (a failed or interrupted run) waits for the step under
        # way, never ending the interpreter under a DuckDB query (which aborts the process).
        self._thread = threading.Thread(target=self._work, args=(catalog, config, run_id), name="fieldrec-ahead")
        self._thread.start()

    def _work(self, catalog: Catalog, config: Config, run_id: str) -> None:
        # Each step's failure is no answer: the end reads and counts itself (the same answers, later).
        try:
            from pipeline.records import conflicts, gaprefresh, gapwaiting

            # The count first: the longest, and the one the end waits for.
            if catalog.visible_parts("gaps") and not self._stop.is_set():
                self._count = gapwaiting.before(catalog.archive, config)
        except Exception:               # noqa: BLE001
            pass
        finally:
            self._counted.set()
        # The reads only once the run has lasted: a short run's end comes first, and reads for itself.
        if self._ending.wait(self._read_after_s):
            return
        reads = []
        if catalog.visible_parts("sightings"):
            reads.append(lambda: setattr(self, "sighted", conflicts.sighted(catalog)))
        if catalog.visible_parts("gaps"):
            reads.append(lambda: self.parts.read(catalog, "gaps", gaprefresh.GAP_COLUMNS))
            reads.append(lambda: self.parts.read(catalog, "gap_state", gaprefresh.STATE_COLUMNS))
        if catalog.visible_parts("recordings"):
            reads.append(lambda: gaprefresh.recent_ahead(catalog, self.parts, now_utc()))
            reads.append(lambda: setattr(self, "survey", gaprefresh.survey_ahead(catalog, config, run_id)))
        for read in reads:
            if self._ending.is_set():   # the end (or a failure) has begun: it reads for itself
                return
            try:
                read()
            except Exception:           # noqa: BLE001
                continue

    def ending(self) -> None:
        """The end of the run begins (its refresh): the steps not yet begun are left to it, but the
        count (the summary waits for it rather than count everything itself)."""
        self._ending.set()

    def count(self) -> dict | None:
        """``gapwaiting.before``'s row (waiting for it), or None."""
        self._counted.wait()
        return self._count

    def wait(self) -> None:
        """Wait for every step (``bench/scale.py``: what a night's copies leave time for)."""
        self._thread.join()

    def stop(self) -> None:
        """Begin no more steps (the run is over, or failed)."""
        self._stop.set()
        self._ending.set()

    def close(self) -> None:
        """Stop after the step under way and wait for it."""
        self.stop()
        self._thread.join()


def ahead(catalog: Catalog, config: Config, run_id: str) -> Ahead | None:
    """An ``Ahead`` for run ``run_id`` on an archive that holds something (a new archive: none)."""
    return Ahead(catalog, config, run_id) if catalog.visible_parts("sightings") or catalog.visible_parts("gaps") \
        else None
