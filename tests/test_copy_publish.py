"""A copy is read by the later stages while it syncs, and becomes an object only when published;
the copy a dead worker finished is published by the driver only if its bytes are what it noted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.archive.objects import ObjectStore
from pipeline.stages.checksum import adopt, copy_source
from tests.drops import sha256


@pytest.fixture(params=[True, False], ids=["fsync", "no-fsync"])
def store(request, tmp_path) -> ObjectStore:
    return ObjectStore(tmp_path / "archive", fsync=request.param).create()


def _source(tmp_path: Path, size: int = 5 << 20) -> Path:
    source = tmp_path / "BWC0001_OF0001_20260301100000.MP4"
    source.write_bytes(os.urandom(size))
    return source


def test_a_copy_is_no_object_until_published(tmp_path, store):
    source = _source(tmp_path)
    copied = copy_source(source, store, chunk_bytes=1 << 20, retries=0)
    assert copied.path.parent == store.tmp and sha256(copied.path) == sha256(source)   # what the stages read
    assert not store.exists(copied.digest.sha256)
    stored = copied.publish()
    assert stored.newly_stored and stored.archive_path == store.relpath(sha256(source))
    assert sha256(store.path(stored.digest.sha256)) == sha256(source)
    assert oct(store.path(stored.digest.sha256).stat().st_mode & 0o777) == oct(store.mode)
    assert not list(store.tmp.iterdir())


def test_the_same_content_published_twice_is_one_object(tmp_path, store):
    source = _source(tmp_path)
    first = copy_source(source, store, chunk_bytes=1 << 20, retries=0)
    second = copy_source(source, store, chunk_bytes=1 << 20, retries=0)
    assert first.publish().newly_stored and not second.publish().newly_stored
    assert not list(store.tmp.iterdir())


def test_the_driver_publishes_a_dead_workers_finished_copy(tmp_path, store):
    source = _source(tmp_path)
    copied = copy_source(source, store, chunk_bytes=1 << 20, retries=0)
    copied.syncing and copied.syncing.wait()        # the worker's thread; then the worker "dies"
    stored = adopt(store, str(copied.path), copied.digest.sha256, copied.digest.size)
    assert stored is not None and stored.newly_stored
    assert sha256(store.path(sha256(source))) == sha256(source) and not copied.path.exists()


def test_job_fails_if_a_noted_copy_was_altered(tmp_path, store):
    """A copy whose bytes no longer have the noted SHA-256 (or size) is not published."""
    source = _source(tmp_path)
    copied = copy_source(source, store, chunk_bytes=1 << 20, retries=0)
    copied.syncing and copied.syncing.wait()
    with open(copied.path, "r+b") as fh:
        fh.write(b"tampered")
    assert adopt(store, str(copied.path), copied.digest.sha256, copied.digest.size) is None
    assert not store.exists(copied.digest.sha256)


def test_job_fails_if_a_note_names_a_file_outside_the_store(tmp_path, store):
    """A note is read back from the archive: a path it names outside objects/.tmp is never moved."""
    source = _source(tmp_path)
    digest = sha256(source)
    assert adopt(store, str(source), digest, source.stat().st_size) is None
    link = store.tmp / "link"
    link.symlink_to(source)
    assert adopt(store, str(link), digest, source.stat().st_size) is None
    assert source.exists() and not store.exists(digest)


def test_a_copy_published_just_before_the_worker_died_is_taken_as_it_is(tmp_path, store):
    source = _source(tmp_path)
    copied = copy_source(source, store, chunk_bytes=1 << 20, retries=0)
    copied.publish()
    stored = adopt(store, str(copied.path), copied.digest.sha256, copied.digest.size)
    assert stored is not None and not stored.newly_stored and stored.archive_path == store.relpath(sha256(source))


def test_a_copy_the_worker_publishes_while_the_driver_adopts_it_is_taken(tmp_path, store, monkeypatch):
    """A worker stopped too late renames its copy into place while the driver hashes it: the
    driver takes the object (the run goes on) instead of failing the archive."""
    source = _source(tmp_path)
    copied = copy_source(source, store, chunk_bytes=1 << 20, retries=0)
    copied.syncing and copied.syncing.wait()
    real = ObjectStore.commit

    def worker_first(self, tmp, sha):
        real(self, tmp, sha)                  # the worker's own publish, just before the driver's
        return real(self, tmp, sha)           # the driver's: its copy is gone now

    monkeypatch.setattr(ObjectStore, "commit", worker_first)
    stored = adopt(store, str(copied.path), copied.digest.sha256, copied.digest.size)
    assert stored is not None and stored.archive_path == store.relpath(sha256(source))
    assert sha256(store.path(copied.digest.sha256)) == sha256(source)


def test_a_copy_waiting_to_be_published_is_the_owners_alone(tmp_path, store):
    copied = copy_source(_source(tmp_path, 1 << 20), store, chunk_bytes=1 << 20, retries=0)
    assert copied.path.stat().st_mode & 0o077 == 0
    copied.publish()


def _direct_supported(folder: Path) -> bool:
    from pipeline.native import writeback

    try:
        fd, direct = writeback.create(folder / ".probe", 0o600, direct=True)
    except OSError:
        return False
    os.close(fd)
    (folder / ".probe").unlink()
    return direct


@pytest.mark.parametrize("size, chunk", [(0, 1 << 20), (1, 1 << 20), (2 << 20, 1 << 20), ((3 << 20) + 12345, 1 << 20),
                                         ((1 << 20) + 7, 1000), (5 << 20, (1 << 20) + 512)],
                         ids=["empty", "one-byte", "aligned", "unaligned-tail", "odd-chunks", "chunk-not-4k"])
def test_a_synced_copy_goes_direct_while_aligned_and_through_the_cache_after(tmp_path, store, monkeypatch, size,
                                                                              chunk):
    """Aligned chunks are written with direct I/O (where the file system allows it), the rest
    through the page cache with its writeback started chunk by chunk; a store that does not sync
    writes through the cache and asks for nothing. The copy is byte-identical in every case."""
    from pipeline.native import writeback

    hinted, switched = [], []
    real_start, real_switch = writeback.start, writeback.through_cache
    monkeypatch.setattr(writeback, "start", lambda fd, offset, length: hinted.append((offset, length))
                        or real_start(fd, offset, length))
    monkeypatch.setattr(writeback, "through_cache", lambda fd: switched.append(fd) or real_switch(fd))
    source = _source(tmp_path, size)
    copied = copy_source(source, store, chunk_bytes=chunk, retries=0)
    stored = copied.publish()
    assert sha256(store.path(stored.digest.sha256)) == sha256(source) and stored.digest.size == size
    if not store.fsync:
        assert hinted == [] and switched == []
        return
    direct = _direct_supported(store.tmp)
    first_unaligned = 0 if not direct else (size // chunk) * chunk if chunk % 4096 == 0 else 0
    cached = [(offset, min(chunk, size - offset)) for offset in range(first_unaligned, size, chunk)]
    assert hinted == cached                              # every byte not written direct had its writeback asked for
    assert len(switched) == (1 if direct and cached else 0)


@pytest.mark.parametrize("size", [0, 1, 2 << 20, (3 << 20) + 12345], ids=["empty", "one-byte", "aligned", "unaligned"])
def test_a_store_told_not_to_write_direct_copies_through_the_cache(tmp_path, monkeypatch, size):
    """``ingest.direct_io = false``: not a byte is written with O_DIRECT, even where the file
    system allows it; every chunk has its writeback started, and the copy is byte-identical."""
    from pipeline.native import writeback

    opened, hinted = [], []
    real_open, real_start = os.open, writeback.start
    monkeypatch.setattr(os, "open", lambda path, flags, mode=0o777, **kw: opened.append(flags)
                        or real_open(path, flags, mode, **kw))
    monkeypatch.setattr(writeback, "start", lambda fd, offset, length: hinted.append((offset, length))
                        or real_start(fd, offset, length))
    store = ObjectStore(tmp_path / "archive", fsync=True, direct=False).create()
    source = _source(tmp_path, size)
    copied = copy_source(source, store, chunk_bytes=1 << 20, retries=0)
    stored = copied.publish()
    monkeypatch.setattr(os, "open", real_open)
    assert sha256(store.path(stored.digest.sha256)) == sha256(source) and stored.digest.size == size
    assert opened and not any(flags & writeback.O_DIRECT for flags in opened if writeback.O_DIRECT)
    assert hinted == [(offset, min(1 << 20, size - offset)) for offset in range(0, size, 1 << 20)]


@pytest.mark.parametrize("setting, direct", [("", True), ("direct_io = false", False)], ids=["default", "off"])
def test_the_direct_io_setting_reaches_the_copy_of_each_file(tmp_path, monkeypatch, setting, direct):
    """The site's ``ingest.direct_io`` is what the copy of a file asks the file system for."""
    from pipeline.config import load_config
    from pipeline.native import writeback
    from pipeline.runs.discover import walk
    from pipeline.runs.perfile import Context, process_file

    asked, real_create = [], writeback.create
    monkeypatch.setattr(writeback, "create", lambda path, mode, *, direct: asked.append(direct)
                        or real_create(path, mode, direct=direct))
    site = tmp_path / "site.toml"
    site.write_text(f"[ingest]\n{setting}\n")
    config = load_config(site)
    assert config.ingest.direct_io is direct
    (tmp_path / "drop").mkdir()
    _source(tmp_path / "drop", 1 << 16)
    (src,) = list(walk([tmp_path / "drop"]))
    result = process_file(src, Context(str(tmp_path / "archive"), "r1", config))
    assert asked == [direct] and result.sighting["sha256"] == sha256(Path(src.path))


