"""The review service's application: its state (``Service``), the route table, the security headers."""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

from starlette.applications import Starlette
from starlette.routing import Route

from catalog.store import Catalog
from pipeline.common.clock import new_id, now_utc
from pipeline.records import access, outbox, users
from pipeline.web import auth, guard, render, site
from pipeline.web.snapshot import Snapshot

log = logging.getLogger(__name__)

# No source outside this service, no inline script or style, no framing, forms only to itself.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; "
       "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
           (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer"),
           (b"cross-origin-opener-policy", b"same-origin"), (b"cross-origin-resource-policy", b"same-origin"),
           (b"permissions-policy", b"camera=(), microphone=(), geolocation=()")]


class SecurityHeaders:
    """Adds the headers above to every response; pages and content are never cached by the browser."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        is_static = scope["path"].startswith("/static/")

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in HEADERS if k not in names]
                if b"cache-control" not in names:
                    extra.append((b"cache-control", b"max-age=3600" if is_static else b"no-store"))
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Service:
    """What every request shares: the archive, its configuration, the spool, sessions and templates."""

    def __init__(self, archive: Path, config, *, clock: Callable[[], datetime] = now_utc, fsync: bool = True):
        self.archive = Path(archive).resolve()
        self.config = config
        self.clock = clock
        self.zone = site.site_zone(config)
        self.outbox = outbox.Outbox(self.archive, fsync=fsync)
        self.flusher = outbox.Flusher(self.outbox, config)
        cfg = config.service
        self.sessions = auth.Sessions(timedelta(minutes=cfg.session_idle_minutes), timedelta(hours=cfg.session_max_hours))
        self.throttle = auth.Throttle(cfg.login_max_failures, timedelta(seconds=cfg.login_window_s))
        self.env = render.environment(config)
        self.snapshot = Snapshot(self.archive)

    def now(self) -> datetime:
        return self.clock()

    @property
    def catalog(self) -> Catalog:
        return Catalog(self.archive)

    # -- reading --------------------------------------------------------------------------------
    def reader(self):
        from pipeline.web.reads import Reader

        return Reader(self)

    def accounts(self, reader=None) -> dict[str, users.Account]:
        reader = reader or self.reader()
        return users.accounts(reader.table("users"), reader.table("credentials"))

    def requests(self, reader=None) -> dict[str, access.Request]:
        reader = reader or self.reader()
        return access.load_requests(reader.table("access_requests"), reader.table("access_decisions"))

    def cases_holding(self, sha256: str, reader=None) -> set[str]:
        reader = reader or self.reader()
        return access.cases_of(reader.recording(sha256), reader.rows("SELECT * FROM assignments WHERE case_id IS NOT NULL"),
                               reader.table("handovers"), self.config)

    def content_grant(self, user: users.Account, sha256: str, action: str = "view", reader=None
                      ) -> tuple[bool, access.Request | None]:
        """May ``user`` see and hear this recording now, and under which grant (None: the role allows it)."""
        if action == "view" and user.roles & set(self.config.service.content_roles):
            return True, None
        reader = reader or self.reader()
        requests = {k: r for k, r in self.requests(reader).items() if r.requested_by == user.user_id}
        cases = set()
        if any(r.row["target_kind"] == "case" for r in requests.values()):
            cases = self.cases_holding(sha256, reader)
        grant = access.current_grant(requests, user.user_id, action, sha256, cases, self.now())
        return grant is not None, grant

    # -- writing --------------------------------------------------------------------------------
    def record(self, batch: dict[str, list[dict]], *, now: bool = True) -> None:
        """Spool ``batch`` durably; with ``now`` commit and seal it at once (else with the next batch)."""
        self.outbox.append(batch)
        if now:
            self.flusher.soon()

    def note_expired(self, token: str | None, ctx) -> None:
        self.record({"auth_events": [{"event_id": new_id("auth"), "event": "expired", "user_id": None,
                                      "client": ctx.client, "at": ctx.now}]}, now=False)

    def start(self) -> None:
        self.flusher.flush_once()             # what a crashed run left spooled goes in first
        self.flusher.start()

    def stop(self) -> None:
        self.flusher.stop()
        self.outbox.close()


def pages() -> list[guard.Page]:
    from pipeline.web.routes import ALL_PAGES

    return ALL_PAGES


def create_app(archive: Path, config, *, clock: Callable[[], datetime] = now_utc, fsync: bool = True,
               start_flusher: bool = True) -> Starlette:
    service = Service(archive, config, clock=clock, fsync=fsync)
    routes = [Route(p.path, guard.wrap(p, service), methods=list(p.methods)) for p in pages()]

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if start_flusher:
            service.start()
        try:
            yield
        finally:
            if start_flusher:
                service.stop()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.service = service
    app.state.pages = pages()
    app.add_middleware(SecurityHeaders)
    return app
