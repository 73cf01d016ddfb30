"""Task planning balances big and small files; the window keeps work in flight bounded."""

from __future__ import annotations

import pytest

from pipeline.runs.runner import plan_tasks


@pytest.mark.parametrize("sizes,cpus", [
    pytest.param([4_000_000_000] + [50_000] * 500, 2, id="one-huge-many-photos"),
    pytest.param([10_000_000] * 40, 2, id="uniform"),
    pytest.param([0] * 10, 4, id="empty-files"),
    pytest.param([], 2, id="nothing"),
])
def test_every_file_is_planned_exactly_once(sizes, cpus):
    tasks = plan_tasks(sizes, cpus=cpus, task_bytes=512 << 20, task_max_files=64)
    assert sorted(i for t in tasks for i in t) == list(range(len(sizes)))


def test_a_huge_file_is_its_own_task_and_small_files_share():
    sizes = [4_000_000_000] + [50_000] * 500
    tasks = plan_tasks(sizes, cpus=2, task_bytes=512 << 20, task_max_files=64)
    assert tasks[0] == [0]                         # largest first: no straggler at the end
    assert all(len(t) <= 64 for t in tasks)
    assert len(tasks) >= 1 + 500 // 64


def test_enough_tasks_to_keep_every_cpu_busy():
    tasks = plan_tasks([10_000_000] * 40, cpus=4, task_bytes=512 << 20, task_max_files=64)
    assert len(tasks) >= 4 * 4 - 1
