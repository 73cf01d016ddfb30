"""Task planning balances big and small files; the supervisor isolates what kills its worker or hangs."""

from __future__ import annotations

import pytest

from pipeline.runs import supervise
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


def test_tasks_get_smaller_towards_the_end():
    """Guided: the first tasks are batches, the last are single files, so no CPU idles at the end
    while another finishes a whole batch."""
    tasks = plan_tasks([10_000_000] * 40, cpus=2, task_bytes=512 << 20, task_max_files=64)
    lengths = [len(t) for t in tasks]
    assert lengths == sorted(lengths, reverse=True)
    assert lengths[0] >= 4 and lengths[-4:] == [1, 1, 1, 1]


class FakeEngine:
    """``supervise.Engine`` in this process: a task runs its items at once when polled; an item
    called "crash" kills the task, "hang" never finishes (the injected clock runs past budgets)."""

    def __init__(self):
        self.tasks, self.cancelled, self.submitted = {}, [], []

    def submit(self, fn, items, ctx, note_path):
        handle = len(self.submitted)
        self.submitted.append(list(items))
        self.tasks[handle] = iter(self._events(fn, items, ctx))
        return handle

    @staticmethod
    def _events(fn, items, ctx):
        yield supervise.Started(0)
        for i, item in enumerate(items):
            if item == "crash":
                yield supervise.Died("its process ended unexpectedly")
                return
            if item == "hang":
                return                              # silent from here on, like a hung process
            yield supervise.Finished(i, fn(item, ctx, None, None))
        yield supervise.Ended()

    def poll(self, handles, timeout):
        out = []
        for h in handles:
            event = next(self.tasks[h], None)
            if event is not None:
                out.append((h, event))
        return out

    def cancel(self, handle):
        self.cancelled.append(handle)

    def close(self, handles):
        self.cancelled.extend(handles)


def test_one_item_that_kills_its_worker_costs_only_itself():
    engine = FakeEngine()
    outcomes = list(supervise.run(engine, lambda item, ctx, node, note: item.upper(),
                                  [["a", "b", "crash", "c", "d"], ["e"]], None, window=2, retries=1))
    done = sorted(o.result for o in outcomes if isinstance(o, supervise.Done))
    lost = [o for o in outcomes if isinstance(o, supervise.Lost)]
    assert done == ["A", "B", "C", "D", "E"]
    assert [(o.item, o.reason) for o in lost] == [("crash", "crashed")] and "tried alone 2 times" in lost[0].detail
    # The batch was split where it died: the culprit alone (twice), the rest as one batch.
    assert engine.submitted.count(["crash"]) == 2 and ["c", "d"] in engine.submitted


def test_an_item_over_its_budget_is_stopped_and_tried_once_alone():
    engine, now = FakeEngine(), [0.0]

    def clock():
        now[0] += 1.0                               # every look at the clock: one second later
        return now[0]

    outcomes = list(supervise.run(engine, lambda item, ctx, node, note: item, [["a", "hang", "b"]], None,
                                  window=1, budget_s=lambda item: 5.0, clock=clock))
    assert sorted(o.item for o in outcomes if isinstance(o, supervise.Done)) == ["a", "b"]
    (lost,) = [o for o in outcomes if isinstance(o, supervise.Lost)]
    assert (lost.item, lost.reason) == ("hang", "timed_out") and "after 5 s" in lost.detail
    assert engine.submitted == [["a", "hang", "b"], ["hang"], ["b"]] and len(engine.cancelled) == 2
