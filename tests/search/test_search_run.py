"""`eigen search` for real (CPU, synthetic data, a tiny schedule): the run folder, the report, kill -9 and resume."""
import io
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from eigen import Genome, initial_genome
from eigen.commands.search import search_command
from eigen.config import SearchConfig
from eigen.data.datasets import load_splits
from eigen.data.device_data import DeviceData
from eigen.run_folder.folder import RunFolder
from eigen.training.individual_training import TorchIndividuals, load_model
from eigen.training.trainer import Schedule, evaluate
from eigen.views.search_progress import PlainProgress
from eigen.training.job import Training

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--dataset", "synthetic", "--image-size", "16", "--gpu", "-1", "--schedule-scale", "0.004",
        "--population", "4", "--p", "2", "--q", "1", "--primary-step", "3", "--secondary-step", "2",
        "--max-generations", "2"]
RECORD_FIELDS = {"id", "parent", "generation", "succession", "step_size", "stage", "until", "key", "mutations",
                 "params", "flops", "fitness", "status", "iterations", "seconds", "flops_spent", "reused_from",
                 "checkpoint"}


def tiny_config(out, **changes):
    return replace(SearchConfig(dataset="synthetic", image_size=16, gpu=-1, schedule_scale=0.004, population=4,
                                p=2, q=1, primary_step=3, secondary_step=2, max_generations=2, out=str(out)),
                   **changes)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("search")
    log = io.StringIO()
    assert search_command(tiny_config(root / "run"), progress=PlainProgress(log)) == 0
    return root, RunFolder(root / "run"), log.getvalue()


def test_a_two_generation_search_writes_a_complete_run_folder(finished_run):
    root, folder, log = finished_run
    config = json.loads(folder.config.read_text())
    assert config["settings"]["population"] == 4 and config["resolved"]["stage_ends"] == [20, 80, 100]
    assert config["resolved"]["mimicry"] is False and config["versions"]["torch"] == torch.__version__
    assert config["data"]["fingerprint"] == load_splits("synthetic", image_size=16).fingerprint()

    records = folder.read_history()
    assert records and all(RECORD_FIELDS <= set(r) for r in records)
    assert {r["generation"] for r in records} == {1, 2}
    for r in records:
        stages = ("T1", "T2", "T3")
        assert tuple(r["fitness"]) == stages[: stages.index(r["stage"]) + 1]  # fitness at every stage so far
        if r["stage"] == "T1":
            Genome.from_dict(r["genome"], image_size=16)  # every individual's genome is in the history

    state = json.loads(folder.state.read_text())
    assert len(state["generations"]) == 2 and state["generation"] is None and state["stopped"] == "max generations"
    assert not folder.individuals.exists()

    best = json.loads(folder.best.read_text())
    assert not (root / "best.json").exists()  # with --out, nothing is written beside the run folder
    assert best["run"] == "." and best["weights"] == "best.pt" and best["test_accuracy"] is not None
    # The saved weights are the best's: rebuilt from the checkpoint, they score its recorded fitness.
    data = DeviceData(load_splits("synthetic", image_size=16), "cpu")
    weights = folder.path / best["weights"]  # relative to best.json, which lies in the run folder
    model = load_model(weights)
    assert Genome.from_dict(best["genome"], image_size=16).key() == Genome.from_dict(
        torch.load(weights, weights_only=True)["genome"], image_size=16).key()
    assert evaluate(model, data, "val") == best["fitness"]

    for name in ("fitness.png", "survivors.png", "cost.png"):
        assert (folder.report / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # metrics.csv: every training's curve, and its closing row holds the accuracy the history recorded.
    from eigen.training.metrics import read_metrics
    ends = {(r["individual"], r["stage"]): r for r in read_metrics(folder.path / "metrics.csv") if r["val_accuracy"] is not None}
    trained = [r for r in records if r["iterations"] and r["status"] == "ok"]
    assert trained and {(r["id"], r["stage"]) for r in trained} == set(ends)
    for r in trained:
        end = ends[(r["id"], r["stage"])]
        assert end["iteration"] == r["until"] and end["val_accuracy"] == pytest.approx(r["accuracy"][r["stage"]])
    assert log.count("mimicry off: no teacher for this data in teachers/synthetic/") == 1
    assert "generation 2 done" in log and "T1 threshold" in log


def test_the_search_improves_on_the_trivial_network(finished_run):
    # input -> pool -> classifier only sees colour (about half the classes); a conv reads the stripes.
    _, folder, _ = finished_run
    best = json.loads(folder.best.read_text())
    assert best["fitness"] > 75 and best["genome"] != initial_genome().to_dict()


def test_a_child_that_diverges_is_a_result_not_a_crash(tmp_path):
    data = DeviceData(load_splits("synthetic", image_size=16), "cpu")
    individuals = TorchIndividuals(data, Schedule(total=40, milestones=(30, 35)))
    from tests.genome.test_genome import CONV, chain
    genome = Genome.from_dict({**chain(CONV), "learning_rate": 1e9}, image_size=16)
    result = individuals.train(Training(genome, 0, 20, tmp_path / "c.pt"))
    assert (result.status, result.fitness) == ("diverged", 0.0)
    assert not (tmp_path / "c.pt").exists()


def test_an_existing_run_folder_is_never_overwritten(finished_run):
    _, folder, _ = finished_run
    before = folder.history.read_bytes()
    from eigen.run_folder.folder import RunFolderError
    with pytest.raises(RunFolderError, match="already holds a run; continue it with `eigen search --resume"):
        search_command(tiny_config(folder.path), progress=PlainProgress(io.StringIO()))
    assert folder.history.read_bytes() == before


def _eigen(*args):
    return subprocess.Popen([sys.executable, "-m", "eigen", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            # One thread each: the two runs share CI's two cores without thrashing.
                            env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})


def _stable(folder):
    """History and best.json without what legitimately differs between sittings (time, paths)."""
    records = [{k: v for k, v in r.items() if k != "seconds"} for r in RunFolder(folder).read_history()]
    best = json.loads((folder / "best.json").read_text())
    best["search_cost"].pop("seconds")  # the FLOPs spent must agree; the time never does
    return records, {k: v for k, v in best.items() if k not in ("run", "weights")}


@pytest.mark.slow  # ~15 s: a real `python -m eigen` process, SIGKILLed (tests/test_kill_anywhere.py kills forked ones)
def test_a_search_killed_with_sigkill_mid_stage_resumes_to_the_same_result(tmp_path):
    whole = _eigen("search", *TINY, "--out", str(tmp_path / "whole"))
    killed = _eigen("search", *TINY, "--out", str(tmp_path / "killed"))
    history = tmp_path / "killed" / "history.jsonl"
    deadline = time.monotonic() + 120
    # Generation 1 trains 4 children to T1, then the survivors to T2: kill once the first T2 is recorded.
    while time.monotonic() < deadline and killed.poll() is None:
        if history.exists() and history.read_text().count("\n") >= 5:
            break
        time.sleep(0.01)
    killed.send_signal(signal.SIGKILL)
    assert killed.wait() == -signal.SIGKILL
    state = json.loads((tmp_path / "killed" / "state.json").read_text())
    assert state["generation"] is not None and len(state["generations"]) == 0  # stopped mid-generation

    resumed = _eigen("search", "--resume", str(tmp_path / "killed"), "--gpu", "-1")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "resuming at generation 1" in out
    assert whole.wait(timeout=300) == 0, whole.stderr.read()
    assert _stable(tmp_path / "killed") == _stable(tmp_path / "whole")
