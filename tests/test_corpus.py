"""Every file of the third-party corpus gets exactly one row, and nothing crashes."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from tests.conftest import CORPUS
from tests.helpers import by_name, ingest, table


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, engine) -> tuple[Path, object]:
    """The whole corpus ingested once per engine."""
    from pipeline.config import load_config

    if not CORPUS.is_dir():
        pytest.skip(f"third-party corpus not present at {CORPUS} (it ships beside the repository only)")
    config = load_config()
    config = dataclasses.replace(config, ingest=dataclasses.replace(config.ingest, fsync=False))
    archive = tmp_path_factory.mktemp("corpus") / "archive"
    return archive, ingest([CORPUS], archive, config, engine=engine)


def test_every_corpus_file_is_cataloged_once(ingested, corpus):
    archive, summary = ingested
    files = sorted(p for p in corpus.iterdir() if p.is_file())
    sightings = table(archive, "sightings")
    assert sorted(s["source_path"] for s in sightings) == sorted(str(p) for p in files)
    recordings = by_name(archive)
    distinct = {hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    assert {r["sha256"] for r in recordings.values()} == distinct
    assert summary.files_seen == len(files)
    for p in files:
        row = recordings.get(p.name) or next(r for r in recordings.values() if r["sha256"] == hashlib.sha256(p.read_bytes()).hexdigest())
        assert (archive / row["archive_path"]).read_bytes() == p.read_bytes()
        if row["status"] != "ok":
            assert row["error_message"] and p.name in row["error_message"]


def test_corpus_damage_is_reported(ingested):
    rec = by_name(ingested[0])
    # Read and kept, but no media under a media name: damaged recordings of kind other.
    assert (rec["zero_length.mp4"]["kind"], rec["zero_length.mp4"]["status"]) == ("other", "damaged")
    assert "empty" in rec["zero_length.mp4"]["error_message"]
    assert (rec["garbage_text.mp4"]["kind"], rec["garbage_text.mp4"]["status"]) == ("other", "damaged")
    assert rec["no_moov_ftyp_mdat.mp4"]["status"] == "damaged"
    assert "moov" in rec["no_moov_ftyp_mdat.mp4"]["error_message"]
    assert rec["truncated_h264_aac.mkv"]["status"] == "damaged"
    assert rec["iphone6s_exif_gps.jpg"]["kind"] == "photo"
    assert rec["iphone6s_exif_gps.jpg"]["time_source"] == "exif"
    assert rec["pcm_s16le.wav"]["kind"] == "audio"
    assert rec["android12_4k60_portrait.mp4"]["rotation"] in (90, 270)
    assert rec["gopro_max_heromode.mp4"]["kind"] == "video"
    assert rec["gopro_max_heromode.mp4"]["status"] == "ok"
