"""`eigen search --tensorboard --mlflow URI` for real (CPU, synthetic data, two trainings at once):
one HPARAMS row and one nested MLflow run per individual, holding what history.jsonl and
metrics.csv hold; a steady-state strategy's individuals the same; a killed and resumed search goes
on in the same MLflow run, each result logged once."""
from __future__ import annotations

import importlib.util
import io
import json
from dataclasses import replace

import pytest

from eigen.cli import main
from eigen.commands.search import search_command
from eigen.run_folder.folder import RunFolder
from eigen.engine.record import HistoryRecord
from eigen.training.metrics import read_metrics
from eigen.views.evolution_progress import PlainEvolutionProgress
from eigen.views.search_progress import PlainProgress
from tests.search.test_search import Killed, Scripted
from tests.search.test_search_run import TINY, tiny_config
from tests.tracking.tables import hparams_table, history, mlflow_runs, session_starts

pytest.importorskip("tensorboard")
HAS_MLFLOW = importlib.util.find_spec("mlflow") is not None
needs_mlflow = pytest.mark.skipif(not HAS_MLFLOW, reason="mlflow is not installed (pip install \"eigen[mlflow]\")")


@pytest.fixture
def file_store(tmp_path, monkeypatch):
    """An MLflow store in plain files under tmp_path (MLflow 3 keeps one only when asked to)."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    return (tmp_path / "mlruns").as_uri()


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory):
    """One generation of TINY with both trackers and --parallel 2: (run folder, MLflow URI or None)."""
    root = tmp_path_factory.mktemp("tracked")
    uri = (root / "mlruns").as_uri() if HAS_MLFLOW else None
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
        mlflow = ["--mlflow", uri] if uri else []
        args = [*TINY[:TINY.index("--max-generations")], "--max-generations", "1", "--parallel", "2"]
        assert main(["search", *args, "--tensorboard", *mlflow, "--out", str(root / "run")]) == 0
    return RunFolder(root / "run"), uri


def latest_records(folder: RunFolder) -> dict[str, HistoryRecord]:
    """Each individual's last record (the stage it reached)."""
    return {r.id: r for r in map(HistoryRecord.from_json, folder.read_history())}


def test_the_hparams_tab_has_one_row_per_individual_in_its_own_run(tracked_run):
    folder, _ = tracked_run
    records = latest_records(folder)
    runs, rows = hparams_table(folder.path / "tensorboard")
    assert runs == sorted(records) and sorted(rows) == sorted(records)  # no stray run, no missing row
    for id, r in records.items():
        row = rows[id]
        assert row["sessions"] == [id]  # the row is the individual's own run, beside its curves
        assert row["hparams"] == {"individual": id, "key": r.key, "parent": r.parent, "generation": 1,
                                  "mutations": len(r.mutations), "params": r.params, "flops": r.flops}
        assert row["metrics"]["result/fitness"] == pytest.approx(r.value)  # at the stage it reached
        assert row["metrics"]["result/val_accuracy"] == pytest.approx(r.accuracy[r.stage])
        assert row["metrics"]["result/iterations"] == r.until
        if not r.reused_from:
            assert {"train/loss", "train/lr", "val/accuracy"} <= set(row["metrics"])
    assert len({r.until for r in records.values()}) > 1  # some stopped at T1 or T2: the table shows where
    assert all(session_starts(folder.path / "tensorboard" / id) == 1 for id in records)


