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
    # The per-file time budget, worker retries and object mode, attacked.
    *(pytest.param(f"[ingest]\n{line}\n", f"ingest.{line.split()[0]}", id=name) for line, name in (
        ("time_budget_s = 0", "no-time-at-all"), ("time_budget_s = -1", "negative-time"),
        ("time_budget_s = 1e12", "forever"), ("time_budget_mb_s = 0", "zero-rate"),
        ("time_budget_mb_s = -5.0", "negative-rate"), ("worker_retries = -1", "negative-retries"),
        ("worker_retries = 1000000", "endless-retries"), ("file_mode = 0o666", "writable-objects"),
        ("file_mode = 440", "decimal-not-octal"), ("file_mode = 0o040", "owner-cannot-read"),
        ("file_mode = 0o402", "others-may-write"), ("file_mode = 0o4440", "setuid"),
        ("follow_links = 1", "not-a-boolean"), ("direct_io = 'no'", "direct-io-not-a-boolean"),
        ("direct_io = 0", "direct-io-a-number"))),
])
def test_bad_configuration_names_the_key(tmp_path, text, fragment):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=None) as err:
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


# -- every number has bounds (finding 4: `chunk_bytes = 0` stored nothing, -1 failed every file) --

def _numeric_fields():
    import dataclasses

    from pipeline.config import section_types

    for section, cls in section_types().items():
        for f in dataclasses.fields(cls):
            if f.type in ("int", "float", int, float):
                yield section, f


def test_every_numeric_setting_declares_its_bounds():
    unbounded = [f"{section}.{f.name}" for section, f in _numeric_fields() if "bounds" not in f.metadata]
    assert not unbounded, f"numeric settings without bounds: {unbounded}"


@pytest.mark.parametrize("section,key", [pytest.param(s, f.name, id=f"{s}.{f.name}") for s, f in _numeric_fields()])
def test_out_of_bounds_numbers_are_refused_naming_the_key(tmp_path, section, key):
    import dataclasses

    from pipeline.config import section_types

    low, high = next(f for f in dataclasses.fields(section_types()[section]) if f.name == key).metadata["bounds"]
    for value in (f"{low - 1}", "1" + "0" * 30, "-1" + "0" * 30, "nan", "inf"):
        if value == f"{low - 1}" and isinstance(low, float):
            value = repr(low - 1.0)
        path = tmp_path / "bad.toml"
        path.write_text(f"[{section}]\n{key} = {value}\n")
        with pytest.raises(ConfigError) as err:
            load_config(path)
        assert f"{section}.{key}" in str(err.value) and ("out of bounds" in str(err.value) or "expected" in str(err.value))
        assert len(str(err.value)) < 300, "a huge number is shortened in the message"


@pytest.mark.parametrize("value", ["0", "-1", "99999999999999999999999999"])
def test_chunk_bytes_typo_stops_ingest_before_anything_is_stored(tmp_path, capsys, value):
    from pipeline.cli import main

    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a.bin").write_bytes(b"evidence")
    cfg = tmp_path / "site.toml"
    cfg.write_text(f"[ingest]\nchunk_bytes = {value}\n")
    assert main(["ingest", str(drop), "--archive", str(tmp_path / "archive"), "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "ingest.chunk_bytes" in err and "out of bounds" in err and "Traceback" not in err
    assert not (tmp_path / "archive").exists()


def test_config_naming_a_folder_or_binary_file_is_a_message(tmp_path, capsys):
    from pipeline.cli import main

    assert main(["sql", "--archive", str(tmp_path), "--config", str(tmp_path), "SELECT 1"]) == 2
    assert "is a folder, not a configuration file" in capsys.readouterr().err
    binary = tmp_path / "latin1.toml"
    binary.write_bytes("[ingest]\n# caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(binary)
    huge = tmp_path / "huge.toml"
    huge.write_bytes(b"#" * (2 << 20))
    with pytest.raises(ConfigError, match="larger than"):
        load_config(huge)
