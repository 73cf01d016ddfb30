"""``fieldrec retention`` lists what is past retention; ``fieldrec purge`` removes it, with approval."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.commands import RunError, UsageError
from pipeline.commands.options import (add_archive, add_format, add_time, config_of, emit, existing_archive,
                                       freeze_imported, locked_catalog, resolve_shas, site_zone)
from pipeline.commands.columns import Col
from pipeline.common import text, vocabulary
from pipeline.common.i18n import N_, _
from pipeline.common.times import UTC, show
from pipeline.common.units import human_bytes
from pipeline.common.clock import new_id, now_utc

if TYPE_CHECKING:
    import pyarrow as pa

EARLIEST = datetime.min.replace(tzinfo=UTC)

RETENTION_HELP = N_("""\
List the recordings past their retention (routine 3 months from recording; cases 3 months after
closing and 6 from recording at least; other: the assigned days), computed from the case events
as of now or --as-of. Held (open case) and permanent files are never past retention.

The retention floor: no recording can be purged before it has been in the archive for its
class's minimum (3 months routine and other, 6 months case), counted from its first ingest,
whatever its device clock says. A recording whose device clock cannot be right (reset to 2000,
ahead of the archive) counts its retention from its first ingest. A period of months ends at
24:00 of the same calendar day in the site's time zone (site.time_zone).

Columns: start_time (the recording's start in the site's zone), device_clock (the same instant
as the device's clock read it), first_ingest (when the archive first had the file: the archive
clock), counted_from (which of the two the retention counts from), retain_until.
States: expired (past retention, may be purged), retained, held, permanent, purged.
""")

PURGE_HELP = N_("""\
Remove the stored originals of recordings past retention. Without --approve this is a dry run that
lists what would go. With --approve REQ it removes only the object files (ARCHIVE/objects/..) and
their review proxies (ARCHIVE/proxies/..); the catalog rows and hashes stay, and a `purges` row
per file records the approval, who asked and who approved, so the history stays complete. Files
of open cases, permanent files and files still within retention are refused by name. Retention
is always judged as of now.

