"""Contact sheets: thumbnails in a grid, each captioned with its time, as one image."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

from PIL import Image, ImageDraw, ImageFont

GAP = 6
CAPTION = 16
BACKGROUND = (24, 24, 24)
TEXT = (235, 235, 235)


def timestamp(seconds: float) -> str:
    """``H:MM:SS.s`` (a minus sign for times before the file's zero)."""
    sign = "-" if seconds < 0 else ""
    tenths = round(abs(seconds) * 10)
    h, rest = divmod(tenths, 36000)
    m, rest = divmod(rest, 600)
    return f"{sign}{h}:{m:02d}:{rest / 10:04.1f}"


def contact_sheet(cells: Sequence[tuple[float, bytes]], *, columns: int, title: str = "") -> Image.Image:
    """A grid of the encoded thumbnails ``(pts_s, image bytes)``, captioned with their times."""
    images = [(pts, Image.open(io.BytesIO(data)).convert("RGB")) for pts, data in cells]
    columns = max(1, min(columns, len(images)))
    rows = -(-len(images) // columns)
    cell_w = max(im.width for _, im in images)
    cell_h = max(im.height for _, im in images) + CAPTION
    top = CAPTION + GAP if title else 0
    sheet = Image.new("RGB", (GAP + columns * (cell_w + GAP), top + GAP + rows * (cell_h + GAP)), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    if title:
        draw.text((GAP, GAP), title, fill=TEXT, font=font)
    for n, (pts, im) in enumerate(images):
        row, col = divmod(n, columns)
        x = GAP + col * (cell_w + GAP)
        y = top + GAP + row * (cell_h + GAP)
        sheet.paste(im, (x + (cell_w - im.width) // 2, y))
        draw.text((x, y + cell_h - CAPTION + 2), timestamp(pts), fill=TEXT, font=font)
    return sheet


def save(image: Image.Image, path: Path, quality: int = 85) -> None:
    image.save(path, "JPEG", quality=quality)
