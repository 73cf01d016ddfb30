"""A small archive for the review-service tests: a generated drop with proxies, and one account per role."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

from catalog.store import Catalog
from pipeline.native.passwords import hash_password
from pipeline.records import users

PASSWORD = "correct horse battery"
# name -> (roles, officer id, display name)
ACCOUNTS = {
    "pc.li": (("officer",), "OF17", "李警官"),
    "pc.ma": (("officer",), "OF23", "PC Ma"),
    "sgt.wang": (("approver",), None, "王警长"),
    "sgt.hu": (("approver",), None, "Sgt Hu"),
    "clerk.zhao": (("clerk",), None, "赵文员"),
    "audit.chen": (("auditor",), None, "陈审计"),
    "admin.sun": (("admin",), None, "Admin Sun"),
}


def add_accounts(archive: Path, accounts: dict = ACCOUNTS) -> None:
    now = datetime.now(timezone.utc)
    hashed = hash_password(PASSWORD)            # one hash for all: argon2id is slow on purpose
    Catalog(archive, fsync=False).commit({
        "users": [users.user_event(name, "add", by="test", at=now, roles=roles, display_name=display, officer_id=officer)
                  for name, (roles, officer, display) in accounts.items()],
        "credentials": [users.credential(name, hashed, by="test", at=now) for name in accounts],
    }, tag="test-users")


def build_archive(folder: Path, config) -> Path:
    """Drop (tests.report_drop) ingested with review proxies, plus the accounts; returns the archive."""
    from tests.helpers import ingest
    from tests.report_drop import make_drop

    make_drop(folder / "drop", datetime.now(timezone.utc))
    archive = folder / "archive"
    ingest([folder / "drop"], archive, config, proxies=True)
    add_accounts(archive)
    return archive


def fast_config():
    """Defaults without fsync (tests need no durability against power loss)."""
    import dataclasses

    from pipeline.config import load_config

    config = load_config()
    return dataclasses.replace(config, ingest=dataclasses.replace(config.ingest, fsync=False))


def recording_of(archive: Path, device: str) -> dict:
    """The first ok video of ``device`` that has a review proxy."""
    proxied = {d["parent_sha256"] for d in Catalog(archive).rows("derivatives") if d["status"] == "ok"}
    recs = sorted((r for r in Catalog(archive).rows("recordings")
                   if r["device_id"] == device and r["status"] == "ok" and r["sha256"] in proxied),
                  key=lambda r: r["start_time"])
    return recs[0]


def gap_of(archive: Path, device: str, kind: str = "between_files") -> dict:
    from pipeline.records import gapstate

    return next(g for g in gapstate.listing(Catalog(archive)) if g["device_id"] == device and g["kind"] == kind)


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


def sign_in(client, name: str, password: str = PASSWORD):
    page = client.get("/login")
    return client.post("/login", data={"user": name, "password": password, "csrf": csrf_of(page.text)},
                       follow_redirects=False)


def grant(archive: Path, action: str, kind: str, target: str | None = None, *, by: str = "clerk.zhao",
          approver: str = "sgt.wang", hours: float = 24.0, decision: str = "grant") -> str:
    """A request of ``by`` decided by ``approver`` (as the review service records them); its id."""
    from datetime import timedelta

    from pipeline.common.clock import now_utc
    from pipeline.records import access

    now = now_utc()                      # the one clock: a test may run "three months later"
    until = now + timedelta(hours=hours)
    decided_at = min(now, until - timedelta(hours=1)) - timedelta(minutes=1)      # an expired grant was decided earlier
    row = access.request_row(action=action, target_kind=kind, target=target, reason="for the test", by=by,
                             client="test", now=decided_at - timedelta(minutes=1))
    request = access.Request(row, ())
    decided = access.decision_row(request, decision=decision, by=approver, now=decided_at,
                                  valid_until=until if decision == "grant" else None)
    from pipeline.archive.writer import writing_run
    from pipeline.config import load_config

    with writing_run(archive, load_config(), "serve records") as run:     # as the service's flush does
        run.catalog.commit({"access_requests": [row], "access_decisions": [decided]}, tag=run.run_id)
    return row["request_id"]
