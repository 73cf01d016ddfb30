"""The two engines behind the one runner interface: which one runs, what each opens on the network,
the local pool's own guarantees (resources, stopping, errors), Ray's spread over nodes, and that
Ray is imported only when it is the engine."""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from pipeline.cli import main as cli
from pipeline.common.errors import ArchiveWriteError
from pipeline.runs import engines, supervise
from pipeline.runs.localpool import LocalPool
from tests.drops import make_drop
from tests.helpers import faulty, python_prints

REPO = Path(__file__).resolve().parents[1]


# -- which engine runs ------------------------------------------------------------------------------

@pytest.mark.parametrize("engine,address,env,expected", [
    pytest.param(None, None, None, "local", id="default-local"),
    pytest.param("ray", None, None, "ray", id="ray-asked-for"),
    pytest.param(None, "head:6379", None, "ray", id="address-means-ray"),
    pytest.param(None, None, "head:6379", "ray", id="RAY_ADDRESS-means-ray"),
    pytest.param("local", None, "head:6379", "local", id="local-asked-for-beats-RAY_ADDRESS"),
])
def test_the_engine_a_run_uses(monkeypatch, engine, address, env, expected):
    if env:
        monkeypatch.setenv("RAY_ADDRESS", env)
    assert engines.engine_for(engine, address) == expected


def test_job_fails_if_the_local_engine_is_given_a_cluster_address(tmp_path, capsys):
    make_drop(tmp_path / "drop", clips=0, blobs=1, duplicate=False)
    code = cli(["ingest", str(tmp_path / "drop"), "--archive", str(tmp_path / "a"), "--engine", "local",
                "--address", "head:6379"])
    assert code == 2 and "--engine local runs on this machine alone" in capsys.readouterr().err
    assert not (tmp_path / "a" / "catalog").exists()


