"""``fieldrec sql``: catalog tables by name, three output formats, and nothing but reading."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pytest

from catalog.store import Catalog
from pipeline.cli import main
from tests.report_drop import THUMBNAILS, write_part

RECORDINGS = [
    {"sha256": "a" * 64, "device_id": "BWC1", "officer_id": "OF1", "status": "ok", "duration_s": 60.0,
     "size": 1000, "start_time": datetime(2026, 3, 1, 10, 0), "ingested_at": datetime(2026, 3, 1, 12, tzinfo=timezone.utc)},
    {"sha256": "b" * 64, "device_id": "BWC1", "officer_id": "OF1", "status": "damaged", "duration_s": 30.0,
     "size": 500, "start_time": datetime(2026, 3, 1, 10, 5), "error_message": 'cut, "short"'},
    {"sha256": "c" * 64, "device_id": "BWC2", "officer_id": "OF2", "status": "ok", "duration_s": 90.0, "size": 2000},
]


@pytest.fixture
def archive(tmp_path) -> Path:
    archive = tmp_path / "archive"
    Catalog(archive, fsync=False).create().commit({"recordings": RECORDINGS}, tag="t")
    return archive


def sql(capsys, archive: Path, query: str, *args: str) -> tuple[int, str, str]:
    code = main(["sql", "--archive", str(archive), query, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_table_output_aligns_columns_and_counts_rows(archive, capsys):
    code, out, _ = sql(capsys, archive, "SELECT device_id, count(*) AS files, sum(duration_s) AS secs "
                                        "FROM recordings GROUP BY 1 ORDER BY 1")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["device_id", "files", "secs"]
    assert lines[2].split() == ["BWC1", "2", "90"] and lines[3].split() == ["BWC2", "1", "90"]
    assert lines[-1] == "(2 rows)"


def test_csv_output_quotes_and_keeps_exact_values(archive, capsys):
    code, out, _ = sql(capsys, archive, "SELECT sha256, error_message, start_time FROM recordings ORDER BY sha256",
                       "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["sha256"][0] for r in rows] == ["a", "b", "c"]
    assert rows[1]["error_message"] == 'cut, "short"'
    assert rows[0]["start_time"] == "2026-03-01 10:00:00" and rows[2]["start_time"] == ""


def test_json_output_is_a_list_of_objects(archive, capsys):
    code, out, _ = sql(capsys, archive, "SELECT sha256, duration_s, ingested_at FROM recordings "
                                        "WHERE status = 'ok' ORDER BY sha256", "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert rows[0] == {"sha256": "a" * 64, "duration_s": 60.0, "ingested_at": "2026-03-01T12:00:00+00:00"}
    assert len(rows) == 2


def test_tables_of_later_stages_are_views_even_when_their_parts_differ(archive, capsys):
    """Parts of one table written by different versions: columns are unified by name."""
    thumb = {"sha256": "a" * 64, "pts_s": 0.0, "width": 160, "height": 120, "format": "webp", "image": b"RIFF"}
    write_part(archive, "thumbnails", [thumb], THUMBNAILS)
    newer = THUMBNAILS.append(pa.field("note", pa.string()))
    write_part(archive, "thumbnails", [{**thumb, "pts_s": 1.0, "note": "new column"}], newer)
    code, out, _ = sql(capsys, archive, "SELECT pts_s, note, image FROM thumbnails ORDER BY pts_s", "--format", "json")
    assert code == 0, out
    assert json.loads(out) == [{"pts_s": 0.0, "note": None, "image": "UklGRg=="},
                               {"pts_s": 1.0, "note": "new column", "image": "UklGRg=="}]
    code, out, _ = sql(capsys, archive, "SELECT image FROM thumbnails LIMIT 1")
    assert "<4 bytes>" in out


def test_known_table_without_rows_is_empty_not_missing(archive, capsys):
    code, out, _ = sql(capsys, archive, "SELECT count(*) AS n FROM keyframes", "--format", "json")
    assert code == 0 and json.loads(out) == [{"n": 0}]


@pytest.mark.parametrize("statement,fragment", [
    pytest.param("COPY (SELECT 1 AS a) TO '{catalog}/recordings/evil.parquet'", "COPY statement", id="copy-into-catalog"),
    pytest.param("ATTACH '{tmp}/other.db'", "ATTACH statement", id="attach"),
    pytest.param("INSTALL httpfs", "only SELECT", id="install"),
    pytest.param("LOAD httpfs", "only SELECT", id="load"),
    pytest.param("CREATE TABLE t AS SELECT 1", "CREATE statement", id="create"),
    pytest.param("SET enable_external_access = true", "SET statement", id="set"),
    pytest.param("SELECT 1; SELECT 2", "exactly one statement", id="two-statements"),
    pytest.param("SELECT * FROM read_csv('{tmp}/secret.csv')", "disabled by configuration", id="other-file"),
    pytest.param("SELECT * FROM read_parquet('https://example.com/x.parquet')", "disabled by configuration", id="network"),
    pytest.param("SELECT * FROM no_such_table", "no_such_table", id="unknown-table"),
])
def test_anything_but_reading_the_catalog_is_refused(archive, capsys, statement, fragment):
    (archive.parent / "secret.csv").write_text("x\n1\n")
    before = sorted(p.relative_to(archive.parent) for p in archive.parent.rglob("*"))
    statement = statement.format(catalog=archive / "catalog", tmp=archive.parent)
    code, out, err = sql(capsys, archive, statement)
    assert code == 2 and out == ""
    assert fragment in err, err
    assert sorted(p.relative_to(archive.parent) for p in archive.parent.rglob("*")) == before


def test_missing_archive_is_a_usage_error(tmp_path, capsys):
    code, _, err = sql(capsys, tmp_path / "nope", "SELECT 1")
    assert code == 2 and "archive folder not found" in err


# -- limits (finding 7: a cross join ran until killed, a sort took 6.3 GB, .tmp/ was readable) ----

def _limits(tmp_path: Path, **keys) -> Path:
    path = tmp_path / "sql.toml"
    path.write_text("[sql]\n" + "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in keys.items()))
    return path


def test_a_runaway_cross_join_is_stopped_by_the_timeout(archive, capsys, tmp_path):
    import time

    cfg = _limits(tmp_path, timeout_s=1.0)
    start = time.monotonic()
    code, out, err = sql(capsys, archive, "SELECT count(*) FROM range(1000000) a, range(1000000) b "
                                          "WHERE a.range * b.range % 7 = 3", "--config", str(cfg))
    assert code == 1 and "ran longer than 1 s (sql.timeout_s)" in err and out == ""
    assert time.monotonic() - start < 30


def test_a_sort_beyond_the_memory_limit_stops_with_a_message(archive, capsys, tmp_path):
    cfg = _limits(tmp_path, memory_limit_mb=32, max_temp_mb=16, timeout_s=60.0)
    code, out, err = sql(capsys, archive, "SELECT max(x) FROM (SELECT md5(range::VARCHAR) AS x FROM range(3000000) "
                                          "ORDER BY x LIMIT 2000000)", "--config", str(cfg))
    assert code == 1 and "sql.memory_limit_mb" in err, err


def test_a_result_too_large_to_print_is_refused(archive, capsys, tmp_path):
    cfg = _limits(tmp_path, max_rows=1000)
    code, out, err = sql(capsys, archive, "SELECT * FROM range(5000)", "--config", str(cfg))
    assert code == 1 and "more than 1000 rows (sql.max_rows)" in err


def test_files_under_the_working_folders_tmp_are_not_readable(archive, capsys, tmp_path, monkeypatch):
    """DuckDB's default spill folder is .tmp/ under the current folder; ours is private."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".tmp").mkdir()
    (tmp_path / ".tmp" / "secret.csv").write_text("password\nhunter2\n")
    for target in (".tmp/secret.csv", str(tmp_path / ".tmp" / "secret.csv")):
        code, out, err = sql(capsys, archive, f"SELECT * FROM read_csv('{target}')")
        assert code == 2 and "hunter2" not in out + err


def test_limits_out_of_bounds_or_a_spill_folder_inside_the_archive_are_refused(archive, capsys, tmp_path):
    code, _, err = sql(capsys, archive, "SELECT 1", "--config", str(_limits(tmp_path, memory_limit_mb=0)))
    assert code == 2 and "sql.memory_limit_mb" in err
    cfg = _limits(tmp_path, temp_dir=str(archive / "catalog" / "spill"))
    code, _, err = sql(capsys, archive, "SELECT 1", "--config", str(cfg))
    assert code == 2 and "inside the archive" in err and not (archive / "catalog" / "spill").exists()
