"""Large-Scale Evolution, the random-search control and weight inheritance: tournament rules on scripted
fitnesses, inheritance tensor by tensor, and kill-and-resume to identical results."""
import hashlib
import io
import json
import random
from dataclasses import replace

import pytest
import torch

from eigen import Genome, build_model, mutate
from eigen.commands.search import search_command
from eigen.genome.inheritance import inherit
from eigen.genome.mutations import MUTATION_SETS
from eigen.run_folder.folder import RunFolder
from eigen.engine.eigen_search import EigenSearch, EigenSettings
from eigen.engine.steady_state import STAGE, Evolution, EvolutionSettings
from eigen.training.individual_training import TorchIndividuals
from eigen.training.job import StageResult, Training
from eigen.views.search_progress import PlainProgress
from tests.genome.test_duplication import POOL, conv
from tests.genome.test_genome import chain
from tests.search.steady_engine import evolution
from tests.search.test_search import SMALL, Killed, Scripted, comparable
from tests.search.test_search_run import tiny_config

SETTINGS = dict(population=5, child_steps=10, max_generations=4, image_size=32, num_classes=10)


class Tournament:
    """Trains nothing: an individual's fitness is a hash of (salt, its id); checkpoints are small JSON files."""

    def __init__(self, salt=0, kill_after=None):
        self.salt, self.kill_after = salt, kill_after
        self.calls = []

    def fitness(self, individual_id):
        return round(int(hashlib.sha256(f"{self.salt}:{individual_id}".encode()).hexdigest()[:8], 16) % 10_000 / 100, 2)

    def train(self, training, on_progress=None):
        genome, until, save_to, inherit_from = training.what, training.until, training.save_to, training.inherit_from
        if self.kill_after is not None and len(self.calls) == self.kill_after:
            raise Killed
        individual = save_to.stem
        self.calls.append((individual, inherit_from.stem if inherit_from else None))
        save_to.parent.mkdir(parents=True, exist_ok=True)
        save_to.write_text(json.dumps({"id": individual, "key": genome.key()}))
        return StageResult("ok", self.fitness(individual), until, until, 0.1, inherited=1 if inherit_from else 0)

    def test_accuracy(self, checkpoint):
        return 42.0


def evolve(folder, individuals, **settings):
    engine = evolution(EvolutionSettings(**{**SETTINGS, **settings}), individuals, RunFolder(folder))
    return engine, engine.run()


def events_of(folder):
    return [r for r in RunFolder(folder).read_history() if r["event"] > 0]


def test_the_tournament_kills_the_worse_and_copies_the_better_with_one_mutation(tmp_path):
    engine, reason = evolve(tmp_path / "run", Tournament(), strategy="large-scale")
    assert reason == "max generations" and engine.state.events == 20
    fitness = {r["id"]: r["fitness"][STAGE] for r in RunFolder(tmp_path / "run").read_history()}
    alive = {f"i{j}" for j in range(5)}
    for r in events_of(tmp_path / "run"):
        assert r["parent"] in alive and r["killed"] in alive and r["parent"] != r["killed"]
        assert fitness[r["parent"]] >= fitness[r["killed"]]  # the better of the pair reproduces
        assert len(r["mutations"]) == 1 and r["mutations"][0].split()[0] in MUTATION_SETS["large-scale"]
        parent_genome = next(g["genome"] for g in RunFolder(tmp_path / "run").read_history() if g["id"] == r["parent"])
        assert Genome.from_dict(r["genome"]).next_id >= Genome.from_dict(parent_genome).next_id
        alive = (alive - {r["killed"]}) | {r["id"]}
    assert {i.id for i in engine.state.population} == alive and len(alive) == 5
    best = max(fitness, key=fitness.get)
    assert engine.state.best.id == best and engine.best()["fitness"] == fitness[best]
    # Each child trained from its parent's checkpoint (weight inheritance); the starting population from scratch.
    calls = dict(engine.trainer.calls)
    assert all(calls[f"i{j}"] is None for j in range(5))
    assert all(calls[r["id"]] == r["parent"] for r in events_of(tmp_path / "run"))


def choices(folder):
    return [(r["parent"], r["killed"], r["key"]) for r in events_of(folder)]


