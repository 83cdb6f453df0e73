"""The teacher: DenseNet-BC sizes, a tiny ensemble trained end to end, exact cached logits, mimicry in the search."""
import copy
import io
import json

import pytest
import torch

from eigen.commands.train_teacher import train_teacher_command
from eigen.config import TeacherConfig
from eigen.data.datasets import load_splits
from eigen.data.device_data import NUM_VIEWS, DeviceData
from eigen.errors import EigenError
from eigen.training.densenet import DenseNetBC
from eigen.training.teacher import ensemble_logits, load_member, teacher_logits
from eigen.views.search_progress import PlainProgress

SIZE = 8  # 8 x 8 synthetic images: the cache covers 2,700 images x 162 views, fast enough on a CPU


@pytest.mark.parametrize("depth, growth, published_millions", [(100, 12, 0.8), (40, 60, 4.3), (250, 24, 15.3),
                                                               (190, 40, 25.6)])
def test_densenet_bc_has_the_published_parameter_counts(depth, growth, published_millions):
    # Huang et al. Table 2 (and EIGEN's teacher member, 40/60): counts as published, to their last digit.
    params = sum(p.numel() for p in DenseNetBC(depth, growth, 10).parameters())
    assert round(params / 1e6, 1) == published_millions


def test_densenet_bc_refuses_a_depth_it_cannot_build():
    with pytest.raises(ValueError, match="6n \\+ 4"):
        DenseNetBC(41, 12)


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    folder = tmp_path_factory.mktemp("teacher") / "synthetic"
    config = TeacherConfig(dataset="synthetic", image_size=SIZE, gpu=-1, out=str(folder), members=2, depth=10,
                           growth=4, epochs=2)
    lines = []
    assert train_teacher_command(config, say=lines.append) == 0
    return folder, config, lines


def test_a_tiny_teacher_trains_and_describes_its_ensemble(teacher):
    folder, config, lines = teacher
    ensemble = json.loads((folder / "ensemble.json").read_text())
    assert [m["file"] for m in ensemble["members"]] == ["member-0.pt", "member-1.pt"]
    assert all(0 <= m["val_accuracy"] <= 100 and m["gpu_seconds"] > 0 for m in ensemble["members"])
    assert ensemble["ensemble"]["test_accuracy"] > 40  # chance is 12.5%
    assert not list(folder.glob("*.partial.pt"))
    again = []
    train_teacher_command(config, say=again.append)  # a second run keeps what is trained
    assert sum("already trained" in line for line in again) == 2


def test_cached_logits_equal_a_fresh_forward_pass_on_that_exact_view(teacher):
    folder, _, _ = teacher
    data = DeviceData(load_splits("synthetic", image_size=SIZE), "cpu")
    cached = teacher_logits(folder, data)
    assert cached.shape == (data.num_train, NUM_VIEWS, 8) and cached.dtype == torch.float16
    ensemble = json.loads((folder / "ensemble.json").read_text())
    models = [load_member(torch.load(folder / m["file"], weights_only=True), "cpu") for m in ensemble["members"]]
    gen = torch.Generator().manual_seed(0)
    idx = torch.randint(0, data.num_train, (64,), generator=gen)
    views = torch.randint(0, NUM_VIEWS, (64,), generator=gen)
    fresh = ensemble_logits(models, data.augmented(idx, views))
    torch.testing.assert_close(cached[idx, views].float(), fresh, atol=2e-2, rtol=1e-2)


def test_a_stale_cache_is_rebuilt_and_a_wrong_class_count_refused(teacher):
    folder, _, _ = teacher
    data = DeviceData(load_splits("synthetic", image_size=SIZE), "cpu")
    first = teacher_logits(folder, data)
    (path,) = folder.glob("logits-*.pt")
    torch.save({"key": "0000", "logits": torch.zeros(3)}, path)  # damaged / from another teacher
    rebuilt = []
    torch.testing.assert_close(teacher_logits(folder, data, say=rebuilt.append), first)
    assert rebuilt and "building" in rebuilt[0]
    other = copy.copy(data)
    other.num_classes = 10
    with pytest.raises(EigenError, match="predicts 8 classes, the data has 10"):
        teacher_logits(folder, other)


def test_a_search_with_a_teacher_trains_every_child_with_eq3(teacher, tmp_path, monkeypatch):
    from tests.search.test_search_run import tiny_config

    import eigen.training.trainer
    from eigen.commands.search import search_command
    folder, _, _ = teacher
    calls = []
    real = eigen.training.trainer.mimicry_loss
    monkeypatch.setattr(eigen.training.trainer, "mimicry_loss", lambda *a, **k: calls.append(1) or real(*a, **k))
    log = io.StringIO()
    search_command(tiny_config(tmp_path / "run", teacher=str(folder), max_generations=1, image_size=SIZE), progress=PlainProgress(log))
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["resolved"]["mimicry"] is True and "mimicry on" in log.getvalue()
    assert calls  # the KD loss of Eq. 3 ran
