"""Faults of real servers, each injected for real: killed processes, a full disk, two writers, a
source that changes while read. Afterwards the archive must verify and a re-run must finish it."""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from pipeline.runs import verify
from pipeline.cli import main as cli
from pipeline.config import load_config
from pipeline.archive.objects import ObjectStore
from pipeline.stages.checksum import store_source
from tests.drops import make_drop, sha256
from tests.helpers import faulty, ingest, table

REPO = Path(__file__).resolve().parents[1]
# Kill moments are drawn from this seed; set FIELDREC_FAULT_SEED to explore other moments.
SEED = int(os.environ.get("FIELDREC_FAULT_SEED", "20260301"))


def _config(**ingest_keys):
    config = load_config()
    return dataclasses.replace(config, ingest=dataclasses.replace(config.ingest, fsync=False, **ingest_keys))


def _toml(path: Path, **ingest_keys) -> Path:
    path.write_text("[ingest]\n" + "".join(f"{k} = {str(v).lower() if isinstance(v, bool) else v}\n"
                                           for k, v in ingest_keys.items()))
    return path


@pytest.fixture(scope="module")
def ray_address(ray_local) -> str:
    """The test session's Ray instance, for `fieldrec` subprocesses to join (no start-up per run)."""
    import ray

    return ray.get_runtime_context().gcs_address


def _fieldrec(*args: str, log: Path) -> subprocess.Popen:
    """`fieldrec ARGS` in a session of its own, so a private Ray it starts can be reaped with it."""
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    env.pop("RAY_ADDRESS", None)
    out = open(log, "ab")
    return subprocess.Popen([sys.executable, "-m", "pipeline.cli", *args], cwd=REPO, env=env, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True)


def _reap(proc: subprocess.Popen) -> None:
    """Kill whatever the killed driver left in its process group (a private Ray's daemons)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _is_local_worker(p: psutil.Process) -> bool:
    """A worker of the local engine."""
    from pipeline.runs.localpool import WORKER_MAIN

    return WORKER_MAIN in p.cmdline()


def _running_tasks() -> list[psutil.Process]:
    """Workers running an ingest task (Ray's) or able to (the local engine's), among this test
    session's own descendants only."""
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            if (p.cmdline() or [""])[0].startswith("ray::_run_batch") or _is_local_worker(p):
                out.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return out


def _wait_tasks_gone(timeout: float = 15) -> None:
    """A dead driver's workers are killed by Ray; the next run must not start beside them."""
    end = time.monotonic() + timeout
    while _running_tasks() and time.monotonic() < end:
        time.sleep(0.05)


def _activity(archive: Path) -> int:
    parts = archive / "catalog" / "sightings"
    tmp = archive / "objects" / ".tmp"
    return (len(os.listdir(parts)) if parts.is_dir() else 0) + (len(os.listdir(tmp)) if tmp.is_dir() else 0)


def assert_archive_whole(archive: Path, files: list[Path], config) -> None:
    """No duplicates, no orphans, no leftovers, every original byte-identical, and verify passes."""
    recordings, sightings = table(archive, "recordings"), table(archive, "sightings")
    shas = [r["sha256"] for r in recordings]
    assert len(shas) == len(set(shas)), "a content was cataloged twice"
    assert set(shas) == {sha256(f) for f in files}
    assert sorted(s["source_path"] for s in sightings) == sorted(str(f) for f in files), "one sighting per source"
    streams = [(s["sha256"], s["stream_index"]) for s in table(archive, "streams")]
    assert len(streams) == len(set(streams)) and {s for s, _ in streams} <= set(shas)
    stored = {str(p.relative_to(archive)) for p in (archive / "objects").rglob("*") if p.is_file()}
    assert stored == {r["archive_path"] for r in recordings}, "orphan objects or rows without an object"
    for r in recordings:
        assert sha256(archive / r["archive_path"]) == r["sha256"]
    leftovers = [p for p in archive.rglob(".*") if p.name != ".tmp"] + list((archive / "objects" / ".tmp").iterdir()) \
        + list((archive / "catalog" / "_journal").iterdir())
    assert not leftovers, f"half-written files left behind: {leftovers}"
    report = verify.verify(archive, config)
    assert report.ok, report.render()


