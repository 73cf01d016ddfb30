"""Finding 3: the archive owns the settings that change what it means.

They are stored in ARCHIVE/fieldrec.toml when the archive is made (from that run's configuration),
sealed by the chain, used by every command whatever --config it is given, and changed only by a
logged `fieldrec config set`. Each test drives the commands on a real archive.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.archive import chain
from pipeline.native import signing
from tests import trustkit
from tests.trustkit import archive, built  # noqa: F401  (fixtures: one ingested archive per module, a copy per test)
from tests.helpers import table


def test_a_key_given_at_creation_signs_every_later_command_without_config(tmp_path, capsys):
    key = tmp_path / "keys" / "ledger.key"
    key.parent.mkdir()
    assert trustkit.run(capsys, "keygen", "--out", key)[0] == 0
    site = tmp_path / "site.toml"
    site.write_text(f'[ingest]\nfsync = false\n[integrity]\nsigning_key = "{key}"\n')
    archive = tmp_path / "archive"
    code, _, err = trustkit.run(capsys, "ingest", trustkit.make_clips(tmp_path / "drop"), "--archive", archive,
                                "--config", site, "--quiet", "--workers", "1")
    assert code == 0, err
    assert f'signing_key = "{key}"' in (archive / "fieldrec.toml").read_text()
    gap = table(archive, "gaps")[0]["gap_id"]
    assert trustkit.run(capsys, "explain", gap, "--reason", "battery", "--by", "O1", "--archive", archive)[0] == 0
    public = signing.load_public_hex(f"{key}.pub")
    assert all(m.doc["signed_by"] == public and m.doc["signature"] for m in chain.read_manifests(archive))
    assert trustkit.run(capsys, "verify", "--archive", archive, "--key", f"{key}.pub")[0] == 0


@pytest.mark.parametrize("override", [
    pytest.param('[retention]\nroutine_months = 12\n', id="retention"),
    pytest.param('[integrity]\nsigning_key = "/etc/other.key"\n', id="signing-key"),
    pytest.param('[identity]\ntime_format = "%d%m%Y%H%M%S"\n', id="naming"),
    pytest.param('[compliance]\nlate_after_hours = 48.0\n', id="compliance"),
])
def test_a_config_file_cannot_change_what_the_archive_means(archive, capsys, tmp_path, override):
    cfg = tmp_path / "override.toml"
    cfg.write_text(override)
    before = trustkit.fingerprint(archive)
    key = override.split("]")[0][1:] + "." + override.split("\n")[1].split(" =")[0]
    for argv in (["case", "open", "C1", "--by", "Doe"], ["retention"], ["verify"]):
        code, _, err = trustkit.run(capsys, *argv, "--archive", archive, "--config", cfg)
        assert code == 2 and f"{key} belongs to" in err and "fieldrec config set" in err, (argv, err)
    assert trustkit.fingerprint(archive) == before


def test_run_knobs_and_repeated_values_are_still_accepted(archive, capsys, tmp_path):
    cfg = tmp_path / "knobs.toml"
    cfg.write_text("[ingest]\nfsync = false\ncommit_every_files = 7\n[retention]\nroutine_months = 3\n")
    assert trustkit.run(capsys, "case", "open", "C1", "--by", "Doe", "--archive", archive, "--config", cfg)[0] == 0


def test_config_set_is_logged_and_sealed_and_keeps_the_floors(archive, capsys):
    old_sha = chain.sealed_files(chain.read_manifests(archive)).settings_sha256
    code, out, err = trustkit.run(capsys, "config", "set", "retention.routine_months", "6", "--archive", archive,
                                  "--by", "J. Clerk", "--reason", "decision 2026-14")
    assert code == 0 and "3 -> 6" in out, err
    sealed = chain.sealed_files(chain.read_manifests(archive))
    assert sealed.settings_sha256 != old_sha and sealed.settings_manifest == chain.read_manifests(archive)[-1].name
    rows = [r for r in table(archive, "settings_changes") if r["event"] == "set"]
    assert [(r["key"], r["old_value"], r["new_value"], r["by"], r["reason"]) for r in rows] == [
        ("retention.routine_months", "3", "6", "J. Clerk", "decision 2026-14")]
    code, out, _ = trustkit.run(capsys, "config", "show", "--archive", archive, "--format", "json")
    assert json.loads(out)["settings"]["retention"]["routine_months"] == 6
    assert trustkit.run(capsys, "verify", "--archive", archive)[0] == 0

    before = trustkit.fingerprint(archive)
    for argv, message in [
        (["retention.routine_months", "2"], "below the regulation's minimum"),
        (["retention.routine_months", "99999999999999999999"], "out of bounds"),
        (["retention.routine_months", "six"], "expected int"),
        (["ingest.chunk_bytes", "0"], "not an archive setting"),
        (["retention.no_such_key", "1"], "no setting"),
        (["retention.routine_months", "6"], "already"),
        (["integrity.signing_key", "/no/such.key"], "key file not found"),
    ]:
        code, _, err = trustkit.run(capsys, "config", "set", *argv, "--archive", archive, "--by", "X",
                                    "--reason", "test")
        assert code == 2 and message in err, (argv, err)
    code, _, err = trustkit.run(capsys, "config", "set", "retention.routine_months", "7", "--archive", archive,
                                "--by", "", "--reason", "x")
    assert code == 2 and "empty" in err
    assert trustkit.fingerprint(archive) == before


def test_disc_plan_by_class_uses_the_archives_retention(archive, capsys, tmp_path):
    sha = table(archive, "recordings")[0]["sha256"]
    assert trustkit.run(capsys, "case", "assign", "--class", "other", "--days", "400", "--sha", sha,
                        "--archive", archive, "--by", "Doe")[0] == 0
    plan = ["disc", "plan", "--archive", archive, "--class", "other", "--capacity-bytes", 10**9, "--format", "json"]
    code, out, _ = trustkit.run(capsys, *plan)
    assert code == 0 and [f["sha256"] for d in json.loads(out)["discs"] for f in d["files"]] == [sha]
    assert trustkit.run(capsys, "config", "set", "retention.routine_months", "24", "--archive", archive,
                        "--by", "Clerk", "--reason", "keep two years")[0] == 0
    code, _, err = trustkit.run(capsys, *plan)            # routine now keeps it longer than the 400 days
    assert code == 2 and "no recording has retention class 'other'" in err


def test_a_hand_edited_settings_file_stops_writers_and_verify_reports_it(archive, capsys):
    path = archive / "fieldrec.toml"
    path.chmod(0o644)
    path.write_text(path.read_text().replace("routine_months = 3", "routine_months = 120"))
    before = trustkit.fingerprint(archive)
    code, _, err = trustkit.run(capsys, "case", "open", "C1", "--archive", archive, "--by", "Doe")
    assert code == 1 and "not the settings file the manifest chain sealed" in err
    assert trustkit.fingerprint(archive) == before
    code, out, _ = trustkit.run(capsys, "verify", "--archive", archive, "--format", "json")
    assert code == 3 and [(p["status"], p["path"]) for p in json.loads(out)["problems"]] == [
        ("changed", "fieldrec.toml")]


def test_an_archive_made_before_settings_were_stored_adopts_them_on_first_write(tmp_path, capsys):
    """An older archive: sealed manifests, no settings file. Its next writing command stores and
    seals the settings it runs with, and records that they were adopted."""
    from pipeline.archive.writer import writing_run

    archive = tmp_path / "archive"
    with writing_run(archive, trustkit.fast_config(), "ingest", own_settings=False) as run:
        run.catalog.commit({"cases": [{"case_id": "OLD", "event": "open", "at": __import__("datetime").datetime.now(
            __import__("datetime").timezone.utc), "by": "x"}]}, tag=run.run_id)
    assert not (archive / "fieldrec.toml").exists()
    code, out, _ = trustkit.run(capsys, "config", "show", "--archive", archive, "--format", "json")
    assert code == 0 and json.loads(out)["stored"] is False
    assert trustkit.run(capsys, "case", "close", "OLD", "--archive", archive, "--by", "Doe")[0] == 0
    assert (archive / "fieldrec.toml").is_file()
    (row,) = table(archive, "settings_changes")
    assert row["event"] == "adopted" and "made before fieldrec stored settings" in row["reason"]
    assert chain.read_manifests(archive)[-1].doc["settings"][0]["path"] == "fieldrec.toml"
    assert trustkit.run(capsys, "verify", "--archive", archive)[0] == 0
