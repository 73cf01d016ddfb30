"""Every input gets its row, whatever crashes, hangs or is strange about it (issue 15).

Each test injects one real fault into a small drop (a stage that raises, a worker that aborts or
is killed, a hang, a FIFO, a Ray address that does not answer, a file root cannot read, a name
that is not UTF-8, a drop 2,100 folders deep, a link to a private key, a file that is no media)
and checks the same things: the run exits 0, every other file is stored and cataloged, the bad
file has exactly one row with a readable reason, `verify` is clean, and a re-run adds nothing (or
retries exactly what it should). The last test mixes them all in a 200-file drop.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from pipeline.archive.lock import ArchiveLock
from pipeline.cli import main as cli
from pipeline.common import paths
from pipeline.config import load_config
from pipeline.runs import verify
from tests.drops import make_drop
from tests.helpers import faulty, table
from tests.raycluster import BIN, DROP_DAC, head_without_root_powers, permissions_bite

REPO = Path(__file__).resolve().parents[1]


def _toml(path: Path, **ingest_keys) -> Path:
    lines = [f"{k} = {str(v).lower() if isinstance(v, bool) else v}\n" for k, v in {"fsync": False, **ingest_keys}.items()]
    path.write_text("[ingest]\n" + "".join(lines))
    return path


def _ingest(drop: Path, archive: Path, config: Path, *extra: str) -> int:
    """`fieldrec ingest` in this process (``--engine ray``: on the test session's Ray)."""
    return cli(["ingest", str(drop), "--archive", str(archive), "--config", str(config), "--quiet", *extra])


def _bytes(path: Path) -> bytes:
    """A file's bytes, also past PATH_MAX (the deep drop)."""
    with os.fdopen(paths.open_fd(str(path), os.O_RDONLY), "rb") as fh:
        return fh.read()


def sha256(path: Path) -> str:
    return hashlib.sha256(_bytes(path)).hexdigest()


def _counts(archive: Path) -> dict[str, int]:
    return {t: len(table(archive, t)) for t in ("sightings", "recordings", "streams", "thumbnails")}


def _sightings_of(archive: Path, path) -> list[dict]:
    raw = os.fsencode(str(path))
    return [s for s in table(archive, "sightings") if s["source_path_bytes"] == raw]


def assert_the_rest_is_whole(archive: Path, good: list[Path]) -> None:
    """Every good file stored byte-identical, with one recording and one sighting."""
    recordings = {r["sha256"]: r for r in table(archive, "recordings")}
    for f in good:
        row = recordings.get(sha256(f))
        assert row is not None, f"{f.name} was not cataloged"
        assert (archive / row["archive_path"]).read_bytes() == _bytes(f)
        assert len(_sightings_of(archive, f)) == 1, f.name


def assert_one_row(archive: Path, bad: Path, *, status: str, failure: str | None, words: str,
                   stage: str | None = None, stored: bool) -> dict:
    """The bad file's one sighting (and recording when stored), with a readable reason."""
    (sighting,) = _sightings_of(archive, bad)
    assert (sighting["status"], sighting["failure"], sighting["error_stage"]) == (status, failure, stage), sighting
    assert words in sighting["error_message"] and paths.readable(bad.name) in sighting["error_message"]
    recordings = [r for r in table(archive, "recordings") if r["source_name_bytes"] == os.fsencode(bad.name)]
    if stored:
        (row,) = recordings
        assert (row["status"], row["error_stage"]) == (status, stage) and words in row["error_message"]
        assert row["sha256"] == sighting["sha256"] == sha256(bad)
        assert (archive / row["archive_path"]).read_bytes() == _bytes(bad)
        return row
    assert not recordings and sighting["sha256"] is None
    return sighting


def assert_verifies(archive: Path) -> None:
    report = verify.verify(archive, load_config())
    assert report.ok, report.render()


# -- 1. a stage that raises after the copy --------------------------------------------------------

def test_job_fails_if_a_stage_raises_after_the_copy(tmp_path, engine):
    files = make_drop(tmp_path / "drop", clips=3, blobs=2, duplicate=False)
    bad = files[1] = faulty(files[1], "thumbnails", "raise")
    archive, config = tmp_path / "archive", _toml(tmp_path / "c.toml")
    assert _ingest(tmp_path / "drop", archive, config, "--engine", engine) == 0
    assert_the_rest_is_whole(archive, [f for f in files if f != bad])
    row = assert_one_row(archive, bad, status="damaged", failure="stage_error", stage="thumbnails", stored=True,
                         words="the thumbnails stage failed: RuntimeError: test fault injected")
    assert row["kind"] == "video" and row["duration_s"] > 0       # what the stages before it found is kept
    assert_verifies(archive)
    before = _counts(archive)
    assert _ingest(tmp_path / "drop", archive, config, "--engine", engine) == 0
    assert _counts(archive) == before


# -- 2. a worker that dies (native crash, out-of-memory kill) ---------------------------------------

@pytest.mark.parametrize("action,stage,stored", [
    pytest.param("abort", "thumbnails", True, id="abort-after-the-copy"),
    pytest.param("kill", "checksum", False, id="sigkill-before-the-copy"),
])
def test_job_fails_if_its_worker_dies(tmp_path, engine, monkeypatch, action, stage, stored):
    drop = tmp_path / "drop"
    files = make_drop(drop, clips=3, blobs=3, duplicate=False)
    bad = files[0] = faulty(files[0], stage, action)
    archive = tmp_path / "archive"
    config = _toml(tmp_path / "c.toml", worker_retries=1, task_max_files=8)     # all in one batch
    assert _ingest(drop, archive, config, "--engine", engine) == 0
    assert_the_rest_is_whole(archive, [f for f in files if f != bad])
    assert_one_row(archive, bad, status="damaged" if stored else "unreadable", failure="worker_died", stage=stage,
                   stored=stored, words="the worker process died")
    assert "tried alone 2 times" in _sightings_of(archive, bad)[0]["error_message"]
    assert_verifies(archive)
    before = _counts(archive)
    assert _ingest(drop, archive, config, "--engine", engine) == 0      # not tried again: it would only die again
    assert _counts(archive) == before

    monkeypatch.setenv("FIELDREC_TEST_CRASH", "")               # the decoder was fixed, say
    assert _ingest(drop, archive, config, "--retry-failed", "--engine", engine) == 0
    if stored:                                                  # its content was already cataloged
        assert _counts(archive) == before
    else:                                                       # tried again, and stored this time
        latest = max(_sightings_of(archive, bad), key=lambda s: s["seen_at"])
        assert latest["status"] == "ok" and latest["sha256"] == sha256(bad)
        assert len(table(archive, "recordings")) == before["recordings"] + 1
    assert_verifies(archive)


# -- 3. hangs: a file over its time budget, a FIFO, a Ray address that does not answer ------------

def test_job_fails_if_it_hangs_past_its_time_budget(tmp_path, engine):
    drop = tmp_path / "drop"
    files = make_drop(drop, clips=2, blobs=3, duplicate=False)
    bad = files[0] = faulty(files[0], "demux", "hang")
    os.mkfifo(drop / "BWC0009_OF0009_20260301100900.MP4")       # a FIFO where a recording was
    archive = tmp_path / "archive"
    config = _toml(tmp_path / "c.toml", time_budget_s=2.0, task_max_files=8)
    t0 = time.monotonic()
    assert _ingest(drop, archive, config, "--engine", engine) == 0
    assert time.monotonic() - t0 < 60
    assert_the_rest_is_whole(archive, [f for f in files if f != bad])
    assert_one_row(archive, bad, status="damaged", failure="timed_out", stage="demux", stored=True,
                   words="timed out (in the demux stage): still running after 2 s")
    assert_one_row(archive, drop / "BWC0009_OF0009_20260301100900.MP4", status="unreadable", failure="not_a_file",
                   words="a FIFO (named pipe), not a regular file", stored=False)
    assert_verifies(archive)
    before = _counts(archive)
    assert _ingest(drop, archive, config, "--engine", engine) == 0
    assert _counts(archive) == before


@pytest.mark.timeout(60)
def test_job_fails_if_a_file_becomes_a_fifo_after_discovery(tmp_path, fast_config):
    """The open must not wait for a writer that never comes."""
    from pipeline.runs.discover import walk
    from pipeline.runs.perfile import Context, process_file

    files = make_drop(tmp_path / "drop", clips=1, blobs=0, duplicate=False)
    (src,) = list(walk([tmp_path / "drop"]))
    files[0].unlink()
    os.mkfifo(files[0])
    result = process_file(src, Context(str(tmp_path / "archive"), "r1", fast_config))
    assert result.recording is None and result.sighting["failure"] == "not_a_file"
    assert "a FIFO now, not a regular file (replaced after it was found)" in result.sighting["error_message"]
    assert not list((tmp_path / "archive" / "objects" / ".tmp").iterdir())


@pytest.fixture
def silent_port():
    """A port that accepts connections and never says a word (a hung service, a black hole)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


@pytest.mark.parametrize("how", ["refused", "silent"])
def test_job_fails_if_the_ray_address_does_not_answer(tmp_path, how, request):
    address = "127.0.0.1:1" if how == "refused" else f"127.0.0.1:{request.getfixturevalue('silent_port')}"
    make_drop(tmp_path / "drop", clips=0, blobs=1, duplicate=False)
    archive = tmp_path / "archive"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "ingest", str(tmp_path / "drop"), "--archive",
                           str(archive), "--address", address, "--quiet"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert time.monotonic() - t0 < 30
    assert done.returncode == 1, done.stderr
    assert f"the Ray cluster at {address} cannot be reached" in done.stderr
    with ArchiveLock(archive, "test"):                      # released: the next command may run
        pass


def test_ray_client_addresses_are_refused_as_a_usage_error(tmp_path, capsys):
    make_drop(tmp_path / "drop", clips=0, blobs=1, duplicate=False)
    assert cli(["ingest", str(tmp_path / "drop"), "--archive", str(tmp_path / "a"), "--address", "ray://head:10001"]) == 2
    assert "Ray Client addresses (ray://) are not supported" in capsys.readouterr().err


# -- 4. a source that cannot be read, until its permissions are fixed -----------------------------

class Unprivileged:
    """`fieldrec ingest ... --json` whose workers obey file modes (no root powers): the local engine
    run under setpriv, or a driver joining a 2-CPU Ray cluster started so."""

    def __init__(self, engine: str, cluster=None):
        self.engine, self.cluster = engine, cluster

    def __call__(self, *args: str) -> dict:
        if self.cluster is None:
            command = [*DROP_DAC, str(BIN / "fieldrec"), "ingest", *args, "--engine", "local", "--workers", "2"]
            env = dict(os.environ)
        else:
            command = [str(BIN / "fieldrec"), "ingest", *args, "--address", self.cluster.address]
            # The cluster's workers inherited the test faults when it started; a driver that named
            # them again would have each task carry them (a runtime environment: seconds of start-up).
            env = {k: v for k, v in self.cluster.env.items() if k != "FIELDREC_TEST_CRASH"}
        done = subprocess.run([*command, "--json"], env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout)


@pytest.fixture(scope="module", params=["local", "ray"])
def unprivileged(request):
    """Ingest runs whose workers obey file modes, on each engine."""
    if reason := permissions_bite():
        pytest.skip(reason)
    if request.param == "local":
        yield Unprivileged("local")
        return
    with head_without_root_powers(cpus=2) as cluster:
        yield Unprivileged("ray", cluster)


def test_job_fails_if_a_source_cannot_be_read_until_its_mode_is_fixed(tmp_path, unprivileged):
    drop, archive = tmp_path / "drop", tmp_path / "archive"
    files = make_drop(drop, clips=2, blobs=2, duplicate=False)
    bad = files[1]
    bad.chmod(0)
    config = _toml(tmp_path / "c.toml")
    first = unprivileged(str(drop), "--archive", str(archive), "--config", str(config))
    assert first["files_by_status"] == {"ok": 3, "unreadable": 1}
    assert_the_rest_is_whole(archive, [f for f in files if f != bad])
    assert_one_row(archive, bad, status="unreadable", failure="read_error", stage="checksum", stored=False,
                   words="cannot read: Permission denied (errno 13)")
    assert_verifies(archive)
    before = _counts(archive)
    again = unprivileged(str(drop), "--archive", str(archive), "--config", str(config))
    assert again["files_by_status"] == {"unreadable": 1} and _counts(archive) == before   # tried, nothing new

    bad.chmod(0o644)                                         # the permissions are fixed: it is stored now
    fixed = unprivileged(str(drop), "--archive", str(archive), "--config", str(config))
    assert fixed["files_by_status"] == {"ok": 1} and fixed["files_new"] == 1
    assert_the_rest_is_whole(archive, files[:1] + files[2:])
    assert [s["status"] for s in sorted(_sightings_of(archive, bad), key=lambda s: s["seen_at"])] == ["unreadable", "ok"]
    assert_verifies(archive)


# -- 5. names that are not UTF-8 --------------------------------------------------------------------

def test_job_fails_if_a_name_is_not_utf8(tmp_path, capsys):
    drop = tmp_path / "drop"
    files = make_drop(drop, clips=2, blobs=1, duplicate=False)
    odd_dir = os.fsencode(drop) + b"/CAM\xb0\xe6"               # names a GBK dock wrote: not UTF-8
    os.mkdir(odd_dir)
    odd = Path(os.fsdecode(odd_dir + b"/\xc4\xe3\xba\xc3_BWC0077.MP4"))
    os.rename(files[0], odd)
    files[0] = odd
    archive, config = tmp_path / "archive", _toml(tmp_path / "c.toml")
    assert cli(["ingest", str(drop), "--archive", str(archive), "--config", str(config), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["files_by_status"] == {"ok": 3}
    assert_the_rest_is_whole(archive, files)
    (sighting,) = _sightings_of(archive, odd)
    assert sighting["source_path_bytes"] == os.fsencode(odd)
    assert sighting["source_path"].endswith("/CAM\\xb0\\xe6/\\xc4\\xe3\\xba\\xc3_BWC0077.MP4")
    (row,) = [r for r in table(archive, "recordings") if r["sha256"] == sha256(odd)]
    assert row["source_name"] == "\\xc4\\xe3\\xba\\xc3_BWC0077.MP4"
    assert row["source_name_bytes"] == b"\xc4\xe3\xba\xc3_BWC0077.MP4"
    assert (row["status"], row["kind"]) == ("ok", "video")
    assert_verifies(archive)
    before = _counts(archive)
    assert _ingest(drop, archive, config) == 0
    assert _counts(archive) == before


# -- 6. a drop nested 2,100 folders deep (paths past PATH_MAX) ---------------------------------------

def _deep_tree(root: Path, depth: int, payloads: dict[int, bytes]) -> list[Path]:
    """``depth`` nested folders under ``root``, a file at each depth named in ``payloads``."""
    placed = []
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    path = os.fsencode(root)
    try:
        for level in range(1, depth + 1):
            os.mkdir("d", dir_fd=fd)
            nxt = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd, path = nxt, path + b"/d"
            if level in payloads:
                name = f"BWC{level:04d}_OF0001_20260301100000.MP4"
                out = os.open(name, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
                os.write(out, payloads[level])
                os.close(out)
                placed.append(Path(os.fsdecode(path + b"/" + name.encode())))
    finally:
        os.close(fd)
    return placed


def _remove_deep(top: Path) -> None:
    """Remove a tree too deep for shutil.rmtree, bottom up, folder by folder."""
    chain = [os.open(top, os.O_RDONLY | os.O_DIRECTORY)]
    try:
        while True:
            names = os.listdir(chain[-1])
            folders = [n for n in names if stat.S_ISDIR(os.stat(n, dir_fd=chain[-1], follow_symlinks=False).st_mode)]
            for n in names:
                if n not in folders:
                    os.unlink(n, dir_fd=chain[-1])
            if not folders:
                break
            chain.append(os.open(folders[0], os.O_RDONLY | os.O_DIRECTORY, dir_fd=chain[-1]))
        while len(chain) > 1:
            child = chain.pop()
            os.close(child)
            for n in os.listdir(chain[-1]):
                if stat.S_ISDIR(os.stat(n, dir_fd=chain[-1], follow_symlinks=False).st_mode):
                    os.rmdir(n, dir_fd=chain[-1])
    finally:
        for fd in chain:
            os.close(fd)


@pytest.fixture
def deep_root():
    """A folder for a tree too deep for pytest's own clean-up (shutil.rmtree recurses): kept out of
    its temporary folders and removed here, bottom up."""
    root = Path(tempfile.mkdtemp(prefix="fieldrec-deep-"))
    yield root
    _remove_deep(root)
    root.rmdir()


def test_job_fails_if_the_drop_is_nested_2100_folders_deep(tmp_path, deep_root):
    drop = tmp_path / "drop"
    files = make_drop(drop, clips=3, blobs=0, duplicate=False)
    placed = _deep_tree(deep_root, 2100, {1000: files[1].read_bytes(), 2100: files[2].read_bytes()})
    files[1].unlink()
    files[2].unlink()
    assert len(os.fsencode(str(placed[-1]))) > 4096          # longer than one system call takes
    archive, config = tmp_path / "archive", _toml(tmp_path / "c.toml")
    args = ["ingest", str(drop), str(deep_root), "--archive", str(archive), "--config", str(config), "--quiet"]
    assert cli(args) == 0
    sightings = {s["source_path"]: s for s in table(archive, "sightings")}
    assert sorted(sightings) == sorted(map(str, [files[0], *placed]))
    assert all(s["status"] == "ok" for s in sightings.values())
    by_sha = {r["sha256"]: r for r in table(archive, "recordings")}
    for path, level in zip(placed, (1000, 2100)):
        row = by_sha[sightings[str(path)]["sha256"]]
        assert row["device_id"] == f"BWC{level:04d}" and row["kind"] == "video"
        assert (archive / row["archive_path"]).read_bytes() == _bytes(path)
    assert_verifies(archive)
    before = _counts(archive)
    assert cli(args) == 0
    assert _counts(archive) == before


# -- 7. links out of the drop ---------------------------------------------------------------------------

def test_job_fails_if_a_link_leads_out_of_the_drop(tmp_path):
    drop = tmp_path / "drop"
    files = make_drop(drop, clips=2, blobs=1, duplicate=False)
    secret = tmp_path / "etc" / "ledger.key"
    secret.parent.mkdir()
    secret.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot for the archive\n-----END PRIVATE KEY-----\n")
    secret.chmod(0o600)
    leak = drop / "BWC0042_OF0042_20260301100000.MP4"
    leak.symlink_to(secret)
    inside = drop / "same_clip_by_link.MP4"
    inside.symlink_to(files[0].name)                          # a link that stays in the drop is read
    archive, config = tmp_path / "archive", _toml(tmp_path / "c.toml")
    assert _ingest(drop, archive, config) == 0
    assert_the_rest_is_whole(archive, files)
    row = assert_one_row(archive, leak, status="unreadable", failure="link_out", stored=False,
                         words=f"symbolic link to a file outside the source folders ({secret}): not followed")
    assert row["link_target"] == str(secret)
    assert sha256(secret) not in {r["sha256"] for r in table(archive, "recordings")}
    assert not any(p.read_bytes() == secret.read_bytes() for p in (archive / "objects").rglob("*") if p.is_file())
    (followed,) = _sightings_of(archive, inside)
    assert followed["sha256"] == sha256(files[0]) and followed["link_target"] == files[0].name
    assert_verifies(archive)
    before = _counts(archive)
    assert _ingest(drop, archive, config) == 0
    assert _counts(archive) == before

    # A dock that uses links says so; what is stored is still not everyone's to read.
    assert _ingest(drop, archive, config, "--follow-links") == 0
    stored = [s for s in _sightings_of(archive, leak) if s["sha256"]]
    assert [s["sha256"] for s in stored] == [sha256(secret)]
    objects = [p for p in (archive / "objects").rglob("*") if p.is_file() and ".tmp" not in p.parts]
    assert objects and all(stat.S_IMODE(p.stat().st_mode) == 0o440 for p in objects)
    assert_verifies(archive)


# -- 8. a file that is no media ---------------------------------------------------------------------------

def test_job_fails_if_a_file_is_no_media(tmp_path):
    drop = tmp_path / "drop"
    files = make_drop(drop, clips=2, blobs=0, duplicate=False)
    sparse = drop / "BWC0005_OF0005_20260301100500.MP4"        # a recorder's file of zeros, sparse
    with open(sparse, "wb") as fh:
        fh.truncate(64 << 20)
    log = drop / "DEVICE.LOG"
    log.write_text("battery 87%\nfirmware 4.2\n")
    archive, config = tmp_path / "archive", _toml(tmp_path / "c.toml")
    assert _ingest(drop, archive, config) == 0
    assert_the_rest_is_whole(archive, files + [log])
    row = assert_one_row(archive, sparse, status="damaged", failure=None, stage="demux", stored=True,
                         words="named as media (.mp4) but not a recognised media file")
    assert row["kind"] == "other" and row["size"] == 64 << 20
    (kept,) = [r for r in table(archive, "recordings") if r["source_name"] == "DEVICE.LOG"]
    assert (kept["kind"], kept["status"], kept["error_stage"]) == ("other", "ok", None)
    assert "not a recognised media file" in kept["error_message"]
    assert_verifies(archive)
    before = _counts(archive)
    assert _ingest(drop, archive, config) == 0
    assert _counts(archive) == before


# -- all of it at once: 200 files, 20 of them bad, on 2 workers of each engine --------------------------

@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_drop_of_200_files_with_20_bad_ones_finishes_with_a_row_each(tmp_path, unprivileged, deep_root):
    drop, archive = tmp_path / "drop", tmp_path / "archive"
    good = []
    for seed in range(20):
        good += make_drop(drop / f"dock{seed:02d}", clips=9, blobs=0, seed=seed, duplicate=False)
    hooked = make_drop(drop / "dock90", clips=6, blobs=0, seed=90, duplicate=False)
    denied = make_drop(drop / "dock91", clips=0, blobs=3, seed=91, duplicate=False)
    for f in denied:
        f.chmod(0)
    odd = []
    for i, f in enumerate(make_drop(drop / "dock92", clips=3, blobs=0, seed=92, duplicate=False)):
        target = Path(os.fsdecode(os.fsencode(f.parent) + b"/\xc4\xe3\xba\xc3_%d.MP4" % i))
        os.rename(f, target)
        odd.append(target)
    deep_clips = make_drop(tmp_path / "deep_src", clips=2, blobs=0, seed=93, duplicate=False)
    deep = _deep_tree(deep_root, 2100, {1500: deep_clips[0].read_bytes(), 2100: deep_clips[1].read_bytes()})
    fifos = [drop / "dock94" / f"BWC9400_OF0001_2026030110000{i}.MP4" for i in range(2)]
    fifos[0].parent.mkdir()
    for f in fifos:
        os.mkfifo(f)
    secret = tmp_path / "private" / "ledger.key"
    secret.parent.mkdir()
    secret.write_bytes(b"-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n")
    secret.chmod(0o600)
    links = [drop / "dock95" / "BWC9500_OF0001_20260301100000.MP4", drop / "dock95" / "hosts.MP4"]
    links[0].parent.mkdir()
    links[0].symlink_to(secret)
    links[1].symlink_to("/etc/hosts")
    no_media = [drop / "dock96" / "BWC9600_OF0001_20260301100000.MP4", drop / "dock96" / "BWC9600_OF0001_20260301100100.AVI"]
    no_media[0].parent.mkdir()
    with open(no_media[0], "wb") as fh:
        fh.truncate(16 << 20)
    # random bytes libav refuses: about one random 300 kB file in 35 opens as h263 or lrc (which
    # made this test fail now and then with os.urandom); this seed's is refused
    no_media[1].write_bytes(random.Random(0).randbytes(300_000))
    hooked = [faulty(f, *fault) for f, fault in zip(hooked, [("thumbnails", "raise"), ("demux", "raise"),
              ("thumbnails", "abort"), ("checksum", "kill"), ("demux", "hang"), ("checksum", "hang")])]
    bad = [*hooked, *denied, *odd, *deep, *fifos, *links, *no_media]
    assert len(good) == 180 and len(bad) == 20
    config = _toml(tmp_path / "c.toml", time_budget_s=5.0, worker_retries=0)
    args = (str(drop), str(deep_root), "--archive", str(archive), "--config", str(config))

    t0 = time.monotonic()
    summary = unprivileged(*args)
    first_s = time.monotonic() - t0
    assert summary["files_seen"] == 200 and summary["cluster_cpus"] == 2, summary
    assert_the_rest_is_whole(archive, good + odd + deep)
    bad_names = {os.fsencode(f.name) for f in bad}
    surprises = [(r["source_name"], r["status"], r["error_message"]) for r in table(archive, "recordings")
                 if r["status"] != "ok" and r["source_name_bytes"] not in bad_names]
    assert not surprises
    assert sum(1 for r in table(archive, "recordings") if r["status"] == "ok") == 180 + len(odd) + len(deep)
    expected = {    # file: (status, failure, stage, stored, words)
        hooked[0]: ("damaged", "stage_error", "thumbnails", True, "the thumbnails stage failed"),
        hooked[1]: ("damaged", "stage_error", "demux", True, "the demux stage failed"),
        hooked[2]: ("damaged", "worker_died", "thumbnails", True, "the worker process died"),
        hooked[3]: ("unreadable", "worker_died", "checksum", False, "the worker process died"),
        hooked[4]: ("damaged", "timed_out", "demux", True, "timed out"),
        hooked[5]: ("unreadable", "timed_out", "checksum", False, "timed out"),
        **{f: ("unreadable", "read_error", "checksum", False, "Permission denied") for f in denied},
        **{f: ("unreadable", "not_a_file", None, False, "a FIFO (named pipe)") for f in fifos},
        **{f: ("unreadable", "link_out", None, False, "outside the source folders") for f in links},
        **{f: ("damaged", None, "demux", True, "not a recognised media file") for f in no_media},
    }
    for f, (status, failure, stage, stored, words) in expected.items():
        assert_one_row(archive, f, status=status, failure=failure, stage=stage, stored=stored, words=words)
    assert len(table(archive, "sightings")) == 200
    assert_verifies(archive)

    before = _counts(archive)
    again = unprivileged(*args)
    assert _counts(archive) == before and again["files_new"] == 0

    for f in denied:
        f.chmod(0o644)
    fixed = unprivileged(*args)
    assert fixed["files_new"] == len(denied) and fixed["files_by_status"].get("ok") == len(denied)
    assert len(table(archive, "recordings")) == before["recordings"] + len(denied)
    assert_the_rest_is_whole(archive, good + odd + deep)
    assert_verifies(archive)
    print(f"200-file drop, 20 bad, 2 workers ({unprivileged.engine}): first run {first_s:.1f} s")