@needs_mlflow
def test_mlflow_has_the_search_run_and_one_nested_run_per_individual(tracked_run):
    folder, uri = tracked_run
    (parent,), nested = mlflow_runs(uri)
    assert json.loads((folder.path / "mlflow.json").read_text()) == {"runs": {uri: parent.info.run_id}}
    assert parent.info.run_name == "run" and parent.info.status == "FINISHED"
    assert parent.data.tags["strategy"] == "eigen" and parent.data.tags["dataset"] == "synthetic"
    assert parent.data.tags["run_folder"] == str(folder.path.resolve())
    config = json.loads(folder.config.read_text())
    assert parent.data.params["population"] == "4" and parent.data.params["parallel"] == "2"
    assert parent.data.params["resolved.stage_ends"] == str(config["resolved"]["stage_ends"])
    assert parent.data.params["resolved.schedule.lr"] == str(config["resolved"]["schedule"]["lr"])

    records = [HistoryRecord.from_json(r) for r in folder.read_history()]
    by_name = {run.info.run_name: run for run in nested}
    assert sorted(by_name) == sorted({r.id for r in records})
    assert all(run.data.tags["mlflow.parentRunId"] == parent.info.run_id for run in nested)
    points = read_metrics(folder.path / "metrics.csv", latest=False)
    for id, run in by_name.items():
        mine = [r for r in records if r.id == id]
        first, last = mine[0], mine[-1]
        assert run.data.params == {"key": first.key, "parent": first.parent, "generation": "1",
                                   "mutations": "; ".join(first.mutations), "params": str(first.params),
                                   "flops": str(first.flops)}
        assert run.data.tags["stage"] == last.stage and run.data.tags["status"] == last.status
        assert history(uri, run.info.run_id, "fitness") == [(r.until, pytest.approx(r.value)) for r in mine]
        curve = [p for p in points if p["individual"] == id]
        for key in ("loss", "lr", "images_per_s"):  # the points metrics.csv got, at the same iterations
            assert history(uri, run.info.run_id, key) == [(p["iteration"], pytest.approx(p[key], rel=1e-6))
                                                          for p in curve]
        ends = [(r.until, pytest.approx(r.accuracy[r.stage])) for r in mine]
        assert history(uri, run.info.run_id, "val_accuracy") == ends  # a reused result's too (it has no curve)
        from mlflow import MlflowClient
        artefact = MlflowClient(tracking_uri=uri).download_artifacts(run.info.run_id, "genome.json", str(folder.path.parent))
        assert json.loads(open(artefact).read()) == first.genome


def killed_then_resumed(folder, config, individuals, progress):
    """A sitting killed after its 7th training (EIGEN: mid-generation), then resumed to the end."""
    with pytest.raises(Killed):
        search_command(config, progress=progress(io.StringIO()), individuals=individuals(kill_after=7))
    resumed = replace(tiny_config(None, max_generations=config.max_generations), out=None, resume=str(folder),
                      tensorboard=False, mlflow=None)  # a resumed run keeps its own trackers
    assert search_command(resumed, progress=progress(io.StringIO()), individuals=individuals()) == 0


@pytest.mark.parametrize("strategy", ["eigen", "large-scale"])
def test_a_killed_search_resumes_into_the_same_runs_each_result_once(tmp_path, strategy, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri() if HAS_MLFLOW else None
    folder = tmp_path / "run"
    config = tiny_config(folder, strategy=strategy, tensorboard=True, mlflow=uri, parallel=2,
                         **({"population": 4, "child_steps": 20, "top_k": 1} if strategy != "eigen" else {}))
    progress = PlainProgress if strategy == "eigen" else PlainEvolutionProgress
    killed_then_resumed(folder, config, lambda **kill: Scripted(**kill), progress)

    records = [HistoryRecord.from_json(r) for r in RunFolder(folder).read_history()]
    ids = sorted({r.id for r in records})
    runs, rows = hparams_table(folder / "tensorboard")
    assert runs == ids and sorted(rows) == ids
    assert all(session_starts(folder / "tensorboard" / id) == 1 for id in ids)
    if strategy != "eigen":
        assert all(row["hparams"]["event"] == r.event for r in records for row in [rows[r.id]])
    if uri is None:
        return
    (parent,), nested = mlflow_runs(uri)  # the resumed sitting went on in the first one's run
    assert json.loads((folder / "mlflow.json").read_text()) == {"runs": {uri: parent.info.run_id}}
    assert sorted(run.info.run_name for run in nested) == ids
    for run in nested:
        mine = [r for r in records if r.id == run.info.run_name]
        assert history(uri, run.info.run_id, "fitness") == [(r.until, pytest.approx(r.value)) for r in mine]
        assert run.info.status == ("FINISHED" if mine[-1].ok else "FAILED")
    assert parent.info.status == "FINISHED"
