"""Finding 5: which recordings a case holds is decided by one rule, wherever it is asked.

A recording belongs to a case when its time overlaps an assignment's range, compared as instants
(each device clock placed in its zone: the site's, Asia/Shanghai, unless the device has its own),
and for an officer selector when the officer is
the one the recording is attributed to (the file name, else the device ledger). Retention,
`case show`, `case list` and disc planning (by case and by class) must agree on real recordings
whose times only partly overlap, whose clocks run at another offset, and whose officer comes
from the ledger.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.sample.encode import write_clip
from tests import trustkit
from tests.helpers import by_name, ingest

CLIPS = {
    # name (device clock)                    seconds  member?  why (range: 10:00-10:30 site time, +08:00)
    "CAM1_O1_20260301095959.mp4": (3, True),      # starts before the range, ends inside it
    "CAM1_O1_20260301102959.mp4": (3, True),      # starts inside, ends after the range
    "CAM1_O1_20260301103100.mp4": (2, False),     # after the range
    "CAM4_O4_20260301020010.mp4": (2, True),      # CAM4's clock runs at UTC: 02:00 is 10:00 at +08:00
    "CAM4_O4_20260301100010.mp4": (2, False),     # ... and 10:00 on it is 18:00 at the site
    "CAM5_20260301100500.mp4": (2, True),         # no officer in the name: the ledger says O5
}


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("members")
    drop = root / "drop"
    drop.mkdir()
    for seed, (name, (seconds, _)) in enumerate(CLIPS.items()):
        write_clip(drop / name, replace(trustkit.CLIP, fps=5, duration_s=float(seconds), seed=seed))
    archive = root / "archive"
    ingest([drop], archive, trustkit.fast_config())
    return archive


def _run(capsys, *argv):
    code, out, err = trustkit.run(capsys, *argv)
    assert code == 0, err
    return out


def test_retention_case_show_and_disc_plans_agree_on_partial_overlaps_and_offsets(archive, capsys):
    a = archive
    _run(capsys, "config", "set", "site.device_time_zones", '["CAM4=+00:00"]', "--archive", a, "--by", "Desk",
         "--reason", "CAM4 was never set to Beijing time")
    _run(capsys, "device", "handover", "CAM5", "--to", "O5", "--at", "2026-03-01T09:00:00", "--by", "Desk",
         "--archive", a)
    _run(capsys, "case", "open", "MASS-1", "--class", "permanent", "--archive", a, "--by", "Lead")
    for selector in (["--device", "CAM1"], ["--device", "CAM4"], ["--officer", "O5"]):
        _run(capsys, "case", "assign", "MASS-1", *selector, "--from", "2026-03-01T10:00:00",
             "--to", "2026-03-01 10:30:00 +08:00", "--archive", a, "--by", "Lead")
    sha = {name: rec["sha256"] for name, rec in by_name(a).items()}
    expected = {sha[name] for name, (_, member) in CLIPS.items() if member}

    shown = {r["sha256"] for r in json.loads(_run(capsys, "case", "show", "MASS-1", "--archive", a, "--format", "json"))}
    kept = {r["sha256"] for r in json.loads(_run(capsys, "retention", "--all", "--archive", a, "--format", "json"))
            if r["state"] == "permanent"}
    listed = json.loads(_run(capsys, "case", "list", "--archive", a, "--format", "json"))
    by_case = json.loads(_run(capsys, "disc", "plan", "--archive", a, "--case", "MASS-1", "--capacity-bytes", 10**9,
                              "--format", "json"))
    by_class = json.loads(_run(capsys, "disc", "plan", "--archive", a, "--class", "permanent",
                               "--capacity-bytes", 10**9, "--format", "json"))
    on_disc = lambda plan: {f["sha256"] for d in plan["discs"] for f in d["files"]}   # noqa: E731

    assert shown == expected
    assert kept == expected
    assert listed[0]["files"] == len(expected)
    assert on_disc(by_case) == expected
    assert on_disc(by_class) == expected
