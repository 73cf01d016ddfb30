"""The command line: help that explains, usage errors exit 2, a run that cannot finish exits 1."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from pipeline.cli import main


def test_help_explains_each_option(capsys):
    with pytest.raises(SystemExit) as done:
        main(["ingest", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for option in ("--archive", "--config", "--address", "--workers", "--json", "--proxies"):
        assert option in text
    assert "byte-identical" in text


@pytest.mark.parametrize("argv,fragment", [
    pytest.param(["ingest", "/no/such/dock", "--archive", "A"], "source not found: /no/such/dock", id="missing-source"),
    pytest.param(["ingest", ".", "--archive", "A", "--workers", "0"], "--workers", id="zero-workers"),
])
def test_usage_errors_exit_2_with_a_message(tmp_path, capsys, argv, fragment):
    argv = [a if a != "A" else str(tmp_path / "archive") for a in argv]
    assert main(argv) == 2
    assert fragment in capsys.readouterr().err


def test_bad_config_is_a_usage_error(tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[ingest]\nchunk_bytes = -1x\n")
    assert main(["ingest", str(tmp_path), "--archive", str(tmp_path / "a"), "--config", str(cfg)]) == 2
    assert "bad.toml" in capsys.readouterr().err


def test_unwritable_archive_exits_1_and_says_what_to_do(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["ingest", str(tmp_path), "--archive", str(blocker / "archive")]) == 1
    assert "cannot create archive folder" in capsys.readouterr().err


def test_console_script_json_summary(tmp_path):
    """The installed `fieldrec` script, end to end, with a machine-readable summary."""
    from pipeline.sample.encode import write_wav

    write_wav(tmp_path / "drop" / "BWC9_OF9_20260301100000.WAV", duration_s=0.5)
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "ingest", str(tmp_path / "drop"),
                           "--archive", str(tmp_path / "archive"), "--json", "--workers", "1"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["files_by_status"] == {"ok": 1} and summary["outcome"] == "finished"


def test_private_ray_instance_lives_on_loopback(ray_local):
    import ipaddress

    import ray

    addresses = [n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]]
    assert addresses and all(ipaddress.ip_address(a).is_loopback for a in addresses), addresses
    gcs_host = ray.get_runtime_context().gcs_address.rsplit(":", 1)[0]
    assert ipaddress.ip_address(gcs_host).is_loopback


def test_a_broken_pipe_of_our_own_is_a_failure_not_a_reader_gone(tmp_path, monkeypatch, capsys):
    """Only a closed output is reported as SIGPIPE (141): a BrokenPipeError from another pipe (a
    worker's) while the output's reader is there fails the command with a message (exit 1)."""
    import argparse

    from pipeline import cli

    def broken(args):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli, "_reader_gone", lambda stream: False)
    real = argparse.ArgumentParser.parse_args

    def parsed(self, *a, **k):
        ns = real(self, *a, **k)
        ns.handler = broken
        return ns

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parsed)
    assert main(["--lang", "en", "gaps", "--archive", str(tmp_path / "a")]) == 1
    assert "failed: Broken pipe" in capsys.readouterr().err
    monkeypatch.setattr(cli, "_reader_gone", lambda stream: True)
    assert main(["--lang", "en", "gaps", "--archive", str(tmp_path / "a")]) == cli.EXIT_BROKEN_PIPE


def test_the_reader_gone_test_asks_the_pipe_itself(tmp_path):
    import os

    from pipeline.cli import _reader_gone

    read, write = os.pipe()
    with os.fdopen(write, "w") as out:
        assert not _reader_gone(out)
        os.close(read)
        assert _reader_gone(out)
    with open(tmp_path / "f", "w") as regular:
        assert not _reader_gone(regular)
    assert not _reader_gone(object())


def test_an_ingest_whose_reader_went_away_is_sealed_and_exits_141(tmp_path):
    """`fieldrec ingest ... --json | true`: the run finished and sealed before its summary was
    printed; the closed pipe is reported as SIGPIPE would be (141), not as a failed run. The reader
    is gone before the run prints anything (`true` reads nothing and exits at once, long before an
    ingest ends): with `head -c 1` whether the summary, smaller than a pipe's buffer, was written
    before head exited was a race, and a loaded machine saw exit 0."""
    import subprocess
    import sys

    (tmp_path / "drop").mkdir()
    (tmp_path / "drop" / "notes.txt").write_text("x" * 100_000)
    script = f'"{sys.executable}" -m pipeline.cli ingest "{tmp_path / "drop"}" --archive "{tmp_path / "a"}" ' \
             '--json --quiet | true; echo "${PIPESTATUS[0]}"'
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "141" and "failed" not in done.stderr, done.stderr
    assert len(list((tmp_path / "a" / "manifests").glob("0*.json"))) == 1     # sealed
    assert main(["verify", "--archive", str(tmp_path / "a")]) == 0


# -- a command line that names a command builds that command's parser alone ---------------------------

def _registered(module: str) -> set[str]:
    import argparse
    import importlib

    sub = argparse.ArgumentParser().add_subparsers()
    importlib.import_module(module).register(sub)
    return set(sub.choices)


def test_each_command_is_mapped_to_the_module_that_registers_it():
    from pipeline.cli import COMMAND_MODULES, COMMANDS

    registered = {name: module for module in COMMANDS for name in _registered(module)}
    assert COMMAND_MODULES == registered


def test_an_ingest_line_imports_no_other_command_module():
    """The other commands' modules are not imported to parse `fieldrec ingest ...` (a twentieth of a
    second of a one-file ingest), and the line parses as it does with every command registered."""
    line = ["ingest", "d", "--archive", "a", "--workers", "2", "--json"]
    script = ("import sys, json; import pipeline.cli as c; "
              f"alone = vars(c.build_parser('ingest').parse_args({line!r})); "
              "others = sorted(m for m in sys.modules if m.startswith('pipeline.commands.') "
              "and m not in ('pipeline.commands.ingest', 'pipeline.commands.options')); "
              f"every = vars(c.build_parser().parse_args({line!r})); "
              "print(json.dumps([others, repr(alone) == repr(every)]))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [[], True]


# -- ingest's workers start from the raw line, before the parser and the settings ------------------------

@pytest.mark.parametrize("line,started", [
    pytest.param(["d", "--archive", "a"], True, id="plain"),
    pytest.param(["d", "--json", "--archive", "a", "--workers", "1", "--engine", "local"], True, id="local-1-worker"),
    pytest.param(["d", "--archive", "a", "--engine", "ray"], False, id="ray"),
    pytest.param(["d", "--archive", "a", "--address", "head:6379"], False, id="cluster"),
    pytest.param(["d", "--archive", "a", "--work", "1"], False, id="abbreviation-argparse-accepts"),
    pytest.param(["d", "--archive", "a", "--workers", "0"], False, id="zero-workers"),
    pytest.param(["d", "--archive", "a", "--workers", "two"], False, id="bad-workers"),
    pytest.param(["--help"], False, id="help"),
])
def test_ingest_workers_start_early_only_for_a_line_that_plainly_runs_locally(monkeypatch, line, started):
    from pipeline.commands.ingest import start_early

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    early = start_early(line)
    try:
        assert (early is not None) == started
    finally:
        if early is not None:
            early.runner.close()


def test_the_early_reading_knows_every_ingest_option_and_which_take_a_value():
    """``start_early`` reads the line without the parser: its lists are the parser's options (an
    option added to ``register`` and not to them makes a line start nothing early; one they name
    that took a value as a flag would be read wrong)."""
    from pipeline.cli import build_parser
    from pipeline.commands.ingest import FLAGS, VALUE_OPTIONS

    sub = next(a for a in build_parser("ingest")._actions if isinstance(a, argparse._SubParsersAction))
    options = [a for a in sub.choices["ingest"]._actions if a.option_strings and "--help" not in a.option_strings]
    takes_value = {o for a in options if a.nargs != 0 for o in a.option_strings}
    flags = {o for a in options if a.nargs == 0 for o in a.option_strings}
    # --lang is fieldrec's own, read anywhere on the line (``choose_language``)
    assert set(VALUE_OPTIONS) == takes_value | {"--lang"} and set(FLAGS) == flags


@pytest.mark.parametrize("extra,spawned", [
    pytest.param([], 1, id="started-early-and-kept"),
    pytest.param(["--work", "1"], 1, id="started-by-the-run"),
])
def test_a_one_file_ingest_starts_one_worker_whoever_starts_it(tmp_path, monkeypatch, extra, spawned):
    """The workers started from the raw line are the run's: no second set is started (a one-file
    drop, one worker), and the summary is the same as when the run starts them itself."""
    from pipeline.runs import localpool
    from pipeline.sample.encode import write_wav

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    write_wav(tmp_path / "drop" / "BWC9_OF9_20260301100000.WAV", duration_s=0.5)
    spawns = []
    spawn = localpool.LocalPool._spawn
    monkeypatch.setattr(localpool.LocalPool, "_spawn", lambda self: spawns.append(1) or spawn(self))
    argv = ["ingest", str(tmp_path / "drop"), "--archive", str(tmp_path / "a"), "--quiet", *extra]
    assert main(argv) == 0
    assert len(spawns) == spawned


def test_ingest_workers_that_cannot_start_early_are_left_to_the_run(monkeypatch):
    """No process to be had from the raw line (EAGAIN): nothing started early, no error there; the
    run starts its workers itself, and reports a failure as it always did."""
    import errno

    from pipeline.commands.ingest import start_early
    from pipeline.runs import localpool

    def refuse(self):
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(localpool.LocalPool, "_spawn", refuse)
    assert start_early(["d", "--archive", "a"]) is None


def test_workers_started_before_a_failed_spawn_are_stopped(tmp_path, monkeypatch):
    """The early start asks for two workers and the second cannot be had (EAGAIN): nothing is
    started early, and the first worker, already up, is stopped then (not left importing until the
    driver exits), its pipe closed."""
    import errno

    from pipeline.commands.ingest import start_early
    from pipeline.runs import localpool

    drop = tmp_path / "drop"
    drop.mkdir()
    for i in range(4):
        (drop / f"f{i}.bin").write_bytes(b"x")
    started = []
    spawn = localpool.LocalPool._spawn

    def second_refused(self):
        if started:
            raise OSError(errno.EAGAIN, "Resource temporarily unavailable")
        started.append(spawn(self))
        return started[-1]

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(localpool, "machine_cpus", lambda: 2)
    monkeypatch.setattr(localpool.LocalPool, "_spawn", second_refused)
    assert start_early([str(drop), "--archive", str(tmp_path / "a"), "--workers", "2"]) is None
    assert len(started) == 1
    worker = started[0]
    assert worker.process.poll() is not None and worker.conn.closed
