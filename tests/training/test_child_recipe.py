"""The child recipe (issue #40, item 2): `--child-recipe fast` adds Nesterov, label smoothing and a
moving average of the weights to the strategy's own schedule; the average is what is evaluated, saved
and exported; a training in pieces equals one run; a search keeps the recipe it began with."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from eigen import Genome, build_model
from eigen.cli import main
from eigen.data.datasets import load_splits
from eigen.data.device_data import DeviceData
from eigen.engine.steady_state import child_schedule as evolution_schedule
from eigen.training.individual_training import load_model
from eigen.training.recipes import CHILD_RECIPES, EMA_SHARE, child_schedule, final_schedule
from eigen.training.trainer import Schedule, Trainer, evaluate
from tests.commands.test_final import small_genome, write_best
from tests.search.test_search_run import TINY
from tests.training.test_train import SIZE, small_model

BENCH = Path(__file__).resolve().parents[2] / "bench" / "genomes"


@pytest.fixture(scope="module")
def data():
    return DeviceData(load_splits("synthetic", image_size=SIZE), "cpu", with_test=True)


def short(total: int, half_life: int = 0) -> Schedule:
    return Schedule(total=total, milestones=(int(total * 0.6),), batch_size=32, nesterov=bool(half_life),
                    label_smoothing=0.1 if half_life else 0.0, ema_half_life=half_life)


@pytest.mark.parametrize("scale", [1.0, 0.04, 0.004])
def test_fast_is_the_strategys_schedule_plus_three_additions(scale):
    for base in (Schedule().scaled(scale), evolution_schedule(25_600, scale)):
        paper, fast = child_schedule("paper", base), child_schedule("fast", base)
        assert paper == base  # paper is EIGEN §4.1 (or Large-Scale Evolution's) exactly
        assert (fast.total, fast.milestones, fast.lr, fast.batch_size, fast.weight_decay) == \
            (base.total, base.milestones, base.lr, base.batch_size, base.weight_decay)  # equal iterations
        assert (fast.nesterov, fast.label_smoothing) == (True, 0.1)
        assert fast.ema_half_life == max(1, round(EMA_SHARE * base.total)) and paper.ema_half_life == 0
    assert child_schedule("fast", Schedule()).ema_half_life == 500
    assert final_schedule("fast", scale) == child_schedule("fast", Schedule()).scaled(scale)
    with pytest.raises(ValueError, match="unknown child recipe"):
        child_schedule("quick", Schedule())
    from eigen.config import CHILD_RECIPE_NAMES
    assert CHILD_RECIPE_NAMES == CHILD_RECIPES  # the flag's choices are the recipes that exist


def test_the_average_is_an_exponential_moving_average_of_every_step(data):
    """Trained one step at a time, the live weights after each step give the expected average by
    hand; BatchNorm's running statistics are averaged too."""
    trainer = Trainer(small_model(), data, short(12, half_life=3), seed=1)
    decay = 0.5 ** (1 / 3)
    expected = {name: t.detach().clone().float() for name, t in trainer.model.state_dict().items()}
    for step in range(1, 13):
        trainer.train(until=step)
        for name, t in trainer.model.state_dict().items():
            if t.is_floating_point():
                expected[name] = decay * expected[name] + (1 - decay) * t
            else:
                expected[name] = t.clone()
    average = trainer.average.state_dict()
    assert any("running_mean" in name for name in average)
    for name, value in expected.items():
        torch.testing.assert_close(average[name], value.to(average[name].dtype), rtol=1e-5, atol=1e-6, msg=name)
    live = trainer.model.state_dict()
    assert any(not torch.equal(average[n], live[n]) for n in live if live[n].is_floating_point())


def test_fast_evaluates_saves_and_continues_from_the_average(data, tmp_path):
    whole = Trainer(small_model(), data, short(40, half_life=4), seed=3)
    whole.train(until=40)
    first = Trainer(small_model(), data, short(40, half_life=4), seed=3)
    first.train(until=15)
    state = first.state_dict()
    assert set(state) >= {"model", "live"}  # the average for readers, the live weights to continue
    second = Trainer(small_model(), data, short(40, half_life=4), seed=3)
    second.load_state_dict(state)
    second.train(until=40)
    for mine, theirs in ((second.model, whole.model), (second.average, whole.average)):
        for (name, a), b in zip(mine.state_dict().items(), theirs.state_dict().values()):
            torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    assert second.evaluate("val") == whole.evaluate("val") == evaluate(whole.average, data, "val")
    # What eval, exports and weight inheritance read from a checkpoint ("model") is the average.
    path = tmp_path / "c.pt"
    torch.save({"genome": Genome.from_dict(small_genome_16(), SIZE).to_dict(), "num_classes": 8, "image_size": SIZE,
                "trainer": whole.state_dict()}, path)
    assert evaluate(load_model(path), data, "val") == whole.evaluate("val")


def small_genome_16() -> dict:
    from tests.training.test_train import SMALL_NET
    return SMALL_NET


