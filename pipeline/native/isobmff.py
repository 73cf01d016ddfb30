"""Top-level box walk and track display matrices of ISO-BMFF files (MP4, MOV, 3GP), headers only."""

from __future__ import annotations

import math
import struct
from pathlib import Path

CONTAINER_BOXES = {b"moov", b"trak"}


def top_level_boxes(path: Path, limit: int = 64) -> list[tuple[str, int, int]]:
    """``(type, offset, size)`` of the file's top-level boxes; stops at the first bad header."""
    boxes = []
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        end = fh.tell()
        offset = 0
        while offset + 8 <= end and len(boxes) < limit:
            fh.seek(offset)
            size, kind = struct.unpack(">I4s", fh.read(8))
            if size == 1:
                size = struct.unpack(">Q", fh.read(8))[0]
            elif size == 0:
                size = end - offset
            if size < 8 or not kind.isascii():
                break
            boxes.append((kind.decode("latin-1"), offset, size))
            offset += size
    return boxes


def _children(data: bytes, start: int, stop: int):
    pos = start
    while pos + 8 <= stop:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            header = 16
        elif size == 0:
            size = stop - pos
        if size < header or pos + size > stop:
            return
        yield kind, pos + header, pos + size
        pos += size


def track_rotations(path: Path, max_moov_bytes: int = 64 * 1024 * 1024) -> list[int]:
    """Per track, in file order, the counter-clockwise display rotation in degrees (0..359).

    Same convention as FFmpeg's display matrix (and PyAV's ``VideoFrame.rotation``): rotate the
    decoded picture counter-clockwise by this angle to show it upright.
    """
    moov = next((b for b in top_level_boxes(path) if b[0] == "moov"), None)
    if moov is None or moov[2] > max_moov_bytes:
        return []
    with open(path, "rb") as fh:
        fh.seek(moov[1])
        data = fh.read(moov[2])
    rotations = []
    for kind, start, stop in _children(data, 8, len(data)):
        if kind != b"trak":
            continue
        for child, cstart, _cstop in _children(data, start, stop):
            if child == b"tkhd":
                version = data[cstart]
                matrix_at = cstart + (4 + 8 + 4 + 4 + 4 + 8 if version == 0 else 4 + 16 + 4 + 4 + 8 + 8) + 8
                a, b = struct.unpack_from(">ii", data, matrix_at)
                degrees = -math.degrees(math.atan2(b / 65536.0, a / 65536.0))
                rotations.append(int(round(degrees)) % 360)
                break
    return rotations
