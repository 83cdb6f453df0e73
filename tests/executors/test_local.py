"""The executor seam on this machine: `--parallel K` trains K at once and changes no result.

Each command is run once one-at-a-time and once with `--parallel 2`, and what they recorded is
compared (in a canonical order: a parallel run records children in the order they finish). A
scripted trainer shows that two trainings really are in flight at once, and the kill harness shows
that a parallel run killed anywhere resumes to the one-at-a-time result.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import torch

from eigen.cli import main
from eigen.executors import InlineExecutor, ThreadedExecutor, Training, run_all
from eigen.genome.dna import initial_genome
from eigen.run_folder.folder import RunFolder
from eigen.training.job import StageResult, Training
from tests.commands.test_final import small_genome, write_best
from tests.conftest import one_thread
from tests.search.test_search_run import TINY
from tests.test_kill_anywhere import SEARCH_POINTS, TEACHER, assert_same_teacher, eigen, kill_and_resume

VOLATILE = ("seconds", "graphed", "graph_error")  # what the device's timing decides, not the search


def canonical_search(folder: Path):
    """Every history record and best.json, in an order that does not depend on finishing times."""
    records = [{k: v for k, v in r.items() if k not in VOLATILE} for r in RunFolder(folder).read_history()]
    records.sort(key=lambda r: (r["generation"], r.get("event", 0), ("T1", "T2", "T3", "train").index(r["stage"]), r["id"]))
    best = json.loads((folder / "best.json").read_text())
    best["search_cost"].pop("seconds")
    return records, {k: v for k, v in best.items() if k not in ("run", "weights")}


class Sleepy:
    """A scripted trainer that takes 0.2 s per training and counts how many run at once."""

    def __init__(self):
        self.lock = threading.Lock()
        self.now = self.most = 0

    def train(self, training, on_progress=None):
        seed, until = training.seed, training.until
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(0.2)
        if on_progress:
            on_progress(until // 2, until, 1.0)
        with self.lock:
            self.now -= 1
        return StageResult("ok", float(seed % 100), until, until, 0.2)


def test_parallel_runs_that_many_at_once_and_hands_every_result_back_with_its_progress(tmp_path):
    trainer = Sleepy()
    executor = ThreadedExecutor(trainer, parallel=3)
    jobs = [(n, Training(initial_genome(), n, 10, tmp_path / f"{n}.pt")) for n in range(7)]
    results, heard = {}, []
    started = time.perf_counter()
    try:
        assert run_all(executor, jobs, on_done=lambda tag, result: results.__setitem__(tag, result),
                       on_progress=lambda tag, step, until, loss: heard.append((tag, step)))
    finally:
        executor.close()
    assert trainer.most == 3  # never more than the slots, and the slots were used
    assert time.perf_counter() - started < 7 * 0.2  # not one after another
    assert {tag: r.fitness for tag, r in results.items()} == {n: float(n) for n in range(7)}
    assert sorted(tag for tag, _ in heard) == list(range(7))  # progress came back on the driver's thread


def test_a_refused_start_stops_new_trainings_but_keeps_those_in_flight(tmp_path):
    trainer = Sleepy()
    executor = ThreadedExecutor(trainer, parallel=2)
    jobs = [(n, Training(initial_genome(), n, 10, tmp_path / f"{n}.pt")) for n in range(6)]
    done = []
    try:
        everything = run_all(executor, jobs, on_done=lambda tag, result: done.append(tag),
                             may_start=lambda: len(done) + executor.busy < 3)
    finally:
        executor.close()
    assert not everything and sorted(done) == [0, 1, 2]


def test_an_error_in_a_worker_reaches_the_driver(tmp_path):
    class Broken:
        def train(self, *args, **kwargs):
            raise OSError(28, "No space left on device")
    executor = ThreadedExecutor(Broken(), parallel=2)
    try:
        with pytest.raises(OSError, match="No space"):
            run_all(executor, [(0, Training(initial_genome(), 0, 10, tmp_path / "0.pt"))], on_done=lambda *a: None)
    finally:
        executor.close()
    assert InlineExecutor(Broken()).slots == 1


def test_a_worker_that_cannot_start_stops_the_driver_within_seconds(tmp_path, monkeypatch):
    """A worker thread whose set-up fails (on a GPU: `torch.cuda.set_device` refusing the device)
    hands its error to the driver; it once died without a word and `run_all` waited forever."""
    def refuse(device):  # what torch 2.11 says for an index-less device
        raise ValueError(f"Expected a torch.device with a specified index or an integer, but got:{device}")
    monkeypatch.setattr(torch.cuda, "set_device", refuse)
    executor = ThreadedExecutor(Sleepy(), parallel=2, device="cuda:0")  # the set-up runs only for a GPU
    outcome = {}

    def drive():
        try:
            run_all(executor, [(0, Training(initial_genome(), 0, 10, tmp_path / "0.pt"))], on_done=lambda *a: None)
        except ValueError as e:
            outcome["error"] = str(e)
    driver = threading.Thread(target=drive, daemon=True)
    driver.start()
    driver.join(timeout=10)
    executor.close()
    assert not driver.is_alive(), "the driver is still waiting for a worker that never started"
    assert "specified index" in outcome["error"]


def test_an_index_less_cuda_device_gets_the_current_index(monkeypatch):
    from eigen.device import indexed
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 2)
    assert indexed("cuda") == torch.device("cuda", 2) == indexed(torch.device("cuda"))
    assert indexed("cuda:1") == torch.device("cuda", 1) and indexed("cpu") == torch.device("cpu")


@pytest.fixture(scope="module")
def sequential_search(sequential_search_folder):
    return canonical_search(sequential_search_folder)


def test_a_parallel_search_records_what_a_sequential_one_does(sequential_search, tmp_path):
    assert main(["search", *TINY, "--parallel", "2", "--out", str(tmp_path / "run")]) == 0
    assert canonical_search(tmp_path / "run") == sequential_search


@pytest.mark.slow  # ~12 s: the kill harness, threaded
def test_a_parallel_search_killed_anywhere_resumes_to_the_sequential_result(sequential_search, tmp_path):
    folder = tmp_path / "killed"
    kill_and_resume(["search", *TINY, "--parallel", "2", "--out", str(folder)],
                    ["search", "--resume", str(folder), "--gpu", "-1", "--parallel", "2"],
                    SEARCH_POINTS, kills=3, seed=5, folder=folder)
    assert canonical_search(folder) == sequential_search


LS = ["--strategy", "large-scale", "--dataset", "synthetic", "--image-size", "16", "--gpu", "-1",
      "--child-steps", "5000", "--schedule-scale", "0.004", "--population", "4", "--max-generations", "2"]


def test_large_scale_with_events_in_flight_is_a_pure_function_of_seed_and_window(tmp_path):
    """Two tournaments in flight draw from a lagged population (not the one-at-a-time run's), but the
    same window gives the same run, killed or not."""
    assert eigen("search", *LS, "--parallel", "2", "--out", str(tmp_path / "whole")).returncode == 0
    folder = tmp_path / "killed"
    kill_and_resume(["search", *LS, "--parallel", "2", "--out", str(folder)],
                    ["search", "--resume", str(folder), "--gpu", "-1", "--parallel", "2"],
                    ["write", "trained", "history-line"], kills=3, seed=6, folder=folder)
    assert canonical_search(folder) == canonical_search(tmp_path / "whole")
    records = RunFolder(folder).read_history()
    assert len({r["id"] for r in records}) == 4 + 8  # the starting population and 2 generations of 4 events
    state = json.loads((folder / "state.json").read_text())
    assert state["events"] == 8 and state["pending"] == []


def test_a_parallel_duplication_trains_what_a_sequential_one_does(tmp_path):
    best = write_best(tmp_path / "best.json", small_genome())
    args = ["duplicate", str(best), "--gpu", "-1", "--schedule-scale", "0.004", "--candidates", "2", "--max-copies", "2"]
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    assert main([*args, "--parallel", "2", "--out", str(tmp_path / "three")]) == 0
    one, three = (json.loads((tmp_path / f / "state.json").read_text())["candidates"] for f in ("one", "three"))
    for entry in (*one.values(), *three.values()):
        entry.pop("seconds")
    assert one == three and len(one) == 2
    for name in one:
        a, b = (torch.load(tmp_path / f / "candidates" / f"{name}.pt", weights_only=True)["trainer"]["model"]
                for f in ("one", "three"))
        assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow  # ~17 s, and the ~16-s reference teacher
def test_teacher_members_trained_side_by_side_match_one_after_another(tmp_path, sequential_teacher):
    with one_thread():  # each of the two trains as the reference did, with one intra-op thread
        assert main([*TEACHER, "--parallel", "2", "--out", str(tmp_path / "two")]) == 0
    assert_same_teacher(tmp_path / "two", sequential_teacher)
