"""The service's records: spooled durably, committed and sealed once, adopted after a crash; accounts by CLI."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest

from catalog.store import Catalog
from pipeline.archive.lock import ArchiveBusy, ArchiveLock
from pipeline.cli import main
from pipeline.common.clock import new_id
from pipeline.records.outbox import Outbox, spooled_rows
from tests.webkit import fast_config

NOW = datetime.now(timezone.utc)


def event(n: int) -> dict:
    return {"event_id": f"auth-{n}", "event": "login", "user_id": "pc.li", "client": "127.0.0.1", "at": NOW}


@pytest.fixture
def archive(tmp_path):
    archive = tmp_path / "archive"
    Catalog(archive, fsync=False).create()
    return archive


def test_spooled_rows_are_visible_at_once_and_committed_and_sealed_once(archive):
    box = Outbox(archive, fsync=False)
    box.append({"auth_events": [event(1), event(2)]})
    assert [r["event_id"] for r in box.rows("auth_events")] == ["auth-1", "auth-2"]
    assert len(spooled_rows(archive, "auth_events")) == 2          # what `fieldrec export` would see
    assert box.flush(fast_config()) == 2
    assert box.flush(fast_config()) == 0
    assert [r["event_id"] for r in Catalog(archive).rows("auth_events")] == ["auth-1", "auth-2"]
    assert box.rows("auth_events") == [] and spooled_rows(archive, "auth_events") == []
    manifests = sorted((archive / "manifests").glob("*.json"))
    assert manifests and "serve" in manifests[-1].name
    assert "catalog/auth_events/" in manifests[-1].read_text()


def test_a_crashed_service_spool_is_adopted_and_nothing_is_committed_twice(archive):
    dead = Outbox(archive, fsync=False)
    dead.append({"auth_events": [event(1)]})
    dead._fh.close()                                 # the process died: its flock is gone, its file stays
    # It had also committed its first batch but died before deleting the spool: ids guard against a repeat.
    Catalog(archive, fsync=False).commit({"auth_events": [event(1)]}, tag="before-the-crash")
    with open(dead.path, "ab") as fh:
        fh.write(b'{"table": "auth_events", "row": {"event_id": "torn')      # a torn last line
    alive = Outbox(archive, fsync=False)
    assert [r["event_id"] for r in alive.rows("auth_events")] == ["auth-1"]
    alive.append({"auth_events": [event(2)]})
    alive.flush(fast_config())
    assert sorted(r["event_id"] for r in Catalog(archive).rows("auth_events")) == ["auth-1", "auth-2"]
    assert not dead.path.exists()


def test_a_live_service_spool_is_not_taken_by_another(archive):
    first, second = Outbox(archive, fsync=False), Outbox(archive, fsync=False)
    first.append({"auth_events": [event(1)]})
    assert second.flush(fast_config()) == 0 and first.path.exists()
    assert first.flush(fast_config()) == 1


def test_while_an_ingest_holds_the_archive_records_stay_spooled_and_visible(archive):
    box = Outbox(archive, fsync=False)
    box.append({"auth_events": [event(1)]})
    with ArchiveLock(archive, "ingest"):
        with pytest.raises(ArchiveBusy):
            box.flush(fast_config(), wait_s=0.3)
        assert [r["event_id"] for r in box.rows("auth_events")] == ["auth-1"]
    assert box.flush(fast_config()) == 1


# -- fieldrec user -------------------------------------------------------------------------------------

def user(monkeypatch, archive, *args, stdin: str = ""):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(["user", *args, "--archive", str(archive)])


def test_user_add_list_roles_disable(monkeypatch, archive, capsys):
    assert user(monkeypatch, archive, "add", "pc.li", "--role", "officer", "--officer", "OF17", "--display-name",
                "李警官", "--password-stdin", stdin="a long enough password\n") == 0
    assert user(monkeypatch, archive, "roles", "pc.li", "--role", "officer", "--role", "clerk") == 0
    assert user(monkeypatch, archive, "disable", "pc.li") == 0
    capsys.readouterr()
    assert user(monkeypatch, archive, "list", "--format", "csv") == 0
    assert 'pc.li,李警官,"clerk,officer",OF17,no' in capsys.readouterr().out
    (cred,) = Catalog(archive).rows("credentials")
    assert cred["password_hash"].startswith("$argon2id$") and "a long enough" not in cred["password_hash"]


@pytest.mark.parametrize("args,stdin", [
    (["add", "pc.li", "--role", "sheriff"], "a long enough password\n"),
    (["add", "PC Li", "--role", "officer"], "a long enough password\n"),
    (["add", "../etc", "--role", "officer"], "a long enough password\n"),
    (["add", "x" * 100, "--role", "officer"], "a long enough password\n"),
    (["add", "pc.li", "--role", "officer"], "short\n"),
    (["add", "pc.li", "--role", "officer"], "control\x07characters here\n"),
    (["add", "pc.li", "--role", "officer", "--display-name", "a\x1bb"], "a long enough password\n"),
    (["add", "pc.li", "--role", "officer", "--officer", "../x"], "a long enough password\n"),
    (["roles", "nobody", "--role", "officer"], ""),
    (["disable", "nobody"], ""),
])
def test_user_inputs_are_attacked(monkeypatch, archive, args, stdin):
    code = user(monkeypatch, archive, *args[:2], *args[2:], "--password-stdin", stdin=stdin) \
        if args[0] == "add" else user(monkeypatch, archive, *args, stdin=stdin)
    assert code == 2
    assert Catalog(archive).rows("users") == [] and Catalog(archive).rows("credentials") == []


def test_serve_refuses_a_bad_bind(archive, capsys):
    for bind in ("8080", "host:80", "127.0.0.1:0", "127.0.0.1:99999", "127.0.0.1:http", "; rm -rf /:80"):
        assert main(["serve", "--archive", str(archive), "--bind", bind]) == 2
    assert main(["serve", "--archive", str(archive.parent / "nowhere")]) == 2


def test_request_ids_are_the_approval_reference_form():
    assert new_id("REQ").startswith("REQ-")
