"""Walk the sources of a dock drop: every file, in a stable order, with what stops it being read."""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator


@dataclass(frozen=True)
class SourceFile:
    path: str                  # absolute, as found (not resolved: the dock's own name)
    size: int
    mtime_ns: int
    problem: str | None = None  # set when the entry cannot be read as a file

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.path, self.size, self.mtime_ns)


def _problem_entry(path: str, message: str) -> SourceFile:
    try:
        st = os.lstat(path)
        return SourceFile(path, 0, st.st_mtime_ns, message)
    except OSError:
        return SourceFile(path, 0, 0, message)


def _entry(path: str) -> SourceFile:
    try:
        st = os.stat(path)                       # follows a symlink to a file
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return _problem_entry(path, "symbolic link loop: the link never reaches a file")
        if exc.errno == errno.ENOENT and os.path.islink(path):
            return _problem_entry(path, f"broken symbolic link to {os.readlink(path)!r}")
        return _problem_entry(path, f"cannot stat: {exc.strerror} (errno {exc.errno})")
    if not os.path.isfile(path):
        return _problem_entry(path, "not a regular file (device, socket or pipe)")
    return SourceFile(path, st.st_size, st.st_mtime_ns)


def walk(sources: list[Path], exclude: Path | None = None) -> Iterator[SourceFile]:
    """Every file under ``sources`` (files or folders), sorted; symlinked folders are not entered.

    ``exclude``: a folder never entered (the archive itself, when a drop folder contains it).
    """
    skip = os.path.realpath(exclude) if exclude else None
    for source in sources:
        root = os.path.abspath(source)
        if not os.path.isdir(root):
            yield _entry(root)
            continue
        errors: list[OSError] = []
        for folder, dirs, files in os.walk(root, onerror=errors.append, followlinks=False):
            if skip and os.path.realpath(folder) == skip:
                dirs[:] = []
                continue
            dirs.sort()
            for name in sorted(dirs):
                full = os.path.join(folder, name)
                if os.path.islink(full):
                    yield _problem_entry(full, f"symbolic link to a folder ({os.readlink(full)!r}): not followed, to avoid loops and double counting")
            for name in sorted(files):
                yield _entry(os.path.join(folder, name))
        for exc in errors:
            yield _problem_entry(exc.filename or root, f"cannot list folder: {exc.strerror} (errno {exc.errno})")
