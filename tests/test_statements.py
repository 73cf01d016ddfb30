"""Written statements: `fieldrec explain --attach` and the review service share one mechanism; a
statement is an archive object (hashed, sealed, verified), linked to its explanation, exported with
its recordings under a granted request; hostile files are refused before anything is written."""

from __future__ import annotations

import hashlib
import os
import subprocess
from datetime import datetime, timedelta, timezone

import pytest

from pipeline.archive import chain
from pipeline.records import statements
from tests.helpers import cli, copy_of, ingest, lean_config, listed, table
from tests.recorder_drops import clip
from tests.webkit import grant

PDF = "%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% 书面说明 written statement\n%%EOF\n".encode()
DAY = datetime(2025, 6, 2, 9, 0)


@pytest.fixture(scope="module")
def built(tmp_path_factory, ray_local):
    config = lean_config()
    root = tmp_path_factory.mktemp("statements")
    clip(root / "drop", "STM1_OF1_20250602090000_0001.MP4", DAY, 60.0)
    clip(root / "drop", "STM1_OF1_20250602090130_0002.MP4", DAY + timedelta(seconds=90), 60.0)  # 30 s pause
    ingest([root / "drop"], root / "archive", config)
    return root / "archive"


@pytest.fixture
def archive(built, tmp_path):
    return copy_of(built, tmp_path)


def the_gap(archive, capsys) -> dict:
    (gap,) = listed(capsys, "gaps", "--archive", archive)
    return gap