@pytest.mark.parametrize("command", ["ingest", "verify", "transcode"])
def test_job_fails_if_the_engine_is_unknown_or_workers_below_one(tmp_path, capsys, command):
    make_drop(tmp_path / "drop", clips=0, blobs=1, duplicate=False)
    (tmp_path / "a" / "catalog").mkdir(parents=True)
    head = {"ingest": ["ingest", str(tmp_path / "drop")], "verify": ["verify"],
            "transcode": ["transcode", "--missing"]}[command]
    with pytest.raises(SystemExit) as exit_:
        cli([*head, "--archive", str(tmp_path / "a"), "--engine", "spark"])
    assert exit_.value.code == 2 and "invalid choice: 'spark'" in capsys.readouterr().err
    assert cli([*head, "--archive", str(tmp_path / "a"), "--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err


# -- what each engine opens on the network ----------------------------------------------------------

def _unix_listeners() -> set[int]:
    """Inodes of listening Unix sockets (flag __SO_ACCEPTCON in /proc/net/unix)."""
    out = set()
    with open("/proc/net/unix") as fh:
        next(fh)
        for line in fh:
            fields = line.split()
            if int(fields[3], 16) & 0x10000:
                out.add(int(fields[6]))
    return out


def _sockets(tree: list[psutil.Process]) -> tuple[set, set, set]:
    """(inet listeners as (ip, port), any inet socket as (pid, laddr), listening Unix sockets as pid)."""
    listeners, inet, unix = set(), set(), set()
    accepting = _unix_listeners()
    for p in tree:
        try:
            for c in p.net_connections(kind="inet"):
                inet.add((p.pid, c.laddr))
                if c.status == psutil.CONN_LISTEN:
                    listeners.add((c.laddr.ip, c.laddr.port))
            for fd in os.listdir(f"/proc/{p.pid}/fd"):
                target = os.readlink(f"/proc/{p.pid}/fd/{fd}")
                if target.startswith("socket:[") and int(target[8:-1]) in accepting:
                    unix.add((p.pid, target))
        except (psutil.Error, OSError):
            continue
    return listeners, inet, unix


def _watch_a_run(tmp_path: Path, *engine: str) -> tuple[set, set, set, int]:
    """Run `fieldrec ingest` on a drop with one file that hangs past its 2 s budget (so workers are
    up for seconds) and sample the sockets of its whole process tree until it ends."""
    drop = tmp_path / "drop"
    clips = make_drop(drop, clips=2, blobs=2, duplicate=False)
    faulty(clips[0], "demux", "hang")
    config = tmp_path / "c.toml"
    config.write_text("[ingest]\nfsync = false\ntime_budget_s = 2.0\n")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "ingest", str(drop), "--archive",
                             str(tmp_path / "archive"), "--config", str(config), "--json", *engine],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    listeners, inet, unix, most = set(), set(), set(), 0
    driver = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            tree = [driver, *driver.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        most = max(most, len(tree))
        found = _sockets(tree)
        listeners |= found[0]
        inet |= found[1]
        unix |= found[2]
        time.sleep(0.05)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    assert json.loads(out)["files_by_status"]["damaged"] == 1          # the hung file, timed out
    return listeners, inet, unix, most


@pytest.mark.slow
def test_the_local_engine_opens_no_socket_at_all(tmp_path):
    listeners, inet, unix, most = _watch_a_run(tmp_path)
    assert most >= 3, "the driver and its workers were never seen"
    assert not listeners and not inet, f"network sockets during a local run: {inet}"
    assert not unix, f"listening Unix sockets during a local run: {unix}"


@pytest.mark.slow
def test_a_private_ray_instance_listens_on_the_loopback_only(tmp_path):
    listeners, _inet, _unix, _most = _watch_a_run(tmp_path, "--engine", "ray")
    assert listeners, "Ray's servers were never seen listening"
    outside = {(ip, port) for ip, port in listeners
               if not ipaddress.ip_address(ip.removeprefix("::ffff:")).is_loopback}
    assert not outside, f"listening beyond the loopback: {outside}"


# -- the local pool's own guarantees ------------------------------------------------------------------

def _events(pool: LocalPool, handles: list, until: float = 30.0) -> dict:
    """Every event of ``handles`` until each has ended or died."""
    seen: dict = {h: [] for h in handles}
    open_ = set(handles)
    end = time.monotonic() + until
    while open_ and time.monotonic() < end:
        for handle, event in pool.poll_tasks(list(open_), 0.5):
            seen[handle].append(event)
            if isinstance(event, (supervise.Ended, supervise.Died)):
                open_.discard(handle)
    assert not open_, f"tasks still open: {open_}"
    return seen


@pytest.fixture
def pool():
    made = LocalPool(2, preload=("tests.engine_tasks",))
    yield made
    made.shutdown()


def test_a_worker_serves_tasks_while_it_still_imports_what_it_preloads(tmp_path, monkeypatch):
    """The preload is imported by a thread: a task that does not need it runs meanwhile (here the
    preload can only finish once a task has run: a worker that imported before serving would hang)."""
    from tests.engine_tasks import open_gate

    monkeypatch.setenv("FIELDREC_TEST_GATE", str(tmp_path / "gate"))
    gated = LocalPool(1, preload=("tests.gated_import",))
    try:
        handle = gated.submit_task(open_gate, ["x"], None, None)
        events = _events(gated, [handle], until=20.0)[handle]
        assert [e.result for e in events if isinstance(e, supervise.Finished)] == [False]
    finally:
        gated.shutdown()


def test_a_files_copy_needs_none_of_the_decoders():
    """The per-file pass and its copy stage import no PyAV, numpy or Pillow: a worker's first copy
    is written while its preload thread imports those (the later stages wait for them)."""
    script = ("import sys; from pipeline.runs import perfile; perfile.stage_at(0); "
              "print(sorted(m for m in ('av', 'numpy', 'PIL') if m in sys.modules)); "
              "print([s.name for s in perfile.stages()] == [m.rsplit('.', 1)[1] for m in perfile.STAGE_MODULES])")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["[]", "True"]


def test_a_task_asking_for_every_cpu_runs_alone(pool, tmp_path):
    from tests.engine_tasks import stamp

    wide = pool.submit_task(stamp, [("wide", 0.4)], str(tmp_path), None, cpus=2.0)
    narrow = [pool.submit_task(stamp, [(f"n{i}", 0.2)], str(tmp_path), None) for i in range(2)]
    _events(pool, [wide, *narrow])
    spans = {name: tuple(map(float, (tmp_path / name).read_text().split())) for name in ("wide", "n0", "n1")}
    start, end = spans["wide"]
    assert all(s >= end for s, _e in (spans["n0"], spans["n1"])), spans      # nothing beside the wide one
    assert spans["n0"][0] < spans["n1"][1] and spans["n1"][0] < spans["n0"][1], spans  # the narrow ones together


def test_a_killed_worker_is_reported_with_its_signal_and_replaced(pool, tmp_path):
    from tests.engine_tasks import kill_myself, stamp

    doomed = pool.submit_task(kill_myself, ["x"], None, None)
    events = _events(pool, [doomed])[doomed]
    assert isinstance(events[-1], supervise.Died) and "SIGKILL" in events[-1].detail
    after = pool.submit_task(stamp, [("after", 0.0)], str(tmp_path), None)
    assert isinstance(_events(pool, [after])[after][-1], supervise.Ended)
    assert len(pool.workers) <= 2


def test_a_task_handed_to_a_worker_killed_while_idle_runs_on_a_fresh_one(pool, tmp_path):
    """A worker killed between tasks (the test of the faults kills every worker it sees): handing it
    the next task breaks its pipe. The task goes to a fresh worker instead of a BrokenPipeError
    ending the run."""
    from tests.engine_tasks import stamp

    pool.grow(2)
    for worker in pool.workers:
        worker.process.kill()
        worker.process.wait()
    handles = [pool.submit_task(stamp, [(f"t{i}", 0.0)], str(tmp_path), None) for i in range(3)]
    events = _events(pool, handles)
    assert all(isinstance(events[h][-1], supervise.Ended) for h in handles), events
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t0", "t1", "t2"]
    assert len(pool.workers) == 2 and all(w.process.poll() is None for w in pool.workers)


def test_a_cancelled_task_stops_at_once(pool, tmp_path):
    from tests.engine_tasks import stamp

    slow = pool.submit_task(stamp, [("slow", 60.0)], str(tmp_path), None)
    end = time.monotonic() + 30
    while not any(isinstance(e, supervise.Started) for _h, e in pool.poll_tasks([slow], 0.2)):
        assert time.monotonic() < end
    victim = pool.running[slow].process
    pool.cancel_task(slow)
    assert victim.poll() is not None
    queued = [pool.submit_task(stamp, [(f"q{i}", 60.0)], str(tmp_path), None) for i in range(3)]
    pool.cancel_task(queued[2])                          # never started: simply dropped from the queue
    assert [t.handle for t in pool.queue] == []          # both others run (2 CPUs)
    for h in queued[:2]:
        pool.cancel_task(h)
    assert not pool.running


def test_an_archive_error_in_a_worker_reaches_the_driver_with_its_errno(pool):
    from tests.engine_tasks import archive_full

    handle = pool.submit_task(archive_full, ["x"], None, None)
    with pytest.raises(ArchiveWriteError) as raised:
        _events(pool, [handle])
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == "/archive/objects/.tmp/x"


def test_workers_see_the_environment_the_driver_names(pool, monkeypatch):
    from tests.engine_tasks import env_of

    monkeypatch.setenv("FIELDREC_ENGINE_PROBE", "seen")
    handle = pool.submit_task(env_of, ["FIELDREC_ENGINE_PROBE"], None, None, env={"FIELDREC_ENGINE_PROBE": "seen"})
    events = _events(pool, [handle])[handle]
    assert [e.result for e in events if isinstance(e, supervise.Finished)] == ["seen"]


# -- Ray's spread over nodes ----------------------------------------------------------------------------

def test_ray_tasks_go_to_the_least_loaded_node_that_can_run_them():
    from pipeline.runs.rayengine import Spread

    def node(name, cpus, **extra):
        return {"NodeID": name, "Alive": True, "Resources": {"CPU": cpus, **extra}}

    nodes = [node("head", 1.0), node("second", 1.0), node("big", 2.0, transcode=1.0)]
    spread = Spread({"num_cpus": 1}, nodes=lambda: nodes)
    first = [spread.take() for _ in range(8)]
    assert {n: first.count(n) for n in set(first)} == {"head": 2, "second": 2, "big": 4}
    spread.give_back("head")
    assert spread.take() == "head"
    only = Spread({"num_cpus": 1, "resources": {"transcode": 1}}, nodes=lambda: nodes)
    assert {only.take() for _ in range(3)} == {"big"}
    assert Spread({"num_cpus": 4}, nodes=lambda: nodes).take() is None      # no node big enough: Ray decides


def test_ray_spread_sees_a_node_that_joins_later():
    from pipeline.runs import rayengine
    from pipeline.runs.rayengine import Spread

    now = [0.0]
    nodes = [{"NodeID": "head", "Alive": True, "Resources": {"CPU": 1.0}}]
    spread = Spread({"num_cpus": 1}, nodes=lambda: list(nodes), clock=lambda: now[0])
    assert {spread.take() for _ in range(3)} == {"head"}
    nodes.append({"NodeID": "late", "Alive": True, "Resources": {"CPU": 1.0}})
    now[0] += rayengine.NODES_REFRESH_S + 1
    assert spread.take() == "late"


# -- start-up: Ray only when it is the engine ------------------------------------------------------------

def test_a_local_run_never_imports_ray_nor_the_media_libraries_in_its_driver(tmp_path):
    """Ray only for the Ray engine; PyAV (and its codecs) only in the workers, whose CPUs the
    driver would otherwise compete for while they start."""
    make_drop(tmp_path / "drop", clips=1, blobs=1, duplicate=False)
    script = ("import sys, json; from pathlib import Path; from pipeline.config import load_config; "
              "from pipeline.cli import main; from pipeline.runs.ingest import ingest; from pipeline.runs import verify; "
              f"s = ingest([Path({str(tmp_path / 'drop')!r})], Path({str(tmp_path / 'a')!r}), load_config(), progress=False); "
              f"r = verify.verify(Path({str(tmp_path / 'a')!r}), load_config()); "
              "print(json.dumps([s.engine, dict(s.by_status), r.ok, sorted({'ray', 'av'} & set(sys.modules))]))")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    engine, statuses, verified, imported = json.loads(done.stdout.strip().splitlines()[-1])
    assert (engine, statuses, verified) == ("local", {"ok": 2}, True)
    assert imported == []


def test_the_machine_name_is_where_a_local_file_was_processed(tmp_path, fast_config):
    from tests.helpers import ingest, table

    make_drop(tmp_path / "drop", clips=1, blobs=0, duplicate=False)
    ingest([tmp_path / "drop"], tmp_path / "a", fast_config)
    assert {r["processed_on"] for r in table(tmp_path / "a", "recordings")} == {socket.gethostname()}
    (run,) = table(tmp_path / "a", "runs")
    assert (run["engine"], run["ray_address"]) == ("local", None)


def test_the_command_line_is_parsed_before_any_heavy_module_is_imported():
    """`fieldrec ... --help` and every command's parsing import no media, Arrow or Ray module: the
    local engine's workers start (and import those) while the driver loads them."""
    heavy = ("ray", "pyarrow", "numpy", "av", "duckdb", "PIL")
    script = ("import sys, json; import pipeline.cli as c; c.build_parser(); "
              f"print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_a_one_file_ingest_imports_what_it_needs_when_it_needs_it(tmp_path):
    """A one-file ingest into a new archive without a signing key: its driver never imports
    cryptography (signing), another command's module nor numpy.ma (the worker's keyframe columns
    arrive without it), and it has imported neither DuckDB nor Arrow's compute and datasets before
    it has read its settings (the workers are started then): a thread imports those from the
    moment the run opens, while the driver waits on the disk and on its worker."""
    make_drop(tmp_path / "drop", clips=1, blobs=0, duplicate=False)
    script = ("import sys, json; from pipeline.cli import main; from pipeline.runs import localpool; "
              "heavy = ('duckdb', 'pyarrow.compute', 'pyarrow.dataset', 'pipeline.records.gaprefresh'); "
              "found = []; grow = localpool.LocalRunner.grow; "
              "localpool.LocalRunner.grow = lambda self, n: (found.append(sorted(m for m in heavy if m in sys.modules)), "
              "grow(self, n))[1]; "
              f"code = main(['ingest', {str(tmp_path / 'drop')!r}, '--archive', {str(tmp_path / 'a')!r}, '--quiet', "
              "'--engine', 'local']); "
              "never = sorted(m for m in sys.modules if m.startswith('cryptography') or m == 'numpy.ma' "
              "or (m.startswith('pipeline.commands.') and m not in ('pipeline.commands.ingest', 'pipeline.commands.options'))); "
              "print(json.dumps([code, found, never, 'duckdb' in sys.modules]))")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    code, found, never, duckdb_at_the_end = json.loads(done.stdout.strip().splitlines()[-1])
    # grow: once by the command (before the settings are read), once per file found by the walk
    assert (code, never, duckdb_at_the_end) == (0, [], True)
    assert len(found) == 2 and found[0] == [], found


def test_the_workers_import_no_arrow_and_their_rows_arrive_as_arrow_tables():
    """A worker's per-file pass imports no Arrow (a twentieth of a second of its start): a stage's
    columns (``contract.Columns``) cross the pipe and arrive as the Arrow table of their schema."""
    import pickle

    import pyarrow as pa

    from catalog.schema import KEYFRAMES
    from pipeline.runs.perfile import WORKER_MODULES

    script = ("import sys, pickle, numpy as np; import pipeline.runs.localpool; "
              f"[__import__(m) for m in {WORKER_MODULES!r}]; "
              "from pipeline.stages.contract import Columns; "
              "rows = Columns('keyframes', [{'sha256': ['a' * 64] * 2, 'stream_index': np.full(2, 1, np.int32), "
              "'pts_s': np.array([0.0, 2.5]), 'byte_pos': np.array([48, 9000]), 'size': np.array([10, 20])}, "
              "{'sha256': ['a' * 64], 'stream_index': np.full(1, 3, np.int32), 'pts_s': np.array([1.5]), "
              "'byte_pos': np.array([7]), 'size': np.array([5])}]); "
              "assert rows.num_rows == 3; "
              "sys.stdout.write(pickle.dumps((rows, 'pyarrow' in sys.modules)).hex())")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    table, arrow_in_worker = pickle.loads(bytes.fromhex(done.stdout))
    assert arrow_in_worker is False
    expected = pa.concat_tables([
        pa.table({"sha256": ["a" * 64] * 2, "stream_index": pa.array([1, 1], pa.int32()),
                  "pts_s": [0.0, 2.5], "byte_pos": [48, 9000], "size": [10, 20]}, schema=KEYFRAMES),
        pa.table({"sha256": ["a" * 64], "stream_index": pa.array([3], pa.int32()), "pts_s": [1.5], "byte_pos": [7],
                  "size": [5]}, schema=KEYFRAMES)])
    assert isinstance(table, pa.Table) and table.equals(expected) and table.num_rows == 3
    assert [c.num_chunks for c in table.columns] == [2] * 5           # one chunk per stream, as before


@pytest.mark.parametrize("n", [1, 2, 3, 4, 29, 30, 1001])
def test_the_stages_median_is_numpys_without_its_import_of_numpy_ma(n):
    """``stages.gaps.median`` gives exactly ``np.median``'s number (no NaN reaches it), without
    the NaN check that imports numpy.ma in a worker's first file."""
    import numpy as np

    from pipeline.stages.gaps import median

    rng = np.random.default_rng(n)
    for values in (rng.random(n) * 0.04, np.full(n, 1 / 30), np.round(rng.random(n), 2) + 0.01):
        assert median(values) == float(np.median(values))
    script = ("import sys, numpy as np; from pipeline.stages.gaps import frame_duration; "
              "frame_duration(np.arange(5.0), np.array([0.5, 0.5, np.nan, 0.25, 0.0])); "
              "frame_duration(np.array([0.0, 2.0, 1.0, 1.0]), np.full(4, np.nan)); "
              "print('numpy.ma' in sys.modules)")
    assert python_prints(script).strip() == "False"


def test_a_first_webp_thumbnail_loads_no_other_image_plugin():
    """The WebP encoder is registered with the thumbnail module: a worker's first WebP thumbnail
    does not make Pillow import its ~40 plugins (and the bytes are Pillow's WebP all the same)."""
    script = ("import sys, io; from PIL import Image; from pipeline.native.thumbs import encode; "
              "data = encode(Image.new('RGB', (160, 120), (200, 30, 30)), 'webp', 70); "
              "print(data[:4] == b'RIFF' and data[8:12] == b'WEBP', 'PIL.TiffImagePlugin' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False"]


def test_the_workers_started_early_import_the_per_file_pass():
    from pipeline.commands import ingest as command
    from pipeline.runs import perfile

    assert command.WORKER_MODULES == perfile.WORKER_MODULES


# -- starting workers before the walk ---------------------------------------------------------------


def _files(root: Path, n: int, depth: int = 0) -> Path:
    folder = root.joinpath(*(f"d{i}" for i in range(depth)))
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"f{i}.MP4").write_bytes(b"x")
    return root


@pytest.mark.parametrize("wanted, files, expected", [(0, 3, 0), (-1, 3, 0), (2, 0, 0), (2, 1, 1), (2, 5, 2),
                                                     (10 ** 9, 5, 5)],
                         ids=["zero", "negative", "empty", "one", "stops-at-wanted", "huge"])
def test_the_glance_counts_files_up_to_what_is_wanted(tmp_path, wanted, files, expected):
    from pipeline.runs.discover import files_at_least

    assert files_at_least([_files(tmp_path / "drop", files, depth=3)], wanted) == expected


def test_the_glance_looks_at_few_entries_and_never_fails(tmp_path):
    from pipeline.runs.discover import files_at_least

    drop = tmp_path / "drop"
    for i in range(50):
        (drop / f"empty{i:02d}").mkdir(parents=True)
    _files(drop / "zz", 3)
    assert files_at_least([drop], 2, entries=20) == 0                 # gave up before reaching the files
    assert files_at_least([drop], 2) == 2
    os.mkfifo(drop / "fifo")
    (drop / "loop").symlink_to(drop)                                  # links are not followed: no loop
    assert files_at_least([drop, tmp_path / "missing", drop / "zz" / "f0.MP4"], 10) == 4


@pytest.mark.parametrize("expected, started", [(0, 1), (1, 1), (2, 2), (10 ** 6, 2)],
                         ids=["none", "one", "two", "huge"])
def test_the_local_engine_starts_a_worker_per_expected_task_up_to_its_cpus(expected, started):
    runner = engines.start("local", None, 2, preload=("tests.engine_tasks",), expected_tasks=expected)
    try:
        assert len(runner.pool.workers) == started
    finally:
        runner.close()


def test_an_ingest_of_several_files_starts_its_workers_before_the_walk(tmp_path, monkeypatch, fast_config):
    """The command starts as many workers as the glance finds files (up to --workers), before the
    run imports or reads anything; one file, one worker."""
    from pipeline.runs import localpool

    counts = []
    real = localpool.LocalRunner.__init__

    def spy(self, workers=None, *, preload=(), expected_tasks=1):
        counts.append(expected_tasks)
        real(self, workers, preload=preload, expected_tasks=expected_tasks)

    monkeypatch.setattr(localpool.LocalRunner, "__init__", spy)
    drop, one = _files(tmp_path / "drop", 3, depth=2), _files(tmp_path / "one", 1)
    assert cli(["ingest", str(drop), "--archive", str(tmp_path / "a"), "--workers", "2", "--quiet"]) == 0
    assert cli(["ingest", str(one), "--archive", str(tmp_path / "b"), "--workers", "2", "--quiet"]) == 0
    assert counts == [2, 1]


def test_workers_never_import_a_pipeline_package_from_the_folder_fieldrec_runs_in(tmp_path):
    """`fieldrec ingest` started in a folder that holds a `pipeline/` of someone else's: the
    driver (an installed script) and its workers import fieldrec from where it is installed; a
    worker started with `python -c` had the current folder first on its path and ran that code."""
    planted = tmp_path / "here" / "pipeline"
    planted.mkdir(parents=True)
    marker = tmp_path / "planted-code-ran"
    (planted / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    make_drop(tmp_path / "drop", clips=1, blobs=3, duplicate=False)
    done = subprocess.run([str(Path(sys.executable).parent / "fieldrec"), "ingest", str(tmp_path / "drop"),
                           "--archive", str(tmp_path / "a"), "--engine", "local", "--workers", "2", "--quiet"],
                          cwd=planted.parent, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not marker.exists(), "a worker imported the pipeline package of the current folder"
