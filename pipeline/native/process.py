"""Process ties the standard library does not offer: a child that the kernel kills when its parent dies."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> bool:
    """Have the kernel SIGKILL this process the moment ``parent_pid`` (its parent) dies, however it
    dies (``kill -9``, the out-of-memory killer). Exits at once if the parent is already gone.

    Linux only (False elsewhere). The tie is to the parent *thread* that started this process: a
    pool must start its workers from a thread that lives as long as the pool (the main thread).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        tied = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False
    if os.getppid() != parent_pid:          # the parent died before the tie was made
        os._exit(1)
    return tied
