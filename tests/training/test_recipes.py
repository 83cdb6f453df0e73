"""The final training's recipe (issue #30, item 3): `--final-recipe long` trains the candidates with
a cosine learning rate, Nesterov and label smoothing for 3x the paper's iterations, is recorded in
plan.json and metrics.json, and a duplication continues only with the recipe it began with."""
from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from eigen.cli import main
from eigen.training.mimicry import mimicry_loss
from eigen.training.recipes import FINAL_RECIPES, final_schedule
from eigen.training.trainer import Schedule
from tests.commands.test_final import small_genome, write_best


def test_the_cosine_schedule_falls_from_the_learning_rate_to_zero():
    schedule = Schedule(total=1000, milestones=(), shape="cosine", lr=0.2)
    lrs = [schedule.lr_at(step) for step in range(0, 1001, 50)]
    assert lrs[0] == pytest.approx(0.2) and lrs[-1] == pytest.approx(0.0, abs=1e-12)
    assert schedule.lr_at(500) == pytest.approx(0.1)
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    assert Schedule().lr_at(15_000) == pytest.approx(0.01)  # the paper's steps are untouched


def test_long_is_three_times_the_paper_and_scales_with_it():
    long, paper = final_schedule("long", 0.01), final_schedule("paper", 0.01)
    assert long.total == 3 * paper.total and long.milestones == () and paper.milestones == (150, 200)
    assert (long.shape, long.nesterov, long.label_smoothing) == ("cosine", True, 0.1)
    assert FINAL_RECIPES["paper"] == Schedule()  # what the search trains with


def test_label_smoothing_reaches_the_hard_term_of_mimicry():
    torch.manual_seed(0)
    student, teacher, labels = torch.randn(8, 5), torch.randn(8, 5), torch.randint(0, 5, (8,))
    plain, smoothed = mimicry_loss(student, labels, teacher), mimicry_loss(student, labels, teacher, label_smoothing=0.1)
    difference = 0.1 * (F.cross_entropy(student, labels, label_smoothing=0.1) - F.cross_entropy(student, labels))
    assert smoothed - plain == pytest.approx(difference.item(), abs=1e-6)  # (1 - alpha) x the hard term's change


@pytest.fixture(scope="module")
def long_final(tmp_path_factory):
    root = tmp_path_factory.mktemp("long")
    best = write_best(root / "best.json", small_genome())
    args = ["duplicate", str(best), "--gpu", "-1", "--schedule-scale", "0.004", "--candidates", "1",
            "--final-recipe", "long", "--out", str(root / "final")]
    assert main(args) == 0
    return root / "final", args


def test_a_long_final_training_follows_its_recipe_and_says_so(long_final):
    final, _ = long_final
    metrics = json.loads((final / "metrics.json").read_text())
    plan = json.loads((final / "plan.json").read_text())
    assert metrics["final_recipe"] == "long" and plan["settings"]["final_recipe"] == "long"
    assert plan["schedule"]["total"] == 3 * final_schedule("paper", 0.004).total == 300
    assert (plan["schedule"]["shape"], plan["schedule"]["nesterov"], plan["schedule"]["label_smoothing"]) == \
        ("cosine", True, 0.1)
    from eigen.training.metrics import read_metrics
    rows = [r for r in read_metrics(final / "metrics.csv") if r["stage"] == "final"]
    lrs = [r["lr"] for r in sorted(rows, key=lambda r: r["iteration"])]
    assert len(lrs) > 5 and all(a >= b for a, b in zip(lrs, lrs[1:])) and lrs[-1] < 0.01 * lrs[0]
    assert not any(math.isclose(a, b) for a, b in zip(lrs, lrs[1:]))  # a curve, not steps
    state = torch.load(final / "candidates" / "c0.pt", weights_only=True)["trainer"]["optimizer"]
    assert state["param_groups"][0]["nesterov"] is True


def test_a_duplication_continues_only_with_its_own_recipe(long_final, capsys):
    _, args = long_final
    assert main([*args[:-4], "--out", args[-1]]) == 2  # --final-recipe left out: the default, paper
    assert "was started with --final-recipe long" in capsys.readouterr().err
    assert main(args) == 0  # the same command: the folder is complete, nothing trains again


def test_the_densenet_recipe_is_densenet_bcs_own():
    from eigen.training.recipes import TEACHER_RECIPES
    densenet = TEACHER_RECIPES["densenet"]
    schedule = densenet.schedule(densenet.epochs, 100)
    assert (densenet.epochs, densenet.batch_size, densenet.nesterov, densenet.weight_decay) == (300, 64, True, 1e-4)
    assert schedule.milestones == (15_000, 22_500) and schedule.lr_at(0) == 0.1
    assert schedule.lr_at(22_500) == pytest.approx(0.001)


@pytest.fixture(scope="module")
def densenet_teacher(tmp_path_factory):
    folder = tmp_path_factory.mktemp("teacher") / "t"
    args = ["train-teacher", "--dataset", "synthetic", "--image-size", "8", "--gpu", "-1", "--members", "1",
            "--depth", "10", "--growth", "4", "--epochs", "1", "--recipe", "densenet", "--out", str(folder)]
    assert main(args) == 0
    return folder, args


def test_a_teacher_records_its_recipe_and_trains_with_it(densenet_teacher):
    folder, _ = densenet_teacher
    recipe = json.loads((folder / "ensemble.json").read_text())["recipe"]
    assert recipe["name"] == "densenet" and recipe["batch_size"] == 64 and recipe["nesterov"] is True
    assert recipe["epochs"] == 1 and recipe["lr_steps"] == [0.5, 0.75]
    member = torch.load(folder / "member-0.pt", weights_only=True)
    assert member["architecture"]["recipe"] == "densenet"


def test_a_teacher_folder_continues_only_with_its_own_recipe(densenet_teacher, capsys):
    folder, args = densenet_teacher
    assert main([a for a in args if a not in ("--recipe", "densenet")]) == 2  # the default recipe: fast
    assert "holds a different teacher" in capsys.readouterr().err
