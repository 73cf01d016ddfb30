"""Finding 2: tamper evidence cannot be laundered by running an ordinary command afterwards.

A file no run of fieldrec wrote is never sealed by a later command: a planted catalog part or
object stays `untracked` (verify exits 3) whatever writing command runs next, until an operator
moves it aside with `fieldrec quarantine` (logged and sealed). Removing the newest manifests is
seen through a witness file or a head kept on paper. Each test performs the attack on a real
archive.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.archive import chain
from tests import trustkit
from tests.trustkit import archive, built  # noqa: F401  (fixtures: one ingested archive per module, a copy per test)
from tests.helpers import table
from tests.webkit import grant


def plant_part(archive: Path, *, device: str = "CAM9") -> str:
    """A recordings part written by hand: the real rows, with a false device and start time."""
    real = next((archive / "catalog" / "recordings").glob("part-*.parquet"))
    rows = pq.read_table(real)
    forged = rows.set_column(rows.schema.get_field_index("device_id"), "device_id",
                             [[device] * rows.num_rows])
    forged = forged.set_column(forged.schema.get_field_index("start_time"), "start_time",
                               [[None] * 0 + [rows["start_time"][0].as_py().replace(year=2020)] * rows.num_rows])
    rel = "catalog/recordings/part-20260101T000000Z-forged-00001-abcdef.parquet"
    pq.write_table(forged.cast(rows.schema), archive / rel)
    return rel


def plant_object(archive: Path) -> str:
    rel = "objects/ee/ee/" + "e" * 64
    (archive / rel).parent.mkdir(parents=True, exist_ok=True)
    (archive / rel).write_bytes(b"not evidence")
    return rel


def untracked(archive: Path, capsys) -> set[str]:
    code, out, err = trustkit.run(capsys, "verify", "--archive", archive, "--format", "json")
    assert code == 3, out + err
    return {p["path"] for p in json.loads(out)["problems"] if p["status"] == "untracked"}


def sealed_paths(archive: Path) -> set[str]:
    sealed = chain.sealed_files(chain.read_manifests(archive))
    return set(sealed.objects) | set(sealed.catalog)


def _commands(archive: Path, tmp_path: Path) -> dict[str, list]:
    sha = table(archive, "recordings")[0]["sha256"]
    gap = table(archive, "gaps")[0]["gap_id"]
    return {
        "ingest": ["ingest", trustkit.make_clips(tmp_path / "drop2", ("CAM3_O3_20260302100000.mp4",), seed=5),
                   "--archive", archive, "--quiet"],
        "transcode": ["transcode", "--archive", archive, sha, "--quiet"],
        "case-open": ["case", "open", "C9", "--archive", archive, "--by", "Sgt Doe"],
        "case-assign": ["case", "assign", "--class", "permanent", "--sha", sha, "--archive", archive, "--by", "Doe"],
        "device-handover": ["device", "handover", "CAM1", "--to", "O9", "--at", "2026-03-01T09:00Z", "--by", "Desk",
                            "--archive", archive],
        "explain": ["explain", gap, "--reason", "battery swap", "--by", "O1", "--archive", archive],
        "config-set": ["config", "set", "retention.routine_months", "4", "--archive", archive, "--by", "Clerk",
                       "--reason", "decision 7"],
        "disc-stage": ["disc", "stage", "PLAN", "--archive", archive, "--out", tmp_path / "staging"],
        "verify": ["verify", "--archive", archive],
    }


@pytest.mark.parametrize("command", ["ingest", "transcode", "case-open", "case-assign", "device-handover",
                                     "explain", "config-set", "disc-stage", "verify"])
def test_a_planted_part_and_object_stay_untracked_whatever_command_runs_next(archive, capsys, tmp_path, command):
    argv = _commands(archive, tmp_path)[command]
    if command == "disc-stage":
        plan = tmp_path / "plan.json"
        sha = table(archive, "recordings")[0]["sha256"]
        assert trustkit.run(capsys, "disc", "plan", "--archive", archive, "--sha", sha, "--capacity-bytes", 10**9,
                            "--out", plan)[0] == 0
        argv = [plan if a == "PLAN" else a for a in argv]
    part, obj = plant_part(archive), plant_object(archive)
    before = trustkit.fingerprint(archive)
    code, out, err = trustkit.run(capsys, *argv)
    assert code in (0, 3) if command == "verify" else code == 0, out + err
    after = trustkit.fingerprint(archive)
    if command == "config-set":
        del before["fieldrec.toml"]                    # the one file it may change (its new version sealed)
    assert {k: after.get(k) for k in before} == before, "a file that was there changed"
    assert not {part, obj} & sealed_paths(archive), "a planted file was sealed"
    assert {part, obj} <= untracked(archive, capsys)


@pytest.mark.parametrize("command", ["purge", "export"])
def test_purge_and_export_refuse_while_a_planted_part_is_in_the_catalog(archive, capsys, tmp_path, command):
    sha = table(archive, "recordings")[0]["sha256"]
    approval = grant(archive, command, "expired" if command == "purge" else "recording",     # a real, granted request
                     None if command == "purge" else sha)
    part = plant_part(archive)
    before = trustkit.fingerprint(archive)
    argv = {"purge": ["purge", "--archive", archive, "--approve", approval],
            "export": ["export", "--archive", archive, sha, "--to", tmp_path / "out", "--approval", approval]}[command]
    code, _, err = trustkit.run(capsys, *argv)
    assert code == 1 and "refused, nothing was changed" in err and part in err
    assert trustkit.fingerprint(archive) == before
    assert not (tmp_path / "out").exists()


def test_a_forged_recordings_part_cannot_get_a_held_file_purged(archive, capsys):
    """The issue's attack: a planted part with false times, then a handover, then a purge."""
    assert trustkit.run(capsys, "case", "open", "C1", "--archive", archive, "--by", "Sgt Doe")[0] == 0
    assert trustkit.run(capsys, "case", "assign", "C1", "--device", "CAM1", "--from", "2026-03-01T09:59Z",
                        "--to", "2026-03-01T10:10Z", "--archive", archive, "--by", "Doe")[0] == 0
    held = {r["archive_path"] for r in table(archive, "recordings") if r["device_id"] == "CAM1"}
    part = plant_part(archive, device="CAM9")
    assert trustkit.run(capsys, "device", "handover", "CAM1", "--to", "O9", "--at", "2026-03-02T08:00Z",
                        "--by", "Desk", "--archive", archive)[0] == 0
    assert part in untracked(archive, capsys)
    code, _, err = trustkit.run(capsys, "purge", "--archive", archive, "--approve", grant(archive, "purge", "expired"))
    assert code == 1 and "refused" in err
    assert all((archive / p).exists() for p in held)

    # The operator moves the planted part aside: logged, sealed, kept (not deleted).
    code, out, err = trustkit.run(capsys, "quarantine", "--archive", archive, "--format", "json")
    assert code == 0 and [r["path"] for r in json.loads(out)] == [part] and "dry run" in err
    assert (archive / part).exists()
    code, _, err = trustkit.run(capsys, "quarantine", "--archive", archive, "--by", "J. Clerk",
                                "--reason", "forged part found by verify")
    assert code == 0, err
    (row,) = table(archive, "quarantine")
    assert (row["path"], row["by"]) == (part, "J. Clerk") and (archive / row["moved_to"]).is_file()
    assert not (archive / part).exists()
    assert trustkit.run(capsys, "verify", "--archive", archive)[0] == 0
    code, out, _ = trustkit.run(capsys, "purge", "--archive", archive, "--format", "json")
    assert code == 0 and not {r["sha256"] for r in json.loads(out)} & {p.rsplit("/", 1)[1] for p in held}


