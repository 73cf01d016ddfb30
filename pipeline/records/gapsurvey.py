"""The gap refresh's survey: one DuckDB scan of the older recordings of the devices and kinds an
ingest added to, giving for each (``gaprefresh._survey`` decides from them) where its believable
recordings begin and end, the nearest before and after its stretch, its sequence numbers, whether
any is stored other than where it lies, and its last clean cut before the stretch.
"""

from __future__ import annotations

import pyarrow as pa

from catalog.query import scanning
from catalog.store import Catalog

# The survey, one DuckDB scan of the groups' older recordings. ``believable``: a clock that can be
# right (not before the earliest date, not ahead of its arrival); such recordings alone begin and end
# a timeline. ``e``: where it ends, as ``clocks.placed_end`` says (stored without its end: its start
# plus its length, rounded as ``timedelta`` rounds). ``odd``: a recording stored without its instant,
# or in a zone (or none) no device of these has now. ``cut``: a clean cut (no earlier believable one
# reaches past its start, damaged tails aside), looked for only in the days before the stretch, given
# how far all earlier ones reach.
_SURVEY = """
WITH r AS MATERIALIZED (
    SELECT g.i, g.lo, g.hi, r.start_utc AS s, greatest(coalesce(r.end_utc, r.start_utc + to_microseconds(
               round_even(coalesce(r.duration_s, 0) * 1000000, 0)::BIGINT)), r.start_utc) AS e,
           r.sequence AS seq,
           (r.start_utc IS NULL OR r.time_zone IS NULL OR NOT list_contains($labels, r.time_zone))::BIGINT AS odd,
           coalesce(r.start_utc >= $earliest AND r.start_utc <= r.ingested_at + to_microseconds($tolerance), false)
               AS believable
    FROM {recordings} r JOIN groups g ON r.device_id = g.device_id AND r.kind = g.kind
    WHERE r.run_id IS NULL OR NOT list_contains($fresh, r.run_id)),
stats AS (
    SELECT i, min(s) FILTER (believable) AS first_min, max(s) FILTER (believable) AS first_max,
           max(s) FILTER (believable AND s < lo) AS before_max, min(s) FILTER (believable AND s > hi) AS after_min,
           max(seq) AS seq_max, min(seq) AS seq_min, max(s) FILTER (seq IS NOT NULL) AS numbered_max,
           sum(odd)::BIGINT AS odd_sum,
           least(any_value(lo), max(s) FILTER (believable AND s < lo)) - INTERVAL 2 DAY AS w
    FROM r GROUP BY i),
near AS (SELECT r.i, r.s, r.e, r.lo, stats.w FROM r JOIN stats USING (i) WHERE r.believable),
reach AS (SELECT i, max(e) FILTER (s < w) AS reach FROM near GROUP BY i),
cuts AS (
    SELECT i, max(s) FILTER (cut AND s <= lo) AS cut_max FROM (
        SELECT near.i, s, lo, s >= coalesce(greatest(max(e) OVER (PARTITION BY near.i ORDER BY s
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), reach.reach), s) AS cut
        FROM near JOIN reach USING (i) WHERE s >= w)
    GROUP BY i)
SELECT * EXCLUDE (w) FROM stats LEFT JOIN cuts USING (i)
"""


def figures(catalog: Catalog, groups: pa.Table, params: dict) -> pa.Table:
    """``_SURVEY`` over the visible parts: per group ``i`` (``groups``: i, device_id, kind, lo, hi),
    its older recordings' figures; ``params``: fresh (the runs taken in now), labels (the devices'
    zones), earliest (an instant), tolerance (µs a clock may be ahead of its arrival)."""
    def work(scan) -> pa.Table:
        scan.con.register("groups", groups)
        return scan.arrow_params(_SURVEY.format(recordings=scan.source("recordings")), params)
    return scanning(catalog.archive, work)
