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


def test_override_changes_only_the_given_key(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text("[ingest]\ncommit_every_files = 7\n")
    cfg = load_config(path)
    assert cfg.ingest.commit_every_files == 7
    assert cfg.ingest.chunk_bytes == load_config().ingest.chunk_bytes
