"""Where a run leaves the CPUs idle: run a command, sample the machine and its process tree, print both over time.

    .venv/bin/python bench/idle.py --bin 0.5 -- .venv/bin/fieldrec ingest DROP --archive NEW --workers 2

Every ``--every`` seconds (default 0.05) it reads /proc/stat (the machine's busy, idle and iowait
time) and the state of every thread of the command's process tree (/proc/PID/task/TID/stat). Per
``--bin`` it prints the machine's busy/idle/iowait shares, then per process (the driver first, then
each worker) how many samples found it running or runnable (R: a thread wants a CPU), waiting on
the disk (D: no thread runnable, one in uninterruptible sleep) or asleep (S: waiting on a pipe, a
lock, a thread). A worker's D and S samples while the machine is idle are the idle time the run
itself leaves; on a machine others are loading, read the per-process states, not the machine's.
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
    print(f"machine over the run: busy {(sum(totals) - totals[3] - totals[4] - totals[7]) / total * 100:.0f}%, "
          f"idle {totals[3] / total * 100:.0f}%, iowait {totals[4] / total * 100:.0f}%, "
          f"load average {os.getloadavg()[0]:.2f}; wall {wall:.2f} s, exit {process.returncode}")
    for pid in order:
        n = sum(per[pid].values()) or 1
        print(f"  {pid}: " + ", ".join(f"{s} {per[pid][s] / n * 100:.0f}%" for s in "RDS") + f" of {n} samples")
    return process.returncode


if __name__ == "__main__":
    sys.exit(main())
