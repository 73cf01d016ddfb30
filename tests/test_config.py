"""Configuration fails at start-up, naming the bad key."""

from __future__ import annotations

import pytest

from pipeline.config import ConfigError, load_config


def test_defaults_load():
    cfg = load_config()
    assert cfg.ingest.chunk_bytes > 0 and cfg.identity.name_patterns


@pytest.mark.parametrize("text,fragment", [
    pytest.param("[ingest]\nchunk_byte = 5\n", "ingest.chunk_byte", id="unknown-key"),
    pytest.param("[ingest]\nchunk_bytes = 'big'\n", "ingest.chunk_bytes", id="wrong-type"),
    pytest.param("[nosuch]\nx = 1\n", "[nosuch]", id="unknown-section"),
    pytest.param("[ingest\n", "not valid TOML", id="bad-toml"),
])
def test_bad_configuration_names_the_key(tmp_path, text, fragment):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=None) as err:
        load_config(path)
    assert fragment in str(err.value)


@pytest.mark.parametrize("text,fragment", [
    pytest.param("time_budget_s = 0", "ingest.time_budget_s", id="no-time-at-all"),
    pytest.param("time_budget_s = -1", "ingest.time_budget_s", id="negative-time"),
    pytest.param("time_budget_s = 1e12", "ingest.time_budget_s", id="forever"),
    pytest.param("time_budget_mb_s = 0", "ingest.time_budget_mb_s", id="zero-rate"),
    pytest.param("time_budget_mb_s = -5.0", "ingest.time_budget_mb_s", id="negative-rate"),
    pytest.param("worker_retries = -1", "ingest.worker_retries", id="negative-retries"),
    pytest.param("worker_retries = 1000000", "ingest.worker_retries", id="endless-retries"),
    pytest.param("file_mode = 0o666", "ingest.file_mode", id="writable-objects"),
    pytest.param("file_mode = 440", "ingest.file_mode", id="decimal-not-octal"),
    pytest.param("file_mode = 0o040", "ingest.file_mode", id="owner-cannot-read"),
    pytest.param("file_mode = 0o4440", "ingest.file_mode", id="setuid"),
    pytest.param("follow_links = 1", "ingest.follow_links", id="not-a-boolean"),
])
def test_bad_ingest_limits_fail_at_start_naming_the_key(tmp_path, text, fragment):
    path = tmp_path / "bad.toml"
    path.write_text(f"[ingest]\n{text}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert fragment in str(err.value)


def test_time_budget_grows_with_the_file(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text("[ingest]\ntime_budget_s = 60\ntime_budget_mb_s = 10.0\nfile_mode = 0o400\n")
    cfg = load_config(path).ingest
    assert cfg.time_budget(0) == 60 and cfg.time_budget(4_000_000_000) == 60 + 400
    assert cfg.file_mode == 0o400


def test_override_changes_only_the_given_key(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text("[ingest]\ncommit_every_files = 7\n")
    cfg = load_config(path)
    assert cfg.ingest.commit_every_files == 7
    assert cfg.ingest.chunk_bytes == load_config().ingest.chunk_bytes