def test_an_edited_part_whose_manifest_was_deleted_is_not_laundered_by_case_open(archive, capsys):
    assert trustkit.run(capsys, "device", "handover", "CAM1", "--to", "O9", "--at", "2026-03-01T09:00Z",
                        "--by", "Desk", "--archive", archive)[0] == 0
    last = chain.read_manifests(archive)[-1]
    (part,) = [e["path"] for e in last.doc["catalog"] if e["path"].startswith("catalog/handovers/")]
    last.path.chmod(0o644)
    last.path.unlink()
    rows = pq.read_table(archive / part).to_pylist()
    rows[0]["officer_id"] = "O7"                             # another holder, as if it had always said so
    pq.write_table(pq.read_table(archive / part).from_pylist(rows, schema=pq.read_schema(archive / part)),
                   archive / part)
    assert trustkit.run(capsys, "case", "open", "C2", "--archive", archive, "--by", "Doe")[0] == 0
    assert part not in sealed_paths(archive)
    assert part in untracked(archive, capsys)


def test_removing_the_manifest_that_sealed_the_settings_stops_every_writer(archive, capsys):
    first = chain.read_manifests(archive)[0]
    first.path.chmod(0o644)
    first.path.unlink()
    before = trustkit.fingerprint(archive)
    code, _, err = trustkit.run(capsys, "case", "open", "C2", "--archive", archive, "--by", "Doe")
    assert code == 1 and "not the settings file the manifest chain sealed" in err
    assert trustkit.fingerprint(archive) == before
    assert trustkit.run(capsys, "verify", "--archive", archive)[0] == 3


def _remove_newest_manifest_and_its_files(archive: Path) -> None:
    """A rollback: the newest manifest and the parts it listed, gone as if never written."""
    last = chain.read_manifests(archive)[-1]
    for entry in last.doc["catalog"] + last.doc["objects"]:
        (archive / entry["path"]).unlink()
    if last.doc.get("settings"):
        pass                                           # leave the settings file: nothing sealed it twice
    last.path.chmod(0o644)
    last.path.unlink()


