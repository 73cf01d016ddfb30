"""The review service over HTTP: the authorisation matrix (every route x every role) and the abuse cases.

The matrix walks the application's own route table, so a route added later is checked too.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta, timezone

import pytest

from catalog.store import Catalog
from tests.webkit import ACCOUNTS, PASSWORD, build_archive, csrf_of, fast_config, gap_of, recording_of, sign_in

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx`")

ROLE_USER = {"officer": "pc.li", "clerk": "clerk.zhao", "approver": "sgt.wang", "auditor": "audit.chen",
             "admin": "admin.sun"}
PUBLIC_ROUTES = {("/login", "GET"), ("/login", "POST"), ("/static/{name}", "GET")}


class Clock:
    def __init__(self):
        self.now = datetime.now(timezone.utc)

    def __call__(self):
        return self.now


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_archive(tmp_path_factory.mktemp("websec"), fast_config())


@pytest.fixture
def archive(built, tmp_path):
    import shutil

    copy = tmp_path / "archive"
    shutil.copytree(built, copy)
    return copy


@pytest.fixture
def web(archive):
    from starlette.testclient import TestClient

    from pipeline.web.app import create_app

    clock = Clock()
    config = fast_config()
    config = dataclasses.replace(config, service=dataclasses.replace(config.service, statement_max_bytes=50_000))
    app = create_app(archive, config, clock=clock, fsync=False, start_flusher=False)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client, app, clock, archive


def as_user(client, name):
    client.cookies.clear()
    assert sign_in(client, name).status_code == 303
    return csrf_of(client.get("/requests").text)


def fill(path: str, archive) -> str:
    sha = recording_of(archive, "BWC101")["sha256"]
    values = {"sha": sha, "index": "0", "device_id": "BWC101", "gap_id": gap_of(archive, "BWC101")["gap_id"],
              "request_id": "REQ-20260101T000000Z-abcdef", "case_id": "C1", "statement_id": "STM-x",
              "name": "service.css"}
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def ask(client, csrf, sha, action="view", reason="review"):
    r = client.post("/requests", data={"csrf": csrf, "action": action, "target_kind": "recording", "target": sha,
                                       "reason": reason}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return r.headers["location"].rsplit("/", 1)[-1]


def decide(client, csrf, request_id, until: str, decision="grant"):
    return client.post(f"/requests/{request_id}/decide", data={"csrf": csrf, "decision": decision,
                                                                "valid_until": until}, follow_redirects=False)


def tomorrow(clock) -> str:
    return (clock.now + timedelta(days=1)).astimezone(timezone(timedelta(hours=8))).strftime("%Y-%m-%dT%H:%M")


# -- the matrix ---------------------------------------------------------------------------------------

def test_every_route_is_one_of_the_table_and_only_sign_in_and_static_are_public(web):
    client, app, *_ = web
    pages = app.state.pages
    assert len(app.routes) == len(pages)
    assert {(p.path, m) for p in pages if p.public for m in p.methods} == PUBLIC_ROUTES
    assert all(p.roles for p in pages if not p.public)


def test_every_route_refuses_an_unauthenticated_request(web):
    client, app, _, archive = web
    for page in app.state.pages:
        if page.public:
            continue
        for method in page.methods:
            r = client.request(method, fill(page.path, archive), data={"csrf": "x"} if method == "POST" else None,
                               headers={"accept": "text/html"}, follow_redirects=False)
            assert (r.status_code, r.headers.get("location")) in ((303, "/login"), (401, None)), (page.path, method)


@pytest.mark.parametrize("role", sorted(ROLE_USER))
def test_every_route_refuses_a_user_of_the_wrong_role(web, role):
    client, app, _, archive = web
    csrf = as_user(client, ROLE_USER[role])
    for page in sorted(app.state.pages, key=lambda p: p.path == "/logout"):      # signing out last
        if page.public:
            continue
        for method in page.methods:
            r = client.request(method, fill(page.path, archive), data={"csrf": csrf} if method == "POST" else None,
                               follow_redirects=False)
            if role in page.roles:
                assert r.status_code not in (401, 500), (page.path, method, r.status_code)
                if method == "GET" and page.path in ("/", "/devices", "/gaps", "/requests", "/cases", "/audit",
                                                     "/audit/verify", "/devices/{device_id}", "/recordings/{sha}"):
                    assert r.status_code == 200, (page.path, r.status_code)
            else:
                assert r.status_code == 403, (role, page.path, method, r.status_code)


# -- grants --------------------------------------------------------------------------------------------

def test_content_needs_a_current_grant_of_ones_own(web):
    client, app, clock, archive = web
    sha = recording_of(archive, "BWC101")["sha256"]
    csrf = as_user(client, "pc.li")
    assert client.get(f"/recordings/{sha}/proxy").status_code == 403
    assert client.get(f"/recordings/{sha}/thumbnails/0").status_code == 403
    request_id = ask(client, csrf, sha)
    # Nobody approves their own request, not even an approver.
    approver_csrf = as_user(client, "sgt.wang")
    own = ask(client, approver_csrf, sha)
    assert decide(client, approver_csrf, own, tomorrow(clock)).status_code == 403
    # Period checks: in the past, longer than allowed.
    assert decide(client, approver_csrf, request_id, "2020-01-01T10:00").status_code == 400
    too_long = (clock.now + timedelta(days=45)).strftime("%Y-%m-%dT%H:%M")
    assert decide(client, approver_csrf, request_id, too_long).status_code == 400
    assert decide(client, approver_csrf, request_id, "not a time").status_code == 400
    assert decide(client, approver_csrf, request_id, tomorrow(clock)).status_code == 303
    assert decide(client, approver_csrf, request_id, tomorrow(clock)).status_code == 403     # decided already
    # Another officer cannot use it, nor see the request.
    as_user(client, "pc.ma")
    assert client.get(f"/recordings/{sha}/proxy").status_code == 403
    assert client.get(f"/requests/{request_id}").status_code == 404
    # The requester can, with seeking (Range), and every serving is logged before it is sent.
    as_user(client, "pc.li")
    r = client.get(f"/recordings/{sha}/proxy", headers={"range": "bytes=10-19"})
    assert r.status_code == 206 and len(r.content) == 10
    assert client.get(f"/recordings/{sha}/thumbnails/0").status_code == 200
    log = app.state.service.outbox.rows("access_log")
    assert sorted((r["by"], r["request_id"], r["content"], r["byte_range"]) for r in log) == sorted([
        ("pc.li", request_id, "proxy", "10-19"), ("pc.li", request_id, "thumbnail", log[-1]["byte_range"])])
    # The period is enforced: a day and a minute later, refused again.
    clock.now += timedelta(days=1, minutes=2)
    assert client.get(f"/recordings/{sha}/proxy").status_code == 401          # the session has ended too
    as_user(client, "pc.li")
    assert client.get(f"/recordings/{sha}/proxy").status_code == 403


def test_a_revoked_grant_stops_at_once(web):
    client, app, clock, archive = web
    sha = recording_of(archive, "BWC101")["sha256"]
    request_id = ask(client, as_user(client, "pc.li"), sha)
    csrf = as_user(client, "sgt.wang")
    decide(client, csrf, request_id, tomorrow(clock))
    assert decide(client, csrf, request_id, "", decision="revoke").status_code == 303
    as_user(client, "pc.li")
    assert client.get(f"/recordings/{sha}/proxy").status_code == 403


def test_a_role_configured_to_see_content_needs_no_grant_and_is_still_logged(archive):
    from starlette.testclient import TestClient

    from pipeline.web.app import create_app

    config = fast_config()
    config = dataclasses.replace(config, service=dataclasses.replace(config.service, content_roles=("auditor",)))
    sha = recording_of(archive, "BWC101")["sha256"]
    app = create_app(archive, config, fsync=False, start_flusher=False)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        as_user(client, "audit.chen")
        assert client.get(f"/recordings/{sha}/proxy").status_code == 200
        (row,) = app.state.service.outbox.rows("access_log")
        assert row["by"] == "audit.chen" and row["request_id"] is None


def test_an_approved_export_writes_the_bag_named_for_the_request(web, tmp_path):
    import subprocess

    client, app, clock, archive = web
    sha = recording_of(archive, "BWC102")["sha256"]
    request_id = ask(client, as_user(client, "clerk.zhao"), sha, action="export")
    decide(client, as_user(client, "sgt.hu"), request_id, tomorrow(clock))
    csrf = as_user(client, "clerk.zhao")
    assert client.post(f"/requests/{request_id}/export", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    bag = archive.parent / "archive-exports" / request_id
    assert subprocess.run(["sha256sum", "-c", "manifest-sha256.txt"], cwd=bag, capture_output=True).returncode == 0
    assert f"Approval-Reference: {request_id}" in (bag / "bag-info.txt").read_text()
    assert client.post(f"/requests/{request_id}/export", data={"csrf": csrf}).status_code == 403   # once
    service = app.state.service
    service.outbox.flush(service.config)
    (row,) = [r for r in Catalog(archive).rows("access_log") if r["action"] == "export"]
    assert (row["by"], row["sha256"], row["request_id"], row["content"]) == ("clerk.zhao", sha, request_id, "original")


# -- abuse ------------------------------------------------------------------------------------------------

def test_forms_without_the_csrf_token_are_refused_and_record_nothing(web):
    client, app, _, archive = web
    sha = recording_of(archive, "BWC101")["sha256"]
    as_user(client, "pc.li")
    for token in (None, "", "forged"):
        data = {"action": "view", "target_kind": "recording", "target": sha, "reason": "x"}
        if token is not None:
            data["csrf"] = token
        assert client.post("/requests", data=data).status_code == 403
    assert app.state.service.outbox.rows("access_requests") == []
    client.cookies.clear()
    r = client.post("/login", data={"user": "pc.li", "password": PASSWORD, "csrf": "guess"}, follow_redirects=False)
    assert r.status_code == 403


def test_cookies_are_httponly_and_samesite_and_every_answer_has_a_strict_csp(web):
    client, app, _, archive = web
    client.cookies.clear()
    page = client.get("/login")
    r = client.post("/login", data={"user": "pc.li", "password": PASSWORD, "csrf": csrf_of(page.text)},
                    follow_redirects=False)
    for header in [page.headers["set-cookie"], r.headers["set-cookie"]]:
        assert "httponly" in header.lower() and "samesite=strict" in header.lower()
    sha = recording_of(archive, "BWC101")["sha256"]
    for path in ("/", "/static/service.css", "/static/report.js", f"/recordings/{sha}", f"/recordings/{sha}/proxy",
                 "/nowhere", "/audit"):
        csp = client.get(path).headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert not re.search(r"https?:|\*|unsafe-inline|unsafe-eval", csp), csp
    html = client.get(f"/recordings/{sha}").text
    assert "<script>" not in html and " style=" not in html and "http://" not in html and "https://" not in html


@pytest.mark.parametrize("path", [
    "/recordings/..%2F..%2Fetc%2Fpasswd", "/recordings/%2e%2e/proxy", "/static/..%2Fapp.py", "/static/app.py",
    "/static/%2e%2e%2fauth.py", "/gaps/..%2F..%2Fcatalog", "/statements/..%2F..%2Fcredentials", "/devices/..%2Fetc",
    "/cases/..%2F..", "/requests/..%2Fx", "/recordings/{sha}/thumbnails/-1", "/recordings/{sha}/thumbnails/99999999999",
    "/recordings/{sha}/thumbnails/..%2F..%2Fetc", "/recordings/" + "a" * 64 + "/proxy",
])
def test_ids_in_urls_never_reach_the_filesystem(web, path):
    client, app, _, archive = web
    as_user(client, "admin.sun")
    r = client.get(fill(path, archive))
    assert r.status_code in (403, 404), r.status_code
    assert b"root:" not in r.content and b"import " not in r.content


def test_a_proxy_row_pointing_outside_the_proxies_folder_is_not_served(web):
    client, app, clock, archive = web
    sha = recording_of(archive, "BWC103")["sha256"]
    Catalog(archive, fsync=False).commit({"derivatives": [{
        "parent_sha256": sha, "kind": "proxy-video", "status": "ok", "archive_path": "../../../../etc/passwd",
        "created_at": clock.now + timedelta(hours=1)}]}, tag="planted")
    config = dataclasses.replace(app.state.service.config, service=dataclasses.replace(
        app.state.service.config.service, content_roles=("admin",)))
    app.state.service.config = config
    as_user(client, "admin.sun")
    r = client.get(f"/recordings/{sha}/proxy")
    assert r.status_code == 404 and b"root:" not in r.content


@pytest.mark.parametrize("field,value,status", [
    ("reason", "", 400), ("reason", "   ", 400), ("reason", "bell\x07", 400), ("reason", "esc\x1b[31m", 400),
    ("reason", "rtl\u202eoverride", 400), ("reason", "x" * 100_000, 413), ("reason", "x" * 2001, 400),
    ("target", "../../etc/passwd", 400), ("target", "", 400), ("target", "f" * 64, 400),
    ("action", "delete", 400), ("action", "", 400), ("target_kind", "file", 400), ("action", "purge", 403),
])
def test_request_fields_are_attacked(web, field, value, status):
    client, app, _, archive = web
    csrf = as_user(client, "pc.li")
    data = {"csrf": csrf, "action": "view", "target_kind": "recording",
            "target": recording_of(archive, "BWC101")["sha256"], "reason": "review", field: value}
    assert client.post("/requests", data=data).status_code == status
    assert app.state.service.outbox.rows("access_requests") == []


@pytest.mark.parametrize("upload,status", [
    (("s.bin", b"\x00\x01\x02binary\xff\xfe", "application/octet-stream"), 400),
    (("empty.txt", b"", "text/plain"), 400),
    (("big.txt", b"x" * 60_000, "text/plain"), 400),
    (("../../etc/passwd.txt", b"a statement", "text/plain"), 303),
    (("s.pdf", b"%PDF-1.4 a statement", "application/pdf"), 303),
])
def test_explanations_and_statements_are_attacked(web, upload, status):
    client, app, _, archive = web
    gap = gap_of(archive, "BWC101")
    csrf = as_user(client, "pc.li")
    r = client.post(f"/gaps/{gap['gap_id']}/explain", data={"csrf": csrf, "reason": "battery"},
                    files={"statement": upload}, follow_redirects=False)
    assert r.status_code == status
    stored = app.state.service.outbox.rows("statements")
    if status == 303:
        (row,) = stored
        assert "/" not in row["file_name"] and ".." not in row["file_name"].split("_")[0:1]
        assert row["content"] == upload[1]
    else:
        assert stored == [] and app.state.service.outbox.rows("explanations") == []


def test_officers_explain_only_their_own_gaps_and_nobody_approves_their_own(web):
    client, app, _, archive = web
    gap = gap_of(archive, "BWC101")                   # OF17: pc.li's
    csrf = as_user(client, "pc.ma")
    r = client.post(f"/gaps/{gap['gap_id']}/explain", data={"csrf": csrf, "reason": "not mine", "spoken": "yes"})
    assert r.status_code == 403
    csrf = as_user(client, "pc.li")
    r = client.post(f"/gaps/{gap['gap_id']}/explain", data={"csrf": csrf, "reason": "battery"},
                    files={"statement": ("s.txt", b"statement", "text/plain")}, follow_redirects=False)
    assert r.status_code == 303
    (e,) = app.state.service.outbox.rows("explanations")
    csrf = as_user(client, "sgt.wang")
    assert client.post(f"/gaps/{gap['gap_id']}/approve", data={"csrf": csrf, "explanation_id": "../x"}).status_code == 400
    assert client.post(f"/gaps/{gap['gap_id']}/approve", data={"csrf": csrf, "explanation_id": e["explanation_id"]},
                       follow_redirects=False).status_code == 303
    assert client.get(f"/gaps/{gap['gap_id']}").text.count('id="gap-state">explained<') == 1


@pytest.mark.parametrize("field,value", [("case_id", "../../x"), ("case_id", ""), ("case_id", "C" * 200),
                                         ("title", ""), ("title", "t\x00"), ("retention_class", "routine")])
def test_case_fields_are_attacked(web, field, value):
    client, app, *_ = web
    csrf = as_user(client, "clerk.zhao")
    data = {"csrf": csrf, "case_id": "INC-1", "title": "Market St", "retention_class": "case", field: value}
    assert client.post("/cases", data=data).status_code == 400
    assert app.state.service.outbox.rows("cases") == []


def test_sign_in_is_throttled_and_failures_are_recorded_without_the_password(web):
    client, app, clock, archive = web
    client.cookies.clear()
    for attempt in range(5):
        page = client.get("/login")
        r = client.post("/login", data={"user": "pc.li", "password": f"wrong-{attempt}", "csrf": csrf_of(page.text)})
        assert r.status_code == 401
    page = client.get("/login")
    r = client.post("/login", data={"user": "pc.li", "password": PASSWORD, "csrf": csrf_of(page.text)})
    assert r.status_code == 429
    page = client.get("/login")
    r = client.post("/login", data={"user": "x" * 100_000, "password": "p", "csrf": csrf_of(page.text)})
    assert r.status_code == 413
    clock.now += timedelta(minutes=16)
    assert sign_in(client, "pc.li").status_code == 303
    service = app.state.service
    events = [e["event"] for e in service.outbox.rows("auth_events")]
    assert events.count("login_failed") == 5 and "login_throttled" in events and events[-1] == "login"
    service.outbox.flush(service.config)
    spooled_and_stored = b"".join(p.read_bytes() for p in archive.rglob("*") if p.is_file() and "objects" not in p.parts)
    for secret in [PASSWORD.encode(), b"wrong-0"]:
        assert secret not in spooled_and_stored
    assert all(c["password_hash"].startswith("$argon2id$") for c in Catalog(archive).rows("credentials"))


def test_sessions_expire_and_a_disabled_account_is_signed_out(web):
    client, app, clock, archive = web
    as_user(client, "pc.li")
    clock.now += timedelta(minutes=31)
    assert client.get("/", headers={"accept": "text/html"}, follow_redirects=False).status_code == 303
    as_user(client, "pc.ma")
    from pipeline.records import users

    Catalog(archive, fsync=False).commit({"users": [users.user_event("pc.ma", "disable", by="test", at=clock.now)]},
                                         tag="disable")
    assert client.get("/requests").status_code == 401


def test_password_hashes_are_not_readable_through_sql(web, capsys):
    from pipeline.cli import main

    _, _, _, archive = web
    assert main(["sql", "--archive", str(archive), "SELECT * FROM credentials"]) == 2
    assert "credentials" in capsys.readouterr().err


def test_all_accounts_of_the_fixture_sign_in():
    assert set(ROLE_USER.values()) <= set(ACCOUNTS)
