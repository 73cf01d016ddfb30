"""A private Ray instance dies with its driver, however the driver dies.

Ray ties its own daemons to the driver that started them (the GCS and the raylet get a parent-death
signal), but not what the raylet starts: when the driver is killed (``kill -9``, the OOM killer),
the raylet's dashboard and runtime-env agents notice their parent is gone, then block trying to
report it to the GCS that died with it, and stay behind for good, ignoring SIGTERM
(ray-project/ray#39092, #52385); workers finish their current task first, still writing into the
archive's temporary folder. So the driver starts this watchdog before ``ray.init``: a small
process of its own (its own session, deaf to Ctrl-C) that notes the driver's Ray processes every
quarter second and, the moment the driver's pipe closes without a goodbye, SIGKILLs every one of
them still alive. After a clean ``ray.shutdown`` the driver says goodbye, and the watchdog only
sweeps what did not exit within two seconds.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

import psutil

POLL_S = 0.25
GRACE_S = 2.0
GOODBYE = b"bye\n"


class Watchdog:
    """The driver's handle on its watchdog process."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "pipeline.runs.reaper", str(os.getpid())],
                                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True, close_fds=True)

    def stop(self) -> None:
        """Ray was shut down cleanly: the watchdog sweeps any straggler on its own and goes."""
        try:
            self.proc.stdin.write(GOODBYE)
            self.proc.stdin.close()
        except OSError:
            pass


def _ray_processes(driver: psutil.Process, me: int) -> dict[int, psutil.Process]:
    found = {}
    for child in driver.children(recursive=True):
        try:
            if child.pid != me and "ray" in " ".join(child.cmdline()):
                found[child.pid] = child
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    return found


def _kill(procs: dict[int, psutil.Process]) -> None:
    for proc in list(procs.values()):
        try:
            procs.update({c.pid: c for c in proc.children(recursive=True)})
        except psutil.Error:
            pass
    for proc in procs.values():
        try:
            proc.kill()            # psutil refuses if the pid now belongs to another process
        except psutil.Error:
            pass


def watch(driver_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    driver = psutil.Process(driver_pid)
    seen: dict[int, psutil.Process] = {}
    stdin = sys.stdin.buffer
    while True:
        try:
            seen.update(_ray_processes(driver, os.getpid()))
        except psutil.NoSuchProcess:
            pass
        ready, _, _ = select.select([stdin], [], [], POLL_S)
        if ready:
            if stdin.read(len(GOODBYE)) == GOODBYE:      # a clean shutdown: Ray's own exits first
                end = time.monotonic() + GRACE_S
                while time.monotonic() < end and any(_alive(p) for p in seen.values()):
                    time.sleep(0.05)
            _kill({pid: p for pid, p in seen.items() if _alive(p)})
            return


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


if __name__ == "__main__":
    watch(int(sys.argv[1]))