def test_an_attached_statement_is_an_object_sealed_and_verified(archive, capsys, tmp_path):
    scan = tmp_path / "说明.pdf"
    scan.write_bytes(PDF)
    gap = the_gap(archive, capsys)
    code, out, err = cli(capsys, "explain", gap["gap_id"], "--archive", archive, "--reason", "换电池 battery swap",
                         "--by", "OF1", "--attach", scan)
    assert code == 0 and "stored as objects/" in out, err
    (row,) = table(archive, "statements")
    (explanation,) = table(archive, "explanations")
    assert row["explanation_id"] == explanation["explanation_id"] and row["gap_id"] == gap["gap_id"]
    assert row["content"] is None and row["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert row["media_type"] == "application/pdf" and row["size"] == len(PDF) and row["file_name"] == "pdf"
    stored = archive / row["archive_path"]
    assert stored.read_bytes() == PDF and stored.stat().st_mode & 0o777 == 0o440      # read-only, as originals
    assert row["archive_path"] in chain.sealed_files(chain.read_manifests(archive)).objects
    assert cli(capsys, "verify", "--archive", archive)[0] == 0

    os.chmod(stored, 0o644)                                      # someone edits the scan afterwards
    stored.write_bytes(PDF.replace(b"Catalog", b"Cat4log"))
    code, out, _ = cli(capsys, "verify", "--archive", archive)
    assert code == 3 and row["archive_path"] in out and "changed" in out, out


def test_a_statement_leaves_only_with_its_recordings_under_a_granted_request(archive, capsys, tmp_path):
    scan = tmp_path / "statement.txt"
    scan.write_text("本人于换电池时停止录像。\n", encoding="utf-8")
    gap = the_gap(archive, capsys)
    assert cli(capsys, "explain", gap["gap_id"], "--archive", archive, "--reason", "battery", "--by", "OF1",
               "--attach", scan)[0] == 0
    (row,) = table(archive, "statements")
    ref = grant(archive, "export", "recording", gap["after_sha256"])
    dest = tmp_path / "out"
    code, out, err = cli(capsys, "export", "--archive", archive, "--to", dest, "--approval", ref)
    assert code == 0, err
    exported = dest / "data" / "statements" / f"{row['statement_id']}_statement.txt"
    assert exported.read_bytes() == scan.read_bytes()
    check = subprocess.run(["sha256sum", "-c", "manifest-sha256.txt"], cwd=dest, capture_output=True, text=True)
    assert check.returncode == 0 and "statements/" in check.stdout
    log = {r["content"]: r for r in table(archive, "access_log")}
    assert set(log) == {"original", "statement"} and log["statement"]["sha256"] == row["sha256"]
    assert log["statement"]["request_id"] == ref


@pytest.mark.parametrize("make, problem", [
    pytest.param(lambda p: os.mkfifo(p), "not a regular file", id="fifo-never-blocks"),
    pytest.param(lambda p: p.mkdir(), "not a regular file", id="a-folder"),
    pytest.param(lambda p: p.write_bytes(b"\x00\x01binary\xff"), "must be a PDF", id="binary"),
    pytest.param(lambda p: p.write_bytes(b""), "empty", id="empty"),
    pytest.param(lambda p: p.write_bytes(b"x" * 2048), "larger than 1024 bytes", id="too-large"),
    pytest.param(lambda p: None, "cannot open", id="missing"),
    pytest.param(lambda p: (p.write_bytes(PDF), os.chmod(p, 0)), "cannot open", id="unreadable",
                 marks=pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")),
])
def test_a_hostile_attachment_is_refused_and_nothing_is_written(archive, capsys, tmp_path, make, problem):
    (tmp_path / "small.toml").write_text("[service]\nstatement_max_bytes = 1024\n")
    target = tmp_path / "statement"
    make(target)
    gap = the_gap(archive, capsys)
    objects = sorted(chain.stored_objects(archive))
    code, _, err = cli(capsys, "explain", gap["gap_id"], "--archive", archive, "--reason", "r", "--by", "OF1",
                       "--attach", target, "--config", tmp_path / "small.toml")
    assert code == 2 and problem in err and "--attach" in err
    assert table(archive, "explanations") == [] and table(archive, "statements") == []
    assert sorted(chain.stored_objects(archive)) == objects


def test_the_service_spools_a_statement_and_stores_it_as_an_object_when_committed(archive, capsys):
    from pipeline.records.outbox import Outbox
    from tests.webkit import fast_config

    gap = the_gap(archive, capsys)
    now = datetime.now(timezone.utc)
    explanation = {"explanation_id": "e" * 32, "gap_id": gap["gap_id"], "source": "report", "reason": "battery",
                   "explained_by": "pc.li", "approved_by": None, "explained_at": now}
    spooled = statements.row(explanation_id=explanation["explanation_id"], gap_id=gap["gap_id"],
                             file_name="../../scan.png", data=b"\x89PNG\r\n\x1a\n rest", media_type="image/png",
                             by="pc.li", at=now)
    box = Outbox(archive, fsync=False)
    box.append({"explanations": [explanation], "statements": [spooled]})
    assert box.rows("statements")[0]["content"] == b"\x89PNG\r\n\x1a\n rest"      # readable before the commit
    assert box.flush(fast_config()) == 2
    box.close()
    (row,) = table(archive, "statements")
    assert row["content"] is None and row["file_name"] == "scan.png"
    assert statements.content(archive, row) == b"\x89PNG\r\n\x1a\n rest"
    assert row["archive_path"] in chain.sealed_files(chain.read_manifests(archive)).objects
    assert cli(capsys, "verify", "--archive", archive)[0] == 0


def test_statements_written_before_they_were_objects_stay_readable_and_exportable(archive, capsys, tmp_path):
    gap = the_gap(archive, capsys)
    old = {"statement_id": "STM-old", "explanation_id": "x", "gap_id": gap["gap_id"], "file_name": "old.txt",
           "media_type": "text/plain", "size": 9, "sha256": hashlib.sha256(b"old bytes").hexdigest(),
           "content": b"old bytes", "uploaded_by": "pc.li", "uploaded_at": datetime.now(timezone.utc)}
    from pipeline.archive.writer import writing_run

    with writing_run(archive, lean_config(), "test statement before objects") as run:   # sealed, as then
        run.catalog.commit({"statements": [old]}, tag=run.run_id)
    (row,) = table(archive, "statements")
    assert row["archive_path"] is None and statements.content(archive, row) == b"old bytes"
    dest = tmp_path / "out"
    code, _, err = cli(capsys, "export", "--archive", archive, "--to", dest,
                       "--approval", grant(archive, "export", "recording", gap["before_sha256"]))
    assert code == 0, err
    assert (dest / "data" / "statements" / "STM-old_old.txt").read_bytes() == b"old bytes"


def test_a_purge_keeps_an_object_that_is_also_a_written_statement(archive, capsys, tmp_path):
    """Statements are content-addressed like originals: a scanned statement whose bytes equal a photo
    recording's shares its object, and purging that photo after its retention must not take the
    statement with it."""
    from pipeline.common import clock
    from pipeline.sample.photo import write_jpeg

    photo = write_jpeg(tmp_path / "drop" / "STM1_OF1_20250602091500.JPG", datetime_original="2025:06:02 09:15:00")
    ingest([tmp_path / "drop"], archive, lean_config())
    recording = next(r for r in table(archive, "recordings") if r["kind"] == "photo")
    gap = the_gap(archive, capsys)
    assert cli(capsys, "explain", gap["gap_id"], "--archive", archive, "--reason", "signed and photographed",
               "--by", "OF1", "--attach", photo)[0] == 0
    (statement,) = table(archive, "statements")
    assert statement["archive_path"] == recording["archive_path"]
    with clock.set_to(datetime.now(timezone.utc) + timedelta(days=400)):
        approval = grant(archive, "purge", "recording", recording["sha256"])
        code, _, err = cli(capsys, "purge", "--archive", archive, recording["sha256"], "--approve", approval)
    assert code == 0 and "written statement" in err, err
    assert (archive / recording["archive_path"]).read_bytes() == photo.read_bytes()
    assert table(archive, "purges") == []
    assert cli(capsys, "verify", "--archive", archive)[0] == 0
