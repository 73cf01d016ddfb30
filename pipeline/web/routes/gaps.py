"""Interruptions: the list waiting for an explanation, a gap's page, explaining it with a written
statement attached, approving a written explanation, and reading a statement (logged)."""

from __future__ import annotations

import re
import socket
import uuid

from starlette.datastructures import UploadFile
from starlette.responses import Response

from pipeline.common import inputs
from pipeline.common.clock import new_id
from pipeline.common.i18n import _
from pipeline.records import statements
from pipeline.web import site
from pipeline.web.guard import ALL_ROLES, UPLOAD, Ctx, NotFound, Page, Refused

GAP_ID = re.compile(r"[A-Za-z0-9._:-]{6,128}")
EXPLAINERS = frozenset({"officer", "clerk", "admin"})
STATEMENT_READERS = frozenset({"officer", "clerk", "approver", "auditor", "admin"})


def _gap(ctx: Ctx) -> dict:
    gap_id = ctx.param("gap_id")
    if not GAP_ID.fullmatch(gap_id):
        raise NotFound()
    gap = ctx.reader.gap(gap_id)
    if gap is None:
        raise NotFound()
    return gap


def may_explain(ctx: Ctx, gap: dict) -> bool:
    """Clerks and admins explain any gap; an officer only the gaps of recordings attributed to them."""
    if ctx.user.has("clerk", "admin"):
        return True
    return ctx.user.has("officer") and bool(ctx.user.officer_id) and gap["officer_id"] == ctx.user.officer_id


def waiting(ctx: Ctx) -> Response:
    officer = ctx.user.officer_id if ctx.query("mine") and ctx.user.officer_id else None
    rows, total = ctx.reader.waiting_gaps(ctx.service.config.service.page_rows, officer)
    for g in rows:
        g["start_utc"] = site.device_to_site(g["start_time"], g["device_id"], ctx.service.config)
    return ctx.render("gaps.html", gaps=rows, total=total, mine=bool(officer))


def gap_page(ctx: Ctx) -> Response:
    gap = _gap(ctx)
    gap["start_utc"] = site.device_to_site(gap["start_time"], gap["device_id"], ctx.service.config)
    gap["end_utc"] = site.device_to_site(gap["end_time"], gap["device_id"], ctx.service.config)
    return ctx.render("gap.html", gap=gap, explanations=ctx.reader.explanations(gap["gap_id"]),
                      may_explain=may_explain(ctx, gap), max_bytes=ctx.service.config.service.statement_max_bytes)


def explain(ctx: Ctx) -> Response:
    gap = _gap(ctx)
    if not may_explain(ctx, gap):
        raise Refused(_("Officers explain only the interruptions of their own recordings."))
    reason = inputs.clean_text(ctx.field("reason"), _("reason"), max_len=2000, multiline=True)
    spoken = ctx.field("spoken") == "yes"
    upload = ctx.form.get("statement") if ctx.form is not None else None
    statement = None
    explanation_id = uuid.uuid4().hex
    if isinstance(upload, UploadFile) and upload.filename:
        limit = ctx.service.config.service.statement_max_bytes
        data = upload.file.read(limit + 1)
        try:
            media = statements.checked(data, limit)
        except statements.StatementProblem as exc:
            raise inputs.InputError(str(exc)) from None
        # Spooled with its bytes; stored as an archive object when the spool is committed.
        statement = statements.row(explanation_id=explanation_id, gap_id=gap["gap_id"], file_name=upload.filename,
                                   data=data, media_type=media, by=ctx.user.user_id, at=ctx.now)
    elif not spoken:
        raise inputs.InputError(_("attach the written statement, or tick that the reason was spoken on the recording"))
    row = {"explanation_id": explanation_id, "gap_id": gap["gap_id"], "source": "spoken" if spoken else "report",
           "reason": reason, "explained_by": ctx.user.user_id, "approved_by": None, "explained_at": ctx.now}
    return ctx.done({"explanations": [row], **({"statements": [statement]} if statement else {})},
                    _("Your explanation was recorded."),
                    f"/gaps/{gap['gap_id']}")


def approve(ctx: Ctx) -> Response:
    gap = _gap(ctx)
    wanted = inputs.record_id(ctx.field("explanation_id"), _("explanation"))
    given = {e["explanation_id"]: e for e in ctx.reader.explanations(gap["gap_id"])}
    e = given.get(wanted)
    if e is None:
        raise NotFound()
    if e["explained_by"] == ctx.user.user_id:
        raise Refused(_("Nobody approves their own explanation."))
    if e["source"] != "report" or e["approved_by"]:
        raise Refused(_("Only a written explanation awaiting approval can be approved."))
    row = {"explanation_id": uuid.uuid4().hex, "gap_id": gap["gap_id"], "source": "report", "reason": e["reason"],
           "explained_by": e["explained_by"], "approved_by": ctx.user.user_id, "explained_at": ctx.now}
    return ctx.done({"explanations": [row]},
                    _("The explanation was approved."),
                    f"/gaps/{gap['gap_id']}")


def statement(ctx: Ctx) -> Response:
    statement_id = ctx.param("statement_id")
    if not inputs.RECORD_ID.fullmatch(statement_id):
        raise NotFound()
    row = ctx.reader.statement(statement_id)
    if row is None:
        raise NotFound()
    if ctx.user.roles == {"officer"} and row["uploaded_by"] != ctx.user.user_id:
        raise NotFound()
    ctx.service.record({"access_log": [{
        "access_id": new_id("access"), "action": "view", "sha256": None, "size": row["size"],
        "destination": ctx.client, "approval_ref": None, "by": ctx.user.user_id,
        "reason": _("statement for gap {gap}").format(gap=row["gap_id"]), "at": ctx.now, "host": socket.gethostname(),
        "request_id": None, "content": "statement", "byte_range": f"0-{row['size'] - 1}", "client": ctx.client}]},
        now=False)
    disposition = "inline" if row["media_type"] in ("application/pdf", "image/jpeg", "image/png") else "attachment"
    return Response(row["content"], media_type=row["media_type"],
                    headers={"content-disposition": f'{disposition}; filename="{row["file_name"]}"',
                             "content-security-policy": "default-src 'none'; sandbox", "cache-control": "no-store"})


PAGES = [
    Page("/gaps", waiting, ALL_ROLES),
    Page("/gaps/{gap_id}", gap_page, ALL_ROLES),
    Page("/gaps/{gap_id}/explain", explain, EXPLAINERS, ("POST",), max_body=UPLOAD),
    Page("/gaps/{gap_id}/approve", approve, frozenset({"approver"}), ("POST",)),
    Page("/statements/{statement_id}", statement, STATEMENT_READERS),
]
