"""Micro-benchmark helpers: a ``rate`` fixture that turns a benchmark's median time into units/s."""

from __future__ import annotations

import pytest

_RATES: list[tuple[str, float, str]] = []


@pytest.fixture
def rate(benchmark, request):
    """Call ``rate(count, unit)`` in a benchmark: the summary prints count / median time."""
    done: dict = {}

    def record(count: float, unit: str) -> None:
        done.update(count=count, unit=unit)

    yield record
    stats = benchmark.stats           # None when benchmarks are disabled (a plain test run)
    if done and stats is not None:
        per_s = done["count"] / stats.stats.median
        benchmark.extra_info[f"{done['unit']}_per_s"] = per_s
        _RATES.append((request.node.name, per_s, done["unit"]))


def pytest_terminal_summary(terminalreporter):
    if _RATES:
        terminalreporter.section("throughput (median round)")
        for name, per_s, unit in _RATES:
            terminalreporter.write_line(f"{name:45s} {per_s:12,.2f} {unit}/s")
