"""Where each worker's wall time goes, stage by stage: on a CPU, waiting for one, or blocked.

    .venv/bin/python bench/stagetimes.py -- .venv/bin/fieldrec ingest DROP --archive NEW --workers 2

Runs the command (a local-engine ingest) with a ``sitecustomize`` that times, in every process, each
per-file stage's ``run`` and the copy's ``publish``: wall time, and from the thread's
/proc/thread-self/schedstat its CPU time and its time runnable but not running. What is left of
the wall time, ``blocked``, is the stage waiting (a copy's writes, the keyframes' reads of the
copy, the fsync): the time a CPU may sit idle when no other work is there to run. Per worker it
also gives the gaps between files (waiting for the next task), and for the run the time before
the first file starts and after the last one ends. Nothing of fieldrec is changed.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOOK = r'''
import importlib.abc, importlib.util, json, os, sys, time

def _now():
    with open("/proc/thread-self/schedstat") as f:
        on_cpu, waited, _ = f.read().split()
    return time.monotonic(), int(on_cpu) / 1e9, int(waited) / 1e9

def _timed(record, name, fn, *args):
    t0 = _now()
    try:
        return fn(*args)
    finally:
        t1 = _now()
        record.setdefault(name, [0.0, 0.0, 0.0])
        record[name] = [r + b - a for r, a, b in zip(record[name], t0, t1)]

_file = {}

def _patch(perfile):
    stage_at, process_file = perfile.stage_at, perfile.process_file

    class Timed:
        def __init__(self, stage):
            self.stage, self.name, self.needs = stage, stage.name, stage.needs
        def run(self, file, found):
            return _timed(_file, self.name, self.stage.run, file, found)

    def timed_stage_at(index):
        stage = stage_at(index)
        if stage.name == "checksum":
            from pipeline.stages import checksum
            if not hasattr(checksum.Copy, "_untimed"):
                checksum.Copy._untimed = checksum.Copy.publish
                checksum.Copy.publish = lambda copy: _timed(_file, "publish", checksum.Copy._untimed, copy)
        return Timed(stage)

    def timed_process_file(src, *args, **kwargs):
        _file.clear()
        _file.update(pid=os.getpid(), size=src.size, start=time.time())
        try:
            return process_file(src, *args, **kwargs)
        finally:
            _file["end"] = time.time()
            with open(os.environ["STAGETIMES_OUT"], "a") as f:
                f.write(json.dumps(_file) + "\n")

    perfile.stage_at, perfile.process_file = timed_stage_at, timed_process_file

class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "pipeline.runs.perfile":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module
        def exec_module(module):
            run(module)
            _patch(module)
        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, _Finder())
'''

STAGES = ("checksum", "demux", "naming", "gaps", "thumbnails", "publish")


def main() -> int:
    command = sys.argv[1:]
    command = command[1:] if command[:1] == ["--"] else command
    if not command:
        sys.exit(__doc__)
    with tempfile.TemporaryDirectory(prefix="stagetimes-") as tmp:
        (Path(tmp) / "sitecustomize.py").write_text(HOOK)
        out = Path(tmp) / "files.jsonl"
        env = {**os.environ, "STAGETIMES_OUT": str(out),
               "PYTHONPATH": os.pathsep.join(filter(None, [tmp, os.environ.get("PYTHONPATH")]))}
        start = time.time()
        code = subprocess.run(command, env=env, stdout=subprocess.DEVNULL).returncode
        end = time.time()
        files = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    if not files:
        print(f"exit {code}: no file was timed (a local-engine ingest?)")
        return code or 1
    first, last = min(f["start"] for f in files), max(f["end"] for f in files)
    print(f"{len(files)} files; wall {end - start:.2f} s: first file starts at +{first - start:.2f} s, "
          f"the last ends {end - last:.2f} s before the exit")
    print(f"{'stage':12} {'files':>5} {'wall s':>7} {'CPU s':>7} {'waited':>7} {'blocked':>8}   (main threads, all workers)")
    for stage in STAGES:
        wall, cpu, waited = (sum(f.get(stage, (0, 0, 0))[i] for f in files) for i in range(3))
        timed = sum(stage in f for f in files)
        print(f"{stage:12} {timed:5} {wall:7.2f} {cpu:7.2f} {waited:7.2f} {wall - cpu - waited:8.2f}")
    by_worker = collections.defaultdict(list)
    for f in files:
        by_worker[f["pid"]].append(f)
    for pid, done in by_worker.items():
        done.sort(key=lambda f: f["start"])
        gaps = sum(b["start"] - a["end"] for a, b in zip(done, done[1:]))
        print(f"worker {pid}: {len(done)} files from +{done[0]['start'] - start:.2f} to +{done[-1]['end'] - start:.2f} s, "
              f"{gaps:.2f} s between files")
    return code


if __name__ == "__main__":
    sys.exit(main())
