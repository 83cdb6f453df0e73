"""The trackers on their own, fed records and points as a search feeds them: HPARAMS rows in
the order written, MLflow's runs across sittings, points from several threads, a failing MLflow
said once while the search goes on, and the one sentence for each `--mlflow` that cannot work."""
from __future__ import annotations

import importlib.util
import json
import threading
import time

import pytest

from eigen.engine.record import HistoryRecord
from eigen.training.metrics import LogPoint
from tests.tracking.tables import hparams_table, history, mlflow_runs, session_starts


def record(id="g1c0", stage="T1", until=20, fitness=50.0, **changes) -> HistoryRecord:
    stages = ("T1", "T2", "T3")[: ("T1", "T2", "T3").index(stage) + 1] if stage != "train" else ("train",)
    fields = dict(id=id, parent="g0", generation=1, succession="primary", step_size=3, stage=stage, until=until,
                  key="k" + id, mutations=["add-conv n3"], params=1000, flops=20000,
                  fitness={s: fitness for s in stages}, accuracy={s: fitness for s in stages}, status="ok",
                  iterations=until, seconds=0.1, flops_spent=1, reused_from=None, checkpoint=None,
                  genome={"nodes": [id]} if stage in ("T1", "train") else None)
    return HistoryRecord(**{**fields, **changes})


def run_folder(tmp_path):
    """A run folder as a search has it when its trackers start: config.json written."""
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"settings": {"strategy": "eigen", "dataset": "synthetic",
                                                                 "population": 4, "max_params": None},
                                                    "resolved": {"stage_ends": [20, 80, 100],
                                                                 "schedule": {"lr": 0.1}}}))
    return folder


# -- HParams ----------------------------------------------------------------------------------------------
def test_results_written_in_one_second_read_back_in_the_order_written(tmp_path):
    pytest.importorskip("tensorboard")
    from eigen.tracking.hparams import HParamsRows
    rows = HParamsRows(tmp_path)
    for stage, until, fitness in (("T1", 20, 50.0), ("T2", 80, 70.0), ("T3", 100, 65.0)):  # a reused twin's pace
        rows.result(record(stage=stage, until=until, fitness=fitness))
    HParamsRows(tmp_path).result(record(id="i3", stage="train", until=30, fitness=40.0, event=2, parent=None,
                                        latency={"ms": 1.5}))  # a steady state's, timed
    runs, table = hparams_table(tmp_path)
    assert runs == ["g1c0", "i3"] and session_starts(tmp_path / "g1c0") == 1
    assert table["g1c0"]["metrics"] == {"result/fitness": 65.0, "result/val_accuracy": 65.0, "result/iterations": 100}
    assert table["i3"]["hparams"] == {"individual": "i3", "key": "ki3", "parent": "", "generation": 1, "mutations": 1,
                                      "params": 1000, "flops": 20000, "event": 2, "ms": 1.5}


# -- MLflow -----------------------------------------------------------------------------------------------
mlflow = pytest.mark.skipif(importlib.util.find_spec("mlflow") is None,
                            reason="mlflow is not installed (pip install \"eigen[mlflow]\")")


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    return (tmp_path / "mlruns").as_uri()


def point(step, loss=1.0):
    return LogPoint(step=step, loss=loss, lr=0.1, images_per_s=100.0, seconds=1.0)


@mlflow
def test_a_resumed_sitting_goes_on_in_the_same_runs_and_logs_each_result_once(tmp_path, store):
    from eigen.tracking.mlflow_runs import MlflowRuns
    folder, said = run_folder(tmp_path), []
    first = MlflowRuns(store, said.append)
    first.started(folder)
    first.logged("g1c0", "T1", point(10), None)
    first.logged("g1c0", "T1", point(20, loss=0.5), 50.0)
    first.result(record())
    first.close()
    second = MlflowRuns(store, said.append)  # --resume: a new process
    second.started(folder)
    second.result(record())  # a steady state announces again a result recorded before a kill
    second.logged("g1c0", "T2", point(80, loss=0.25), 70.0)
    second.result(record(stage="T2", until=80, fitness=70.0))
    second.result(record(id="g1c1", status="diverged", fitness=10.0))
    second.close()
    (parent,), nested = mlflow_runs(store)
    assert json.loads((folder / "mlflow.json").read_text()) == {"runs": {store: parent.info.run_id}}
    assert parent.data.params == {"strategy": "eigen", "dataset": "synthetic", "population": "4",
                                  "resolved.stage_ends": "[20, 80, 100]", "resolved.schedule.lr": "0.1"}
    runs = {r.info.run_name: r for r in nested}
    assert sorted(runs) == ["g1c0", "g1c1"] and said == []
    child = runs["g1c0"].info.run_id
    assert history(store, child, "loss") == [(10, 1.0), (20, 0.5), (80, 0.25)]
    assert history(store, child, "val_accuracy") == [(20, 50.0), (80, 70.0)]
    assert history(store, child, "fitness") == [(20, 50.0), (80, 70.0)]
    assert runs["g1c0"].data.params == {"key": "kg1c0", "parent": "g0", "generation": "1", "mutations": "add-conv n3",
                                        "params": "1000", "flops": "20000"}
    assert {r.info.run_name: r.info.status for r in nested} == {"g1c0": "FINISHED", "g1c1": "FAILED"}
    assert runs["g1c1"].data.tags["status"] == "diverged" and parent.info.status == "FINISHED"


