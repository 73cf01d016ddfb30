"""What the benchmark ran on: CPU, cores, memory, the disk under the work folder, software versions."""

from __future__ import annotations

import os
import platform
import shutil
import socket
import ssl
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import psutil


def _cpu_model() -> tuple[str, bool]:
    model, sha = platform.processor() or platform.machine(), False
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and ":" in line:
                model = line.split(":", 1)[1].strip()
            elif line.startswith(("flags", "Features")):
                sha = sha or any(f in line.split() for f in ("sha_ni", "sha2"))
    except OSError:
        pass
    return model, sha


def _disk(path: Path) -> dict:
    path = path.resolve()
    best = None
    for part in psutil.disk_partitions(all=True):
        if str(path).startswith(part.mountpoint) and (best is None or len(part.mountpoint) > len(best.mountpoint)):
            best = part
    usage = shutil.disk_usage(path)
    return {"path": str(path), "device": best.device if best else None, "fstype": best.fstype if best else None,
            "mountpoint": best.mountpoint if best else None, "free_gb": round(usage.free / 1e9, 1)}


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _first_line(command: list[str]) -> str | None:
    if not shutil.which(command[0]):
        return None
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=10).stdout.splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return None


def _scheduling() -> dict:
    """This process's nice, and its session's autogroup: where the kernel groups processes by
    session, nice weighs only against the same session's (``bench/boost.sh`` sets the group's)."""
    try:
        groups = Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
        group_nice = int(Path("/proc/self/autogroup").read_text().split()[-1]) if groups else None
    except (OSError, ValueError, IndexError):
        groups, group_nice = False, None
    return {"nice": os.nice(0), "autogroups": groups, "autogroup_nice": group_nice}


def describe(work: Path) -> dict:
    model, sha = _cpu_model()
    repo = Path(__file__).resolve().parents[1]
    return {
        "host": socket.gethostname(),
        "cpu": model,
        "cpu_sha_instructions": sha,
        "logical_cpus": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "scheduling": _scheduling(),
        "kernel": platform.release(),
        "disk": _disk(work),
        "python": sys.version.split()[0],
        "openssl": ssl.OPENSSL_VERSION,
        "fieldrec_commit": _first_line(["git", "-C", str(repo), "describe", "--always", "--dirty"]),
        "packages": {p: _version(p) for p in ("fieldrec", "av", "ray", "pyarrow", "xxhash", "psutil")},
        "ffmpeg": _first_line(["ffmpeg", "-version"]),
    }
