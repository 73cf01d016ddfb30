"""Shared fixtures: the engine a test runs on (local or Ray), one private Ray instance per test
session (on the loopback address only), configurations, the corpus."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from tests.helpers import FAULT_SPEC

os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ.pop("RAY_ADDRESS", None)         # never a cluster that happens to run on this machine
# Before any Ray starts: files named in tests.helpers.FAULTY_FILES crash, raise or hang on cue.
os.environ["FIELDREC_TEST_CRASH"] = FAULT_SPEC

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "real"


@pytest.fixture(scope="session")
def ray_local():
    """A private Ray instance shared by every test that needs one (start-up costs seconds): runs
    on the Ray engine in this process join it."""
    from pipeline.runs.rayengine import RayRunner

    instance = RayRunner.connect(None, workers=2)
    yield instance
    instance.close()


ENGINES = ("local", "ray")


@pytest.fixture(scope="module", params=ENGINES)
def engine(request) -> str:
    """The engine end-to-end runs use, each test module once per engine: "local" (the embedded
    worker pool, the default) or "ray" (the session's private Ray instance)."""
    if request.param == "ray":
        request.getfixturevalue("ray_local")
    return request.param


@pytest.fixture
def config():
    from pipeline.config import load_config

    return load_config()


@pytest.fixture
def fast_config(config):
    """Defaults without fsync: tests do not need durability against power loss."""
    import dataclasses

    return dataclasses.replace(config, ingest=dataclasses.replace(config.ingest, fsync=False))


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"third-party corpus not present at {CORPUS} (it ships beside the repository only)")
    return CORPUS


@pytest.fixture(autouse=True)
def _fail_on_error_logs(caplog):
    """A test that makes fieldrec log an ERROR fails, even if its asserts pass."""
    yield
    errors = [r for r in caplog.get_records("call") if r.levelno >= logging.ERROR and r.name.startswith(("pipeline", "catalog"))]
    assert not errors, f"unexpected ERROR logs: {[r.getMessage() for r in errors]}"


@pytest.fixture(autouse=True)
def _english_unless_asked(monkeypatch):
    """Tests read English messages unless they ask for another language: the machine's LANG is not theirs."""
    from pipeline.common import i18n

    for key in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        monkeypatch.delenv(key, raising=False)
    i18n.use_language("en")
    yield
    i18n.use_language("en")
