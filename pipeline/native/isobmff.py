"""Top-level box walk and track display matrices of ISO-BMFF files (MP4, MOV, 3GP), headers only."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
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


@dataclass(frozen=True)
class TrackTables:
    """What one track's sample tables say, as far as reading its packet times from the index needs."""
    composition_offsets: bool     # a ctts box: presentation times differ from decoding times
    descriptions: int             # stsd entries (more than one: the codec changes mid-track)
    sample_size: int              # stsz's one size for every sample (0: each sample has its own)
    samples: int                  # stsz's sample count
    timed_samples: int            # samples the stts entries count
    durations: tuple[tuple[int, int], ...] = ()   # stts: (sample count, duration) runs, in the track's timescale


UNKNOWN_TABLES = TrackTables(False, -1, -1, -1, -1)


@dataclass(frozen=True)
class Moov:
    """The index box's facts about each track, in file order."""
    rotations: list[int]
    tracks: list[TrackTables]
    fragmented: bool              # movie fragments (mvex): samples beyond the index


def read_moov(path: Path, max_moov_bytes: int = 64 * 1024 * 1024) -> Moov | None:
    """The moov box of ``path`` read once; None without one (or one larger than ``max_moov_bytes``)."""
    boxes = top_level_boxes(path)
    moov = next((b for b in boxes if b[0] == "moov"), None)
    if moov is None or moov[2] > max_moov_bytes:
        return None
    with open(path, "rb") as fh:
        fh.seek(moov[1])
        data = fh.read(moov[2])
    rotations, tracks, fragmented = [], [], any(b[0] == "moof" for b in boxes)
    for kind, start, stop in _children(data, 8, len(data)):
        if kind == b"mvex":
            fragmented = True
        if kind != b"trak":
            continue
        for child, cstart, _cstop in _children(data, start, stop):
            if child == b"tkhd":
                rotations.append(_rotation(data, cstart))
                break
        try:
            tracks.append(_tables(data, start, stop))
        except (struct.error, KeyError):
            tracks.append(UNKNOWN_TABLES)
    return Moov(rotations, tracks, fragmented)


def _rotation(data: bytes, tkhd: int) -> int:
    version = data[tkhd]
    matrix_at = tkhd + (4 + 8 + 4 + 4 + 4 + 8 if version == 0 else 4 + 16 + 4 + 4 + 8 + 8) + 8
    a, b = struct.unpack_from(">ii", data, matrix_at)
    degrees = -math.degrees(math.atan2(b / 65536.0, a / 65536.0))
    return int(round(degrees)) % 360


def _find(data: bytes, start: int, stop: int, path: tuple[bytes, ...]) -> tuple[int, int] | None:
    for kind, cstart, cstop in _children(data, start, stop):
        if kind == path[0]:
            return (cstart, cstop) if len(path) == 1 else _find(data, cstart, cstop, path[1:])
    return None


def _tables(data: bytes, start: int, stop: int) -> TrackTables:
    """A trak's sample tables; a table missing or too short reads as -1 (never taken as valid)."""
    stbl = _find(data, start, stop, (b"mdia", b"minf", b"stbl"))
    found = {kind: (cstart, cstop) for kind, cstart, cstop in _children(data, *stbl)} if stbl else {}

    def words(kind: bytes, count: int) -> tuple[int, ...] | None:
        box = found.get(kind)          # full box: version and flags, then big-endian 32-bit words
        if box is None or box[1] - box[0] < 4 + 4 * count:
            return None
        return struct.unpack_from(f">{count}I", data, box[0] + 4)

    stsd, stsz, stts = words(b"stsd", 1), words(b"stsz", 2), words(b"stts", 1)
    timed, runs = -1, ()
    if stts is not None and found[b"stts"][1] - found[b"stts"][0] >= 8 + 8 * stts[0]:
        flat = struct.unpack_from(f">{2 * stts[0]}I", data, found[b"stts"][0] + 8)
        runs = tuple(zip(flat[::2], flat[1::2]))
        timed = sum(flat[::2])
    return TrackTables(composition_offsets=b"ctts" in found, descriptions=stsd[0] if stsd else -1,
                       sample_size=stsz[0] if stsz else -1, samples=stsz[1] if stsz else -1, timed_samples=timed,
                       durations=runs)


def track_rotations(path: Path, max_moov_bytes: int = 64 * 1024 * 1024) -> list[int]:
    """Per track, in file order, the counter-clockwise display rotation in degrees (0..359).

    Same convention as FFmpeg's display matrix (and PyAV's ``VideoFrame.rotation``): rotate the
    decoded picture counter-clockwise by this angle to show it upright.
    """
    moov = read_moov(path, max_moov_bytes)
    return moov.rotations if moov is not None else []
