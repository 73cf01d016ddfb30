"""``bench/one_night.py`` refuses what it cannot time, before copying anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "one_night.py"


@pytest.mark.parametrize("argv", [
    pytest.param(["--rounds", "0"], id="no-rounds"),
    pytest.param(["--rounds", "-1"], id="negative-rounds"),
    pytest.param(["--rounds", "100000"], id="huge-rounds"),
    pytest.param(["--rounds", "many"], id="garbage-rounds"),
    pytest.param(["--cache", "/nonexistent/scale-1-1-1-2026-01-01"], id="no-such-cache"),
])
def test_one_night_refuses(argv, tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True, text=True, cwd=tmp_path,
                          timeout=120)
    assert done.returncode == 2, done.stderr
    assert "error:" in done.stderr


def test_one_night_refuses_a_folder_that_is_no_synthetic_year(tmp_path):
    (tmp_path / "scale-1-1-1-2026-01-01" / "run").mkdir(parents=True)
    done = subprocess.run([sys.executable, str(SCRIPT), "--cache", str(tmp_path / "scale-1-1-1-2026-01-01")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "bench/scale.py" in done.stderr
