"""EIGEN §4.1's preprocessing (issue #30, item 1): GCN + ZCA whitening fitted on the training split
only, kept in the run and final folders, inside every export (which still takes [0, 1] images and
agrees with eval), and refused with one sentence when it does not match the run or the data."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from eigen.cli import main
from eigen.data.datasets import ImageSet, load_splits
from eigen.data.device_data import DeviceData
from eigen.data.preprocess import FILE, GCN_SCALE, GcnZca, fit, gcn, load, prepared
from tests.search.test_search_run import TINY

GCN_RUN = [*TINY[:TINY.index("--max-generations")], "--max-generations", "1", "--preprocess", "gcn-zca"]


def images(n, seed, size=8):
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, 3, size, size), dtype=np.uint8))


def test_gcn_gives_every_image_zero_mean_and_the_same_norm():
    flat = gcn(images(20, 0).flatten(1).double() / 255)
    assert torch.allclose(flat.mean(dim=1), torch.zeros(20, dtype=torch.float64), atol=1e-9)
    assert torch.allclose(flat.norm(dim=1), torch.full((20,), GCN_SCALE, dtype=torch.float64))


def test_the_whitened_training_images_are_decorrelated():
    x = images(2000, 1, size=4)  # 48 dimensions, many more images
    white = fit("gcn-zca", x)(x.float() / 255).flatten(1).double()
    covariance = torch.cov(white.T)
    values = torch.linalg.eigvalsh(covariance)
    # ZCA with its bias: eigenvalue s becomes s / (s + 0.1), just under one for every real direction
    assert values.max() < 1 + 1e-3 and values[1:].min() > 0.9  # GCN removes one direction (the mean)
    # ... and uncorrelated, but for the direction GCN removed (every pixel alike): I - 11^T / D
    d = covariance.shape[0]
    expected = torch.eye(d, dtype=torch.float64) - torch.full((d, d), 1 / d, dtype=torch.float64)
    assert (covariance - expected).abs().max() < 0.01


def test_the_whitening_is_fitted_on_the_training_split_only():
    splits = load_splits("synthetic", image_size=8)
    other = dataclasses.replace(splits, val=ImageSet(splits.val.x[::-1].copy(), splits.val.y),
                                test=ImageSet(255 - splits.test.x, splits.test.y))
    a, b = (DeviceData(s, with_test=True, preprocess="gcn-zca").preprocess for s in (splits, other))
    assert torch.equal(a.whiten, b.whiten) and torch.equal(a.mean, b.mean)
    train_only = fit("gcn-zca", torch.from_numpy(splits.train.x).permute(0, 3, 1, 2).contiguous())
    assert torch.allclose(a.whiten, train_only.whiten) and torch.allclose(a.mean, train_only.mean)


def test_a_kept_whitening_is_read_back_and_refused_for_other_data(tmp_path):
    splits = load_splits("synthetic", image_size=8)
    first = prepared("gcn-zca", splits, tmp_path)
    assert (tmp_path / FILE).exists() and isinstance(first, GcnZca)
    again = prepared("gcn-zca", splits, tmp_path)
    assert torch.equal(again.whiten, first.whiten)
    from eigen.errors import EigenError
    with pytest.raises(EigenError, match="was fitted on other data"):
        load(tmp_path / FILE, "0123456789abcdef")
    assert prepared("standard", splits, tmp_path) == "standard"  # recomputed, never kept


@pytest.fixture(scope="module")
def whitened_run(tmp_path_factory):
    """A one-generation gcn-zca search and its duplication (one candidate)."""
    run = tmp_path_factory.mktemp("gcn-zca") / "run"
    assert main(["search", *GCN_RUN, "--out", str(run)]) == 0
    assert main(["duplicate", str(run / "best.json"), "--gpu", "-1", "--schedule-scale", "0.004",
                 "--candidates", "1"]) == 0
    return run


def test_a_whitened_run_records_its_preprocessing_everywhere(whitened_run):
    run = whitened_run
    assert json.loads((run / "config.json").read_text())["settings"]["preprocess"] == "gcn-zca"
    assert json.loads((run / "best.json").read_text())["data"]["preprocess"] == "gcn-zca"
    assert (run / FILE).exists() and (run / "final" / FILE).exists()
    metrics = json.loads((run / "final" / "metrics.json").read_text())
    assert metrics["normalization"]["kind"] == "gcn-zca" and metrics["normalization"]["file"] == FILE
    assert torch.load(run / "best.pt", weights_only=True)["preprocess"] == "gcn-zca"
    assert torch.equal(load(run / FILE).whiten, load(run / "final" / FILE).whiten)


def test_the_export_takes_plain_images_and_agrees_with_eval(whitened_run, capsys):
    from eigen.commands.export import load_program
    from eigen.training.individual_training import load_model
    final = whitened_run / "final"
    splits = load_splits("synthetic", image_size=16)
    data = DeviceData(splits, with_test=True, preprocess=load(final / FILE))
    program, _ = load_program(final / "model.pt2")
    network = load_model(final / "candidates" / "c0.pt").eval()
    x = data.test_x[:64]
    with torch.no_grad():
        exported = program(x.float() / 255).softmax(dim=1)
        direct = network(data.normalize(x)).softmax(dim=1)
    assert (exported - direct).abs().max() < 1e-4
    for target in (final, final / "model.pt2", whitened_run / "best.json"):
        assert main(["eval", str(target), "--gpu", "-1", "--json"]) == 0
        capsys.readouterr()
    assert main(["eval", str(final), "--gpu", "-1", "--json"]) == 0
    by_folder = json.loads(capsys.readouterr().out)["top1"]
    assert main(["eval", str(final / "model.pt2"), "--gpu", "-1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["top1"] == by_folder


def test_resuming_with_another_preprocessing_is_one_sentence(whitened_run, capsys):
    assert main(["search", "--resume", str(whitened_run), "--gpu", "-1", "--preprocess", "standard"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"eigen search: this run was begun with --preprocess gcn-zca, and its networks were trained on "
                   f"images preprocessed that way; resume it without --preprocess (or with --preprocess gcn-zca), "
                   f"or start a new run with --preprocess standard"]


def test_a_duplication_continued_with_another_preprocessing_is_refused(whitened_run, capsys):
    assert main(["duplicate", str(whitened_run / "best.json"), "--gpu", "-1", "--schedule-scale", "0.004",
                 "--candidates", "1", "--preprocess", "standard"]) == 2
    assert "was started with --preprocess gcn-zca" in capsys.readouterr().err


def test_an_unknown_preprocessing_is_one_sentence(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["search", "--preprocess", "pca", "--gpu", "-1"])
    assert stop.value.code == 2
    assert "invalid choice: 'pca'" in capsys.readouterr().err


def test_a_teacher_sees_images_its_own_way_whatever_the_student_sees(tmp_path):
    from eigen.training.teacher import teacher_preprocess
    splits = load_splits("synthetic", image_size=8)
    standard, whitened = DeviceData(splits), DeviceData(splits, preprocess="gcn-zca")
    prepared("gcn-zca", splits, tmp_path)  # the teacher folder's preprocess.pt
    assert teacher_preprocess(tmp_path, {}, standard) is standard.preprocess  # a teacher from before: standard
    assert torch.equal(teacher_preprocess(tmp_path, {"preprocess": "gcn-zca"}, standard).whiten,
                       whitened.preprocess.whiten)
    mine = teacher_preprocess(tmp_path, {"preprocess": "standard"}, whitened)
    assert mine.kind == "standard" and torch.equal(mine.mean, standard.preprocess.mean)


@pytest.mark.slow  # a teacher's logits cache of 162 views: ~1 min on 2 cores
def test_a_whitened_teacher_gives_the_logits_of_the_views_as_its_members_saw_them(tmp_path):
    """A teacher trained on gcn-zca images teaches a standard search: the cached logits of each view
    are its members' on that view under the teacher's own preprocessing, not the student's."""
    from eigen.training.teacher import build_member, load_member, teacher_logits
    teacher = tmp_path / "teacher"
    assert main(["train-teacher", "--dataset", "synthetic", "--image-size", "8", "--gpu", "-1", "--members", "1",
                 "--depth", "10", "--growth", "4", "--epochs", "1", "--preprocess", "gcn-zca",
                 "--out", str(teacher)]) == 0
    ensemble = json.loads((teacher / "ensemble.json").read_text())
    assert ensemble["preprocess"] == "gcn-zca" and (teacher / FILE).exists()
    splits = load_splits("synthetic", image_size=8)
    student = DeviceData(splits)  # standard
    logits = teacher_logits(teacher, student)
    member = load_member(torch.load(teacher / "member-0.pt", weights_only=True), "cpu")
    whiten = load(teacher / FILE, student.fingerprint)
    idx, views = torch.arange(5), torch.tensor([0, 7, 81, 100, 161])
    with torch.no_grad():
        expected = member(whiten(student.views_of(idx, views).float() / 255).contiguous(memory_format=torch.channels_last))
    assert torch.allclose(logits[idx, views].float(), expected, atol=1e-2)
    assert build_member(ensemble["architecture"]) is not None  # the architecture with its preprocess still builds


def test_the_data_and_a_worker_spec_keep_their_own_copy_of_a_fitted_preprocessing():
    """Module.to moves in place: a search hands one fitted gcn-zca to its DeviceData (moved to the
    GPU) and to its WorkerSpec (moved to the CPU); neither may move the other's."""
    from eigen.executors.worker import WorkerSpec
    from eigen.training.trainer import Schedule
    splits = load_splits("synthetic", image_size=8)
    fitted = prepared("gcn-zca", splits, None)
    data = DeviceData(splits, preprocess=fitted)
    spec = WorkerSpec.individuals(splits, Schedule(), preprocess=fitted)
    fitted.to("meta")  # what a move to another device does to the caller's module
    assert data.preprocess.whiten.device.type == "cpu" and spec.preprocess.whiten.device.type == "cpu"
    assert data.preprocess is not spec.preprocess
    assert torch.isfinite(data.normalize(data.val_x[:4])).all()
