"""Where a run leaves the CPUs idle: run a command, sample the machine and its process tree, print both over time.

    .venv/bin/python bench/idle.py --bin 0.5 -- .venv/bin/fieldrec ingest DROP --archive NEW --workers 2

Every ``--every`` seconds (default 0.05) it reads /proc/stat (the machine's busy, idle and iowait
time) and the state of every thread of the command's process tree (/proc/PID/task/TID/stat). Per
``--bin`` it prints the machine's busy/idle/iowait shares, then per process (the driver first, then
each worker) how many samples found it running or runnable (R: a thread wants a CPU), waiting on
the disk (D: no thread runnable, one in uninterruptible sleep) or asleep (S: waiting on a pipe, a
lock, a thread). A worker's D and S samples while the machine is idle are the idle time the run
itself leaves.

R does not tell running from waiting for a CPU that another process holds, so the end also gives,
from each thread's /proc/.../schedstat (kept at its last sample), every process's CPU seconds and
its seconds runnable but not running (``waited for a CPU``), split for its main thread, and the
main thread's rest of the wall time it was seen alive (``blocked``: disk, pipe, lock). The machine's
busy CPU seconds less the tree's are what other processes took: on a machine others load, a run of
N workers on N CPUs waits for them where one worker on two CPUs does not (read its ``waited``
seconds before its wall time).
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import time


def _machine() -> list[int]:
    with open("/proc/stat") as f:
        return [int(x) for x in f.readline().split()[1:9]]   # user nice system idle iowait irq softirq steal


def _tree(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(name))
    found, i = [root], 0
    while i < len(found):
        found += parents.get(found[i], [])
        i += 1
    return found


def _schedstat(pid: int, into: dict[int, tuple[float, float]]) -> None:
    """Each thread's (CPU s, run-queue s) so far, into ``into`` by thread id (a thread gone keeps its last)."""
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                on_cpu, waited, _slices = f.read().split()
            into[int(tid)] = (int(on_cpu) / 1e9, int(waited) / 1e9)
    except (OSError, ValueError):
        pass


def _state(pid: int) -> str | None:
    """R if a thread of ``pid`` is running or runnable, else D if one waits on the disk, else S."""
    states = set()
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                states.add(f.read().rsplit(")", 1)[1].split()[0])
    except OSError:
        return None
    return "R" if "R" in states else "D" if "D" in states else "S"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--every", type=float, default=0.05, help="seconds between samples")
    ap.add_argument("--bin", type=float, default=0.5, help="seconds per printed line")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    t0, before = time.monotonic(), _machine()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    machine: dict[int, list[int]] = collections.defaultdict(lambda: [0] * 8)
    states: dict[int, dict[int, collections.Counter]] = collections.defaultdict(
        lambda: collections.defaultdict(collections.Counter))
    order: list[int] = []
    threads: dict[int, dict[int, tuple[float, float]]] = collections.defaultdict(dict)
    seen: dict[int, list[float]] = {}                   # pid: first and last sample time
    while process.poll() is None:
        now, t = _machine(), time.monotonic() - t0
        b = int(t // args.bin)
        machine[b] = [m + x - y for m, x, y in zip(machine[b], now, before)]
        before = now
        for pid in _tree(process.pid):
            state = _state(pid)
            if state is not None:
                if pid not in order:
                    order.append(pid)
                states[b][pid][state] += 1
                _schedstat(pid, threads[pid])
                seen.setdefault(pid, [t, t])[1] = t
        time.sleep(args.every)
    wall = time.monotonic() - t0
    print(f"{'t s':>5} {'busy%':>5} {'idle%':>5} {'iow%':>5} | " + " | ".join(f"{pid:>7} R  D  S" for pid in order))
    totals = [0] * 8
    per = {pid: collections.Counter() for pid in order}
    for b in sorted(machine):
        m = machine[b]
        total = sum(m) or 1
        busy = m[0] + m[1] + m[2] + m[5] + m[6]
        totals = [x + y for x, y in zip(totals, m)]
        cells = []
        for pid in order:
            c = states[b].get(pid, collections.Counter())
            per[pid].update(c)
            cells.append(f"{'':>7} {c['R']:>2} {c['D']:>2} {c['S']:>2}")
        print(f"{b * args.bin:5.1f} {busy / total * 100:5.0f} {m[3] / total * 100:5.0f} {m[4] / total * 100:5.0f} | "
              + " | ".join(cells))
    total = sum(totals) or 1
    busy_ticks = sum(totals) - totals[3] - totals[4] - totals[7]     # all but idle, iowait, steal
    print(f"machine over the run: busy {busy_ticks / total * 100:.0f}%, "
          f"idle {totals[3] / total * 100:.0f}%, iowait {totals[4] / total * 100:.0f}%, "
          f"load average {os.getloadavg()[0]:.2f}; wall {wall:.2f} s, exit {process.returncode}")
    tick = os.sysconf("SC_CLK_TCK")
    machine_busy = busy_ticks / tick
    tree_cpu = 0.0
    for pid in order:
        n = sum(per[pid].values()) or 1
        cpu = sum(c for c, _w in threads[pid].values())
        waited = sum(w for _c, w in threads[pid].values())
        main_cpu, main_waited = threads[pid].get(pid, (0.0, 0.0))
        alive = seen[pid][1] - seen[pid][0] + args.every
        tree_cpu += cpu
        print(f"  {pid}: " + ", ".join(f"{s} {per[pid][s] / n * 100:.0f}%" for s in "RDS") + f" of {n} samples; "
              f"CPU {cpu:.2f} s, waited for a CPU {waited:.2f} s; main thread: CPU {main_cpu:.2f} s, "
              f"waited {main_waited:.2f} s, blocked {max(0.0, alive - main_cpu - main_waited):.2f} s of {alive:.2f} s")
    sampler = time.process_time()
    print(f"CPU seconds: machine busy {machine_busy:.2f} over {wall:.2f} s x {os.cpu_count()} CPUs; this tree "
          f"{tree_cpu:.2f} (as sampled), this sampler {sampler:.2f}, other processes "
          f"~{max(0.0, machine_busy - tree_cpu - sampler):.2f}")
    return process.returncode


if __name__ == "__main__":
    sys.exit(main())
