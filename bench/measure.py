"""Run one command and measure its whole process tree: wall time, CPU time, peak memory.

* CPU time is user + system of every process the command started, Ray's raylet, GCS and workers
  included. This process makes itself a child subreaper (Linux), so processes that daemonise or
  lose their parent are re-parented here and reaped after the command: their time then shows up
  in ``RUSAGE_CHILDREN`` like any waited-for descendant. One exception: the children of a process
  that ignores SIGCHLD (Ray's raylet does, for its workers) are reaped by the kernel and their time
  is lost to rusage; for those the sampler keeps each one's last-seen CPU time (own + children's)
  and adds it. Without a subreaper (other systems) the figure is the sum of last-sampled CPU times,
  a lower bound.
* Memory is sampled every ``interval`` seconds over every descendant: the peak of the sum of PSS
  (proportional set size: a page shared by k processes counts 1/k in each, so shared libraries
  and Ray's shared-memory object store are counted once in the sum), and the peak PSS of the top
  process alone (the fieldrec driver). Peaks shorter than the interval can be missed.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field

import psutil

PR_SET_CHILD_SUBREAPER = 36
MIB = 1024 * 1024
ORPHAN_TIMEOUT_S = 30.0      # how long processes may outlive the command (Ray stopping)


@dataclass
class Measurement:
    command: list[str]
    returncode: int
    wall_s: float
    cpu_s: float
    cpu_source: str                 # how cpu_s was obtained (see the module docstring)
    peak_tree_mib: float
    peak_top_mib: float
    max_processes: int
    stdout: str = field(repr=False, default="")
    stderr: str = field(repr=False, default="")
    leftovers: list[str] = field(default_factory=list)   # processes still alive after the command


def _become_subreaper() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False




def _memory(p: psutil.Process) -> int:
    try:
        return p.memory_full_info().pss
    except (psutil.AccessDenied, AttributeError):
        return p.memory_info().rss       # no PSS on this system: RSS (counts shared pages twice)


def _ignores_sigchld(pid: int) -> bool:
    """True when ``pid``'s children are reaped by the kernel (SIGCHLD set to SIG_IGN)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("SigIgn:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGCHLD - 1)))
    except OSError:
        pass
    return False


class _Sampler(threading.Thread):
    def __init__(self, top_pid: int, interval: float):
        super().__init__(daemon=True)
        self.top_pid, self.interval = top_pid, interval
        self.me = psutil.Process()
        self.stop = threading.Event()
        self.peak_tree = self.peak_top = 0
        self.max_processes = 0
        self.cpu_seen: dict[tuple[int, float], float] = {}     # (pid, create_time) -> user+sys
        self.cpu_unwaited: dict[tuple[int, float], float] = {}  # the same, for kernel-reaped processes

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(self.interval)

    def sample(self) -> None:
        tree = top = 0
        procs = self.me.children(recursive=True)     # the command's tree and any orphans adopted here
        ignoring: dict[int, bool] = {}
        for p in procs:
            try:
                mem = _memory(p)
                cpu = p.cpu_times()
                key = (p.pid, p.create_time())
                self.cpu_seen[key] = cpu.user + cpu.system
                ppid = p.ppid()
                if ignoring.setdefault(ppid, _ignores_sigchld(ppid)):
                    self.cpu_unwaited[key] = cpu.user + cpu.system + cpu.children_user + cpu.children_system
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
            tree += mem
            if p.pid == self.top_pid:
                top = mem
        self.peak_tree = max(self.peak_tree, tree)
        self.peak_top = max(self.peak_top, top)
        self.max_processes = max(self.max_processes, len(procs))


def _reap_orphans(timeout: float) -> list[str]:
    """Wait for adopted descendants to exit (Ray's processes linger a moment after shutdown)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            return []
        alive = []
        for p in psutil.Process().children():
            try:
                if p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
            except psutil.NoSuchProcess:
                pass
        if not alive and not psutil.Process().children():
            return []
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    # Still alive: this command's strays; end them (by pid) so they do not weigh on the next run.
    names = []
    for p in alive:
        try:
            names.append(f"{p.pid} {' '.join(p.cmdline()[:3])}")
            p.kill()
            p.wait(5)
        except psutil.Error:
            pass
    return names


def run(command: list[str], *, interval: float = 0.2, env: dict | None = None, cwd: str | None = None,
        orphan_timeout: float = ORPHAN_TIMEOUT_S) -> Measurement:
    """Run ``command`` to its end and measure it (see the module docstring)."""
    subreaper = _become_subreaper()      # this process adopts the command's orphans from now on
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=cwd)
    sampler = _Sampler(proc.pid, interval)
    sampler.start()
    try:
        stdout, stderr = proc.communicate()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        wall = time.perf_counter() - t0
        sampler.stop.set()
        sampler.join()
    leftovers = _reap_orphans(orphan_timeout)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    rusage_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if subreaper:
        cpu, source = rusage_cpu + sum(sampler.cpu_unwaited.values()), "rusage + sampled kernel-reaped"
    else:
        cpu, source = max(rusage_cpu, sum(sampler.cpu_seen.values())), "sampled (lower bound)"
    return Measurement(
        command=command, returncode=proc.returncode, wall_s=wall, cpu_s=cpu, cpu_source=source,
        peak_tree_mib=sampler.peak_tree / MIB, peak_top_mib=sampler.peak_top / MIB,
        max_processes=sampler.max_processes, stdout=stdout, stderr=stderr, leftovers=leftovers,
    )
