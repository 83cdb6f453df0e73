"""metrics.csv and TensorBoard: the columns, one row per logged point, a torn line cut off before the
next append, rows from a resumed run appended, and event files when the extra is installed."""
import csv

import pytest
import torch

from eigen import build_model
from eigen.data import load_splits
from eigen.data.device_data import DeviceData
from eigen.genome.dna import Genome
from eigen.training.individual_training import TorchIndividuals
from eigen.training.metrics import COLUMNS, LogPoint, MetricsLog, read_metrics, training_name
from eigen.training.trainer import Schedule, Trainer
from eigen.training.job import Training
from tests.genome.test_genome import CONV, chain


@pytest.fixture(scope="module")
def data():
    return DeviceData(load_splits("synthetic", image_size=16), "cpu")


def point(step, loss=1.0):
    return LogPoint(step=step, loss=loss, lr=0.1, images_per_s=1000.0, seconds=0.5)


def test_the_trainer_logs_by_iteration_with_the_schedules_lr(data):
    schedule = Schedule(total=100, milestones=(60, 80), batch_size=8)
    trainer = Trainer(build_model(Genome.from_dict(chain(CONV), 16), data.num_classes, 16), data, schedule)
    points = []
    result = trainer.train(until=70, on_log=points.append)
    assert trainer.log_every == 2  # 100 iterations / 50 points
    assert [p.step for p in points] == list(range(2, 70, 2))  # the end of the call comes back as `last`
    assert result.last.step == 70 and result.last.lr == pytest.approx(0.01)  # past the milestone at 60
    assert points[0].lr == 0.1 and all(p.images_per_s > 0 and p.seconds > 0 for p in points)
    # The windows' losses average to the call's mean loss (each window is 2 iterations, the last 2).
    windows = [p.loss for p in points] + [result.last.loss]
    assert sum(windows) / len(windows) == pytest.approx(result.loss, rel=1e-5)
    later = trainer.train(until=75, on_log=points.append)
    assert later.last.step == 75 and points[-1].step == 74  # a second call starts a new window


def test_rows_have_the_columns_and_a_torn_line_is_cut_before_appending(tmp_path):
    log = MetricsLog(tmp_path)
    training = log.training("g1c0", "T1")
    training(point(10))
    training.end(point(20, loss=0.5), val_accuracy=61.25)
    with open(tmp_path / "metrics.csv", "a") as f:
        f.write("g1c1,T1,3")  # a kill in the middle of an append
    resumed = MetricsLog(tmp_path)  # the resumed run's log goes on appending
    resumed.training("g1c1", "T1").end(point(20, loss=float("nan")), None)
    with open(tmp_path / "metrics.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == COLUMNS and all(len(r) == len(COLUMNS) for r in rows)
    assert [r[:3] for r in rows[1:]] == [["g1c0", "T1", "10"], ["g1c0", "T1", "20"], ["g1c1", "T1", "20"]]
    parsed = read_metrics(tmp_path / "metrics.csv")
    assert parsed[1]["val_accuracy"] == 61.25 and parsed[0]["val_accuracy"] is None
    assert parsed[2]["loss"] != parsed[2]["loss"]  # nan: a diverged training says so


def test_a_retrained_point_is_read_once_the_latest(tmp_path):
    log = MetricsLog(tmp_path)
    log.training("c0", "final")(point(10, loss=2.0))  # the attempt a kill interrupted
    log.training("c0", "final")(point(10, loss=1.5))  # the retraining from the last checkpoint
    assert [r["loss"] for r in read_metrics(tmp_path / "metrics.csv")] == [1.5]
    assert len(read_metrics(tmp_path / "metrics.csv", latest=False)) == 2


def test_a_training_is_named_after_its_checkpoint():
    assert training_name("run/individuals/g3c1-T2.pt", "train") == ("g3c1", "T2")
    assert training_name("run/individuals/c7.pt", "train") == ("c7", "train")
    assert training_name("final/candidates/c2.pt", "final") == ("c2", "final")


def test_an_individual_writes_its_curve_and_its_validation_row(tmp_path, data):
    individuals = TorchIndividuals(data, Schedule(total=40, milestones=(30, 35), batch_size=8), metrics=MetricsLog(tmp_path))
    genome = Genome.from_dict(chain(CONV), image_size=16)
    t1 = individuals.train(Training(genome, 0, 20, tmp_path / "g1c0-T1.pt"))
    individuals.train(Training(genome, 0, 40, tmp_path / "g1c0-T2.pt", start_from=tmp_path / "g1c0-T1.pt"))
    rows = read_metrics(tmp_path / "metrics.csv")
    assert [(r["stage"], r["iteration"]) for r in rows] == [("T1", i) for i in range(1, 21)] + [("T2", i) for i in range(21, 41)]
    ends = [r for r in rows if r["val_accuracy"] is not None]
    assert [r["iteration"] for r in ends] == [20, 40] and ends[0]["val_accuracy"] == pytest.approx(t1.fitness)
    # The lr in force for the row's last iteration (iteration i trains step i - 1): x0.1 at 30 and at 35.
    assert all(r["lr"] == pytest.approx(genome.learning_rate * 0.1 ** sum(r["iteration"] > m for m in (30, 35)))
               for r in rows)


def test_tensorboard_event_files_hold_the_scalars(tmp_path, data):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    individuals = TorchIndividuals(data, Schedule(total=20, milestones=(15,), batch_size=8), metrics=MetricsLog(tmp_path, tensorboard=True))
    individuals.train(Training(Genome.from_dict(chain(CONV), image_size=16), 0, 20, tmp_path / "c0.pt"))
    (events,) = (tmp_path / "tensorboard" / "c0").glob("events.out.tfevents.*")
    accumulator = EventAccumulator(str(events.parent))
    accumulator.Reload()
    assert {"train/loss", "train/lr", "train/images_per_s", "val/accuracy"} <= set(accumulator.Tags()["scalars"])
    assert [e.step for e in accumulator.Scalars("train/loss")] == list(range(1, 21))
    assert [e.step for e in accumulator.Scalars("val/accuracy")] == [20]


def test_tensorboard_without_the_package_is_one_sentence(monkeypatch):
    import importlib.util
    from eigen.training import metrics
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    assert metrics.tensorboard_missing() == ("--tensorboard needs the tensorboard package, which is not installed; "
                                             "install it with pip install \"eigen[tensorboard]\" or leave out --tensorboard")