@mlflow
def test_points_from_several_training_threads_all_arrive(tmp_path, store):
    from eigen.tracking.mlflow_runs import MlflowRuns
    runs = MlflowRuns(store, print)
    runs.started(run_folder(tmp_path))

    def train(individual):
        for step in range(1, 21):
            runs.logged(individual, "T1", point(step, loss=1 / step), None)
    threads = [threading.Thread(target=train, args=(f"g1c{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    runs.close()
    _, nested = mlflow_runs(store)
    assert sorted(r.info.run_name for r in nested) == ["g1c0", "g1c1", "g1c2", "g1c3"]  # one run each, none twice
    assert all(history(store, r.info.run_id, "loss") == [(s, pytest.approx(1 / s)) for s in range(1, 21)]
               for r in nested)


@mlflow
def test_a_failing_mlflow_is_said_once_and_the_search_goes_on(tmp_path, store, monkeypatch):
    from eigen.tracking.mlflow_runs import MlflowRuns
    said = []
    runs = MlflowRuns(store, said.append)
    runs.started(run_folder(tmp_path))

    def gone(*args, **kwargs):
        raise ConnectionError("the server went away")
    monkeypatch.setattr(runs.client, "log_batch", gone)
    worker = threading.Thread(target=lambda: runs.logged("g1c0", "T1", point(10), None))  # a training thread
    worker.start()
    worker.join()
    assert said == []  # a training thread says nothing: the search's thread will
    for n in range(3):
        runs.result(record(id=f"g1c{n}"))
    runs.close()
    assert len(said) == 1
    assert said[0].startswith(f"MLflow at {store} failed (ConnectionError: the server went away); the search goes on")


def test_mlflow_not_installed_is_one_sentence(monkeypatch):
    from eigen.tracking import mlflow_runs
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    assert mlflow_runs.mlflow_problem("http://localhost:5000") == (
        "--mlflow needs the mlflow package, which is not installed; install it with pip install \"eigen[mlflow]\" "
        "or leave out --mlflow")


@mlflow
def test_a_server_where_nothing_answers_is_said_at_once():
    from eigen.tracking.mlflow_runs import mlflow_problem
    started = time.monotonic()
    problem = mlflow_problem("http://127.0.0.1:1")
    assert problem.startswith("--mlflow http://127.0.0.1:1: nothing answers at 127.0.0.1:1 (")
    assert time.monotonic() - started < 10  # MLflow itself retries for about four minutes


@mlflow
def test_a_file_store_mlflow_refuses_says_how_to_allow_it(tmp_path, monkeypatch):
    from eigen.tracking.mlflow_runs import mlflow_problem
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    problem = mlflow_problem((tmp_path / "mlruns").as_uri())
    if problem is None:
        pytest.skip("this MLflow still writes plain-file stores without being asked")
    assert "MLFLOW_ALLOW_FILE_STORE=true" in problem and "sqlite:///mlflow.db" in problem
    assert problem.count(";") == 1  # one sentence, not MLflow's paragraph


@mlflow
def test_a_sqlite_store_works_out_of_the_extra(tmp_path, monkeypatch):
    from eigen.tracking.mlflow_runs import MlflowRuns, mlflow_problem
    monkeypatch.chdir(tmp_path)  # MLflow puts a sqlite store's artefacts in ./mlruns
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert mlflow_problem(uri) is None
    runs = MlflowRuns(uri, print)
    runs.started(run_folder(tmp_path))
    runs.result(record())
    runs.close()
    (parent,), (child,) = mlflow_runs(uri)
    assert history(uri, child.info.run_id, "fitness") == [(20, 50.0)]


@mlflow
def test_a_failed_result_a_killed_sitting_logged_ends_failed_after_the_resume(tmp_path, store):
    """A kill leaves the failed individual's run RUNNING; the resumed sitting that hears its result
    again ends it FAILED, as it went, not FINISHED."""
    from eigen.tracking.mlflow_runs import MlflowRuns
    folder = run_folder(tmp_path)
    killed = MlflowRuns(store, print)
    killed.started(folder)
    killed.result(record(id="g1c1", status="diverged", fitness=10.0))  # no close(): the process died
    resumed = MlflowRuns(store, print)
    resumed.started(folder)
    resumed.result(record(id="g1c1", status="diverged", fitness=10.0))  # announced again
    resumed.close()
    _, nested = mlflow_runs(store)
    assert {r.info.run_name: r.info.status for r in nested} == {"g1c1": "FAILED"}


@mlflow
def test_a_malformed_port_is_one_sentence():
    from eigen.tracking.mlflow_runs import mlflow_problem
    problem = mlflow_problem("http://localhost:50OO")
    assert problem.startswith("--mlflow http://localhost:50OO: MLflow cannot keep runs there (ValueError: ")
