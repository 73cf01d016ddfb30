"""Damaged files derived from good ones by editing bytes: cut copies, MP4s without moov, corrupt keyframes, noise.

Container structure is left as a recorder or a failed copy would leave it, so
readers meet the same faults as with real footage.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from pipeline.sample.clips import ClipSpec, muxer_format
from pipeline.sample.encode import prepare_path, write_clip

__all__ = ["corrupt_keyframe", "random_bytes", "top_level_boxes", "truncate", "write_no_moov"]


def random_bytes(path: str | Path, size: int = 100_000, seed: int = 0) -> Path:
    """Seeded noise: a file no demuxer should accept."""
    path = prepare_path(path)
    path.write_bytes(np.random.default_rng(seed).bytes(size))
    return path


def truncate(src: str | Path, dst: str | Path, keep_fraction: float = 0.6) -> Path:
    """Copy the first ``keep_fraction`` of ``src``: a copy interrupted mid-write."""
    data = Path(src).read_bytes()
    dst = prepare_path(dst)
    dst.write_bytes(data[: int(len(data) * keep_fraction)])
    return dst


def top_level_boxes(data: bytes) -> Iterator[tuple[str, int, int]]:
    """ISO-BMFF top-level boxes as (type, offset, size); size 0 runs to the end."""
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
        elif size == 0:
            size = len(data) - pos
        if size < 8:
            return
        yield kind.decode("latin-1"), pos, size
        pos += size


def write_no_moov(path: str | Path, spec: ClipSpec = ClipSpec(), keep_fraction: float = 0.9) -> Path:
    """An MP4 as a recorder leaves it when power dies mid-recording.

    ftyp, the placeholder and an ``mdat`` whose size field was never patched
    (0 = "to end of file", what libavformat writes first), holding the first
    ``keep_fraction`` of the media data, and no ``moov``.
    """
    if muxer_format(spec) not in ("mp4", "mov"):
        raise ValueError("write_no_moov needs container mp4 or mov")
    path = prepare_path(path)
    tmp = path.with_name(path.name + ".full.tmp")
    try:
        data = write_clip(tmp, spec).read_bytes()
    finally:
        tmp.unlink(missing_ok=True)
    out = bytearray()
    for kind, off, size in top_level_boxes(data):
        if kind == "mdat":
            header = 16 if struct.unpack(">I", data[off : off + 4])[0] == 1 else 8
            payload = data[off + header : off + size]
            out += b"\0\0\0\0mdat" + payload[: int(len(payload) * keep_fraction)]
            break  # nothing after the media data was written yet
        if kind != "moov":
            out += data[off : off + size]
    path.write_bytes(bytes(out))
    return path


def _payload_spans(data: bytes, packet: av.Packet, stream, fmt: str) -> list[tuple[int, int]]:
    """Byte ranges in the file that hold ``packet``'s payload."""
    payload = bytes(packet)
    if fmt == "mpegts":
        return _ts_payload_spans(data, packet.pos, stream.id, len(payload))
    # mp4/mov store samples contiguously at pos; mkv/avi put a small header first.
    at = data.find(payload, max(0, packet.pos))
    if at < 0:
        raise ValueError("keyframe payload not found contiguously in the file")
    return [(at, len(payload))]


def _ts_payload_spans(data: bytes, pos: int, pid: int, size: int) -> list[tuple[int, int]]:
    """Payload bytes of one PES across 188-byte TS packets, skipping TS and PES headers."""
    spans, got, first = [], 0, True
    while got < size and pos + 188 <= len(data):
        pkt = data[pos : pos + 188]
        if pkt[0] != 0x47:
            raise ValueError(f"lost TS sync at {pos}")
        if ((pkt[1] & 0x1F) << 8 | pkt[2]) == pid and pkt[3] & 0x10:
            start = 4 + (1 + pkt[4] if pkt[3] & 0x20 else 0)
            if first:
                start += 9 + pkt[start + 8]  # PES header
                first = False
            n = min(188 - start, size - got)
            spans.append((pos + start, n))
            got += n
        pos += 188
    return spans


def corrupt_keyframe(src: str | Path, dst: str | Path, keyframe_index: int = 1, seed: int = 0) -> Path:
    """Copy ``src`` with the payload of its Nth video keyframe replaced by noise.

    Container structure (box sizes, sample tables, TS headers) is untouched,
    so demuxing succeeds and only decoding that keyframe (and what refers to
    it) goes wrong.
    """
    data = bytearray(Path(src).read_bytes())
    with av.open(str(src)) as container:
        fmt = container.format.name
        stream = container.streams.video[0]
        keys = [p for p in container.demux(stream) if p.size and p.is_keyframe]
        if keyframe_index >= len(keys):
            raise ValueError(f"{src} has only {len(keys)} keyframes")
        spans = _payload_spans(bytes(data), keys[keyframe_index], stream, fmt)
    rng = np.random.default_rng(seed)
    for start, n in spans:
        data[start : start + n] = rng.bytes(n)
    dst = prepare_path(dst)
    dst.write_bytes(bytes(data))
    return dst
