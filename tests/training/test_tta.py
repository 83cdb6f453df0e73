"""Test-time augmentation (issue #30, item 4): the mean of exactly the views it names, each one a view
the training augmentation makes; `eigen eval --tta` on a final folder and on its export agree; the
duplication records test_accuracy_tta beside the plain test accuracy, which it still leads with."""
from __future__ import annotations

import json

import pytest
import torch

from eigen import build_model
from eigen.cli import main
from eigen.data.datasets import load_splits
from eigen.data.device_data import PAD, DeviceData, view_index
from eigen.genome.dna import Genome
from eigen.training.tta import tta_probabilities, tta_views, view_of
from tests.commands.test_final import small_genome, write_best


def test_each_view_is_one_the_training_augmentation_makes():
    data = DeviceData(load_splits("synthetic", image_size=16))
    idx = torch.arange(6)
    raw = data.train_padded[idx][:, :, PAD:-PAD, PAD:-PAD]
    for kind, count in (("flip", 2), ("flip-translate", 10)):
        views = tta_views(kind)
        assert len(views) == len(set(views)) == count
        for dy, dx, mirrored in views:
            trained = data.views_of(idx, torch.full_like(idx, view_index(PAD + dy, PAD + dx, int(mirrored))))
            assert torch.equal(view_of(raw, dy, dx, mirrored), trained)


@pytest.mark.parametrize("kind", ["flip", "flip-translate"])
def test_tta_is_the_mean_softmax_over_the_views_it_names(kind):
    splits = load_splits("synthetic", image_size=16)
    data = DeviceData(splits, with_test=True, preprocess="gcn-zca")
    torch.manual_seed(0)
    model = build_model(Genome.from_dict(small_genome(), 16), splits.num_classes, 16).eval()
    got = tta_probabilities([model], data, kind)
    x = data.test_x[:10]
    with torch.no_grad():
        expected = torch.stack([model(data.normalize(view_of(x, dy, dx, m))).softmax(dim=1)
                                for dy, dx, m in tta_views(kind)]).mean(dim=0)
    assert got.shape == (len(data.test_y), splits.num_classes)
    assert torch.allclose(got[:10], expected, atol=1e-6)


@pytest.fixture(scope="module")
def final(tmp_path_factory):
    root = tmp_path_factory.mktemp("tta")
    best = write_best(root / "best.json", small_genome())
    assert main(["duplicate", str(best), "--gpu", "-1", "--schedule-scale", "0.004", "--candidates", "1",
                 "--out", str(root / "final")]) == 0
    return root / "final"


def test_the_duplication_records_tta_beside_the_plain_test_accuracy(final):
    model = json.loads((final / "metrics.json").read_text())["model"]
    assert model["tta"] == "flip" and 0 <= model["test_accuracy_tta"] <= 100
    assert isinstance(model["test_accuracy"], float)  # still there, still what the report leads with


def test_eval_tta_agrees_on_the_folder_and_on_its_export(final, capsys):
    results = []
    for target in (final, final / "model.pt2"):
        assert main(["eval", str(target), "--gpu", "-1", "--tta", "flip-translate", "--json"]) == 0
        results.append(json.loads(capsys.readouterr().out))
    folder, export = results
    assert folder["tta"]["kind"] == "flip-translate" and folder["tta"]["views"] == 10
    assert abs(folder["tta"]["top1"] - export["tta"]["top1"]) < 1e-9
    assert main(["eval", str(final), "--gpu", "-1", "--tta", "flip"]) == 0
    assert "with test-time augmentation (flip, 2 views): " in capsys.readouterr().out
    metrics = json.loads((final / "metrics.json").read_text())["model"]
    assert main(["eval", str(final), "--gpu", "-1", "--tta", "flip", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tta"]["top1"] == pytest.approx(metrics["test_accuracy_tta"], abs=1e-9)