@pytest.mark.slow
def test_sigkill_of_the_driver_at_random_moments(tmp_path, ray_address):
    """Five kills at seeded random moments, each run with new files to do; then one run to the end."""
    rng = random.Random(SEED)
    drop, archive = tmp_path / "drop", tmp_path / "archive"
    cfg = _toml(tmp_path / "c.toml", commit_every_files=1, task_max_files=2, fsync=True)
    files: list[Path] = []
    moments = []
    # Each engine in turn: the default local engine, the session's Ray joined by address, and a
    # private Ray instance (which dies with its driver through the watchdog).
    engines = [[], ["--address", ray_address], ["--engine", "ray"], [], ["--address", ray_address]]
    for rep, engine in enumerate(engines):
        files += make_drop(drop / f"dock{rep}", clips=2, blobs=5, blob_bytes=192 * 1024, seed=rep, duplicate=rep == 0)
        private_ray = engine == ["--engine", "ray"]
        before = _activity(archive)
        proc = _fieldrec("ingest", str(drop), "--archive", str(archive), "--config", str(cfg), "--quiet",
                         *engine, log=tmp_path / "log.txt")
        if rep % 2 == 0:                            # somewhere in start-up (lock, engine) or early work
            delay = rng.uniform(0.5, 4.0) if private_ray else rng.uniform(0.2, 2.5)
            time.sleep(delay)
            moments.append(f"{delay:.2f}s after start")
        else:                                       # while files are being stored and committed
            end = time.monotonic() + 60
            while _activity(archive) <= before and proc.poll() is None and time.monotonic() < end:
                time.sleep(0.01)
            delay = rng.uniform(0.0, 0.8)
            time.sleep(delay)
            moments.append(f"{delay:.2f}s into the work")
        os.kill(proc.pid, signal.SIGKILL)
        _reap(proc)
        _wait_tasks_gone()
    summary = ingest([drop], archive, _config(commit_every_files=1))      # the re-run, to the end
    assert summary.outcome == "finished" and summary.files_skipped + summary.files_new + summary.files_duplicate \
        == len(files), f"kills at {moments}"
    assert_archive_whole(archive, files, _config())
    assert ingest([drop], archive, _config()).files_skipped == len(files)
    assert len(table(archive, "sightings")) == len(files), f"a re-run added sightings (kills at {moments})"


@pytest.fixture(params=["local", "ray"])
def engine_args(request) -> list[str]:
    """How a `fieldrec` subprocess picks each engine: the default, or the session's Ray by address."""
    return [] if request.param == "local" else ["--address", request.getfixturevalue("ray_address")]


@pytest.mark.slow
def test_sigkill_of_workers_mid_task_is_retried(tmp_path, engine_args):
    """Workers are killed twice while a copy into the archive is half done; their tasks are split
    and their files run again."""
    files = make_drop(tmp_path / "drop", clips=2, blobs=8, blob_bytes=3 << 20, seed=7)
    cfg = _toml(tmp_path / "c.toml", task_max_files=1, chunk_bytes=65536, fsync=True, commit_every_files=2)
    archive = tmp_path / "archive"
    proc = _fieldrec("ingest", str(tmp_path / "drop"), "--archive", str(archive), "--config", str(cfg), "--quiet",
                     *engine_args, log=tmp_path / "log.txt")
    rng = random.Random(SEED + 1)
    copies = archive / "objects" / ".tmp"
    killed, half_copies = [], set()
    while proc.poll() is None and len(killed) < 2:
        tasks = _running_tasks()
        in_progress = set(os.listdir(copies)) if copies.is_dir() else set()
        if not tasks or not in_progress:
            time.sleep(0.002)
            continue
        for victim in tasks:                    # one of them is writing that copy: every task is retried
            try:
                victim.send_signal(signal.SIGKILL)
                killed.append(victim.pid)
            except psutil.NoSuchProcess:
                pass
        half_copies |= in_progress
        time.sleep(rng.uniform(0.3, 1.0))
    assert proc.wait(timeout=120) == 0, (tmp_path / "log.txt").read_text()[-3000:]
    assert killed, "the run ended before any worker could be killed: make the drop bigger"
    assert half_copies and not half_copies & set(os.listdir(copies)), "a killed worker's half copy was left"
    assert_archive_whole(archive, files, _config())


