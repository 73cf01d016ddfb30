"""``fieldrec report``: the facts it shows, and the page as a headless Chromium renders it."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.report.data import load, spread
from pipeline.rules.custody import upload_lateness
from tests.report_drop import add_stage_rows, gap_37, make_drop

DEVICES = ("BWC101", "BWC102", "BWC103", "BWC104")


@pytest.fixture(scope="module")
def drop_archive(tmp_path_factory) -> tuple[Path, dict]:
    """A generated drop, ingested (gaps found), one gap explained, thumbnails added."""
    from tests.helpers import ingest

    root = tmp_path_factory.mktemp("report")
    make_drop(root / "drop", datetime.now(timezone.utc))
    config = load_config()
    config = dataclasses.replace(config, ingest=dataclasses.replace(config.ingest, fsync=False))
    ingest([root / "drop"], root / "archive", config)
    written = add_stage_rows(root / "archive")
    written["gap_37"] = gap_37(root / "archive")["gap_id"]
    return root / "archive", written


# -- the facts ---------------------------------------------------------------------------------------
def test_report_facts_of_the_generated_drop(drop_archive):
    archive, written = drop_archive
    data = load(archive, load_config())
    assert sorted({r.device_id for r in data.recordings if r.device_id}) == list(DEVICES)
    gaps = {g.gap_id: g for g in data.gaps}
    gap = gaps[written["gap_37"]]
    assert gap.kind == "between_files" and gap.explanation == "unexplained" and gap.device_id == "BWC101"
    assert gap.duration_s == pytest.approx(37, abs=0.2)
    explained = gaps[written["explanations"][0]["gap_id"]]
    assert explained.explained and explained.explained_by == "PC Ortiz" and explained.device_id == "BWC102"
    assert sorted((g.device_id, g.kind) for g in data.gaps if not g.explained) == [
        ("BWC101", "between_files"), ("BWC102", "damaged_tail"), ("BWC103", "clock")]
    clock = next(g for g in data.gaps if g.kind == "clock")
    assert clock.reason == "name_container_mismatch" and "+437 s" in clock.detail
    assert [r.device_id for r in data.recordings if r.late_by_s] == ["BWC104"]
    # The drop's file of random bytes under a recorder's name was read and kept: damaged, not unreadable.
    assert {r.status for r in data.recordings if r.status != "ok"} == {"damaged"}
    stored = {}
    for row in written["thumbnails"]:
        stored[row["sha256"]] = stored.get(row["sha256"], 0) + 1
    assert {sha: len(t) for sha, t in data.thumbs.items()} == {sha: min(n, 6) for sha, n in stored.items()}
    assert all(t.data_uri.startswith("data:image/webp;base64,") for ts in data.thumbs.values() for t in ts)


def test_device_and_since_filters(drop_archive):
    archive, written = drop_archive
    only = load(archive, load_config(), devices=("BWC101",))
    assert {r.device_id for r in only.recordings} == {"BWC101"} and [g.gap_id for g in only.gaps] == [written["gap_37"]]
    everything = load(archive, load_config())
    cut = max(r.end for r in everything.recordings if r.device_id == "BWC104") + timedelta(hours=1)
    recent = load(archive, load_config(), since=cut)
    assert "BWC104" not in {r.device_id for r in recent.recordings}
    assert all((r.end or r.start) >= cut for r in recent.recordings)
    assert not any(r.late_by_s for r in recent.recordings)


def test_report_without_stage_tables_still_renders(drop_archive, tmp_path, capsys):
    archive, _ = drop_archive
    bare = tmp_path / "archive"
    shutil.copytree(archive / "catalog", bare / "catalog",
                    ignore=lambda d, names: [n for n in names if n in ("thumbnails", "gaps", "gap_state", "explanations")])
    out = tmp_path / "report.html"
    assert main(["report", "--archive", str(bare), "-o", str(out)]) == 0
    page = out.read_text()
    assert "No thumbnails in this archive yet" in page and "No gaps recorded" in page
    assert "BWC101" in page and "<img" not in page
    assert "0 unexplained gaps" in capsys.readouterr().out


@pytest.mark.parametrize("end,arrived,late", [
    pytest.param(datetime(2026, 3, 1, 10), datetime(2026, 3, 2, 9, 59), False, id="just-within-24h"),
    pytest.param(datetime(2026, 3, 1, 10), datetime(2026, 3, 2, 10, 0, 1), True, id="just-over-24h"),
    pytest.param(datetime(2026, 3, 1, 10), datetime(2026, 3, 2, 10), False, id="exactly-24h-is-on-time"),
    pytest.param(None, datetime(2026, 3, 9), False, id="no-end-time"),
])
def test_late_upload_rule(end, arrived, late):
    utc = (lambda t: t.replace(tzinfo=timezone.utc) if t else None)     # noqa: E731
    assert upload_lateness(utc(end), utc(arrived), 24.0).late is late


@pytest.mark.parametrize("n,k,expected", [
    pytest.param(10, 3, [0, 4, 9], id="ends-and-middle"),
    pytest.param(2, 6, [0, 1], id="fewer-than-wanted"),
    pytest.param(5, 1, [2], id="one-is-the-middle"),
    pytest.param(5, 0, [], id="none"),
])
def test_thumbnails_are_spread_over_the_recording(n, k, expected):
    assert spread(list(range(n)), k) == expected


# -- the page in a browser ------------------------------------------------------------------------------
class Elements(HTMLParser):
    """Every start tag with its attributes, and the page's text."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def find(self, tag: str, **attrs) -> list[dict]:
        return [a for t, a in self.tags if t == tag and all(a.get(k, "").find(v) >= 0 for k, v in attrs.items())]