def test_paper_keeps_no_average_and_saves_what_it_trained(data):
    trainer = Trainer(small_model(), data, short(10), seed=0)
    trainer.train(until=10)
    assert trainer.average is None and "live" not in trainer.state_dict()
    assert trainer.evaluated_model is trainer.model


@pytest.mark.parametrize("recipe", CHILD_RECIPES)
@pytest.mark.parametrize("name", sorted(p.stem for p in BENCH.glob("*.json")))
def test_both_recipes_train_every_bench_genome(recipe, name):
    """A few iterations of every bench genome on 32x32 synthetic data, at batch 8 (CPU time): the
    loss is finite, every parameter gets a gradient, and fast's average is what is evaluated."""
    data = DeviceData(load_splits("synthetic", image_size=32), "cpu")
    genome = Genome.from_json((BENCH / f"{name}.json").read_text())
    torch.manual_seed(0)
    schedule = child_schedule(recipe, Schedule(total=3, milestones=(), batch_size=8))
    trainer = Trainer(build_model(genome, data.num_classes, 32), data, schedule, seed=0)
    result = trainer.train(until=3)
    assert result.ok and result.loss == result.loss
    missing = [n for n, p in trainer.model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, missing
    assert (trainer.average is not None) == (recipe == "fast")
    assert 0 <= trainer.evaluate("val") <= 100


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fast-search") / "run"
    args = ["search", *TINY, "--child-recipe", "fast", "--out", str(folder)]
    args[args.index("--max-generations") + 1] = "1"
    assert main(args) == 0
    return folder


def test_a_fast_search_records_its_recipe_and_trains_with_it(fast_run):
    config = json.loads((fast_run / "config.json").read_text())
    assert config["settings"]["child_recipe"] == "fast"
    schedule = config["resolved"]["schedule"]
    assert (schedule["nesterov"], schedule["label_smoothing"]) == (True, 0.1) and schedule["ema_half_life"] >= 1
    best = torch.load(fast_run / "best.pt", weights_only=True)["trainer"]
    assert "live" in best and best["optimizer"]["param_groups"][0]["nesterov"] is True


def test_a_search_resumes_with_its_recipe_and_refuses_the_other(fast_run, capsys):
    import shlex
    capsys.readouterr()
    assert main(["search", "--resume", str(fast_run), "--child-recipe", "paper"]) == 2
    err = capsys.readouterr().err
    assert "begun with --child-recipe fast" in err and "--child-recipe paper" in err and len(err.strip().splitlines()) == 1
    assert main(["search", "--resume", str(fast_run), "--max-generations", "2"]) == 0  # no flag: its own recipe
    hint = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("next: eigen duplicate"))
    assert hint.endswith("--final-recipe fast")  # the genome as found trains as the search measured it
    assert main(shlex.split(hint[len("next: eigen "):]) + ["--candidates", "1"]) == 0  # the hint runs as printed
    config = json.loads((fast_run / "config.json").read_text())
    assert config["settings"]["child_recipe"] == "fast"
    history = [json.loads(line) for line in (fast_run / "history.jsonl").read_text().splitlines()]
    assert max(r["generation"] for r in history) == 2
    best = torch.load(fast_run / "best.pt", weights_only=True)["trainer"]
    assert "live" in best  # generation 2 trained fast too


def test_a_fast_final_training_records_and_follows_its_recipe(tmp_path):
    best = write_best(tmp_path / "best.json", small_genome())
    assert main(["duplicate", str(best), "--gpu", "-1", "--schedule-scale", "0.004", "--candidates", "1",
                 "--final-recipe", "fast", "--out", str(tmp_path / "final")]) == 0
    plan = json.loads((tmp_path / "final" / "plan.json").read_text())
    assert plan["settings"]["final_recipe"] == "fast" and plan["schedule"]["ema_half_life"] == 2
    assert plan["schedule"]["total"] == final_schedule("paper", 0.004).total  # the paper's iterations
    state = torch.load(tmp_path / "final" / "candidates" / "c0.pt", weights_only=True)["trainer"]
    assert "live" in state


def test_large_scale_inherits_the_average_and_keeps_no_live_weights(tmp_path):
    """Large-Scale Evolution under fast: its own schedule plus the additions, and a checkpoint that is
    only ever inherited from holds the evaluated (averaged) weights alone."""
    from tests.test_run_file_types import SMALL
    folder = tmp_path / "ls"
    assert main(["search", *SMALL, "--strategy", "large-scale", "--population", "3", "--max-generations", "2",
                 "--child-recipe", "fast", "--out", str(folder)]) == 0
    schedule = json.loads((folder / "config.json").read_text())["resolved"]["schedule"]
    assert schedule["milestones"] == [] and schedule["nesterov"] is True and schedule["ema_half_life"] >= 1
    history = [json.loads(line) for line in (folder / "history.jsonl").read_text().splitlines()]
    assert any(r.get("inherited") for r in history)  # children took their parent's (averaged) weights
    for path in folder.rglob("*.pt"):
        state = torch.load(path, weights_only=True)
        if "trainer" in state:
            assert "live" not in state["trainer"] and "optimizer" not in state["trainer"], path