@pytest.mark.slow
def test_local_workers_die_with_their_driver(tmp_path):
    """The driver is killed with SIGKILL (the out-of-memory killer's way) while both its workers are
    stuck in a file (hung in a stage: they will not touch their pipes again): every process it
    started dies with it, at once, without anyone killing its process group."""
    drop = tmp_path / "drop"
    clips = make_drop(drop, clips=2, blobs=4, seed=8, duplicate=False)
    faulty(clips[0], "checksum", "hang")
    faulty(clips[1], "demux", "hang")
    archive = tmp_path / "archive"
    proc = _fieldrec("ingest", str(drop), "--archive", str(archive), "--config", str(_toml(tmp_path / "c.toml")),
                     "--quiet", "--workers", "2", log=tmp_path / "log.txt")
    driver, started = psutil.Process(proc.pid), []
    stored = archive / "objects"
    end = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < end:
        started = driver.children(recursive=True)
        if sum(_alive_worker(p) for p in started) == 2 and _hung_in_demux(stored):
            break
        time.sleep(0.01)
    assert proc.poll() is None, (tmp_path / "log.txt").read_text()[-2000:]
    time.sleep(0.5)                              # the other worker is in its hang too by now
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    try:
        _gone, alive = psutil.wait_procs(started, timeout=5)
        assert not alive, f"still running after their driver died: {[p.cmdline() for p in alive]}"
    finally:
        _reap(proc)


def _hung_in_demux(objects: Path) -> bool:
    """The clip that hangs in demux has been stored (its copy is in place)."""
    return objects.is_dir() and any(p.is_file() and ".tmp" not in p.parts for p in objects.rglob("*"))


def _alive_worker(p: psutil.Process) -> bool:
    try:
        return _is_local_worker(p)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


@pytest.fixture
def small_disk(tmp_path):
    """An 3 MiB tmpfs as the archive's disk (root only); grown later with ``grow()``."""
    mount = tmp_path / "archive"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")

    def grow() -> None:
        subprocess.run(["mount", "-o", "remount,size=64m", str(mount)], check=True)

    yield mount, grow
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_stops_cleanly_and_a_rerun_completes(tmp_path, small_disk, capsys):
    archive, grow = small_disk
    files = make_drop(tmp_path / "drop", clips=2, blobs=8, blob_bytes=640 * 1024, seed=9)
    cfg = _toml(tmp_path / "c.toml", commit_every_files=2, fsync=True)
    args = ["ingest", str(tmp_path / "drop"), "--archive", str(archive), "--config", str(cfg), "--quiet"]
    assert cli(args) == 1
    message = capsys.readouterr().err
    assert "No space left on device" in message and "free space on the archive's disk" in message
    assert "run the same command again" in message

    # Nothing half-written is visible: every stored object is whole, every catalog part readable.
    assert not list((archive / "objects" / ".tmp").iterdir())
    assert not [p for p in archive.rglob(".*") if p.name != ".tmp"]
    for obj in (p for p in (archive / "objects").rglob("*") if p.is_file()):
        assert sha256(obj) == obj.name
    assert all(r["outcome"] == "failed" for r in table(archive, "runs"))
    assert not (archive / "manifests").exists() or not list((archive / "manifests").iterdir())

    grow()
    assert cli(args) == 0
    assert_archive_whole(archive, files, _config())


@pytest.mark.slow
def test_two_ingests_at_once_are_serialised_never_corrupted(tmp_path):
    first = make_drop(tmp_path / "a", clips=2, blobs=6, seed=21)
    second = make_drop(tmp_path / "b", clips=2, blobs=6, seed=22)
    archive = tmp_path / "archive"
    cfg = _toml(tmp_path / "c.toml", commit_every_files=1)
    procs = [_fieldrec("ingest", str(src), "--archive", str(archive), "--config", str(cfg), "--quiet",
                       log=tmp_path / f"{src.name}.txt") for src in (tmp_path / "a", tmp_path / "b")]
    codes = [p.wait(timeout=120) for p in procs]
    logs = [(tmp_path / f"{n}.txt").read_text() for n in ("a", "b")]
    assert sorted(codes) in ([0, 0], [0, 1]), logs
    for code, log in zip(codes, logs):
        if code == 1:
            assert "is in use by another fieldrec process" in log and '"purpose": "ingest' in log, log
            assert "run this command again" in log
    for src, code in zip(("a", "b"), codes):
        if code:
            ingest([tmp_path / src], archive, _config())
    assert_archive_whole(archive, first + second, _config())


