"""On the CPU a training's result depends on torch's intra-op thread count, so a run records the
count it begins with, a resumed run keeps it, and every executor trains with it
(`eigen/executors/threads.py`). Nothing here pins the count: each test holds at whatever count torch
has, and trains at other counts on purpose. (`tests/executors/test_ray.py` has the Ray worker's.)
"""
from __future__ import annotations

import json
import threading

import pytest
import torch

from eigen.cli import main
from eigen.data.datasets import load_splits
from eigen.data.device_data import DeviceData
from eigen.errors import EigenError
from eigen.executors import InlineExecutor, ThreadedExecutor, Training, run_all
from eigen.executors.threads import cpu_workers, run_threads
from eigen.genome.dna import Genome, initial_genome
from eigen.training.individual_training import TorchIndividuals
from eigen.training.job import StageResult
from eigen.training.trainer import Schedule
from tests.commands.test_final import small_genome, write_best
from tests.search.test_search_run import TINY


class Probe:
    """A trainer that trains nothing and notes the intra-op thread count each training ran with."""

    def __init__(self):
        self.seen, self.lock = [], threading.Lock()

    def train(self, training, on_progress=None):
        with self.lock:
            self.seen.append(torch.get_num_threads())
        return StageResult("ok", 0.0, training.until, training.until, 0.0)


def probed(executor, tmp_path, trainings: int = 4) -> list[int]:
    jobs = [(n, Training(initial_genome(), n, 10, tmp_path / f"{n}.pt")) for n in range(trainings)]
    try:
        run_all(executor, jobs, on_done=lambda *a: None)
    finally:
        executor.close()
    return executor.trainer.seen


def test_every_local_executor_trains_with_the_count_it_is_given_and_leaves_the_callers(tmp_path):
    caller = torch.get_num_threads()
    given = caller + 1  # not the caller's: a training that inherited the caller's count would show it
    assert probed(InlineExecutor(Probe(), threads=given), tmp_path) == [given] * 4
    assert probed(ThreadedExecutor(Probe(), 2, threads=given), tmp_path) == [given] * 4
    assert torch.get_num_threads() == caller
    # Without a count, the caller's at the moment the executor is made (what a command records).
    assert probed(InlineExecutor(Probe()), tmp_path) == probed(ThreadedExecutor(Probe(), 2), tmp_path) == [caller] * 4


def test_a_training_ends_the_same_on_every_local_executor_at_each_count_and_differently_across_counts(tmp_path):
    splits = load_splits("synthetic", image_size=16)
    individuals = TorchIndividuals(DeviceData(splits, "cpu"), Schedule(total=60, milestones=(45,)))
    genome = Genome.from_dict(small_genome(), 16)

    def weights(executor, name):
        folder = tmp_path / name
        folder.mkdir()
        jobs = [(seed, Training(genome, seed, 60, folder / f"{seed}.pt")) for seed in (0, 1)]
        try:
            run_all(executor, jobs, on_done=lambda *a: None)
        finally:
            executor.close()
        return [torch.load(folder / f"{seed}.pt", weights_only=True)["trainer"]["model"] for seed in (0, 1)]

    def same(a, b):
        return all(torch.equal(x[k], y[k]) for x, y in zip(a, b) for k in x)

    at = {}
    for count in (1, 2):
        at[count] = weights(InlineExecutor(individuals, threads=count), f"inline-{count}")
        assert same(weights(ThreadedExecutor(individuals, 2, threads=count), f"two-at-once-{count}"), at[count])
    assert not same(at[1], at[2])  # the count is part of what a CPU training depends on