--approve names an access request of this archive (REQ-...) asking to purge, asked for in the
review service (`fieldrec serve`) and granted there by an approver other than the requester, with
a period that includes now; free text is refused. A request for one recording purges only that
one; a request for "everything past retention" purges what is expired now (or the SHA256 given).
The purge is carried out in the requester's name (--by, if given, must be that account).
""")

COLUMNS = ["sha256", "source_name", "device_id", "officer_id", "start_time", "class", "retain_until", "state",
           "reason", "device_clock", "time_source", "first_ingest", "counted_from", "clock_problem"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("retention", help=_("list recordings past retention"), description=_(RETENTION_HELP),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_archive(p)
    add_time(p, "--as-of", help=_("judge retention at this time instead of now"))
    p.add_argument("--all", action="store_true", help=_("list every recording with its state, not only expired ones"))
    p.add_argument("--class", dest="retention_class", choices=("routine", "case", "permanent", "other"),
                   help=_("only recordings of this retention class (permanent: the files to stage for disc burning)"))
    add_format(p)
    p.set_defaults(handler=run_retention)

    q = sub.add_parser("purge", help=_("remove originals past retention (dry run unless approved)"),
                       description=_(PURGE_HELP), formatter_class=argparse.RawDescriptionHelpFormatter)
    add_archive(q)
    q.add_argument("sha", nargs="*", metavar="SHA256",
                   help=_("purge only these recordings (8+ leading characters); default: every expired one"))
    q.add_argument("--approve", metavar="REQ", type=text.arg(text.identifier, what=N_("approval reference")),
                   help=_("the granted purge request"))
    q.add_argument("--by", metavar="USER", type=text.arg(text.person),
                   help=_("the requester's account (default: the requester)"))
    add_format(q)
    q.set_defaults(handler=run_purge)


def _row(r, as_of: datetime) -> dict:
    return {"sha256": r.sha256, "source_name": r.row["source_name"], "device_id": r.row["device_id"],
            "officer_id": r.attribution.officer_id, "start_time": r.subject.start,
            "class": r.retention.retention_class, "retain_until": r.retention.until, "state": r.state(as_of),
            "reason": r.retention.reason, "size": r.row["size"], "device_clock": r.device_clock(),
            "time_source": r.row["time_source"], "first_ingest": r.first_seen,
            "counted_from": r.subject.counted_from, "clock_problem": r.clock[1] if r.clock else None}


# How each listed column prints (``tabular``): the rows come from the set-based rules as a table.
LISTING = [Col("sha256"), Col("source_name"), Col("device_id"), Col("officer_id"), Col("start_time", "instant"),
           Col("class"), Col("retain_until", "instant"), Col("state"), Col("reason"),
           Col("device_clock", "reading", "zone"), Col("time_source"), Col("first_ingest", "instant"),
           Col("counted_from"), Col("clock_problem")]


def listing_table(state) -> "pa.Table":
    """The retention listing of every recording in ``state`` (a ``records.frame.Frame``): ``_row``'s
    columns, one row per recording."""
    import pyarrow as pa

    t = state.table
    return pa.table({"sha256": t["sha256"], "source_name": t["source_name"], "device_id": t["device_id"],
                     "officer_id": t["officer"], "start_time": t["start"], "class": t["retention_class"],
                     "retain_until": t["until"], "state": state.states(), "reason": t["reason"],
                     "device_clock": t["start"], "zone": t["zone"], "time_source": t["time_source"],
                     "first_ingest": t["arrived"], "counted_from": t["counted_from"], "clock_problem": t["clock_text"]})


def run_retention(args: argparse.Namespace) -> int:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from pipeline.commands.tabular import device_order, emit_table
    from pipeline.records import frame

    config = config_of(args)
    archive = existing_archive(args.archive)
    zone = site_zone(config)
    as_of = args.as_of or now_utc()
    # Arrow's buffers from the system allocator, as the ledger's: mimalloc maps and unmaps the large
    # buffers of a million rows again and again (at a million recordings, a second or more of
    # system time for page faults; peak memory lower too).
    pa.set_memory_pool(pa.system_memory_pool())
    freeze_imported()
    state = frame.load(archive, config, as_of, narrow=True)
    rows = listing_table(state)
    # The rows listed are chosen by their indices, never copied out of the table: a listing of most
    # of a million recordings would hold the table twice.
    chosen = pc.fill_null(pc.equal(rows["class"], args.retention_class), False) if args.retention_class else None
    listed = chosen if args.all else (pc.equal(rows["state"], "expired") if chosen is None
                                      else pc.and_(chosen, pc.equal(rows["state"], "expired")))
    keys = rows.select(["device_id", "start_time", "sha256"])
    if listed is None:
        order = device_order(keys)
    else:
        order = device_order(keys, rows=np.flatnonzero(listed.to_numpy(zero_copy_only=False)))
    emit_table(rows, LISTING, args.format, zone=zone, zones=state.by_label, order=order)
    if args.format == "table":
        states, problems = rows["state"], rows["clock_problem"]
        if chosen is not None:                        # the totals: of the class asked for
            states, problems = states.filter(chosen), problems.filter(chosen)
        counts = {s: pc.sum(pc.equal(states, s)).as_py() or 0
                  for s in ("expired", "retained", "held", "permanent", "purged")}
        print(_("as of {when}: ").format(when=show(as_of, zone))
              + _(", ").join(_("{n} {state}").format(n=n, state=vocabulary.value("state", s)) for s, n in counts.items()),
              file=sys.stderr)
        anomalies = len(problems) - problems.null_count
        if anomalies:
            print(_("{n} recording(s) with a device clock that cannot be right count their retention from first "
                    "ingest (archive clock)").format(n=anomalies), file=sys.stderr)
    return 0


def run_purge(args: argparse.Namespace) -> int:
    from pipeline import records

    config = config_of(args)
    archive = existing_archive(args.archive)
    from pipeline.records import access

    if args.by is not None and not args.approve:
        raise UsageError(_("--by goes with --approve REQ (without them a purge is a dry run)"))
    if args.approve is not None and not args.approve.strip():
        raise UsageError(_("--approve needs the granted purge request (REQ-...)"))
    zone = site_zone(config)
    with locked_catalog(archive, config, "purge", trusted_catalog=True) as catalog:
        now = now_utc()
        request = None
        if args.approve:
            try:
                request = access.check_approval(access.read_requests(archive), args.approve, action="purge",
                                                by=(args.by or "").strip() or None, now=now)
            except access.AccessRefused as exc:
                raise UsageError(_("refused, nothing was removed: {why}").format(why=exc)) from None
            args.approve, args.by = request.request_id, request.requested_by
        state = records.load(archive, config, now)
        by_sha = state.by_sha()
        if request is not None and request.row["target_kind"] == "recording":
            outside = [s for s in resolve_shas(args.sha, set(by_sha)) if s != request.row["target"]]
            if outside:
                raise UsageError(_("refused, nothing was removed: request {request} does not cover {shas}").format(
                    request=request.request_id, shas=", ".join(s[:12] for s in outside)))
            args.sha = [request.row["target"]]
        if args.sha:
            chosen = [by_sha[s] for s in resolve_shas(args.sha, set(by_sha))]
            refused = [r for r in chosen if r.state(now) not in ("expired", "purged")]
            if refused:
                lines = [f"  {r.sha256[:12]} {text.for_terminal(r.row['source_name'])}: "
                         f"{vocabulary.value('state', r.state(now))} ({_why(r, now, zone)})" for r in refused]
                raise RunError(_("refused, nothing was removed: these recordings may not be purged") + "\n"
                               + "\n".join(lines))
        else:
            chosen = [r for r in state.records if r.state(now) in ("expired", "purged")]
        # A written statement stored as the same bytes shares the object: it must stay.
        statement_paths = {path for path in catalog.read("statements", ["archive_path"])["archive_path"].to_pylist()
                           if path}
        shared = [r for r in chosen if r.object_present and r.row["archive_path"] in statement_paths]
        todo = [r for r in chosen if r.object_present and r.row["archive_path"] not in statement_paths]
        for r in shared:
            print(_("kept {sha}: the same bytes are a written statement attached to an explanation").format(
                sha=r.sha256[:12]), file=sys.stderr)
        rows = [_row(r, now) for r in todo]
        # A review proxy is a copy of the footage: it goes with its original (a kept shared one keeps it).
        kept = {r.sha256 for r in shared}
        made = _proxies_of(catalog, {r.sha256 for r in chosen} - kept)
        # Each gets its row even when its file is already gone (verify then knows it went on purpose).
        proxies = [(r, path, size) for r in chosen for path, size in made.get(r.sha256, ())]
        present = [(r, path, size) for r, path, size in proxies if (archive / path).exists()]
        if not args.approve:
            emit(rows, COLUMNS, args.format, zone=zone)
            total = sum(r.row["size"] or 0 for r in todo)
            print(_("dry run: {n} object(s), {size}, would be removed; nothing was. Run again with --approve REQ "
                    "(a granted purge request) to purge.").format(n=len(todo), size=human_bytes(total)),
                  file=sys.stderr)
            if present:
                print(_("with them {n} review proxy file(s), {size}").format(
                    n=len(present), size=human_bytes(sum(size for _r, _p, size in present))), file=sys.stderr)
            return 0
        new = [r for r in todo if r.purge is None]
        recorded = set(catalog.read("purges", ["archive_path"])["archive_path"].to_pylist())

        def purge_row(r, path: str, size: int | None, kind: str) -> dict:
            return {"purge_id": new_id("purge"), "sha256": r.sha256, "archive_path": path, "size": size,
                    "retention_class": r.retention.retention_class, "retain_until": r.retention.until,
                    "reason": r.retention.reason, "approval_ref": args.approve,
                    "approved_by": request.grant["decided_by"], "purged_at": now, "host": socket.gethostname(),
                    "kind": kind}

        catalog.commit({"purges": [purge_row(r, r.row["archive_path"], r.row["size"], "original") for r in new]
                        + [purge_row(r, path, size, "proxy") for r, path, size in proxies if path not in recorded]},
                       tag=new_id("purge"))
        # The purges rows are committed first: a crash now leaves files a re-run removes.
        removed = 0
        for i, path in enumerate(archive / p for _r, p, _size in present):
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                raise RunError(_("cannot remove {path}: {why}; fix the permissions and run the same purge again to "
                                 "finish ({removed} of {total} removed)").format(
                    path=path, why=exc.strerror, removed=i, total=len(present))) from None
            _fsync_dir(path.parent, config.ingest.fsync)
        for r in todo:
            path = archive / r.row["archive_path"]
            try:
                os.unlink(path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise RunError(_("cannot remove {path}: {why}; fix the permissions and run the same purge again to "
                                 "finish ({removed} of {total} removed)").format(
                    path=path, why=exc.strerror, removed=removed, total=len(todo))) from None
            removed += 1
            _fsync_dir(path.parent, config.ingest.fsync)
    emit(rows, COLUMNS, args.format, zone=zone)
    print(_("purged {n} object(s) ({size}), request {request} of {by}, approved by {approver}; their catalog rows "
            "stay").format(n=removed, size=human_bytes(sum(r.row["size"] or 0 for r in todo)), request=args.approve,
                           by=args.by, approver=request.grant["decided_by"]), file=sys.stderr)
    if present:
        print(_("removed with them {n} review proxy file(s)").format(n=len(present)), file=sys.stderr)
    return 0


def _proxies_of(catalog, shas: set[str]) -> dict[str, list[tuple[str, int]]]:
    """Recording SHA-256 -> (path, size) of every review proxy made of it, for ``shas`` (only paths
    under ``proxies/``: a purge removes nothing else)."""
    from pipeline.archive.proxies import is_proxy_path

    if not shas:
        return {}
    rows = catalog.read("derivatives", ["parent_sha256", "archive_path", "size", "status"])
    out: dict[str, set] = {}
    for parent, path, size, status in zip(*(rows[c].to_pylist() for c in rows.column_names)):
        if status == "ok" and is_proxy_path(path) and parent in shas:
            out.setdefault(parent, set()).add((path, size or 0))
    return {parent: sorted(found) for parent, found in out.items()}


def _why(r, now: datetime, zone) -> str:
    if r.state(now) == "retained":
        return _("kept until {until}: {reason}").format(until=show(r.retention.until, zone), reason=r.retention.reason)
    return r.retention.reason


def _fsync_dir(path: Path, enabled: bool) -> None:
    if enabled:
        from catalog.store import fsync_dir

        fsync_dir(path)
