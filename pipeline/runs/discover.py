"""Walk the sources of a dock drop: every entry, in a stable order, with what stops it being read.

The walk is iterative (a drop nested thousands of folders deep is walked like a flat one) and
reaches folders past PATH_MAX through open folders. Symbolic links are followed only while they
stay inside the source folders named on the command line, unless ``follow_links`` says otherwise:
a link to a file elsewhere (a key, a password file) is recorded with its target and never read.
Links to folders are entered only with ``follow_links``, each folder once (no loops).
"""

from __future__ import annotations

import errno
import os
import stat as stat_mod
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from pipeline.common import paths
from pipeline.common.i18n import N_, _

_KINDS = ((stat_mod.S_ISFIFO, N_("a FIFO (named pipe)")), (stat_mod.S_ISSOCK, N_("a socket")),
          (stat_mod.S_ISCHR, N_("a character device")), (stat_mod.S_ISBLK, N_("a block device")))


@dataclass(frozen=True)
class SourceFile:
    path: str                   # absolute, as found (not resolved: the dock's own name); not always UTF-8
    size: int
    mtime_ns: int
    problem: str | None = None  # set when the entry is not read as a file
    failure: str | None = None  # why not (catalog.schema.FAILURES): not_a_file, link_out, read_error
    link_target: str | None = None  # a symbolic link: what it points to, as written in the link
    read_path: str | None = None    # the file to open when it is not ``path`` (a followed link's target)

    @property
    def key(self) -> tuple[bytes, int, int]:
        """What makes a later sighting the same: the exact path bytes, size and mtime."""
        return (os.fsencode(self.path), self.size, self.mtime_ns)

    @property
    def name(self) -> str:
        return os.path.basename(self.path)


def what_it_is(st: os.stat_result) -> str:
    return next((_(name) for test, name in _KINDS if test(st.st_mode)), _("not a regular file"))


def _problem(path: str, message: str, failure: str, link_target: str | None = None) -> SourceFile:
    try:
        mtime = paths.stat(path, follow_symlinks=False).st_mtime_ns
    except OSError:
        mtime = 0
    return SourceFile(path, 0, mtime, message, failure, link_target)


def _within(path: str, folders: list[str]) -> bool:
    return any(path == f or path.startswith(f.rstrip(os.sep) + os.sep) for f in folders)


@dataclass
class _Walk:
    inside: list[str]          # resolved source folders: links may lead here by default
    archive: str | None        # resolved archive folder: never a source
    archive_id: tuple[int, int] | None
    follow_links: bool
    entered: set[tuple[int, int]]

    def link(self, path: str) -> tuple[SourceFile | None, str | None]:
        """A symbolic link's entry, or the folder it leads to when that folder is to be walked."""
        try:
            target = paths.readlink(path)
        except OSError as exc:
            return _problem(path, _("cannot read the link: {err} (errno {n})").format(
                err=exc.strerror, n=exc.errno), "read_error"), None
        shown = paths.readable(target)
        try:
            st = paths.stat(path)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return _problem(path, _("symbolic link loop: the link never reaches a file"), "not_a_file", target), None
            if exc.errno == errno.ENOENT:
                return _problem(path, _("broken symbolic link to {target!r}").format(target=shown),
                                "not_a_file", target), None
            return _problem(path, _("cannot follow the link to {target!r}: {err} (errno {n})").format(
                target=shown, err=exc.strerror, n=exc.errno), "read_error", target), None
        resolved = os.path.realpath(path)
        if self.archive and _within(resolved, [self.archive]):
            return _problem(path, _("symbolic link into the archive ({target}): not followed; the archive "
                                    "is never a source").format(target=paths.readable(resolved)),
                            "link_out", target), None
        outside = not _within(resolved, self.inside)
        if stat_mod.S_ISDIR(st.st_mode):
            if not self.follow_links:
                return _problem(path, _("symbolic link to a folder ({target!r}): not followed, to avoid loops "
                                        "and double counting (--follow-links enters it)").format(target=shown),
                                "not_a_file", target), None
            if (st.st_dev, st.st_ino) in self.entered:
                return _problem(path, _("symbolic link to a folder already walked ({target!r}): not entered "
                                        "again").format(target=shown), "not_a_file", target), None
            return None, path
        if outside and not self.follow_links:
            return _problem(path, _("symbolic link to a file outside the source folders ({target}): not "
                                    "followed and nothing stored; --follow-links follows such links").format(
                                        target=paths.readable(resolved)), "link_out", target), None
        if not stat_mod.S_ISREG(st.st_mode):
            return _problem(path, _("symbolic link to {what} ({target!r}): not read").format(
                what=what_it_is(st), target=shown), "not_a_file", target), None
        return SourceFile(path, st.st_size, st.st_mtime_ns, link_target=target, read_path=resolved), None

    def folder(self, folder: str) -> Iterator[SourceFile | str]:
        """The entries of one folder in name order, then its sub-folders (as paths) in name order."""
        try:
            fd = paths.open_dir(folder) if not os.path.islink(folder) else os.open(folder, paths.DIR_FLAGS)
        except OSError as exc:
            yield _problem(folder, _("cannot list folder: {err} (errno {n})").format(err=exc.strerror, n=exc.errno),
                           "read_error")
            return
        try:
            here = os.fstat(fd)
            self.entered.add((here.st_dev, here.st_ino))
            with os.scandir(fd) as listing:
                entries = sorted(listing, key=lambda e: os.fsencode(e.name))
            subfolders: list[str] = []
            for entry in entries:
                path = os.path.join(folder, entry.name)
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError as exc:
                    yield _problem(path, _("cannot stat: {err} (errno {n})").format(err=exc.strerror, n=exc.errno),
                                   "read_error")
                    continue
                if stat_mod.S_ISDIR(st.st_mode):
                    if (st.st_dev, st.st_ino) != self.archive_id:     # an archive inside a drop is not a drop
                        subfolders.append(path)
                elif stat_mod.S_ISLNK(st.st_mode):
                    entry_or_none, into = self.link(path)
                    if entry_or_none is not None:
                        yield entry_or_none
                    if into is not None:
                        subfolders.append(into)
                elif stat_mod.S_ISREG(st.st_mode):
                    yield SourceFile(path, st.st_size, st.st_mtime_ns)
                else:
                    yield _problem(path, _("{what}, not a regular file: not read").format(what=what_it_is(st)),
                                   "not_a_file")
            yield from subfolders
        finally:
            os.close(fd)