@pytest.fixture(scope="session")
def chromium_exe() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("no Chromium on PATH: install Debian's `chromium` (.ci/run does) to render the report")
    return exe


def chromium(exe: str, *args: str, profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           "--disable-dev-shm-usage", f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


def test_report_renders_in_headless_chromium(chromium_exe, drop_archive, tmp_path):
    from PIL import Image

    archive, written = drop_archive
    out = tmp_path / "report.html"
    assert main(["report", "--archive", str(archive), "-o", str(out)]) == 0
    page = out.read_text()
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "") and "https://" not in page
    url = out.resolve().as_uri()

    shot = tmp_path / "shot.png"
    done = chromium(chromium_exe, f"--screenshot={shot}", "--window-size=1400,1000", url, profile=tmp_path / "profile")
    assert shot.is_file(), done.stderr[-2000:]
    with Image.open(shot) as img:
        rgb = img.convert("RGB")
        small = rgb.resize((350, 250))
        pixels = [small.getpixel((x, y)) for x in range(350) for y in range(250)]
        colours = rgb.getcolors(maxcolors=1 << 20)
    non_white = sum(1 for p in pixels if sum(p) < 720) / len(pixels)
    assert non_white > 0.05, f"screenshot looks blank ({non_white:.1%} non-white pixels)"
    assert colours is None or len(colours) > 50, "screenshot has almost no colours"

    done = chromium(chromium_exe, "--dump-dom", "--virtual-time-budget=2000", url, profile=tmp_path / "profile")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = Elements()
    dom.feed(done.stdout)
    timelines = {a["data-device"] for a in dom.find("svg", **{"class": "timeline"})}
    assert timelines == set(DEVICES)
    gap_id = written["gap_37"]
    gap_marks = dom.find("rect", **{"data-gap": gap_id})
    assert len(gap_marks) == 1 and "unexplained" in gap_marks[0]["class"]
    assert "37 s" in gap_marks[0]["data-tip"] and "UNEXPLAINED" in gap_marks[0]["data-tip"]   # the script's tooltip
    assert any(gap_id in t for t in dom.text), "the gap is not in the list of unexplained gaps"
    thumbs = dom.find("img", **{"class": "thumb"})
    shown = {}
    for row in written["thumbnails"]:
        shown[row["sha256"]] = min(6, shown.get(row["sha256"], 0) + 1)
    assert len(thumbs) == sum(shown.values()) > 0
    assert all(t["src"].startswith("data:image/webp;base64,") for t in thumbs)
    assert {a["id"] for a in dom.find("div", id="rec-")} >= {f"rec-{sha}" for sha in shown}
    # the script lays the timelines out again on load, with the code its zoom uses: same places as Python's
    static = Elements()
    static.feed(page)
    placed = {a["data-rec"]: (float(a["x"]), float(a["width"])) for a in static.find("rect", **{"class": "rec"})}
    redrawn = {a["data-rec"]: (float(a["x"]), float(a["width"])) for a in dom.find("rect", **{"class": "rec"})}
    assert placed.keys() == redrawn.keys() and len(placed) >= 7
    for sha, (x, w) in placed.items():
        assert redrawn[sha] == (pytest.approx(x, abs=0.01), pytest.approx(w, abs=0.01)), sha
