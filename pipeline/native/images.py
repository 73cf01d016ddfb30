"""Still images through Pillow: EXIF date, orientation and size, read from the header only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

EXIF_IFD = 0x8769
DATETIME_ORIGINAL = 0x9003
DATETIME = 0x0132
ORIENTATION = 0x0112
MAKE, MODEL = 0x010F, 0x0110

ImageError = (UnidentifiedImageError, OSError, SyntaxError, ValueError)


@dataclass(frozen=True)
class PhotoInfo:
    format: str
    width: int
    height: int
    datetime_original: str | None    # "YYYY:MM:DD HH:MM:SS", as the camera wrote it
    orientation: int                 # EXIF orientation 1..8 (1 when absent)
    make: str | None
    model: str | None


def photo_info(path: Path) -> PhotoInfo:
    """Header facts of a photo; raises one of ``ImageError`` when it is not a readable image."""
    with Image.open(path) as img:
        exif = img.getexif()
        sub = exif.get_ifd(EXIF_IFD)
        when = sub.get(DATETIME_ORIGINAL) or exif.get(DATETIME)
        return PhotoInfo(
            format=(img.format or "").lower(),
            width=img.width,
            height=img.height,
            datetime_original=str(when).strip("\x00 ") if when else None,
            orientation=int(exif.get(ORIENTATION, 1) or 1),
            make=_text(exif.get(MAKE)),
            model=_text(exif.get(MODEL)),
        )


def _text(value) -> str | None:
    return str(value).strip("\x00 ") or None if value else None