class Changer(threading.Thread):
    """Keeps changing a file (appending, or rewriting bytes in place) until stopped."""

    def __init__(self, path: Path, mode: str):
        super().__init__(daemon=True)
        self.path, self.mode, self.stop = path, mode, threading.Event()

    def run(self) -> None:
        n = 0
        with open(self.path, "r+b") as fh:
            while not self.stop.is_set():
                if self.mode == "append":
                    fh.seek(0, os.SEEK_END)
                    fh.write(os.urandom(512))
                else:
                    fh.seek(n * 4096 % (1 << 20))
                    fh.write(os.urandom(16))
                fh.flush()
                os.utime(self.path)             # a rewrite in place shows only in the mtime
                n += 1
                time.sleep(0.0005)


@pytest.mark.parametrize("mode", ["append", "rewrite-in-place"])
def test_source_changing_while_read_is_flagged(tmp_path, mode):
    source = tmp_path / "growing.MP4"
    source.write_bytes(os.urandom(4 << 20))
    store = ObjectStore(tmp_path / "archive", fsync=False).create()
    changer = Changer(source, mode)
    changer.start()
    try:
        stored = store_source(source, store, chunk_bytes=16 * 1024, retries=2)
    finally:
        changer.stop.set()
        changer.join()
    assert stored.changed_while_read and "source changed while being read" in stored.changed_while_read
    assert sha256(store.path(stored.digest.sha256)) == stored.digest.sha256     # what was read is what is kept
    assert not list(store.tmp.iterdir())


def test_source_that_changed_once_is_read_again(tmp_path):
    """The change lands during the first read only: the second read is stable and is what is kept."""
    for _attempt in range(5):
        source = tmp_path / "late_write.bin"
        source.write_bytes(os.urandom(24 << 20))
        store = ObjectStore(tmp_path / f"archive{_attempt}", fsync=False).create()
        landed = {}

        def change_mid_read() -> None:
            end = time.monotonic() + 10
            while not any(store.tmp.iterdir()) and time.monotonic() < end:
                time.sleep(0.0002)
            with open(source, "ab") as fh:
                fh.write(b"appended while the first copy was being made")
            landed["mid_read"] = any(store.tmp.iterdir())     # the first copy was still in progress

        thread = threading.Thread(target=change_mid_read)
        thread.start()
        stored = store_source(source, store, chunk_bytes=64 * 1024, retries=2)
        thread.join()
        if landed.get("mid_read"):
            break
    else:
        pytest.skip("could not land a write during the first read on this machine")
    assert stored.changed_while_read is None
    assert stored.digest.sha256 == sha256(source)          # the re-read saw the finished file


def test_changing_source_in_an_ingest_is_damaged_at_checksum(tmp_path):
    drop = tmp_path / "drop"
    files = make_drop(drop, clips=1, blobs=1, duplicate=False)
    growing = drop / "BWC0001_OF0001_20260301100000.MP4"
    # Every read (the first and its two re-reads) must overlap a change: a 32 MiB file in 16 KiB
    # chunks keeps each read long enough for the changer thread to get a CPU on a loaded machine.
    growing.write_bytes(files[0].read_bytes() + os.urandom(32 << 20))
    changer = Changer(growing, "append")
    changer.start()
    try:
        ingest([drop], tmp_path / "archive", _config(chunk_bytes=16 * 1024))
    finally:
        changer.stop.set()
        changer.join()
    rec = next(r for r in table(tmp_path / "archive", "recordings") if r["source_name"] == growing.name)
    assert rec["status"] == "damaged" and rec["error_stage"] == "checksum"
    assert "changed while being read" in rec["error_message"] and growing.name in rec["error_message"]
    sighting = next(s for s in table(tmp_path / "archive", "sightings") if s["source_path"] == str(growing))
    assert sighting["status"] == "damaged"
