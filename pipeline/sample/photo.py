"""Write JPEG photos with EXIF (make, model, orientation, capture time) as a body-worn camera stores them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from pipeline.sample.encode import prepare_path

__all__ = ["write_jpeg"]

_EXIF_IFD = 0x8769
_TAG_MAKE, _TAG_MODEL, _TAG_ORIENTATION, _TAG_DATETIME = 0x010F, 0x0110, 0x0112, 0x0132
_TAG_DATETIME_ORIGINAL = 0x9003


def write_jpeg(
    path: str | Path,
    width: int = 320,
    height: int = 240,
    orientation: int | None = None,
    datetime_original: str | None = "2026:03:01 10:00:00",
    make: str = "FieldCam",
    *,
    model: str = "BWC-1",
    quality: int = 90,
) -> Path:
    """JPEG with EXIF as a camera stores it: pixels in sensor order, orientation as a tag.

    A red square marks the stored top-left corner so a test can tell whether a
    reader applied ``orientation`` (6 = rotate 90 CW for display, i.e. portrait).
    """
    path = prepare_path(path)
    rgb = np.empty((height, width, 3), np.uint8)
    rgb[..., 0] = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    rgb[..., 1] = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    rgb[..., 2] = 128
    img = Image.fromarray(rgb, "RGB")
    mark = max(4, min(width, height) // 6)
    ImageDraw.Draw(img).rectangle([0, 0, mark - 1, mark - 1], fill=(255, 0, 0))
    exif = Image.Exif()
    exif[_TAG_MAKE], exif[_TAG_MODEL] = make, model
    if orientation is not None:
        exif[_TAG_ORIENTATION] = orientation
    if datetime_original is not None:
        exif[_TAG_DATETIME] = datetime_original
        exif.get_ifd(_EXIF_IFD)[_TAG_DATETIME_ORIGINAL] = datetime_original
    img.save(path, "JPEG", quality=quality, exif=exif)
    return path
