"""Packet times of MP4/MOV read from the index alone are exactly those of reading every packet.

``media.demux`` skips reading the packets of a simple MP4/MOV (``media._index_packets``); a file
it cannot be sure of is read packet by packet as before. Each case below is demuxed both ways and
must agree to the last bit, or the fast way must decline.
"""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import numpy as np
import pytest

from pipeline.native import isobmff, media
from pipeline.sample.clips import ClipSpec
from pipeline.sample.damage import truncate
from pipeline.sample.encode import write_clip


@dataclasses.dataclass(frozen=True)
class Case:
    spec: ClipSpec
    from_index: bool          # the index alone is enough (else: read packet by packet)
    cut: float = 1.0          # keep this fraction of the file (a copy interrupted mid-write)


CASES = [
    pytest.param(Case(ClipSpec(), True), id="h264-aac"),
    pytest.param(Case(ClipSpec(container="mov", rotation=90), True), id="mov-rotated"),
    pytest.param(Case(ClipSpec(pts_jumps=((1.0, 3.0),), duration_s=2.5), True), id="gap-inside"),
    pytest.param(Case(ClipSpec(start_pts_s=5.0), True), id="late-start"),
    pytest.param(Case(ClipSpec(audio_codec=None), True), id="video-only"),
    pytest.param(Case(ClipSpec(video_codec=None, container="ipod"), True), id="audio-only-m4a"),
    pytest.param(Case(ClipSpec(bframes=2), False), id="bframes-ctts"),
    pytest.param(Case(ClipSpec(audio_codec="pcm_s16le", container="mov"), False), id="pcm-constant-size"),
    pytest.param(Case(ClipSpec(video_codec="mjpeg", audio_codec=None), False), id="mjpeg"),
    pytest.param(Case(ClipSpec(faststart=True, duration_s=3.0), False, cut=0.5), id="cut-after-faststart-index"),
]


def _read_every_packet(path: Path) -> dict[int, media.PacketTimes]:
    with media.open_checked(path, indexed=True) as container:
        info = media.MediaInfo(container.format.name, "", None, None, None, {}, [])
        media._read_packets(container, info)
    return info.packets


def _from_index(path: Path) -> dict[int, media.PacketTimes] | None:
    with media.open_checked(path, indexed=True) as container:
        return media._index_packets(container, isobmff.read_moov(path), path.stat().st_size)


def _assert_same(fast: dict, slow: dict) -> None:
    assert fast.keys() == slow.keys()
    for index in slow:
        for name in ("pts", "dts", "duration", "key", "pos", "size"):
            a, b = getattr(fast[index], name), getattr(slow[index], name)
            assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True), (index, name, a[:5], b[:5])
        assert fast[index].corrupt == slow[index].corrupt == 0


@pytest.mark.parametrize("case", CASES)
def test_index_times_equal_read_times_or_the_index_is_not_used(tmp_path, case):
    path = write_clip(tmp_path / f"clip.{'m4a' if case.spec.container == 'ipod' else case.spec.container}",
                      case.spec)
    if case.cut < 1.0:
        path = truncate(path, tmp_path / f"cut{path.suffix}", case.cut)
    fast = _from_index(path)
    assert (fast is not None) == case.from_index
    if fast is not None:
        _assert_same(fast, _read_every_packet(path))
    whole = media.demux(path, indexed=True)          # what the stage sees: the same either way
    _assert_same_or_damaged(whole, path)


def _assert_same_or_damaged(info: media.MediaInfo, path: Path) -> None:
    slow = _read_every_packet(path)
    for index in slow:
        for name in ("pts", "dts", "duration", "key", "pos", "size"):
            assert np.array_equal(getattr(info.packets[index], name), getattr(slow[index], name), equal_nan=True)
        assert info.packets[index].corrupt == slow[index].corrupt


def test_real_corpus_index_times_equal_read_times(corpus):
    used = 0
    for path in sorted(p for p in corpus.iterdir() if p.is_file()):
        try:
            fast = _from_index(path)
        except media.MediaError:
            continue
        if fast is not None:
            used += 1
            _assert_same(fast, _read_every_packet(path))
    assert used >= 4            # phones' MP4s, an edit list, a GPS data track: the common case is fast


def test_a_sample_past_the_end_of_the_file_is_read_not_trusted(tmp_path):
    """An index that points beyond the file (a lying or cut file) is never taken at its word."""
    path = write_clip(tmp_path / "clip.mp4", ClipSpec(faststart=True))
    data = bytearray(path.read_bytes())
    path.write_bytes(bytes(data[:-100]))                 # the last sample's last bytes are gone
    assert _from_index(path) is None
    info = media.demux(path, indexed=True)
    assert info.demux_error or sum(t.corrupt for t in info.packets.values()) or \
        sum(int(t.size.sum()) for t in info.packets.values()) < sum(int(t.size.sum()) for t in
                                                                    _index_sizes(path).values())


def _index_sizes(path: Path) -> dict[int, media.PacketTimes]:
    with media.open_checked(path, indexed=True) as container:
        return {s.index: media.PacketTimes(*(np.zeros(0),) * 5, size=np.array([e.size for e in s.index_entries]))
                for s in container.streams}


@pytest.mark.parametrize("garbage", [b"\xff" * 8, b"\x00" * 8, struct.pack(">I", 0x7FFFFFFF) + b"\x00" * 4],
                         ids=["all-ones", "zeros", "huge-count"])
def test_a_garbled_sample_table_declines_the_index(tmp_path, garbage):
    """The first track's stts/stsz/stsd counts overwritten with garbage: its tables disagree with
    FFmpeg's index, and the packets are read (the file opens as before, or fails as before)."""
    path = write_clip(tmp_path / "clip.mp4", ClipSpec())
    data = bytearray(path.read_bytes())
    for box in (b"stts", b"stsz", b"stsd"):
        at = data.find(box) + 4 + 4               # after the type: version/flags, then the first count
        data[at:at + 8] = garbage
    path.write_bytes(bytes(data))
    moov = isobmff.read_moov(path)
    first = moov.tracks[0]
    assert first.descriptions != 1 or first.samples not in (first.timed_samples, -1) or first.sample_size != 0 \
        or first.timed_samples < 0
    try:
        assert _from_index(path) is None
    except media.MediaError:
        pass                                      # FFmpeg refuses the file itself: the stage reports it
