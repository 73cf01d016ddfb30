"""The benchmark harness measures what it claims: whole-tree CPU time and byte-exact floor copies."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"

# A parent that ignores SIGCHLD (as Ray's raylet does) starts a child that burns 1 s of CPU: the
# kernel reaps the child, so rusage alone never sees that second.
BURN = """
import os, signal, subprocess, sys, time
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time\\nwhile time.process_time() < 1.0: pass"])
while os.path.exists(f"/proc/{child.pid}"):
    time.sleep(0.02)
"""

MEASURE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import measure
m = measure.run([sys.executable, "-c", sys.argv[2]], interval=0.05)
print(json.dumps({"cpu_s": m.cpu_s, "rc": m.returncode, "peak": m.peak_tree_mib, "source": m.cpu_source}))
"""


def test_cpu_of_children_reaped_by_the_kernel_is_counted():
    # Run in a child interpreter: measure.run makes its caller a subreaper, not for this session.
    out = subprocess.run([sys.executable, "-c", MEASURE, str(BENCH), BURN], capture_output=True, text=True,
                         check=True, timeout=120)
    m = json.loads(out.stdout)
    assert m["rc"] == 0
    assert m["source"].startswith("rusage")
    assert m["cpu_s"] >= 0.8, m          # at most one 0.05 s sample interval of the child is lost
    assert m["peak"] > 0