def walk(sources: list[Path], exclude: Path | None = None, *, follow_links: bool = False) -> Iterator[SourceFile]:
    """Every entry under ``sources`` (files or folders), sorted, folders depth first.

    ``exclude``: a folder never entered (the archive itself, when a drop folder contains it).
    A source named on the command line is read even when it is a link: the operator named it.
    """
    roots = [os.path.abspath(s) for s in sources]
    archive_id = None
    if exclude is not None:
        try:
            st = os.stat(exclude)
            archive_id = (st.st_dev, st.st_ino)
        except OSError:
            pass
    state = _Walk(inside=[os.path.realpath(r) for r in roots if os.path.isdir(r)],
                  archive=os.path.realpath(exclude) if exclude else None, archive_id=archive_id,
                  follow_links=follow_links, entered=set())
    for root in roots:
        if not os.path.isdir(root):
            yield _named_file(root)
            continue
        stack = [root]
        while stack:
            subfolders = []
            for item in state.folder(stack.pop()):
                if isinstance(item, str):
                    subfolders.append(item)
                else:
                    yield item
            stack.extend(reversed(subfolders))


def _named_file(path: str) -> SourceFile:
    """A file named on the command line (followed if it is a link)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return _problem(path, _("symbolic link loop: the link never reaches a file"), "not_a_file")
        if exc.errno == errno.ENOENT and os.path.islink(path):
            return _problem(path, _("broken symbolic link to {target!r}").format(
                target=paths.readable(os.readlink(path))), "not_a_file")
        return _problem(path, _("cannot stat: {err} (errno {n})").format(err=exc.strerror, n=exc.errno), "read_error")
    if not stat_mod.S_ISREG(st.st_mode):
        return _problem(path, _("{what}, not a regular file: not read").format(what=what_it_is(st)), "not_a_file")
    if os.path.islink(path):
        return SourceFile(path, st.st_size, st.st_mtime_ns, link_target=os.readlink(path),
                          read_path=os.path.realpath(path))
    return SourceFile(path, st.st_size, st.st_mtime_ns)


def files_at_least(sources: list[Path], wanted: int, *, entries: int = 512) -> int:
    """How many regular files ``sources`` hold, counted only up to ``wanted`` and looking at no more
    than ``entries`` folder entries: a glance before the real walk (how many workers to start at
    once), never a judgement on any file. Unreadable folders and links count nothing."""
    found, looked = 0, 0
    stack = [os.fspath(s) for s in reversed(sources)]
    while stack and found < wanted and looked < entries:
        path = stack.pop()
        try:
            if not os.path.isdir(path):
                found += os.path.isfile(path)
                continue
            with os.scandir(path) as listing:
                for entry in listing:
                    looked += 1
                    if entry.is_file(follow_symlinks=False):
                        found += 1
                    elif entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    if found >= wanted or looked >= entries:
                        break
        except OSError:
            continue
    return min(found, max(wanted, 0))