def test_random_search_never_looks_at_fitness(tmp_path):
    """Two runs whose fitnesses differ completely make the same random choices; large-scale does not."""
    for strategy in ("random", "large-scale"):
        for salt in (1, 2):
            evolve(tmp_path / f"{strategy}-{salt}", Tournament(salt), strategy=strategy)
    assert choices(tmp_path / "random-1") == choices(tmp_path / "random-2")
    assert choices(tmp_path / "large-scale-1") != choices(tmp_path / "large-scale-2")


@pytest.mark.parametrize("strategy", ["large-scale", "random", "regularized"])
def test_a_killed_evolution_resumes_to_the_same_history(strategy, tmp_path):
    _, _ = evolve(tmp_path / "straight", Tournament(), strategy=strategy)
    reference = comparable(RunFolder(tmp_path / "straight").read_history())
    trainings = len(reference)
    for kill in range(0, trainings, 3):  # killed before training number `kill`, again and again
        folder = tmp_path / f"killed-{kill}"
        with pytest.raises(Killed):
            evolve(folder, Tournament(kill_after=kill), strategy=strategy)
        engine, reason = evolve(folder, Tournament(), strategy=strategy)
        assert reason == "max generations"
        assert comparable(RunFolder(folder).read_history()) == reference
        assert engine.best() == {**evolution(EvolutionSettings(**{**SETTINGS, "strategy": strategy}), Tournament(),
                                             RunFolder(tmp_path / "straight")).best(), "run": str(folder.resolve()),
                                 "weights": str((folder / "best.pt").resolve())}


def test_a_time_budget_stops_and_the_next_sitting_goes_on(tmp_path):
    engine, reason = evolve(tmp_path / "run", Tournament(), time_budget=1e-9)
    assert reason == "time budget" and engine.state.born == 0
    engine, reason = evolve(tmp_path / "run", Tournament())
    assert reason == "max generations"
    _, _ = evolve(tmp_path / "straight", Tournament())
    assert comparable(RunFolder(tmp_path / "run").read_history()) == comparable(
        RunFolder(tmp_path / "straight").read_history())


# -- weight inheritance -------------------------------------------------------------------------------
def trained_parent():
    genome = Genome.from_dict(chain(conv(8), POOL, conv(12)))
    model = build_model(genome, 10)
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(torch.randn_like(tensor))  # "trained": unlike any fresh initialisation
    return genome, model.state_dict()


def test_inheritance_copies_exactly_the_tensors_whose_name_and_shape_match():
    parent, weights = trained_parent()
    rng = random.Random(0)
    seen = set()
    for _ in range(150):
        child, applied = mutate(parent, rng, "large-scale", 1)
        seen.add(applied[0].split()[0])
        model = build_model(child, 10)
        fresh = {k: v.clone() for k, v in model.state_dict().items()}
        copied = set(inherit(model, weights))
        expected = {k for k, v in fresh.items() if k in weights and weights[k].shape == v.shape}
        assert copied == expected, applied
        for name, tensor in model.state_dict().items():
            assert torch.equal(tensor, weights[name] if name in copied else fresh[name]), (applied, name)
        if applied == ["identity"] or applied[0].startswith("alter-learning-rate"):
            assert copied == set(fresh)  # everything: the child trains on
        if applied == ["reset-weights"]:
            assert copied == set()  # nothing: it starts over
    assert {"identity", "reset-weights", "filter-size", "alter-number-of-channels"} <= seen


def test_an_identity_child_starts_from_its_parents_trained_weights(tmp_path):
    from eigen.data.datasets import load_splits
    from eigen.data.device_data import DeviceData
    from eigen.engine.steady_state import child_schedule
    data = DeviceData(load_splits("synthetic", image_size=16), "cpu")
    trainer = TorchIndividuals(data, child_schedule(30), keep_optimizer=False)
    genome = Genome.from_dict(chain(conv(8)), 16)
    first = trainer.train(Training(genome, 1, 30, tmp_path / "parent.pt"))
    parent = torch.load(tmp_path / "parent.pt", weights_only=True)
    assert first.ok and "optimizer" not in parent["trainer"]  # only weights kept for inheritance
    child = genome  # IDENTITY: the same genome, the same node ids
    result = trainer.train(Training(child, 2, 30, tmp_path / "child.pt", inherit_from=tmp_path / "parent.pt"))
    assert result.inherited == len(parent["trainer"]["model"])
    # Exactly "train on": the parent's trained weights, loaded, then 30 more iterations.
    by_hand = trainer._build(child, 2)
    by_hand.model.load_state_dict(parent["trainer"]["model"])
    by_hand.train(until=30)
    inherited = torch.load(tmp_path / "child.pt", weights_only=True)["trainer"]["model"]
    assert all(torch.equal(inherited[k], v) for k, v in by_hand.model.state_dict().items())
    scratch = trainer.train(Training(child, 2, 30, tmp_path / "scratch.pt"))
    from_scratch = torch.load(tmp_path / "scratch.pt", weights_only=True)["trainer"]["model"]
    assert scratch.inherited == 0 and not torch.equal(from_scratch["layers.n2.conv.weight"],
                                                      inherited["layers.n2.conv.weight"])