def test_removing_the_newest_manifest_is_seen_through_the_witness(archive, capsys, tmp_path):
    witness = tmp_path / "witness" / "archive.wit"
    witness.parent.mkdir()
    code, _, err = trustkit.run(capsys, "config", "set", "integrity.witness_paths", json.dumps([str(witness)]),
                                "--archive", archive, "--by", "IT", "--reason", "witness on the second disk")
    assert code == 0, err
    assert trustkit.run(capsys, "case", "open", "C3", "--archive", archive, "--by", "Doe")[0] == 0
    lines = witness.read_text().splitlines()
    heads = [m.stored_chain for m in chain.read_manifests(archive)]
    assert [line.split()[1] for line in lines] == heads[-2:]
    code, out, _ = trustkit.run(capsys, "verify", "--archive", archive, "--format", "json")
    assert code == 0, out
    head = json.loads(out)["chain_head"]

    _remove_newest_manifest_and_its_files(archive)     # verify's own, then the case's
    _remove_newest_manifest_and_its_files(archive)
    code, out, _ = trustkit.run(capsys, "verify", "--archive", archive, "--format", "json")
    assert code == 3
    problems = [p for p in json.loads(out)["problems"] if p["status"] == "witness"]
    assert problems and "newer manifests were removed" in problems[0]["message"]
    # The same holds with a witness given on the command line, or a head kept on paper.
    extra = tmp_path / "copy.wit"
    shutil.copy(witness, extra)
    assert trustkit.run(capsys, "verify", "--archive", archive, "--witness", extra)[0] == 3
    code, out, _ = trustkit.run(capsys, "verify", "--archive", archive, "--expect-head", head[:20], "--format", "json")
    assert code == 3 and any("kept outside the archive" in p["message"] for p in json.loads(out)["problems"])


def test_without_a_witness_a_clean_rollback_needs_the_head_kept_elsewhere(archive, capsys):
    assert trustkit.run(capsys, "case", "open", "C3", "--archive", archive, "--by", "Doe")[0] == 0
    code, out, _ = trustkit.run(capsys, "verify", "--archive", archive, "--format", "json")
    head = json.loads(out)["chain_head"]                 # the case's manifest: printed, kept on paper
    _remove_newest_manifest_and_its_files(archive)       # verify's own
    _remove_newest_manifest_and_its_files(archive)       # the case's
    assert trustkit.run(capsys, "verify", "--archive", archive)[0] == 0    # what the README's threat model says
    assert trustkit.run(capsys, "verify", "--archive", archive, "--expect-head", head)[0] == 3


def test_a_witness_inside_the_archive_or_unwritable_is_refused_or_reported(archive, capsys, tmp_path):
    before = trustkit.fingerprint(archive)
    code, _, err = trustkit.run(capsys, "config", "set", "integrity.witness_paths",
                                json.dumps([str(archive / "objects" / "w")]), "--archive", archive, "--by", "IT",
                                "--reason", "x")
    assert code == 2 and "inside the archive" in err
    assert trustkit.fingerprint(archive) == before
    gone = tmp_path / "unmounted" / "w.txt"
    assert trustkit.run(capsys, "config", "set", "integrity.witness_paths", json.dumps([str(gone)]),
                        "--archive", archive, "--by", "IT", "--reason", "x")[0] == 0
    code, _, err = trustkit.run(capsys, "case", "open", "C4", "--archive", archive, "--by", "Doe")
    assert code == 0 and "could not append" in err
    code, out, _ = trustkit.run(capsys, "verify", "--archive", archive, "--format", "json")
    assert code == 3 and any(p["status"] == "witness" for p in json.loads(out)["problems"])


def test_a_forged_intent_journal_is_not_believed_when_the_archive_signs(archive, capsys, tmp_path):
    key = tmp_path / "ledger.key"
    assert trustkit.run(capsys, "keygen", "--out", key)[0] == 0
    assert trustkit.run(capsys, "config", "set", "integrity.signing_key", key, "--archive", archive, "--by", "IT",
                        "--reason", "sign")[0] == 0
    part = plant_part(archive)
    import hashlib

    data = (archive / part).read_bytes()
    forged = {"path": part, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    (archive / "intents" / "20260101T000000Z-forged.jsonl").write_text(
        json.dumps({"intent": "fieldrec-intent/1", "run_id": "20260101T000000Z-forged"}) + "\n" + json.dumps(forged) + "\n")
    assert trustkit.run(capsys, "case", "open", "C5", "--archive", archive, "--by", "Doe")[0] == 0
    assert part not in sealed_paths(archive)
    assert part in untracked(archive, capsys)


def test_quarantine_and_verify_refuse_bad_arguments(archive, capsys):
    before = trustkit.fingerprint(archive)
    code, _, err = trustkit.run(capsys, "quarantine", "objects/../catalog", "--archive", archive, "--by", "X",
                                "--reason", "Y")
    assert code == 2 and "not untracked files of this archive" in err
    assert trustkit.run(capsys, "quarantine", "--archive", archive, "--by", "X")[0] == 2      # --reason too
    code, _, err = trustkit.run(capsys, "verify", "--archive", archive, "--expect-head", "not-hex\n")
    assert code == 2 and "16 to 64 hex digits" in err
    assert trustkit.fingerprint(archive) == before
