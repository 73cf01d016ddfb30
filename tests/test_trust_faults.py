"""Finding 8: the smaller holes, each attacked for real.

A read-only archive (a real read-only mount) gets a message, not a traceback; deleting
``fieldrec.lock`` while a writer holds the archive lets no second writer in (the lock is on the
archive folder itself); and a SIGKILLed ingest leaves no process of its private Ray behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests import trustkit
from tests.trustkit import archive, built  # noqa: F401  (fixtures: one ingested archive per module, a copy per test)
from tests.drops import make_drop

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def read_only(archive):
    """The archive behind a read-only bind mount (root), or without write permission (others)."""
    if os.geteuid() == 0:
        done = subprocess.run(["mount", "--bind", str(archive), str(archive)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot bind-mount here: {done.stderr.decode().strip()}")
        try:
            subprocess.run(["mount", "-o", "remount,bind,ro", str(archive)], check=True)
            yield archive
        finally:
            subprocess.run(["umount", str(archive)], check=False)
    else:
        for path in [archive, *archive.rglob("*")]:
            if path.is_dir():
                path.chmod(0o555)
        yield archive
        for path in [archive, *archive.rglob("*")]:
            if path.is_dir():
                path.chmod(0o755)


def test_writing_commands_on_a_read_only_archive_say_so(read_only, capsys, tmp_path):
    archive = read_only
    gap = trustkit.run(capsys, "gaps", "--archive", archive, "--format", "json")[1].split('"gap_id": "')[1][:16]
    before = trustkit.fingerprint(archive)
    for argv in (["case", "open", "C1", "--by", "Doe"],
                 ["device", "handover", "CAM1", "--to", "O2", "--at", "2026-03-01T09:00Z", "--by", "Desk"],
                 ["explain", gap, "--reason", "battery", "--by", "O1"],
                 ["config", "set", "retention.routine_months", "4", "--by", "X", "--reason", "Y"],
                 ["purge", "--approve", "D-1", "--by", "Clerk"],
                 ["quarantine", "--by", "X", "--reason", "Y"],
                 ["verify"],
                 ["ingest", trustkit.make_clips(tmp_path / "drop", trustkit.NAMES[:1], seed=3), "--quiet"]):
        code, _, err = trustkit.run(capsys, *argv, "--archive", archive)
        assert code == 1, (argv, err)
        assert "Traceback" not in err and ("read-only" in err or "not writable" in err), (argv, err)
    assert trustkit.fingerprint(archive) == before


def test_deleting_the_lock_note_lets_no_second_writer_in(archive, capsys):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\n"
                               "from pipeline.archive.lock import ArchiveLock\n"
                               f"with ArchiveLock({str(archive)!r}, 'ingest 20260301T000000Z-holder'):\n"
                               "    print('held', flush=True); time.sleep(60)\n"],
                              cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        (archive / "fieldrec.lock").unlink()              # the attack: remove the lock file
        before = trustkit.fingerprint(archive)
        code, _, err = trustkit.run(capsys, "case", "open", "C1", "--archive", archive, "--by", "Doe")
        assert code == 1 and "in use by another fieldrec process" in err
        assert trustkit.fingerprint(archive) == before
    finally:
        holder.kill()
        holder.wait()
    assert trustkit.run(capsys, "case", "open", "C1", "--archive", archive, "--by", "Doe")[0] == 0


def _left_of(session: int) -> list[str]:
    """Live processes of a killed driver's session, and its watchdog, on this machine."""
    out = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmdline = proc.info["cmdline"] or []
            if os.getsid(proc.pid) == session or cmdline[-2:] == ["pipeline.runs.reaper", str(session)]:
                out.append(f"{proc.pid} {' '.join(cmdline)[:80]}")
        except (ProcessLookupError, psutil.Error):
            pass
    return out


@pytest.mark.slow
def test_a_sigkilled_ingest_leaves_no_ray_process_behind(tmp_path):
    make_drop(tmp_path / "drop", clips=2, blobs=12, blob_bytes=2 << 20, seed=31)
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    env.pop("RAY_ADDRESS", None)
    archive = tmp_path / "archive"
    cfg = tmp_path / "c.toml"
    cfg.write_text("[ingest]\ntask_max_files = 1\nchunk_bytes = 65536\n")
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "ingest", str(tmp_path / "drop"), "--archive",
                             str(archive), "--quiet", "--workers", "2", "--config", str(cfg),
                             "--engine", "ray"],          # a private Ray: its watchdog is what is tested
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        end = time.monotonic() + 120                    # until its workers are storing files
        while proc.poll() is None and time.monotonic() < end and not any(
                "ray::" in " ".join(c.cmdline()) and "Agent" not in " ".join(c.cmdline())
                for c in psutil.Process(proc.pid).children(recursive=True) if c.is_running()):
            time.sleep(0.05)
        assert proc.poll() is None, "the ingest ended before it could be killed: make the drop bigger"
        assert _left_of(proc.pid), "no process of the run was found to begin with"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        end = time.monotonic() + 10                     # a short grace
        while _left_of(proc.pid) and time.monotonic() < end:
            time.sleep(0.1)
        assert not _left_of(proc.pid), _left_of(proc.pid)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)         # never leave a failed test's processes behind
        except ProcessLookupError:
            pass
