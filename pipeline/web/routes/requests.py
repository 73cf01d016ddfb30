"""Access requests: ask (view or export a recording or a case; purge), decide (approvers, never their
own), and export an approved request as the same BagIt package `fieldrec export` writes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from starlette.responses import Response

from pipeline.common import inputs
from pipeline.common.i18n import _
from pipeline.records import access, bag
from pipeline.web import site
from pipeline.web.guard import ALL_ROLES, Ctx, NotFound, Page, Refused

ASKERS = frozenset({"officer", "clerk", "approver", "admin"})
APPROVERS = frozenset({"approver"})
OVERSEERS = frozenset({"approver", "auditor"})           # see every request, not only their own


def _request(ctx: Ctx) -> access.Request:
    request_id = ctx.param("request_id")
    if not inputs.RECORD_ID.fullmatch(request_id):
        raise NotFound()
    request = ctx.service.requests(ctx.reader).get(request_id)
    if request is None or (request.requested_by != ctx.user.user_id and not ctx.user.has(*OVERSEERS)):
        raise NotFound()
    return request


def listing(ctx: Ctx) -> Response:
    everything = sorted(ctx.service.requests(ctx.reader).values(), key=lambda r: r.row["requested_at"], reverse=True)
    mine = [r for r in everything if r.requested_by == ctx.user.user_id]
    pending = [r for r in everything if ctx.user.has("approver") and r.status(ctx.now) == "pending"
               and r.requested_by != ctx.user.user_id]
    others = [r for r in everything if ctx.user.has(*OVERSEERS) and r.requested_by != ctx.user.user_id][
        :ctx.service.config.service.page_rows]
    return ctx.render("requests.html", mine=mine, pending=pending, others=others, status_of=lambda r: r.status(ctx.now))


def ask(ctx: Ctx) -> Response:
    action = ctx.field("action") or ""
    kind = ctx.field("target_kind") or ""
    if action == "purge" and not ctx.user.has("clerk", "admin"):
        raise Refused(_("Only records clerks ask to purge."))
    row = access.request_row(action=action, target_kind=kind, target=ctx.field("target"), reason=ctx.field("reason"),
                             by=ctx.user.user_id, client=ctx.client, now=ctx.now)
    if kind == "recording" and not ctx.reader.known_sha(row["target"]):
        raise inputs.InputError(_("no recording of this archive has this SHA-256"))
    if kind == "case" and row["target"] not in {e["case_id"] for e in ctx.reader.case_events()}:
        raise inputs.InputError(_("there is no such case"))
    return ctx.done({"access_requests": [row]},
                    _("Your request {id} was sent to the approvers.").format(id=row["request_id"]),
                    f"/requests/{row['request_id']}")


def export_folder(ctx: Ctx) -> Path:
    configured = ctx.service.config.service.export_dir
    archive = ctx.service.archive
    return Path(configured).expanduser().resolve() if configured else archive.parent / f"{archive.name}-exports"


def request_page(ctx: Ctx) -> Response:
    request = _request(ctx)
    until = site.typed(ctx.now + timedelta(days=1), ctx.service.zone)
    package = export_folder(ctx) / request.request_id
    return ctx.render("request.html", req=request, state=request.status(ctx.now), until=until,
                      may_decide=ctx.user.has("approver") and request.requested_by != ctx.user.user_id,
                      package=package if package.is_dir() else None, max_days=ctx.service.config.service.max_grant_days)


def decide(ctx: Ctx) -> Response:
    request = _request(ctx)
    decision = ctx.field("decision") or ""
    until = start = None
    if decision == "grant":
        until = site.parse_typed(ctx.field("valid_until"), _("until"), ctx.service.zone)
        if ctx.field("valid_from"):
            start = site.parse_typed(ctx.field("valid_from"), _("from"), ctx.service.zone)
    row = access.decision_row(request, decision=decision, by=ctx.user.user_id, now=ctx.now, valid_until=until,
                              valid_from=start, note=ctx.field("note"),
                              max_days=ctx.service.config.service.max_grant_days)
    return ctx.done({"access_decisions": [row]},
                    _("Request {id}: {decision}.").format(id=request.request_id, decision=_(decision)),
                    f"/requests/{request.request_id}")


def export(ctx: Ctx) -> Response:
    """Write the approved request's BagIt package to the export folder, named for the request."""
    request = _request(ctx)
    if request.requested_by != ctx.user.user_id:
        raise Refused(_("Only the requester exports under a grant."))
    access.check_approval({request.request_id: request}, request.request_id, action="export", by=ctx.user.user_id,
                          now=ctx.now)
    reader = ctx.reader
    if request.row["target_kind"] == "recording":
        rows = [r for r in [reader.recording(request.row["target"])] if r]
    else:
        rows = [reader.recording(r["sha256"]) for r in reader.case_recordings(request.row["target"], 100_000)]
    rows = [r for r in rows if r and r["archive_path"] and (ctx.service.archive / r["archive_path"]).is_file()]
    if not rows:
        raise Refused(_("The request names no recording whose original is in the archive."))
    dest = export_folder(ctx) / request.request_id
    if dest.exists():
        raise Refused(_("Request {id} was exported already, to {dest}.").format(id=request.request_id, dest=dest))
    dest.mkdir(parents=True)
    export_row = bag.Export(approval_ref=request.request_id, by=ctx.user.user_id, reason=request.row["reason"],
                            at=ctx.now, request_id=request.request_id, client=ctx.client)
    copied: list[dict] = []
    try:
        bag.write_bag(ctx.service.archive, rows, dest, export_row, ctx.service.config.ingest.chunk_bytes, copied,
                      fsync=ctx.service.config.ingest.fsync)
    except bag.ObjectChanged as exc:
        raise Refused(str(exc)) from None
    finally:
        if copied:                       # what left the archive is logged, whatever failed after it
            ctx.service.record({"access_log": copied})
    ctx.flash(_("Exported {n} file(s) to {dest}.").format(n=len(copied), dest=dest))
    return ctx.redirect(f"/requests/{request.request_id}")


PAGES = [
    Page("/requests", listing, ALL_ROLES),
    Page("/requests", ask, ASKERS, ("POST",)),
    Page("/requests/{request_id}", request_page, ALL_ROLES),
    Page("/requests/{request_id}/decide", decide, APPROVERS, ("POST",)),
    Page("/requests/{request_id}/export", export, ASKERS, ("POST",)),
]
