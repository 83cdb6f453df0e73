"""Faults inside a search: a child that runs out of memory, diverges, or cannot even be built is a
recorded result with its reason, the search goes on, and a streak of failures is told to the user."""
import dataclasses
import io
import json

import torch

from eigen.commands.search import search_command
from eigen.data.datasets import load_splits
from eigen.data.device_data import DeviceData
from eigen.run_folder.folder import RunFolder
from eigen.training import individual_training
from eigen.training.individual_training import TorchIndividuals
from eigen.training.job import FailureWatch
from eigen.training.trainer import Schedule
from eigen.views.search_progress import PlainProgress
from tests.search.test_search_run import tiny_config


class Faulty:
    """The real trainer, with faults injected into chosen trainings (by call number):
    "oom" raises CUDA's out-of-memory error inside the build, "build" a RuntimeError there,
    "diverge" trains the genome at a learning rate of 1e8 (a real NaN)."""

    def __init__(self, inner, plan, monkeypatch):
        self.inner, self.plan, self.calls, self.monkeypatch = inner, plan, 0, monkeypatch
        self.real_build = individual_training.build_model

    def train(self, training, on_progress=None):
        fault = self.plan.get(self.calls)
        self.calls += 1
        if fault == "diverge":
            training = dataclasses.replace(training, what=dataclasses.replace(training.what, learning_rate=1e8))
        with self.monkeypatch.context() as mp:
            if fault in ("oom", "build"):
                error = torch.cuda.OutOfMemoryError("CUDA out of memory") if fault == "oom" else \
                    RuntimeError("a layer could not be built")

                def broken(*args, **kw):
                    raise error
                mp.setattr(individual_training, "build_model", broken)
            return self.inner.train(training, on_progress)

    def test_accuracy(self, checkpoint):
        return self.inner.test_accuracy(checkpoint)


def test_oom_divergence_and_a_broken_build_are_recorded_and_the_search_goes_on(tmp_path, monkeypatch):
    config = tiny_config(tmp_path / "run")
    data = DeviceData(load_splits("synthetic", image_size=16), "cpu", with_test=True)
    real = TorchIndividuals(data, Schedule().scaled(config.schedule_scale))
    plan = {0: "oom", 1: "diverge", 2: "build", 5: "build"}
    log = io.StringIO()
    assert search_command(config, progress=PlainProgress(log), individuals=Faulty(real, plan, monkeypatch)) == 0
    records = RunFolder(tmp_path / "run").read_history()
    statuses = [r["status"] for r in records[:3]]
    assert statuses[0] == "failed: oom" and statuses[1] == "diverged"
    assert statuses[2] == "failed: RuntimeError: a layer could not be built"
    assert all(r["fitness"]["T1"] == 0.0 for r in records[:3])
    assert any(r["status"] == "ok" and r["generation"] == 2 for r in records)  # it went on
    text = log.getvalue()
    assert "warning: 3 trainings in a row failed (g1c0 at T1 failed: oom; g1c1 at T1 diverged; g1c2 at T1 " \
           "failed: RuntimeError: a layer could not be built)" in text
    assert json.loads((tmp_path / "run" / "best.json").read_text())["test_accuracy"] is not None


def test_the_summary_counts_what_did_not_finish(tmp_path, monkeypatch, capsys):
    config = tiny_config(tmp_path / "run")
    data = DeviceData(load_splits("synthetic", image_size=16), "cpu", with_test=True)
    real = TorchIndividuals(data, Schedule().scaled(config.schedule_scale))
    search_command(config, progress=PlainProgress(io.StringIO()), individuals=Faulty(real, {0: "oom", 3: "oom"},
                                                                                       monkeypatch))
    out = capsys.readouterr().out
    assert "2 training(s) did not finish: 2 failed: oom (details in" in out
    # Here g1c3 is g1c1's architecture under other node ids: it takes g1c1's T1 result (and genome), and
    # when g1c1 runs out of memory at T2, g1c3 trains T2 itself from g1c1's weights, names and all.
    records = RunFolder(tmp_path / "run").read_history()
    reused = [r for r in records if r["reused_from"] and r["stage"] == "T1" and r["generation"] == 1]
    assert reused, "the seed no longer gives a duplicate architecture; pick a plan that does"
    twin = next(r for r in records if r["id"] == reused[0]["id"] and r["stage"] == "T2")
    assert twin["status"] == "ok" and twin["iterations"] > 0


def test_the_failure_watch_speaks_at_every_third_in_a_row():
    said = []
    watch = FailureWatch(said.append)
    for status in ["failed: oom", "diverged", "ok", "diverged", "diverged", "failed: oom", "diverged", "diverged",
                   "diverged"]:
        watch.saw("x", status)
    assert len(said) == 2 and said[0].startswith("warning: 3 trainings in a row failed")
    assert said[1].startswith("warning: 6 trainings in a row failed")
