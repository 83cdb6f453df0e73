"""User-defined fitness: linear expressions parse to exact coefficients; anything else is one sentence."""
import pytest
import torch

from eigen.cli import main
from eigen.engine.fitness import Fitness, FitnessError


@pytest.mark.parametrize("expression, weights", [
    ("acc", (1, 0, 0, 0)),
    ("acc - 2*mparams", (1, -2, 0, 0)),
    ("acc-mparams/4 - 0.5 * gflops + 3", (1, -0.25, -0.5, 3)),
    ("-(gflops - acc) * 2", (2, 0, -2, 0)),
    ("0.5*(acc + acc) - mparams*1e-1", (1, -0.1, 0, 0)),
])
def test_linear_expressions_parse_to_their_coefficients(expression, weights):
    f = Fitness.parse(expression)
    assert (f.acc_weight, f.mparams_weight, f.gflops_weight, f.constant) == pytest.approx(weights)
    assert f(80.0, 3_000_000, 2_000_000_000) == pytest.approx(
        weights[0] * 80 + weights[1] * 3 + weights[2] * 2 + weights[3])


def test_plain_accuracy_is_the_accuracy_itself():
    f = Fitness.parse(" acc ")
    assert f.is_accuracy and f(71.25, 10**9, 10**12) == 71.25


@pytest.mark.parametrize("expression, says", [
    ("acc * mparams", "multiplies two of"),
    ("acc / mparams", "divides by acc, mparams, gflops or ms"),
    ("acc / 0", "divides by zero"),
    ("loss - acc", "uses 'loss'"),
    ("__import__('os').system('true')", "is not allowed"),
    ("acc ** 2", "is not allowed"),
    ("3", "does not depend on"),
    ("acc -", "is not an expression"),
    ("True * acc", "is not allowed"),
])
def test_anything_but_a_linear_combination_is_refused_with_a_sentence(expression, says):
    with pytest.raises(FitnessError, match=says.replace("(", r"\(")):
        Fitness.parse(expression)


def test_a_malformed_fitness_on_the_command_line_is_one_line_exit_2_nothing_written(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["search", "--dataset", "synthetic", "--gpu", "-1", "--fitness", "acc * mparams",
              "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and len(err.splitlines()) == 1 and "--fitness" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_majority_vote_follows_the_most_models_and_breaks_ties_by_mean_softmax():
    from eigen.data import load_splits
    from eigen.data.device_data import DeviceData
    from eigen.training.trainer import majority_vote_accuracy

    data = DeviceData(load_splits("synthetic", image_size=16), "cpu")
    labels = torch.cat([y for _, y in data.eval_batches("val")])
    k = data.num_classes

    class Says(torch.nn.Module):
        """Always answers `cls` (or the true class when cls is None) with the given confidence."""
        def __init__(self, cls, confidence=4.0):
            super().__init__()
            self.cls, self.confidence, self.calls = cls, confidence, 0

        def forward(self, x):
            start = self.calls
            self.calls += len(x)
            target = labels[start:start + len(x)] if self.cls is None else torch.full((len(x),), self.cls)
            return torch.nn.functional.one_hot(target, k).float() * self.confidence

    right_share = 100.0 * (labels == 0).float().mean().item()
    # Two right, one always "0": the majority is right everywhere.
    assert majority_vote_accuracy([Says(None), Says(None), Says(0)], data) == 100.0
    # One right, two always "0": the majority says 0, right only where the label is 0.
    assert majority_vote_accuracy([Says(None), Says(0), Says(0)], data) == pytest.approx(right_share)
    # A tie of two: the more confident model's class wins.
    assert majority_vote_accuracy([Says(None, 9.0), Says(0, 1.0)], data) == 100.0
    assert majority_vote_accuracy([Says(None, 1.0), Says(0, 9.0)], data) == pytest.approx(right_share)
