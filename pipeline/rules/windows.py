"""Which stretch of a device's timeline new recordings can change, so a refresh replays only that.

``timeline.timeline_gaps`` walks a device's recordings in order, carrying how far the earlier ones
reached. At a *clean cut* (a recording that starts at or after the furthest any earlier recording
reached, its damaged tail included) that carried state no longer depends on anything before: the
walk from there is the same whatever came earlier. So recordings added between two clean cuts can
change only the gaps that end at a recording after the first cut and up to the second (each gap
names the recording after it); everything before the first cut and after the second is as the
last refresh found it. Pure: rows as ``timeline`` prepares them (naive UTC instants).

The sequence-number check (``timeline.out_of_sequence``) looks at all of a device's numbered
recordings at once; ``extends_sequence`` says when new ones cannot change its verdict on the old.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from pipeline.common.times import utc_to_wall
from pipeline.rules.timeline import Tail

_EARLIEST = datetime.min


def order_key(r: dict) -> tuple:
    """The order ``timeline.timeline_gaps`` walks a device's recordings in."""
    return (r["start_time"], r["sequence"] if r["sequence"] is not None else -1, r["sha256"])


def reach(r: dict, tails: dict[str, Tail]) -> datetime:
    """How far recording ``r`` carries the walk: its end (or its damaged tail's), or only its start
    when its tail's length is unknown (the walk then waits for the next recording)."""
    start = r["start_time"]
    tail = tails.get(r["sha256"])
    if tail is not None and tail.end is None:
        return start
    end = max(r["end_time"] or start, start)
    return max(end, tail.end) if tail is not None else end


def clean_cuts(rows: list[dict], tails: dict[str, Tail], before: datetime | None = None) -> list[bool]:
    """For each row (in ``order_key`` order), whether it is a clean cut; ``before``: how far rows
    earlier than these reached (None: there are none)."""
    out, furthest = [], before
    for r in rows:
        out.append(furthest is None or furthest <= r["start_time"])
        furthest = reach(r, tails) if furthest is None else max(furthest, reach(r, tails))
    return out


@dataclass(frozen=True)
class Span:
    """Replay ``rows[start:stop]``; it decides the gaps that end at ``rows[after:stop]``.

    ``from_first``: no clean cut precedes the first new row here, so the replay starts at the first
    row: right only if no earlier recording exists. ``to_last``: none follows the last new row, so
    it runs to the last row: right only if no later recording exists. Otherwise the caller reads a
    wider stretch and asks again."""
    start: int
    after: int
    stop: int
    from_first: bool = False
    to_last: bool = False


def span(rows: list[dict], new: set[str], tails: dict[str, Tail]) -> Span | None:
    """The stretch of ``rows`` (one device and kind, in ``order_key`` order, clock-flagged rows left
    out) that the ``new`` recordings can change; None when none of them is among the rows. It starts
    at the last clean cut before the first new row (that cut's own gap does not change) and ends
    with the first clean cut after the last one (whose gap may), each found among these rows: the
    caller checks that no recording before them reaches past the first (``clean_cuts`` sees only
    these)."""
    places = [i for i, r in enumerate(rows) if r["sha256"] in new]
    if not places:
        return None
    cuts = clean_cuts(rows, tails)
    first, last = places[0], places[-1]
    start = next((i for i in range(first - 1, -1, -1) if cuts[i]), None)
    stop = next((i for i in range(last + 1, len(rows)) if cuts[i]), None)
    return Span(0 if start is None else start, 1 if start is None else start + 1,
                len(rows) if stop is None else stop + 1, from_first=start is None, to_last=stop is None)


def extends_sequence(old_max: tuple[int, datetime] | None, new: list[tuple[int, datetime, str]]) -> bool:
    """Whether numbered recordings ``new`` (sequence, start, sha) only continue the old ones, whose
    highest sequence number and latest start are ``old_max`` (None: there are none): every new one
    numbered above every old one, starting no earlier than any, with start times that do not go
    back. Then the longest rising runs only grow by them, and ``out_of_sequence`` keeps its verdict
    on every old one and flags none of the new ones."""
    if not new:
        return True
    new = sorted(new)
    if old_max is not None and (old_max[0] >= new[0][0] or old_max[1] > new[0][1]):
        return False
    return all(a[1] <= b[1] for a, b in zip(new, new[1:]))


def starts_count_again(old_lowest: int | None, old_last: datetime | None, new: list[tuple[int, datetime, str]],
                       zone) -> bool:
    """Whether numbered recordings ``new`` (sequence, start as naive UTC, sha) start the count over
    after the old ones, as a recorder does each day: the first numbered no higher than any old one
    (``old_lowest``), on a later day of the device's clock (``zone``) than the latest old numbered
    start (``old_last``), and the new ones rising in number and time. Then ``timeline.restarts``
    begins a run of their own at the first (every old run stays as it was) and ``out_of_sequence``
    keeps its verdict on every old one and flags none of the new ones."""
    if not new or old_lowest is None or old_last is None:
        return False
    new = sorted(new)
    day = lambda t: utc_to_wall(t.replace(tzinfo=timezone.utc), zone).date()      # noqa: E731
    rising = all(a[0] < b[0] and a[1] <= b[1] for a, b in zip(new, new[1:]))
    return rising and new[0][0] <= old_lowest and day(new[0][1]) > day(old_last)
