"""Sign in, sign out, and the static files (the only routes open without a session)."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from starlette.responses import RedirectResponse, Response

from pipeline.common.clock import new_id
from pipeline.common.i18n import _
from pipeline.common.inputs import USER_ID
from pipeline.native.passwords import verify_password
from pipeline.report.assets import CSS as REPORT_CSS, SCRIPT as REPORT_SCRIPT
from pipeline.web import auth
from pipeline.web.guard import ALL_ROLES, PUBLIC, Ctx, NotFound, Page

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}


def _static_files() -> dict[str, tuple[bytes, str]]:
    """Every asset by name, read once: a URL names an entry here, never a path on disk."""
    files = {p.name: (p.read_bytes(), TYPES[p.suffix]) for p in STATIC_DIR.iterdir() if p.suffix in TYPES}
    files["report.css"] = (REPORT_CSS.encode(), TYPES[".css"])
    files["report.js"] = (REPORT_SCRIPT.encode(), TYPES[".js"])
    return files


STATIC = _static_files()


def static(ctx: Ctx) -> Response:
    entry = STATIC.get(ctx.param("name"))
    if entry is None:
        raise NotFound()
    return Response(entry[0], media_type=entry[1])


def login_form(ctx: Ctx, status: int = 200, message: str | None = None) -> Response:
    token = ctx.request.cookies.get(auth.LOGIN_COOKIE)
    if not token or not re.fullmatch(r"[A-Za-z0-9_-]{20,100}", token):
        token = secrets.token_urlsafe(32)
    response = ctx.render("login.html", status=status, login_csrf=token, message=message)
    response.set_cookie(auth.LOGIN_COOKIE, token, httponly=True, samesite="strict",
                        secure=ctx.service.config.service.cookie_secure, path="/login")
    return response


def login(ctx: Ctx) -> Response:
    service = ctx.service
    typed = (ctx.field("user") or "").strip().lower()[:64]
    name = typed if USER_ID.fullmatch(typed) else None
    keys = [f"ip:{ctx.client}"] + ([f"user:{name}"] if name else [])
    event = {"event_id": new_id("auth"), "user_id": name or "(not a user name)", "client": ctx.client, "at": ctx.now}
    if service.throttle.blocked(keys, ctx.now):
        service.record({"auth_events": [{**event, "event": "login_throttled"}]}, now=False)
        return login_form(ctx, 429, _("Too many failed sign-ins; wait a few minutes and try again."))
    account = service.accounts(ctx.reader).get(name) if name else None
    password = ctx.field("password") or ""
    ok = verify_password(account.password_hash if account else None, password)
    if not ok or account is None or not account.active:
        service.throttle.fail(keys, ctx.now)
        service.record({"auth_events": [{**event, "event": "login_failed"}]}, now=False)
        return login_form(ctx, 401, _("Wrong name or password."))
    service.throttle.clear(f"user:{name}")
    token, _session = service.sessions.start(account.user_id, ctx.now)
    service.record({"auth_events": [{**event, "event": "login"}]}, now=False)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(auth.SESSION_COOKIE, token, httponly=True, samesite="strict",
                        secure=service.config.service.cookie_secure, path="/")
    response.delete_cookie(auth.LOGIN_COOKIE, path="/login")
    return response


def logout(ctx: Ctx) -> Response:
    ctx.service.sessions.end(ctx.request.cookies.get(auth.SESSION_COOKIE))
    ctx.service.record({"auth_events": [{"event_id": new_id("auth"), "event": "logout", "user_id": ctx.user.user_id,
                                         "client": ctx.client, "at": ctx.now}]}, now=False)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    return response


PAGES = [
    Page("/login", login_form, PUBLIC),
    Page("/login", login, PUBLIC, ("POST",)),
    Page("/static/{name}", static, PUBLIC),
    Page("/logout", logout, ALL_ROLES, ("POST",)),
]
