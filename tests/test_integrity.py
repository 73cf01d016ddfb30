"""The ledger: every run's manifest chains to the last; verify finds every edit, removal and stray."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from pipeline.runs import verify
from pipeline.archive import chain
from pipeline.cli import main as cli
from pipeline.config import load_config
from pipeline.native import signing
from tests.drops import make_drop
from tests.helpers import ingest, table


def _config(**integrity_keys):
    config = load_config()
    return dataclasses.replace(config, ingest=dataclasses.replace(config.ingest, fsync=False, commit_every_files=4),
                               integrity=dataclasses.replace(config.integrity, **integrity_keys))


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> Path:
    """A pristine archive made by two ingest runs (two drops); tests copy it before tampering."""
    root = tmp_path_factory.mktemp("ledger")
    config = _config()
    ingest([make_drop(root / "drop1", seed=1)[0].parent], root / "archive", config)
    ingest([make_drop(root / "drop2", seed=2)[0].parent], root / "archive", config)
    return root / "archive"


@pytest.fixture
def archive(two_runs, tmp_path) -> Path:
    copy = tmp_path / "archive"
    shutil.copytree(two_runs, copy)
    return copy


def _problems(report: verify.AuditReport) -> set[tuple[str, str, str]]:
    return {(f.status, f.kind, f.path) for f in report.findings}


def _first_object(archive: Path, manifest_index: int = 0) -> str:
    return chain.read_manifests(archive)[manifest_index].doc["objects"][0]["path"]


def _rewrite(path: Path, doc: dict) -> None:
    os.chmod(path, 0o644)
    path.write_text(json.dumps(doc, indent=1))


def test_clean_archive_verifies_and_records_fixity(archive, engine):
    manifests = chain.read_manifests(archive)
    assert [m.seq for m in manifests] == [1, 2]
    assert manifests[1].doc["prev_chain"] == manifests[0].doc["chain"]
    objects = {r["archive_path"] for r in table(archive, "recordings")}
    assert set(chain.sealed_files(manifests).objects) == objects == set(chain.stored_objects(archive))

    report = verify.verify(archive, _config(), engine=engine)
    assert report.ok, report.render()
    assert report.objects_hashed == len(objects)
    assert report.chain_head == manifests[1].doc["chain"]
    rows = table(archive, "fixity")
    assert {r["item"] for r in rows if r["kind"] == "object"} == objects
    assert {r["status"] for r in rows} == {"ok"}
    sealed = chain.read_manifests(archive)[-1].doc
    assert sealed["command"] == "verify" and not sealed["objects"]
    assert [e["path"].split("/")[1] for e in sealed["catalog"]] == ["fixity"]
    assert verify.verify(archive, _config(), engine=engine).ok    # its own fixity part is tracked, not a stray


@dataclass(frozen=True)
class Tamper:
    do: Callable[[Path], str]         # edits the archive, returns the path verify must name
    status: str
    kind: str


def _edit_object_byte(archive: Path) -> str:
    rel = _first_object(archive)
    os.chmod(archive / rel, 0o644)
    with open(archive / rel, "r+b") as fh:
        fh.seek(100)
        byte = fh.read(1)
        fh.seek(100)
        fh.write(bytes([byte[0] ^ 0x01]))
    return rel


def _delete_object(archive: Path) -> str:
    rel = _first_object(archive, 1)
    (archive / rel).unlink()
    return rel


def _delete_catalog_file(archive: Path) -> str:
    rel = chain.read_manifests(archive)[0].doc["catalog"][0]["path"]
    (archive / rel).unlink()
    return rel


def _edit_catalog_file(archive: Path) -> str:
    rel = next(e["path"] for e in chain.read_manifests(archive)[0].doc["catalog"] if "/runs/" in e["path"])
    with open(archive / rel, "ab") as fh:
        fh.write(b"\0")
    return rel


def _stray_object(archive: Path) -> str:
    rel = "objects/ff/ff/" + "f" * 64
    (archive / rel).parent.mkdir(parents=True, exist_ok=True)
    (archive / rel).write_bytes(b"planted")
    return rel


def _stray_part(archive: Path) -> str:
    rel = chain.read_manifests(archive)[0].doc["catalog"][0]["path"]
    forged = str(Path(rel).with_name("part-forged-00001-000000.parquet"))
    shutil.copy(archive / rel, archive / forged)
    return forged


def _rewrite_manifest_keep_chain(archive: Path) -> str:
    m = chain.read_manifests(archive)[0]
    doc = dict(m.doc, objects=m.doc["objects"][:-1])         # hide one object from the ledger
    _rewrite(m.path, doc)
    return f"manifests/{m.name}"


def _rewrite_manifest_recompute_chain(archive: Path) -> str:
    m = chain.read_manifests(archive)[0]
    body = dict(m.body, created_at="2020-01-01T00:00:00+00:00")
    _rewrite(m.path, {**body, "chain": chain.chain_of(body)})
    return f"manifests/{chain.read_manifests(archive)[1].name}"   # its successor no longer follows


def _remove_manifest(archive: Path) -> str:
    first, second = chain.read_manifests(archive)
    first.path.unlink()
    return f"manifests/{second.name}"      # no longer follows anything, and its number is off


def _swap_manifests(archive: Path) -> str:
    first, second = chain.read_manifests(archive)
    a, b = first.path.with_name(f"000001-{second.run_id}.json"), second.path.with_name(f"000002-{first.run_id}.json")
    os.rename(first.path, b)
    os.rename(second.path, a)
    return f"manifests/{a.name}"


TAMPERS = [
    pytest.param(Tamper(_edit_object_byte, "changed", "object"), id="one-byte-of-an-object-edited"),
    pytest.param(Tamper(_delete_object, "missing", "object"), id="object-deleted"),
    pytest.param(Tamper(_delete_catalog_file, "missing", "catalog"), id="catalog-file-deleted"),
    pytest.param(Tamper(_edit_catalog_file, "changed", "catalog"), id="catalog-file-appended-to"),
    pytest.param(Tamper(_stray_object, "untracked", "object"), id="object-planted"),
    pytest.param(Tamper(_stray_part, "untracked", "catalog"), id="catalog-part-planted"),
    pytest.param(Tamper(_rewrite_manifest_keep_chain, "chain", "manifest"), id="earlier-manifest-rewritten"),
    pytest.param(Tamper(_rewrite_manifest_recompute_chain, "chain", "manifest"),
                 id="earlier-manifest-rewritten-with-new-chain-hash"),
    pytest.param(Tamper(_remove_manifest, "chain", "manifest"), id="earlier-manifest-removed"),
    pytest.param(Tamper(_swap_manifests, "chain", "manifest"), id="manifests-reordered"),
]


@pytest.mark.parametrize("tamper", TAMPERS)
def test_verify_reports_tampering(archive, tamper, engine):
    path = tamper.do(archive)
    report = verify.verify(archive, _config(), engine=engine)
    assert (tamper.status, tamper.kind, path) in _problems(report), report.render()
    recorded = {(r["status"], r["item"]) for r in table(archive, "fixity")}
    assert (tamper.status, path) in recorded


def test_removing_the_last_manifest_leaves_its_files_untracked_for_good(archive, tmp_path):
    last = chain.read_manifests(archive)[-1]
    os.chmod(last.path, 0o644)
    last.path.unlink()
    report = verify.verify(archive, _config())
    untracked = {f.path for f in report.findings if f.status == "untracked"}
    assert {e["path"] for e in last.doc["objects"] + last.doc["catalog"]} <= untracked
    # No later run adopts them: their manifest is gone, no journal names them.
    ingest([make_drop(tmp_path / "d3", seed=5, clips=1, blobs=1)[0].parent], archive, _config())
    sealed = chain.sealed_files(chain.read_manifests(archive))
    assert not {e["path"] for e in last.doc["objects"] + last.doc["catalog"]} & (sealed.objects.keys() | sealed.catalog.keys())
    assert cli(["verify", "--archive", str(archive)]) == 3


def test_acceptance_byte_edit_catalog_deletion_and_manifest_rewrite_all_reported(archive):
    edited, deleted = _edit_object_byte(archive), _delete_catalog_file(archive)
    rewritten = _rewrite_manifest_keep_chain(archive)
    report = verify.verify(archive, _config())
    problems = _problems(report)
    assert ("changed", "object", edited) in problems
    assert ("missing", "catalog", deleted) in problems
    assert ("chain", "manifest", rewritten) in problems
    assert cli(["verify", "--archive", str(archive), "--format", "csv"]) == 3


def test_cli_exit_codes_and_listing(archive, engine, capsys):
    assert cli(["verify", "--archive", str(archive), "--format", "json", "--engine", engine]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    rel = _edit_object_byte(archive)
    assert cli(["verify", "--archive", str(archive), "--engine", engine]) == 3
    out = capsys.readouterr().out
    assert "changed" in out and rel in out
    assert cli(["verify", "--archive", str(archive), "--since", "no-such-run"]) == 2
    assert "no manifest for run" in capsys.readouterr().err


def test_sample_and_since_narrow_only_the_rehash(archive):
    manifests = chain.read_manifests(archive)
    first_objects = {e["path"] for e in manifests[0].doc["objects"]}
    second_objects = {e["path"] for e in manifests[1].doc["objects"]}
    _edit_object_byte(archive)                                   # an object of the first run
    since = verify.verify(archive, _config(), since=manifests[1].run_id)
    assert since.ok and since.objects_hashed == len(second_objects)
    sample = verify.verify(archive, _config(), sample_pct=50, seed=1)
    assert sample.objects_hashed == -(-len(first_objects | second_objects) // 2)
    (archive / next(iter(second_objects))).chmod(0o644)
    (archive / next(iter(second_objects))).unlink()              # existence is always checked in full
    assert any(f.status == "missing" for f in verify.verify(archive, _config(), since=manifests[1].run_id,
                                                          sample_pct=1).findings)


def test_signed_manifests(tmp_path, capsys):
    key = tmp_path / "ledger.key"
    assert cli(["keygen", "--out", str(key)]) == 0
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert cli(["keygen", "--out", str(key)]) == 2                 # never overwrites
    capsys.readouterr()
    config = _config(signing_key=str(key))
    archive = tmp_path / "archive"
    ingest([make_drop(tmp_path / "d1", seed=3, clips=1, blobs=2)[0].parent], archive, config)
    ingest([make_drop(tmp_path / "d2", seed=4, clips=1, blobs=2)[0].parent], archive, config)
    manifests = chain.read_manifests(archive)
    assert all(m.doc["signed_by"] == signing.load_public_hex(f"{key}.pub") and m.doc["signature"] for m in manifests)
    # The archive owns its key: a command given a configuration without it still signs.
    report = verify.verify(archive, _config(), key_path=f"{key}.pub")
    assert report.ok and report.signatures_checked == 2
    assert chain.read_manifests(archive)[-1].doc["signature"]
    key.rename(tmp_path / "away.key")                                      # an audit host without the key
    assert verify.verify(archive, _config(), key_path=f"{key}.pub").ok        # its unsigned seal is fine
    assert not chain.read_manifests(archive)[-1].doc.get("signature")
    (tmp_path / "away.key").rename(key)
    assert verify.verify(archive, _config(), key_path=f"{key}.pub").signatures_checked == 3

    # A forger who rewrites the whole chain with a key of their own: the chain holds, the key does not.
    other = tmp_path / "other.key"
    signing.generate(other, Path(f"{other}.pub"))
    forger = signing.load_signer(other)
    prev = chain.GENESIS
    for m in chain.read_manifests(archive):
        body = dict(m.body, prev_chain=prev, signed_by=forger.public_hex)
        prev = chain.chain_of(body)
        _rewrite(m.path, {**body, "chain": prev, "signature": forger.sign(prev.encode())})
    report = verify.verify(archive, _config(), key_path=f"{key}.pub")
    assert {f.status for f in report.findings} == {"signature"}, report.render()
    # Stripping the signature of a manifest is seen too, even against the key it names.
    m = chain.read_manifests(archive)[0]
    _rewrite(m.path, {k: v for k, v in m.doc.items() if k != "signature"})
    assert ("signature", "manifest", f"manifests/{m.name}") in _problems(verify.verify(archive, _config()))


def _killed_run(archive: Path, command: str = "case open K1") -> tuple[str, str]:
    """A writing run that commits a part and dies before its seal; its run id and part."""
    from datetime import datetime, timezone

    from pipeline.archive.writer import writing_run

    with pytest.raises(KeyboardInterrupt):
        with writing_run(archive, _config(), command) as run:
            (part,) = run.catalog.commit({"cases": [{"case_id": "K1", "event": "open",
                                                      "at": datetime.now(timezone.utc), "by": "x"}]}, tag=run.run_id)
            raise KeyboardInterrupt             # the run dies here: committed, never sealed
    return run.run_id, str(part.relative_to(archive))


def test_seal_adopts_exactly_what_a_killed_run_recorded(archive, tmp_path):
    killed, part = _killed_run(archive)
    planted = _stray_part(archive)                          # slipped in while the archive was unsealed
    report = verify.verify(archive, _config())
    why = {f.path: f.message for f in report.findings if f.status == "untracked"}
    assert set(why) == {part, planted}
    assert "adopts it" in why[part] and "never adopted" in why[planted]
    ingest([make_drop(tmp_path / "d3", seed=5, clips=1, blobs=1)[0].parent], archive, _config())
    doc = chain.read_manifests(archive)[-1].doc
    assert {e["path"]: e.get("run_id") for e in doc["catalog"]}[part] == killed
    assert [a["run_id"] for a in doc["adopted"]] == [killed]
    assert planted not in {e["path"] for e in doc["catalog"]}
    assert not (archive / "intents" / f"{killed}.jsonl").exists()
    assert {(f.status, f.path) for f in verify.verify(archive, _config()).findings} == {("untracked", planted)}


def test_a_killed_runs_part_edited_before_adoption_stays_untracked(archive, tmp_path):
    killed, part = _killed_run(archive)
    with open(archive / part, "ab") as fh:
        fh.write(b"\0")                                      # not what the killed run recorded any more
    ingest([make_drop(tmp_path / "d3", seed=5, clips=1, blobs=1)[0].parent], archive, _config())
    assert part not in chain.sealed_files(chain.read_manifests(archive)).catalog
    assert ("untracked", "catalog", part) in _problems(verify.verify(archive, _config()))


def test_verify_refuses_an_archive_another_process_is_writing(archive, capsys):
    from pipeline.archive.lock import ArchiveLock

    with ArchiveLock(archive, "ingest 20260301T000000Z-abcdef"):
        assert cli(["verify", "--archive", str(archive)]) == 1
    err = capsys.readouterr().err
    assert "in use by another fieldrec process" in err and "ingest 20260301T000000Z-abcdef" in err


def test_a_process_that_finds_the_lock_just_taken_names_its_holder(tmp_path):
    """The holder writes its note just after taking the lock: a second writer in between read an
    empty note and said the archive was held by "unknown" (seen in the two-ingests faults test). It
    reads again for a moment and names the holder."""
    import fcntl
    import threading

    from pipeline.archive.lock import NOTE, ArchiveBusy, ArchiveLock

    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / NOTE).write_text("")
    held = os.open(archive, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)           # taken, its note not written yet
    late = threading.Timer(0.2, lambda: (archive / NOTE).write_text(json.dumps({"pid": 1, "purpose": "ingest X"})))
    late.start()
    try:
        with pytest.raises(ArchiveBusy) as busy, ArchiveLock(archive, "verify"):
            pass
        assert '"purpose": "ingest X"' in str(busy.value)
        late.join()
        (archive / NOTE).write_text("")                          # a holder that never writes it
        with pytest.raises(ArchiveBusy, match=r"\(unknown\)"), ArchiveLock(archive, "verify"):
            pass
    finally:
        os.close(held)
