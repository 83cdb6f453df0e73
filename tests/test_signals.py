"""SIGTERM and SIGHUP stop a long command the way Ctrl-C does (issue #29, item 2): at once, with one
sentence that names the signal and the command that continues, exit code 128 + the signal, no
traceback; and the command it prints, run as printed, ends where an uninterrupted run ends.

The signal comes at drawn moments through eigen's fault points (EIGEN_FAULT="term@write#3": the
process sends itself SIGTERM at its third file write, as a scheduler would mid-write), in forked
sittings as in `tests/test_kill_anywhere.py`; one real `python -m eigen` process is signalled from
outside mid-training, with trainings in flight on two threads.
"""
import json
import random
import re
import shlex
import signal
import subprocess
import sys
import time

import pytest

from tests.commands.test_final import small_genome, write_best
from tests.search.test_search_run import ROOT, TINY
from tests.test_kill_anywhere import (SEARCH_POINTS, TEACHER, all_files_parse, assert_same_candidates,
                                      assert_same_teacher, eigen, stable_search)

EXIT = {"term": 128 + signal.SIGTERM, "hup": 128 + signal.SIGHUP}
NAME = {"term": "SIGTERM", "hup": "SIGHUP"}


def default_signals():
    """A child that reacts to signals as one started from a terminal does (a test run started with
    nohup or in the background of a script ignores SIGHUP or SIGINT, and children inherit that)."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def test_a_signal_the_process_was_told_to_ignore_stays_ignored():
    """`nohup eigen search ... &`: the terminal closing (SIGHUP) must not stop the search."""
    from eigen.stop_signals import stop_signals_as_interrupts
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with stop_signals_as_interrupts():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before)


def printed_command(result, command: str, action: str) -> list[str]:
    """The arguments of the command the stopped sitting printed (checked: one sentence, no traceback)."""
    assert result.returncode == EXIT[action], result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    said = re.fullmatch(rf"eigen {command}: stopped by {NAME[action]}; continue with `(eigen [^`]*)`", last)
    assert said, last
    words = shlex.split(said.group(1))
    assert words[:2] == ["eigen", command]
    return words[1:]


def signal_and_continue(first_args, command, points, actions, stops, seed, folder):
    """Run, signalled at a drawn point each sitting, `stops` times, each next sitting being the command
    the previous one printed; then run the last printed command to the end."""
    rng = random.Random(seed)
    args, done, sittings = first_args, 0, 0
    while done < stops:
        action = rng.choice(actions)
        result = eigen(*args, fault=f"{action}@{rng.choice(points)}#{rng.randint(1, 4)}")
        sittings += 1
        assert sittings < 4 * stops, "the run keeps stopping without progress"
        if result.returncode == 0:  # the drawn point was never reached: the run finished
            continue
        args = printed_command(result, command, action)
        done += 1
        if folder.exists():
            all_files_parse(folder)
    final = eigen(*args)
    assert final.returncode == 0, final.stderr
    assert not [p for p in folder.rglob(".*") if ".tmp" in p.name], "temporaries of stopped writes were left"
    return args


def test_a_search_stopped_by_sigterm_and_sighup_anywhere_ends_as_an_uninterrupted_one(tmp_path,
                                                                                       sequential_search_folder):
    folder = tmp_path / "stopped"
    last = signal_and_continue(["search", *TINY, "--out", str(folder)], "search", SEARCH_POINTS, ["term", "hup"],
                               stops=6, seed=4, folder=folder)
    assert last == ["search", "--resume", str(folder), "--gpu", "-1"]
    assert stable_search(folder) == stable_search(sequential_search_folder)


def test_a_duplication_stopped_by_a_signal_ends_as_an_uninterrupted_one(tmp_path):
    best = write_best(tmp_path / "best.json", small_genome())
    args = ["duplicate", str(best), "--gpu", "-1", "--schedule-scale", "0.004", "--candidates", "2",
            "--max-copies", "2", "--top-k", "2"]
    assert eigen(*args, "--out", str(tmp_path / "whole")).returncode == 0
    folder = tmp_path / "stopped"
    last = signal_and_continue([*args, "--out", str(folder)], "duplicate", ["write", "trained"], ["term", "hup"],
                               stops=3, seed=5, folder=folder)
    assert last == [*args, "--out", str(folder)]  # the same command continues, and it is printed whole
    assert_same_candidates(folder, tmp_path / "whole", ("c0", "c1"))
    accuracies = [[c["val_accuracy"] for c in json.loads((f / "metrics.json").read_text())["candidates"]]
                  for f in (tmp_path / "whole", folder)]
    assert accuracies[0] == accuracies[1]


@pytest.mark.slow  # its reference teacher is most of ~30 s
def test_a_teacher_stopped_by_sigterm_ends_as_an_uninterrupted_one(tmp_path, sequential_teacher):
    folder = tmp_path / "stopped"
    signal_and_continue([*TEACHER, "--out", str(folder)], "train-teacher", ["write"], ["term"], stops=2, seed=6,
                        folder=folder)
    assert_same_teacher(folder, sequential_teacher)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_from_outside_stops_a_parallel_search_mid_training(tmp_path, signum):
    """A real process with two trainings in flight: it stops without waiting for them (none of the
    first generation's children is recorded) and without torch's "terminate called" abort of threads
    still inside it at exit, and says how to carry on. Ctrl-C (SIGINT) the same way."""
    folder = tmp_path / "run"
    slow = [*TINY[: TINY.index("--schedule-scale")], "--schedule-scale", "0.05",
            *TINY[TINY.index("--schedule-scale") + 2:]]
    process = subprocess.Popen([sys.executable, "-m", "eigen", "search", *slow, "--parallel", "2",
                                "--out", str(folder)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
                               preexec_fn=default_signals)  # as from a terminal, even if this run was nohup'd
    metrics = folder / "metrics.csv"
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:  # training has begun: its first row is logged
        if metrics.exists() and metrics.read_text().count("\n") >= 3:
            break
        time.sleep(0.02)
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signum, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    what = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
    assert last == (f"eigen search: {what}; "
                    f"continue with `eigen search --resume {folder} --gpu -1 --parallel 2`"), last
    assert not (folder / "history.jsonl").exists() or not (folder / "history.jsonl").read_text().strip()
    all_files_parse(folder)
