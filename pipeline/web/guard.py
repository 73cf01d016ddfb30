"""The one door every route goes through: signed in, of an allowed role, CSRF-checked, errors as pages.

A route is a ``Page``: its path, methods, the roles allowed (``PUBLIC`` for the sign-in page and
the static files only) and a plain function of a ``Ctx``. ``wrap`` turns it into the endpoint,
so no route can be registered without its check; tests walk the table to prove it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from pipeline.common.i18n import _
from pipeline.common.inputs import InputError
from pipeline.records.access import AccessRefused
from pipeline.records.users import Account
from pipeline.web import auth

PUBLIC: frozenset[str] = frozenset()
ALL_ROLES = frozenset({"officer", "clerk", "approver", "auditor", "admin"})
FORM_BYTES = 64 * 1024
UPLOAD = 0                               # max_body of a form that carries a written statement


class NotFound(Exception):
    """No such thing, or not one this user may know of (the same answer for both)."""


class Refused(Exception):
    """Signed in, but not allowed: the message says why."""


@dataclass(frozen=True)
class Page:
    path: str
    endpoint: Callable
    roles: frozenset[str]                # PUBLIC: no sign-in needed
    methods: tuple[str, ...] = ("GET",)
    max_body: int = FORM_BYTES           # bytes a POST may carry; UPLOAD: a statement's limit and a form

    @property
    def public(self) -> bool:
        return self.roles is PUBLIC


@dataclass
class Ctx:
    request: Request
    service: object                      # pipeline.web.app.Service
    now: datetime
    client: str
    user: Account | None = None
    session: auth.Session | None = None
    form: FormData | None = None
    cache: dict = field(default_factory=dict)

    def param(self, name: str) -> str:
        return self.request.path_params[name]

    def field(self, name: str) -> str | None:
        value = self.form.get(name) if self.form is not None else None
        return value if isinstance(value, str) else None

    def query(self, name: str) -> str | None:
        value = self.request.query_params.get(name)
        return value[:200] if value is not None else None

    @property
    def reader(self):
        if "reader" not in self.cache:
            self.cache["reader"] = self.service.reader()
        return self.cache["reader"]

    def flash(self, message: str) -> None:
        if self.session is not None:
            self.session.flash.append(message)

    def render(self, template: str, status: int = 200, **context) -> Response:
        from pipeline.web.render import page

        flashes = []
        if self.session is not None:
            flashes, self.session.flash = self.session.flash, []
        base = {"user": self.user, "csrf": self.session.csrf if self.session else "", "flashes": flashes,
                "now": self.now, "path": self.request.url.path}
        return page(self.service.env, template, {**base, **context}, status)

    def redirect(self, url: str) -> Response:
        return RedirectResponse(url, status_code=303)

    def done(self, batch: dict[str, list[dict]], message: str, url: str) -> Response:
        """Record what a person did (spooled, committed and sealed at once), say so, and show ``url``."""
        self.service.record(batch)
        self.flash(message)
        return self.redirect(url)


def client_of(request: Request) -> str:
    return (request.client.host if request.client else "unknown")[:64]


def wrap(page: Page, service) -> Callable:
    async def endpoint(request: Request) -> Response:
        ctx = Ctx(request, service, service.now(), client_of(request))
        if not page.public:
            token = request.cookies.get(auth.SESSION_COOKIE)
            session, expired = service.sessions.get(token, ctx.now)
            if expired:
                service.note_expired(token, ctx)
            account = service.accounts(ctx.reader).get(session.user_id) if session else None
            if account is None or not account.active:
                if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
                    return RedirectResponse("/login", status_code=303)
                return PlainTextResponse(_("Sign in first."), status_code=401)
            if not account.roles & page.roles:
                return _error(ctx, 403, _("Your role does not allow this page."), account, session)
            ctx.user, ctx.session = account, session
        if request.method == "POST":
            limit = page.max_body or service.config.service.statement_max_bytes + FORM_BYTES
            length = request.headers.get("content-length")
            if length is None or not length.isdigit() or int(length) > limit:
                return PlainTextResponse(_("The request is too large or has no length."), status_code=413)
            try:
                ctx.form = await request.form(max_files=1, max_fields=40, max_part_size=limit)
            except Exception:                # malformed multipart or urlencoded body: refused, never a 500
                return PlainTextResponse(_("The form could not be read."), status_code=400)
            expected = ctx.session.csrf if ctx.session else request.cookies.get(auth.LOGIN_COOKIE)
            if not auth.same(ctx.field("csrf"), expected):
                return _error(ctx, 403, _("The form has expired or did not come from this service; reload the "
                                          "page and try again."), ctx.user, ctx.session)
        try:
            return await run_in_threadpool(page.endpoint, ctx)
        except InputError as exc:
            return _error(ctx, 400, str(exc), ctx.user, ctx.session)
        except (AccessRefused, Refused) as exc:
            return _error(ctx, 403, str(exc), ctx.user, ctx.session)
        except NotFound:
            return _error(ctx, 404, _("Not found."), ctx.user, ctx.session)
        finally:
            if ctx.form is not None:
                await ctx.form.close()
            if "reader" in ctx.cache:
                ctx.cache["reader"].close()
    endpoint.__name__ = page.endpoint.__name__
    return endpoint


def _error(ctx: Ctx, status: int, message: str, user, session) -> Response:
    ctx.user, ctx.session = user, session
    return ctx.render("error.html", status=status, status_code=status, message=message)