def test_a_file_system_that_refuses_direct_io_gets_the_copy_through_the_cache(tmp_path, monkeypatch):
    """O_DIRECT refused at open (tmpfs) or at the first write (EINVAL): the copy is made all the same."""
    from pipeline.native import writeback

    store = ObjectStore(tmp_path / "archive", fsync=True).create()
    source = _source(tmp_path, 3 << 20)
    real_open = os.open

    def refuse_at_open(path, flags, mode=0o777, **kw):
        if flags & writeback.O_DIRECT:
            raise OSError(22, "Invalid argument")
        return real_open(path, flags, mode, **kw)

    monkeypatch.setattr(os, "open", refuse_at_open)
    assert sha256(store.path(copy_source(source, store, chunk_bytes=1 << 20, retries=0).publish().digest.sha256)) \
        == sha256(source)
    monkeypatch.setattr(os, "open", real_open)



def test_a_direct_write_refused_midway_goes_on_through_the_cache(tmp_path):
    """EINVAL from a direct write (a file system wanting another alignment): the same bytes are
    written through the page cache, and the file is whole."""
    import mmap

    from pipeline.stages.checksum import _Sink

    sink = _Sink(tmp_path / "copy", fsync=True)
    real = sink.fh
    refused = []

    class Refusing:
        def write(self, data):
            if sink.direct:
                refused.append(len(data))
                raise OSError(22, "Invalid argument")
            return real.write(data)

        def fileno(self):
            return real.fileno()

    sink.fh = Refusing()
    buf = mmap.mmap(-1, 8192)
    buf.write(os.urandom(8192))
    sink.write(memoryview(buf)[:8192])
    sink.write(memoryview(buf)[:8192])
    sink.fh = real
    sink.close()
    assert (tmp_path / "copy").read_bytes() == bytes(buf) * 2
    assert len(refused) == (1 if _direct_supported(tmp_path) else 0) and not sink.direct


@pytest.mark.parametrize("offset, length", [(0, 0), (-1, 10), (0, -1), (0, 1 << 62), (1 << 62, 1 << 20)],
                         ids=["nothing", "negative-offset", "negative-length", "huge-length", "past-the-end"])
def test_writeback_hint_never_raises_and_refuses_nonsense(tmp_path, offset, length):
    from pipeline.native import writeback

    with open(tmp_path / "f", "wb") as fh:
        fh.write(b"x" * 4096)
        result = writeback.start(fh.fileno(), offset, length)
    assert result is (offset >= 0 and length > 0 and writeback._sync_file_range is not None)


@pytest.mark.parametrize("fd", [-1, 10 ** 6], ids=["negative", "not-open"])
def test_writeback_hint_on_a_bad_descriptor_is_false(fd):
    from pipeline.native import writeback

    assert writeback.start(fd, 0, 4096) is False


def test_writeback_hint_on_a_pipe_is_false():
    from pipeline.native import writeback

    read, write = os.pipe()
    try:
        os.write(write, b"x")
        assert writeback.start(write, 0, 1) is False
    finally:
        os.close(read)
        os.close(write)
