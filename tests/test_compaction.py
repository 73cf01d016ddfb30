"""Compaction: small parts merged as a sealed operation; readers see each row once; verify checks the rows."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from catalog.store import Catalog
from pipeline.archive import compact, sealindex
from pipeline.archive.writer import writing_run
from tests.helpers import cli

UTC = timezone.utc
T0 = datetime(2026, 3, 1, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[1]


def fast_config(**compact_knobs):
    from pipeline.config import load_config

    config = load_config()
    return dataclasses.replace(config, ingest=dataclasses.replace(config.ingest, fsync=False),
                               compact=dataclasses.replace(config.compact, **compact_knobs))


def recordings(batch: int, n: int = 7) -> list[dict]:
    rows = []
    for i in range(n):
        start = T0 + timedelta(hours=batch, minutes=5 * i)
        rows.append({"sha256": f"{batch:04d}{i:060d}", "device_id": f"CAM{(batch + i) % 3}", "kind": "video",
                     "status": "ok", "duration_s": 60.0, "start_utc": start, "end_utc": start + timedelta(minutes=1),
                     "start_time": start.replace(tzinfo=None), "source_name": f"b{batch}_{i}.mp4",
                     "ingested_at": start + timedelta(hours=1)})
    return rows


def sealed_commits(archive: Path, config, batches: int, start: int = 0) -> None:
    """``batches`` writing runs, each committing (and sealing) one small part of recordings and of gaps."""
    for b in range(start, start + batches):
        with writing_run(archive, config, "test") as run:
            rows = recordings(b)
            run.catalog.commit({"recordings": rows, "gaps": [{"gap_id": f"g{b}", "kind": "between_files",
                                                              "device_id": r["device_id"], "start_utc": r["start_utc"]}
                                                             for r in rows[:2]]}, tag=run.run_id)


def parts(archive: Path, table: str) -> list[Path]:
    return sorted((archive / "catalog" / table).glob("*.parquet"))


def rows_of(archive: Path, table: str) -> list[str]:
    return sorted(json.dumps(r, default=str, sort_keys=True) for r in Catalog(archive).rows(table))


@pytest.fixture
def archive(tmp_path) -> Path:
    archive = tmp_path / "archive"
    sealed_commits(archive, fast_config(), 20)
    return archive


def test_compact_merges_small_parts_sorted_and_sealed_and_verify_holds_the_rows(archive, capsys):
    before = rows_of(archive, "recordings")
    code, out, err = cli(capsys, "compact", "--archive", archive, "--format", "json")
    assert code == 0, err
    done = {t["table"]: t for t in json.loads(out)["tables"]}
    assert done["recordings"]["merged"] == 20 and done["recordings"]["parts_after"] == 1
    assert len(parts(archive, "recordings")) == 1 and len(parts(archive, "gaps")) == 1
    assert rows_of(archive, "recordings") == before
    merged = pq.read_table(parts(archive, "recordings")[0])
    keys = list(zip(merged["device_id"].to_pylist(), merged["start_utc"].to_pylist()))
    assert keys == sorted(keys), "a compacted part is sorted by device, then time"
    manifest = json.loads(sorted((archive / "manifests").glob("*.json"))[-1].read_text())
    replaced = {r["table"]: r for r in manifest["replaced"]}
    assert replaced["recordings"]["rows"] == 140 and len(replaced["recordings"]["parts"]) == 20
    assert [e["path"] for e in manifest["catalog"]] == sorted(b["path"] for r in manifest["replaced"] for b in r["by"])
    code, out, err = cli(capsys, "verify", "--archive", archive, "--format", "json")
    assert code == 0, out + err
    assert not list((archive / "catalog" / "_journal").iterdir())


def test_verify_finds_a_compacted_part_whose_rows_are_not_those_it_replaced(archive, capsys):
    assert cli(capsys, "compact", "--archive", archive)[0] == 0
    part = parts(archive, "recordings")[0]
    table = pq.read_table(part)
    os.chmod(part, 0o644)
    pq.write_table(table.slice(1), part, compression="zstd")          # a row lost after the seal
    code, out, _ = cli(capsys, "verify", "--archive", archive, "--format", "json")
    problems = json.loads(out)["problems"]
    assert code == 3
    assert any(p["status"] == "changed" and "does not hold the rows" in p["message"] and "139 rows" in p["message"]
               for p in problems), problems


def test_a_merge_that_loses_a_row_replaces_nothing(archive, capsys, monkeypatch):
    before = rows_of(archive, "recordings")
    old_parts = parts(archive, "recordings")
    monkeypatch.setattr(compact, "sorted_rows", lambda table, rows: rows.slice(1))       # a merge bug
    code, _, err = cli(capsys, "compact", "--archive", archive, "--table", "recordings")
    assert code == 1 and "does not hold their rows" in err
    assert parts(archive, "recordings") == old_parts and rows_of(archive, "recordings") == before
    assert not list((archive / "catalog" / "recordings").glob(".*.tmp"))


def test_planted_and_changed_parts_are_never_merged(archive, capsys):
    planted = archive / "catalog" / "recordings" / "part-planted-00001-abcdef.parquet"
    shutil.copy(parts(archive, "recordings")[0], planted)
    # A forged index naming the planted part, with a real manifest, cannot vouch for it.
    index = sealindex.load(archive)
    real = next(iter(index.catalog.values()))
    index.catalog[f"catalog/recordings/{planted.name}"] = real
    sealindex.save(archive, index, fsync=False)
    code, out, err = cli(capsys, "compact", "--archive", archive, "--table", "recordings")
    assert code == 0, err
    assert planted.exists() and f"recordings/{planted.name}" in err and "left alone" in err
    code, out, _ = cli(capsys, "verify", "--archive", archive, "--format", "json")
    untracked = [p["path"] for p in json.loads(out)["problems"] if p["status"] == "untracked"]
    assert code == 3 and untracked == [f"catalog/recordings/{planted.name}"]


def test_a_replaced_part_brought_back_is_untracked_and_quarantine_moves_it(archive, capsys, tmp_path):
    old = parts(archive, "recordings")[0]
    backup = tmp_path / old.name
    shutil.copy(old, backup)
    assert cli(capsys, "compact", "--archive", archive)[0] == 0
    shutil.copy(backup, old)                                          # a restore from an old backup
    code, out, _ = cli(capsys, "verify", "--archive", archive, "--format", "json")
    found = [p for p in json.loads(out)["problems"]]
    assert code == 3 and [(p["status"], p["path"]) for p in found] == [("untracked", f"catalog/recordings/{old.name}")]
    assert "read twice" in found[0]["message"]
    assert cli(capsys, "quarantine", "--archive", archive, "--by", "Clerk", "--reason", "restored by mistake")[0] == 0
    assert not old.exists()
    assert len(Catalog(archive).rows("recordings")) == 140


KILL_SCRIPT = """
import sys, time, dataclasses
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from pipeline.config import load_config
from pipeline.runs.compact import compact_archive
from pipeline.archive import chain
from catalog import store
where = sys.argv[2]
def stop(original):
    def stopped(*a, **k):
        Path(sys.argv[1] + ".ready").write_text("x")
        time.sleep(60)
        return original(*a, **k)
    return stopped
