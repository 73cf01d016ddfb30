"""Cases: list, open, assign recordings, close and reopen. Events are appended as `fieldrec case` does."""

from __future__ import annotations

from starlette.responses import Response

from pipeline.common import inputs
from pipeline.common.clock import new_id
from pipeline.common.i18n import _
from pipeline.rules.retention import case_states
from pipeline.web import site
from pipeline.web.guard import Ctx, NotFound, Page, Refused

READERS = frozenset({"clerk", "approver", "auditor", "admin"})
KEEPERS = frozenset({"clerk", "admin"})


def _states(ctx: Ctx) -> dict:
    return case_states(ctx.reader.case_events())


def _case(ctx: Ctx):
    """The case the URL names, as its events leave it (404 for a malformed or unknown id)."""
    case_id = ctx.param("case_id")
    state = _states(ctx).get(case_id) if inputs.RECORD_ID.fullmatch(case_id) else None
    if state is None:
        raise NotFound()
    return case_id, state


def listing(ctx: Ctx) -> Response:
    states = _states(ctx)
    return ctx.render("cases.html", cases=sorted(states.values(), key=lambda c: c.opened_at, reverse=True))


def open_case(ctx: Ctx) -> Response:
    case_id = inputs.record_id(ctx.field("case_id"), _("case number"))
    title = inputs.clean_text(ctx.field("title"), _("title"), max_len=200)
    cls = ctx.field("retention_class") or "case"
    if cls not in ("case", "permanent"):
        raise inputs.InputError(_("a case is kept as a case or permanently"))
    if case_id in _states(ctx):
        raise Refused(_("Case {id} exists already.").format(id=case_id))
    return ctx.done({"cases": [{"case_id": case_id, "event": "open", "retention_class": cls, "title": title,
                                   "note": None, "at": ctx.now, "by": ctx.user.user_id, "recorded_at": ctx.now}]},
                    _("Case {id} was opened.").format(id=case_id),
                    f"/cases/{case_id}")


def case_page(ctx: Ctx) -> Response:
    case_id, state = _case(ctx)
    reader = ctx.reader
    recs = reader.case_recordings(case_id, ctx.service.config.service.page_rows)
    for r in recs:
        r["start_utc"] = site.device_to_site(r["start_time"], r["device_id"], ctx.service.config)
    events = [e for e in reader.case_events() if e["case_id"] == case_id]
    return ctx.render("case.html", case=state, events=events, assignments=reader.assignments(case_id), recs=recs,
                      may_keep=ctx.user.has(*KEEPERS))


def assign(ctx: Ctx) -> Response:
    case_id, state = _case(ctx)
    if not state.is_open:
        raise Refused(_("Case {id} is closed; reopen it first.").format(id=case_id))
    base = {"assignment_id": new_id("asg"), "case_id": case_id, "retention_class": state.retention_class,
            "duration_days": None, "note": inputs.clean_text(ctx.field("note"), _("note"), max_len=500, required=False),
            "at": ctx.now, "by": ctx.user.user_id}
    sha = (ctx.field("sha") or "").strip().lower()
    if sha:
        sha = inputs.sha256(sha, _("recording"))
        if not ctx.reader.known_sha(sha):
            raise inputs.InputError(_("no recording of this archive has this SHA-256"))
        row = {**base, "selector": "sha256", "sha256": sha}
    else:
        device = inputs.clean_text(ctx.field("device_id"), _("device"), max_len=64)
        if not inputs.RECORD_ID.fullmatch(device):
            raise inputs.InputError(_("device is not valid"))
        start = site.parse_typed(ctx.field("from"), _("from"), ctx.service.zone)
        end = site.parse_typed(ctx.field("to"), _("to"), ctx.service.zone)
        if end <= start:
            raise inputs.InputError(_("the end of the range must come after its start"))
        row = {**base, "selector": "device", "device_id": device, "range_start": start, "range_end": end}
    return ctx.done({"assignments": [row]},
                    _("The recordings were assigned to case {id}.").format(id=case_id),
                    f"/cases/{case_id}")


def change(ctx: Ctx) -> Response:
    case_id, state = _case(ctx)
    event = "close" if state.is_open else "reopen"
    return ctx.done({"cases": [{"case_id": case_id, "event": event, "retention_class": None, "title": None,
                                   "note": inputs.clean_text(ctx.field("note"), _("note"), max_len=500, required=False),
                                   "at": ctx.now, "by": ctx.user.user_id, "recorded_at": ctx.now}]},
                    _("Case {id} was closed.").format(id=case_id) if event == "close"
              else _("Case {id} was reopened.").format(id=case_id),
                    f"/cases/{case_id}")


PAGES = [
    Page("/cases", listing, READERS),
    Page("/cases", open_case, KEEPERS, ("POST",)),
    Page("/cases/{case_id}", case_page, READERS),
    Page("/cases/{case_id}/assign", assign, KEEPERS, ("POST",)),
    Page("/cases/{case_id}/state", change, KEEPERS, ("POST",)),
]