def test_a_run_keeps_its_recorded_count_and_says_when_this_machine_has_fewer_cores(monkeypatch):
    notes = []
    here = torch.get_num_threads()
    assert run_threads(None, "cpu", notes.append) == here  # a new run: this thread's count
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert run_threads({"cpu_threads": 3}, "cpu", notes.append) == 3
    assert run_threads({"cpu_threads": 2}, "cpu", notes.append) == 2
    assert notes == ["this run trains with 3 intra-op threads, as it began, on a machine with 2 cores: "
                     "slower, the same results"]
    assert run_threads({"cpu_threads": 3}, "cuda:0", notes.append) == 3 and len(notes) == 1  # no note on a GPU
    assert run_threads({}, "cpu", notes.append) == here  # begun before eigen recorded it
    assert "before eigen recorded its CPU thread count" in notes[-1]
    for damaged in (0, -2, True):
        with pytest.raises(EigenError, match="not a thread count"):
            run_threads({"cpu_threads": damaged}, "cpu", notes.append)


def test_cpu_workers_claim_the_run_count_of_cpus_and_fit_the_nodes():
    assert cpu_workers([16], 1) == (16, 1)  # one single-threaded worker per CPU
    assert cpu_workers([16], 4) == (4, 4)
    assert cpu_workers([12, 12], 8) == (2, 8)  # 24 // 8 = 3 would leave one waiting for CPUs forever
    assert cpu_workers([2], 8) == (1, 2)  # no node has 8: the biggest node's CPUs, not a claim never met
    assert cpu_workers([], 4) == (1, 1)


def threads_of_trainings(monkeypatch) -> list[int]:
    """The intra-op thread count each real training of a command runs with, appended as it trains."""
    seen = []
    train = TorchIndividuals.train

    def noting(self, training, on_progress=None):
        seen.append(torch.get_num_threads())
        return train(self, training, on_progress)
    monkeypatch.setattr(TorchIndividuals, "train", noting)
    return seen


def test_a_search_records_its_count_and_a_resumed_one_trains_with_it(tmp_path, monkeypatch):
    caller = torch.get_num_threads()
    seen = threads_of_trainings(monkeypatch)
    folder = tmp_path / "run"
    assert TINY[-2:] == ["--max-generations", "2"]
    assert main(["search", *TINY[:-2], "--max-generations", "1", "--out", str(folder)]) == 0
    config = json.loads((folder / "config.json").read_text())
    assert config["cpu_threads"] == caller and seen and set(seen) == {caller}
    # Resumed where another count is torch's: the run trains on with the one it recorded.
    other = 1 if caller > 1 else 2  # another count (not more than the cores: oversubscribed is slow)
    config["cpu_threads"] = other
    (folder / "config.json").write_text(json.dumps(config))
    seen.clear()
    assert main(["search", "--resume", str(folder), "--gpu", "-1", "--max-generations", "2", "--parallel", "2"]) == 0
    assert seen and set(seen) == {other}
    assert torch.get_num_threads() == caller  # the caller's count is its own again


def test_a_duplication_records_its_count_and_a_continued_one_trains_with_it(tmp_path, monkeypatch):
    caller = torch.get_num_threads()
    seen = threads_of_trainings(monkeypatch)
    best = write_best(tmp_path / "best.json", small_genome())
    args = ["duplicate", str(best), "--gpu", "-1", "--schedule-scale", "0.004", "--candidates", "2",
            "--max-copies", "2", "--out", str(tmp_path / "final")]
    with monkeypatch.context() as stopping:  # a budget spent after the first chunk: to be continued
        stopping.setattr("eigen.final.duplication.Sitting.spent", lambda sitting: bool(seen))
        assert main(args) == 0
    plan = json.loads((tmp_path / "final" / "plan.json").read_text())
    assert plan["cpu_threads"] == caller and set(seen) == {caller}
    assert not (tmp_path / "final" / "metrics.json").exists()
    other = 1 if caller > 1 else 2
    plan["cpu_threads"] = other
    (tmp_path / "final" / "plan.json").write_text(json.dumps(plan))
    seen.clear()
    assert main(args) == 0
    assert seen and set(seen) == {other} and (tmp_path / "final" / "metrics.json").exists()