if where == "before-seal":
    chain.seal = stop(chain.seal)
else:
    store.Catalog.finish_swap = stop(store.Catalog.finish_swap)
config = load_config()
compact_archive(Path(sys.argv[1]), dataclasses.replace(config, ingest=dataclasses.replace(config.ingest, fsync=False)))
"""


def _killed(archive: Path, where: str) -> None:
    ready = Path(f"{archive}.ready")
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(archive), where, str(REPO)])
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the compaction did not reach its stop"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    ready.unlink()


@pytest.mark.parametrize("where, expect", [("before-seal", "undone"), ("after-seal", "finished")])
def test_a_compaction_killed_is_undone_before_its_seal_and_finished_after(archive, capsys, where, expect):
    before = rows_of(archive, "recordings")
    manifests = len(list((archive / "manifests").glob("*.json")))
    _killed(archive, where)
    assert Catalog(archive).swaps(), "the kill left its swap record"
    assert rows_of(archive, "recordings") == before, "a reader sees each row once, mid-swap too"
    # The next writing command decides from the chain: unsealed new parts go, sealed ones stay.
    assert cli(capsys, "device", "handover", "CAM1", "--to", "O1", "--at", "2026-03-01", "--archive", archive)[0] == 0
    assert not Catalog(archive).swaps()
    assert rows_of(archive, "recordings") == before
    n = len(parts(archive, "recordings"))
    assert (n == 20) if expect == "undone" else (n == 1)
    assert len(list((archive / "manifests").glob("*.json"))) == manifests + (1 if expect == "undone" else 2)
    code, out, err = cli(capsys, "verify", "--archive", archive)
    assert code == 0, out + err


WRITER_SCRIPT = """
import sys, dataclasses
from pathlib import Path
sys.path.insert(0, sys.argv[2])
sys.path.insert(0, sys.argv[2] + "/tests")
from tests.test_compaction import sealed_commits, fast_config
from pipeline.runs.compact import compact_archive
archive = Path(sys.argv[1])
for round in range(4):
    sealed_commits(archive, fast_config(), 3, start=100 + 3 * round)
    compact_archive(archive, fast_config(), merge_any=True)