class Inheriting(Scripted):
    def train(self, training, on_progress=None):
        self.inherits = getattr(self, "inherits", []) + [(training.save_to.stem, training.inherit_from)]
        return super().train(replace(training, inherit_from=None))


def test_eigen_with_inherit_weights_starts_children_from_the_parent(tmp_path):
    trainer = Inheriting()
    engine = EigenSearch(EigenSettings(**{**SMALL, "inherit_weights": True}), trainer, RunFolder(tmp_path / "run"))
    engine.run()
    parents = {g["generation"]: g["parent"] for g in engine.state.generations}
    for stem, source in trainer.inherits:
        generation, stage = int(stem[1:].split("c")[0]), stem.split("-")[1]
        if stage != "T1":
            assert source is None  # later stages continue their own checkpoint
        elif generation == 1 or parents.get(generation - 1) == "g0":
            assert source is None  # the trivial first parent was never trained
        else:
            assert source == tmp_path / "run" / "parent.pt"
    assert any(source is not None for _, source in trainer.inherits)


@pytest.mark.parametrize("strategy", ["large-scale", "random", "regularized"])
def test_a_real_tiny_run_of_each_steady_state_strategy(strategy, tmp_path):
    log = io.StringIO()
    config = replace(tiny_config(tmp_path / "run", strategy=strategy, population=3, max_generations=2),
                     child_steps=5000, sample_size=2)  # x 0.004 = 20 iterations per individual
    assert search_command(config, progress=_plain(log)) == 0
    records = RunFolder(tmp_path / "run").read_history()
    assert len(records) == 3 + 6 and all(r["until"] == 20 for r in records)
    assert any(r["inherited"] > 0 for r in records if r["event"] > 0)
    best = json.loads((tmp_path / "run" / "best.json").read_text())
    assert best["fitness"] == max(r["fitness"][STAGE] for r in records if r["status"] == "ok")
    assert best["test_accuracy"] is not None and (tmp_path / "run" / "best.pt").exists()
    assert (tmp_path / "run" / "report" / "fitness.png").exists()
    config_json = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config_json["resolved"]["schedule"]["batch_size"] == 50 and config_json["resolved"]["mimicry"] is False
    # LS's ensemble: the top 2 living by validation, majority vote, measured on val and test.
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    ensemble = best["population_ensemble"]
    living = sorted(state["population"], key=lambda i: -i["fitness"][STAGE])
    assert ensemble["members"] == [i["id"] for i in living[:2]] and ensemble["vote"] == "majority"
    assert 0 <= ensemble["val_accuracy"] <= 100 and 0 <= ensemble["test_accuracy"] <= 100
    assert state["ensemble"] == ensemble
    assert best["search_cost"]["flops"] == sum(r["flops_spent"] for r in records) > 0


def _plain(log):
    from eigen.views.evolution_progress import PlainEvolutionProgress
    return PlainEvolutionProgress(log)


def test_eigen_search_with_inherit_weights_runs_for_real(tmp_path):
    assert search_command(tiny_config(tmp_path / "run", inherit_weights=True),
                          progress=PlainProgress(io.StringIO())) == 0
    records = RunFolder(tmp_path / "run").read_history()
    second = [r for r in records if r["generation"] == 2 and r["stage"] == "T1" and not r["reused_from"]]
    assert json.loads((tmp_path / "run" / "state.json").read_text())["generations"][0]["parent"] != "g0"
    assert second and any(r["inherited"] > 0 for r in second)
