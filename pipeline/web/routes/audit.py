"""For auditors: the access log (who saw or copied what, under which grant), sign-ins, the latest verify."""

from __future__ import annotations

from starlette.responses import Response

from pipeline.common import inputs
from pipeline.common.i18n import _
from pipeline.web.guard import Ctx, Page

AUDITORS = frozenset({"auditor"})


def access_log(ctx: Ctx) -> Response:
    user = ctx.query("user") or None
    if user:
        user = inputs.user_id(user)
    sha = (ctx.query("sha") or "").strip().lower() or None
    if sha and not all(c in "0123456789abcdef" for c in sha):
        raise inputs.InputError(_("sha256 is not valid"))
    limit = ctx.service.config.service.page_rows
    return ctx.render("audit.html", rows=ctx.reader.access_log(limit, user, sha), auth=ctx.reader.auth_events(limit),
                      user_filter=user or "", sha_filter=sha or "", spooled=ctx.service.outbox.pending_count())


def verify_result(ctx: Ctx) -> Response:
    run, counts, problems = ctx.reader.latest_verify(ctx.service.config.service.page_rows)
    return ctx.render("verify.html", run=run, counts=counts, problems=problems)


PAGES = [
    Page("/audit", access_log, AUDITORS),
    Page("/audit/verify", verify_result, AUDITORS),
]