"""


@pytest.mark.slow
def test_readers_never_see_a_row_twice_or_miss_one_while_compactions_run(archive):
    """A reader thread counts rows while another process commits and compacts, again and again."""
    seen, errors, stop = [], [], threading.Event()

    def read():
        while not stop.is_set():
            try:
                shas = Catalog(archive).read("recordings", ["sha256"])["sha256"].to_pylist()
                seen.append((len(shas), len(set(shas))))
            except Exception as exc:            # noqa: BLE001 - any failure to read is the finding
                errors.append(repr(exc))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        subprocess.run([sys.executable, "-c", WRITER_SCRIPT, str(archive), str(REPO)], check=True, timeout=240)
    finally:
        stop.set()
        reader.join()
    assert not errors
    assert len(seen) > 20
    valid = {140 + 7 * k for k in range(13)}
    assert all(total == unique and total in valid for total, unique in seen), sorted(set(seen))
    assert len(Catalog(archive).rows("recordings")) == 140 + 7 * 12


def test_the_review_service_mirror_shows_each_row_once_after_a_compaction(archive, capsys):
    from starlette.testclient import TestClient

    from pipeline.web.app import create_app
    from tests.webkit import add_accounts, sign_in

    add_accounts(archive)
    app = create_app(archive, fast_config(), fsync=False, start_flusher=False)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        assert sign_in(client, "clerk.zhao").status_code == 303
        count = "SELECT count(*), count(DISTINCT sha256) FROM recordings"
        assert client.get("/").status_code == 200
        assert app.state.service.reader().con.execute(count).fetchone() == (140, 140)
        assert cli(capsys, "compact", "--archive", archive, "--all")[0] == 0
        assert client.get("/").status_code == 200                  # a request refreshes the mirror
        assert app.state.service.reader().con.execute(count).fetchone() == (140, 140)
        sealed_commits(archive, fast_config(), 1, start=500)       # and later parts are appended as before
        assert app.state.service.reader().con.execute(count).fetchone() == (147, 147)


def test_sql_reads_a_compacted_catalog(archive, capsys):
    assert cli(capsys, "compact", "--archive", archive)[0] == 0
    code, out, err = cli(capsys, "sql", "--archive", archive, "--format", "json",
                         "SELECT count(*) AS n, count(DISTINCT sha256) AS d FROM recordings")
    assert code == 0, err and json.loads(out) == [{"n": 140, "d": 140}]


def test_dry_run_changes_nothing_and_min_parts_holds_back_small_tables(archive, capsys):
    from tests.trustkit import fingerprint

    before = fingerprint(archive)
    code, out, err = cli(capsys, "compact", "--archive", archive, "--dry-run", "--format", "json")
    assert code == 0 and fingerprint(archive) == before
    planned = {t["table"]: t for t in json.loads(out)["tables"] if t["merged"]}
    assert set(planned) == {"recordings", "gaps"}                 # 20 small parts each; settings_changes has 1
    code, out, err = cli(capsys, "compact", "--archive", archive, "--table", "runs", "--format", "json")
    assert code == 0 and json.loads(out)["merged"] == 0


@pytest.mark.parametrize("key, value", [("min_parts", 0), ("min_parts", 1), ("part_mb", 0), ("part_mb", -1),
                                        ("part_mb", 10**20), ("row_group_rows", 10), ("auto", "yes")])
def test_hostile_compaction_settings_are_refused_naming_the_key(archive, capsys, tmp_path, key, value):
    config = tmp_path / "c.toml"
    config.write_text(f"[compact]\n{key} = {json.dumps(value)}\n")
    code, _, err = cli(capsys, "compact", "--archive", archive, "--config", config)
    assert code == 2 and f"compact.{key}" in err
    assert len(parts(archive, "recordings")) == 20


def test_an_unknown_table_is_a_usage_error(archive, capsys):
    code, _, err = cli(capsys, "compact", "--archive", archive, "--table", "recordings\x1b[2J")
    assert code == 2 and "unknown table" in err and "\x1b" not in err


@pytest.mark.slow
@pytest.mark.parametrize("auto", [True, False])
def test_an_ingest_compacts_by_itself_once_a_table_has_min_parts_small_parts(tmp_path, capsys, auto):
    from pipeline.config import load_config
    from pipeline.runs.ingest import ingest
    from pipeline.sample.encode import write_wav

    config = load_config()
    config = dataclasses.replace(config, ingest=dataclasses.replace(config.ingest, fsync=False),
                                 compact=dataclasses.replace(config.compact, auto=auto, min_parts=2))
    archive = tmp_path / "archive"
    summaries = []
    for night in range(2):
        drop = tmp_path / f"drop{night}"
        write_wav(drop / f"BWC1_OF1_2026030{night + 1}100000.WAV", duration_s=0.3 + 0.1 * night)  # other bytes
        summaries.append(ingest([drop], archive, config))
    recordings = parts(archive, "recordings")
    assert len(rows_of(archive, "recordings")) == 2
    if auto:
        assert any(s.compaction.get("merged") for s in summaries), [s.compaction for s in summaries]
        assert len(recordings) == 1, "the two nights' recordings parts were merged after the ingest"
        manifest = json.loads(sorted((archive / "manifests").glob("*.json"))[-1].read_text())
        assert manifest["replaced"], "the automatic compaction is sealed with what it replaced"
    else:
        assert not any(s.compaction for s in summaries) and len(recordings) == 2
    code, out, err = cli(capsys, "verify", "--archive", archive, "--format", "json")
    assert code == 0, out + err