@pytest.mark.parametrize("direct", [[], ["--direct"]], ids=["page-cache", "direct-io"])
def test_floor_copies_every_byte_and_its_sha256(tmp_path, direct):
    src, dst = tmp_path / "drop", tmp_path / "out"
    files = {"dock01/A/a.MP4": b"a" * 5_000_000, "dock02/B/b.MP4": b"", "c.WAV": bytes(range(256)) * 99,
             "d.MP4": b"d" * (8 << 20)}
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    out = subprocess.run([sys.executable, str(BENCH / "floor.py"), str(src), str(dst), "--jobs", "2", *direct],
                         capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(out.stdout) == {"files": 4, "bytes": sum(len(d) for d in files.values())}
    for rel, data in files.items():
        assert (dst / rel).read_bytes() == data
        assert (dst / f"{rel}.sha256").read_text().strip() == hashlib.sha256(data).hexdigest()


@pytest.mark.slow
def test_scale_bench_smoke_times_every_command_on_a_compacted_synthetic_year(tmp_path):
    # bench/scale.py --smoke: a tiny synthetic catalog through the real writer, compacted, every
    # routine command run in its own process, one more nightly ingest refreshed incrementally.
    out = subprocess.run([sys.executable, str(BENCH / "scale.py"), "--smoke", "--work", str(tmp_path / "cache"),
                          "--out", str(tmp_path / "results")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "goals:" in out.stdout
    result = json.loads(next((tmp_path / "results").glob("scale-*.json")).read_text())
    assert result["built"]["recordings"] > 2000 and result["built"]["gaps"] > 0
    assert result["compact"]["rc"] == 0 and all(c["rc"] == 0 for c in result["commands"]), result["commands"]
    assert result["parts_before"]["recordings"] > 1 and result["parts_after"]["recordings"] == 1
    night = result["one_more_night"]
    assert night["refresh_mode"] == "incremental" and night["recordings"] > 0
    assert night["summary_gaps"]["found"] == night["summary_gaps"]["need"] + night["summary_gaps"]["free"]
    assert result["device_day"]["files_touched"] == 1
    # bench/one_night.py on that year: the night alone, and the night after the day's assignments
    # (the kept row cannot be carried past them: the summary carries the count made ahead, which is
    # timed apart; the counts are the same either way but for them)
    (cache,) = (tmp_path / "cache").glob("scale-*")
    out = subprocess.run([sys.executable, str(BENCH / "one_night.py"), "--cache", str(cache), "--night", "both"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    plain, assigned = (json.loads(line) for line in out.stdout.splitlines())
    assert (plain["night"], plain["assignments_added"]) == ("plain", 0)
    assert assigned["night"] == "assigned" and assigned["assignments_added"] > 0
    assert (plain["cpu_s"]["carried"], plain["cpu_s"]["from_ahead"]) == (True, False) and "ahead_s" in plain
    assert (assigned["cpu_s"]["carried"], assigned["cpu_s"]["from_ahead"]) == (True, True)
    for night in (plain, assigned):
        gaps = night["summary_gaps"]
        assert night["recordings"] > 0 and gaps["found"] == gaps["need"] + gaps["free"]


def test_stagetimes_times_every_stage_of_every_file_in_every_worker(tmp_path):
    from pipeline.sample.clips import ClipSpec
    from pipeline.sample.encode import write_clip

    for n in range(3):
        write_clip(tmp_path / "drop" / f"BWC1_OF1_2026030108000{n}_0001.MP4", ClipSpec(duration_s=1.0))
    out = subprocess.run([sys.executable, str(BENCH / "stagetimes.py"), "--", sys.executable, "-m", "pipeline.cli",
                          "ingest", str(tmp_path / "drop"), "--archive", str(tmp_path / "archive"), "--json",
                          "--engine", "local", "--workers", "2"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("3 files; wall ")
    timed = {line.split()[0]: int(line.split()[1]) for line in lines[2:8]}
    assert timed == {"checksum": 3, "demux": 3, "naming": 3, "gaps": 3, "thumbnails": 3, "publish": 3}
    workers = [line for line in lines if line.startswith("worker ")]
    assert sum(int(line.split()[2]) for line in workers) == 3


def test_boost_runs_the_command_to_its_end_and_returns_its_status():
    # Started as a group leader (as a shell's job is), setsid must fork: boost still waits for the
    # command and returns its exit status, and its output passes through.
    out = subprocess.run([str(BENCH / "boost.sh"), sys.executable, "-c",
                          "import time; time.sleep(0.3); print('done'); raise SystemExit(3)"],
                         capture_output=True, text=True, timeout=60, start_new_session=True)
    assert (out.returncode, out.stdout) == (3, "done\n"), out.stderr


AUTOGROUPS = Path("/proc/sys/kernel/sched_autogroup_enabled")
SCHEDULING = """
import json, sys
sys.path.insert(0, sys.argv[1])
import machine
print(json.dumps(machine.describe(__import__("pathlib").Path("."))["scheduling"]))
"""


def test_a_loaded_run_without_its_own_autogroup_priority_is_told_about_boost():
    sys.path.insert(0, str(BENCH))
    try:
        import report
    finally:
        sys.path.remove(str(BENCH))
    loaded = {"load_average": [3.0, 2.0, 1.0], "load_average_end": [2.5, 2.0, 1.0], "logical_cpus": 2}
    plain = report.load_notes({**loaded, "scheduling": {"nice": -15, "autogroups": True, "autogroup_nice": 0}})
    boosted = report.load_notes({**loaded, "scheduling": {"nice": -15, "autogroups": True, "autogroup_nice": -15}})
    assert any("bench/boost.sh" in n for n in plain)
    assert boosted == plain[:1] == ["note: the load average was high: other work shared the CPUs."]
    assert report.load_notes({**loaded, "load_average": [0.2] * 3, "load_average_end": [0.3] * 3}) == []


def test_machine_description_records_the_autogroup_boost_sets():
    if not AUTOGROUPS.exists() or AUTOGROUPS.read_text().strip() != "1":
        pytest.skip("no autogroups on this kernel")
    out = subprocess.run([str(BENCH / "boost.sh"), sys.executable, "-c", SCHEDULING, str(BENCH)],
                         capture_output=True, text=True, timeout=60, check=True)
    if "autogroup not changed" in out.stderr:
        pytest.skip("no permission to raise an autogroup's priority here")
    assert json.loads(out.stdout) == {"nice": -15, "autogroups": True, "autogroup_nice": -15}


def test_boost_sets_nice_minus_15_whatever_nice_it_was_started_at():
    # A caller at nice 10 (a test suite under `nice make test`): the command still runs at -15, not
    # 15 below the caller's (-5).
    out = subprocess.run(["nice", "-n", "10", str(BENCH / "boost.sh"), sys.executable, "-c",
                          "import os; print(os.nice(0))"], capture_output=True, text=True, timeout=60, check=True)
    if "nice not changed" in out.stderr:
        pytest.skip("no permission to lower a nice here")
    assert out.stdout.strip() == "-15"
