"""Every file of the third-party corpus gets exactly one row, and nothing crashes."""

from __future__ import annotations

import hashlib

from tests.helpers import by_name, ingest, table


def test_every_corpus_file_is_cataloged_once(tmp_path, corpus, fast_config, ray_local):
    files = sorted(p for p in corpus.iterdir() if p.is_file())
    summary = ingest([corpus], tmp_path / "archive", fast_config)
    sightings = table(tmp_path / "archive", "sightings")
    assert sorted(s["source_path"] for s in sightings) == sorted(str(p) for p in files)
    recordings = by_name(tmp_path / "archive")
    distinct = {hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    assert {r["sha256"] for r in recordings.values()} == distinct
    assert summary.files_seen == len(files)
    for p in files:
        row = recordings.get(p.name) or next(r for r in recordings.values() if r["sha256"] == hashlib.sha256(p.read_bytes()).hexdigest())
        assert (tmp_path / "archive" / row["archive_path"]).read_bytes() == p.read_bytes()
        if row["status"] != "ok":
            assert row["error_message"] and p.name in row["error_message"]


def test_corpus_damage_is_reported(tmp_path, corpus, fast_config, ray_local):
    ingest([corpus], tmp_path / "archive", fast_config)
    rec = by_name(tmp_path / "archive")
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
