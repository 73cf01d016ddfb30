"""Micro-benchmarks of the per-file stages: `make bench` runs them (seconds), `make test` does not.

    .venv/bin/python -m pytest bench --benchmark-enable --benchmark-only
"""

from __future__ import annotations

import hashlib
import io
import os
from datetime import datetime, timezone

import pytest

from catalog.store import Catalog
from pipeline.config import load_config
from pipeline.native import media
from pipeline.sample.clips import ClipSpec, expected_keyframes
from pipeline.sample.encode import write_clip
from pipeline.native.hashing import copy_and_hash
from pipeline.stages import demux
from pipeline.stages.filekind import sniff

CHUNK = 4 * 1024 * 1024
DATA = os.urandom(64 * 1024 * 1024)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """10 s of 640x360 H.264 + AAC, a keyframe every second."""
    spec = ClipSpec(width=640, height=360, duration_s=10, preset="ultrafast")
    return write_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", spec)


def test_checksum_sha256_and_xxh3(benchmark, rate):
    """fieldrec's one read: SHA-256 + XXH3-128 of every chunk (copy target left out: no disk)."""
    digest = benchmark.pedantic(lambda: copy_and_hash(io.BytesIO(DATA), None, CHUNK), rounds=5)
    assert digest.sha256 == hashlib.sha256(DATA).hexdigest()
    rate(len(DATA) / 1e9, "GB")


def test_checksum_plain_hashlib_sha256(benchmark, rate):
    """The reference: hashlib (OpenSSL) SHA-256 alone, same chunks."""
    def plain():
        sha, view = hashlib.sha256(), memoryview(DATA)
        for i in range(0, len(DATA), CHUNK):
            sha.update(view[i:i + CHUNK])
        return sha.hexdigest()

    assert benchmark.pedantic(plain, rounds=5) == hashlib.sha256(DATA).hexdigest()
    rate(len(DATA) / 1e9, "GB")


def test_demux_packets(benchmark, rate, clip):
    info = benchmark.pedantic(lambda: media.demux(clip), rounds=5)
    packets = sum(len(p.pts) for p in info.packets.values())
    assert packets > 300
    rate(packets, "packets")


def test_demux_stage(benchmark, rate, clip):
    """The whole demux stage: packets, streams and keyframe rows of one file."""
    head, size, cfg = clip.read_bytes()[:4096], clip.stat().st_size, load_config().demux
    outcome = benchmark.pedantic(lambda: demux.demux_file(clip, "0" * 64, sniff(head), size, cfg), rounds=5)
    assert outcome.status == "ok" and outcome.keyframes.num_rows == 10
    rate(1, "files")


def test_keyframe_thumbnails(benchmark, rate, tmp_path):
    """Decoding chosen 1080p keyframes into previews (the thumbnail stage's work)."""
    thumbs = pytest.importorskip("pipeline.native.thumbs", reason="no keyframe thumbnails in this tree yet")
    spec = ClipSpec(width=1920, height=1080, duration_s=1, gop_s=0.2, preset="ultrafast", noise=True)
    path = write_clip(tmp_path / "keyframes.mp4", spec)
    keyframes = expected_keyframes(spec)
    result = benchmark.pedantic(lambda: thumbs.decode_keyframes(path, 0, keyframes, max_side=320), rounds=3)
    assert len(result.previews) == len(keyframes)
    rate(len(keyframes), "keyframes")


def test_catalog_commit(benchmark, rate, tmp_path):
    """One atomic commit of sightings + recordings rows (fsync off: the rows, not the disk)."""
    catalog = Catalog(tmp_path, fsync=False).create()
    now = datetime.now(timezone.utc)
    n = 2000
    sightings = [{"sha256": f"{i:064x}", "source_path": f"/dock/BWC1/BWC1_OF1_20260301080000_{i:04d}.MP4",
                  "size": 20_000_000, "mtime": now, "mtime_ns": i, "status": "ok", "run_id": "bench",
                  "seen_at": now} for i in range(n)]
    recordings = [{"sha256": f"{i:064x}", "xxh3_128": f"{i:032x}", "size": 20_000_000, "kind": "video",
                   "container": "mov,mp4,m4a,3gp,3g2,mj2", "duration_s": 20.0, "device_id": "BWC1",
                   "officer_id": "OF1", "video_codec": "h264", "width": 1920, "height": 1080, "fps": 30.0,
                   "status": "ok", "archive_path": f"objects/{i:064x}", "run_id": "bench", "ingested_at": now}
                  for i in range(n)]
    commits = []

    def commit():
        commits.append(catalog.commit({"sightings": sightings, "recordings": recordings}, tag="bench"))

    benchmark.pedantic(commit, rounds=5)       # 5 rounds, or one where benchmarks are disabled
    assert commits and catalog.read("recordings", ["sha256"]).num_rows == len(commits) * n
    rate(2 * n, "rows")
