"""Remake the README's report screenshots: a generated drop, ingested, reported, shot in Chromium.

    .venv/bin/python docs/screenshots.py      # docs/report.png, docs/report-lists.png, docs/report-zh.png

The Chinese one is the same report in the site's language (the page's ``lang`` is zh-CN); it needs
a CJK system font (Debian: fonts-noto-cjk).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from PIL import Image

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))

from catalog.store import Catalog  # noqa: E402
from pipeline.common import i18n  # noqa: E402
from pipeline.config import load_config  # noqa: E402
from pipeline.report.html import write_report  # noqa: E402
from tests.report_drop import main as build  # noqa: E402


def shoot(html: Path, png: Path, size: str, fragment: str = "") -> None:
    profile = tempfile.mkdtemp(prefix="chromium-")
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--hide-scrollbars", f"--user-data-dir={profile}", f"--screenshot={png}",
                    f"--window-size={size}", html.resolve().as_uri() + fragment],
                   check=True, capture_output=True, timeout=120)
    shutil.rmtree(profile, ignore_errors=True)


def zoom_of(archive: Path) -> str:
    """The report's link fragment that zooms on the event of BWC101."""
    event = [r for r in Catalog(archive).rows("recordings") if r["device_id"] == "BWC101"]
    start = min(r["start_time"] for r in event)
    end = max(r["end_time"] for r in event)
    margin = timedelta(minutes=2)
    return f"#t={start - margin:%Y-%m-%d %H:%M:%S},{end + margin:%Y-%m-%d %H:%M:%S}"


def small(png: Path) -> None:
    with Image.open(png) as img:
        img.convert("RGB").quantize(256).save(png, optimize=True)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="fieldrec-shots-"))
    build([str(work), "--long"])
    html = work / "report.html"
    zoom = zoom_of(work / "archive")
    shoot(html, DOCS / "report.png", "1400,900", zoom)
    tall = work / "tall.png"
    shoot(html, tall, "1400,3000", zoom)
    with Image.open(tall) as img:                       # from the gap list down to the first thumbnails
        img.crop((0, 1060, 1400, 2440)).convert("RGB").quantize(256).save(DOCS / "report-lists.png", optimize=True)
    small(DOCS / "report.png")
    # The Chinese site's archive is made in Chinese: the sentences the gaps and clock checks store
    # (the gaps table's detail) are written in the language of the run that finds them.
    chinese = Path(tempfile.mkdtemp(prefix="fieldrec-shots-zh-"))
    i18n.use_language("zh-CN")
    build([str(chinese), "--long"])
    shoot(chinese / "report.html", DOCS / "report-zh.png", "1400,900", zoom_of(chinese / "archive"))
    small(DOCS / "report-zh.png")
    print(DOCS / "report.png", DOCS / "report-lists.png", DOCS / "report-zh.png", f"(from {work}, {chinese})")


if __name__ == "__main__":
    main()
