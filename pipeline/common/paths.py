"""Source paths as the file system gives them: exact bytes, readable text, and access past PATH_MAX.

File names are bytes. Python hands out names that are not UTF-8 as ``str`` with lone surrogates
(``surrogateescape``), which open the right file but cannot be written as Parquet text. The
catalog keeps both forms: ``exact`` (the bytes) and ``readable`` (UTF-8 text, each byte that is
not UTF-8 written ``\\xNN``). A drop nested thousands of folders deep has paths longer than the
kernel takes in one call (ENAMETOOLONG); ``open_fd``, ``stat`` and ``open_dir`` then reach the
file folder by folder, relative to an open folder, as ``openat`` allows.
"""

from __future__ import annotations

import errno
import os
from typing import Callable

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
# A prefix of at most this many bytes is opened in one call; the rest folder by folder.
_SHORT = 3000


def exact(path: str) -> bytes:
    """The path's bytes, exactly as the file system has them."""
    return os.fsencode(path)


def readable(path: str) -> str:
    """The path as valid UTF-8 text for people and catalogs: a byte that is not UTF-8 becomes ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _folder_fd(folder: bytes) -> int:
    """An open descriptor of ``folder`` (absolute, bytes), however long its path."""
    if len(folder) < _SHORT:
        return os.open(folder or b"/", DIR_FLAGS)
    cut = folder.rfind(b"/", 0, _SHORT)
    fd = os.open(folder[:cut] or b"/", DIR_FLAGS)
    try:
        for part in folder[cut:].split(b"/"):
            if part:
                # NOFOLLOW: the walk never enters a linked folder, so a deep path never crosses a link
                nxt = os.open(part, DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
                os.close(fd)
                fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd


def _split(path: str) -> tuple[bytes, bytes]:
    raw = os.fsencode(os.path.abspath(path))
    head, _sep, name = raw.rpartition(b"/")
    return head, name


def _long(path: str, direct: Callable, in_folder: Callable):
    """``direct()``; when the path is too long for one call, ``in_folder(name, folder_fd)``."""
    try:
        return direct()
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
    head, name = _split(path)
    folder = _folder_fd(head)
    try:
        return in_folder(name, folder)
    finally:
        os.close(folder)


def open_fd(path: str, flags: int) -> int:
    """``os.open``, also for a path longer than the kernel takes in one call."""
    return _long(path, lambda: os.open(path, flags), lambda name, fd: os.open(name, flags, dir_fd=fd))


def stat(path: str, *, follow_symlinks: bool = True) -> os.stat_result:
    """``os.stat`` (or lstat), also for a path longer than the kernel takes in one call."""
    return _long(path, lambda: os.stat(path, follow_symlinks=follow_symlinks),
                 lambda name, fd: os.stat(name, dir_fd=fd, follow_symlinks=follow_symlinks))


def readlink(path: str) -> str:
    """``os.readlink``, also for a path longer than the kernel takes in one call."""
    return _long(path, lambda: os.readlink(path), lambda name, fd: os.fsdecode(os.readlink(name, dir_fd=fd)))


def open_dir(path: str) -> int:
    """An open descriptor of the folder ``path`` (not through a link), however long its path."""
    try:
        return os.open(path, DIR_FLAGS | os.O_NOFOLLOW)
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
    return _folder_fd(os.fsencode(os.path.abspath(path)))
