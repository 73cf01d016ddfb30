"""Finding 6: free text cannot forge records, and hostile names cannot act on whoever reads them.

Identifiers (case ids, devices, approval references) refuse control characters and are bounded;
`--by` is never empty; free text keeps its line breaks inside its own field only; CSV cells that
a spreadsheet would run as a formula are neutralised; names with escape sequences reach the
terminal as text. Attacks run on a real archive whose drop holds hostile file names.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests import trustkit
from tests.trustkit import archive  # noqa: F401  (fixture: a copy of this module's archive per test)
from tests.helpers import ingest, table

HOSTILE = ["=HYPERLINK(1).bin", "@SUM(A1).bin", "+33 call.bin", "-2+3.bin", "\x1b]0;owned\x07title.bin",
           "\x1b[2Jclear.bin"]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("text")
    drop = trustkit.make_clips(root / "drop", trustkit.NAMES[:1])
    for i, name in enumerate(HOSTILE):
        (drop / name).write_bytes(bytes([i]) * 1000)
    ingest([drop], root / "archive", trustkit.fast_config())
    return root / "archive"


@pytest.mark.parametrize("option,value", [
    pytest.param("--approval", "REQ-1\nPayload-Oxum: 1.1", id="newline-in-approval"),
    pytest.param("--by", "Clerk\nExported-By: Chief", id="newline-in-by"),
    pytest.param("--by", "", id="empty-by"),
    pytest.param("--approval", "R" * 100_000, id="huge-approval"),
])
def test_export_refuses_text_that_would_forge_bag_info(archive, capsys, tmp_path, option, value):
    sha = table(archive, "recordings")[0]["sha256"]
    args = {"--approval": "REQ-1", "--by": "Clerk", option: value}
    before = trustkit.fingerprint(archive)
    code, _, err = trustkit.run(capsys, "export", "--archive", archive, sha, "--to", tmp_path / "out",
                                *[x for kv in args.items() for x in kv])
    assert code == 2 and option in err
    assert trustkit.fingerprint(archive) == before and not (tmp_path / "out").exists()


def test_a_reason_with_line_breaks_stays_in_its_own_tag(archive, capsys, tmp_path):
    from tests.webkit import grant

    sha = table(archive, "recordings")[0]["sha256"]
    code, _, err = trustkit.run(capsys, "export", "--archive", archive, sha, "--to", tmp_path / "out",
                                "--approval", grant(archive, "export", "recording", sha),
                                "--reason", "court\nExported-By: Chief\nPayload-Oxum: 1.1")
    assert code == 0, err
    tags = [line.split(":", 1)[0] for line in (tmp_path / "out" / "bag-info.txt").read_text().splitlines()]
    assert tags.count("Exported-By") == 1 and tags.count("Payload-Oxum") == 1


@pytest.mark.parametrize("argv,fragment", [
    pytest.param(["case", "open", "C" * 100_000, "--by", "Doe"], "at most 128", id="huge-case-id"),
    pytest.param(["case", "open", "C1\nC2", "--by", "Doe"], "control character", id="newline-in-case-id"),
    pytest.param(["case", "open", "C1", "--by", ""], "empty", id="empty-by"),
    pytest.param(["case", "open", "C1", "--by", "Doe", "--title", "t" * 100_000], "at most", id="huge-title"),
    pytest.param(["device", "handover", "CAM1\x1b[2J", "--to", "O1", "--at", "2026-03-01T09:00Z"],
                 "control character", id="escape-in-device"),
    pytest.param(["device", "handover", "CAM1", "--to", "O1", "--at", "2026-03-01T09:00Z", "--by", " "], "empty",
                 id="blank-by-on-handover"),
    pytest.param(["purge", "--approve", "D\r1", "--by", "Clerk"], "control character", id="cr-in-approval"),
    pytest.param(["explain", "abcdef01", "--reason", "x", "--by", "O1\u202eevil"], "control character",
                 id="bidi-override-in-by"),
])
def test_typed_identifiers_and_names_are_checked(archive, capsys, argv, fragment):
    before = trustkit.fingerprint(archive)
    code, _, err = trustkit.run(capsys, *argv, "--archive", archive)
    assert code == 2 and fragment in err, err
    assert len(err) < 2000, "a huge value is not echoed back whole"
    assert trustkit.fingerprint(archive) == before


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


@pytest.mark.parametrize("argv", [
    pytest.param(["retention", "--all", "--format", "csv"], id="retention"),
    pytest.param(["sql", "SELECT source_name, source_name AS again FROM recordings", "--format", "csv"], id="sql"),
    pytest.param(["compliance", "--late", "--format", "csv"], id="compliance"),
])
def test_csv_cells_never_start_a_formula(archive, capsys, argv):
    code, out, err = trustkit.run(capsys, *argv, "--archive", archive)
    assert code == 0, err
    cells = _cells(out)
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@")], cells
    if argv[0] != "compliance":
        assert "'=HYPERLINK(1).bin" in cells and "'@SUM(A1).bin" in cells


@pytest.mark.parametrize("argv", [
    pytest.param(["retention", "--all"], id="retention-table"),
    pytest.param(["sql", "SELECT source_name FROM recordings"], id="sql-table"),
    pytest.param(["retention", "--all", "--format", "json"], id="retention-json"),
])
def test_escape_sequences_in_file_names_reach_the_terminal_as_text(archive, capsys, argv):
    code, out, err = trustkit.run(capsys, *argv, "--archive", archive)
    assert code == 0, err
    assert "\x1b" not in out and "\x07" not in out
    if argv[-1] != "json":
        assert "\\x1b[2Jclear.bin" in out
    else:
        assert "\x1b[2Jclear.bin" in {r["source_name"] for r in json.loads(out)}   # JSON keeps the data, escaped
