"""Shrink an encoded still (a stored thumbnail) to a small WebP for embedding in a report."""

from __future__ import annotations

import io

from PIL import Image

from pipeline.native.images import ImageError

MIME = {"webp": "image/webp", "jpeg": "image/jpeg", "jpg": "image/jpeg", "png": "image/png"}


def shrink_still(data: bytes, *, max_width: int, quality: int = 60) -> tuple[bytes, str, int, int]:
    """``(bytes, mime, width, height)`` no wider than ``max_width``; raises ``ImageError`` if unreadable.

    A still already that small is returned as it is (no second lossy pass).
    """
    with Image.open(io.BytesIO(data)) as img:
        fmt = (img.format or "").lower()
        if img.width <= max_width and fmt in MIME:
            return data, MIME[fmt], img.width, img.height
        img = img.convert("RGB")
        height = max(1, round(img.height * max_width / img.width))
        factor = img.width // max_width
        if factor >= 2:                      # a cheap box reduction first, then the exact size
            img = img.reduce(factor)
        small = img.resize((max_width, height), Image.Resampling.BILINEAR)
        out = io.BytesIO()
        small.save(out, format="WEBP", quality=quality, method=4)
        return out.getvalue(), "image/webp", max_width, height


__all__ = ["ImageError", "shrink_still"]
