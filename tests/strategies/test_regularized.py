"""Regularized (aging) evolution: the rule on scripted populations, the engine's records over many
events, a toy problem it climbs, and `eigen search --strategy regularized` end to end (search, kill
and resume, report, `--pick`, duplicate)."""
import hashlib
import json
import random
import statistics
from dataclasses import dataclass, field


from eigen.cli import main
from eigen.genome.cost import cost
from eigen.run_folder.folder import RunFolder
from eigen.engine.steady_state import STAGE, EvolutionSettings
from eigen.strategies.regularized import aging
from eigen.training.job import StageResult
from tests.search.steady_engine import evolution
from tests.search.test_evolution import Tournament


@dataclass
class Living:
    id: str
    fitness: dict = field(default_factory=dict)


def population_of(rng: random.Random, size: int) -> list[Living]:
    return [Living(f"i{n}", {STAGE: rng.choice((10.0, 20.0, 30.0, rng.uniform(0, 100)))}) for n in range(size)]


def test_aging_samples_s_with_replacement_the_fittest_breeds_and_the_oldest_dies():
    repeats = 0
    for seed in range(300):
        rng = random.Random(seed)
        population, s = population_of(rng, rng.randint(2, 8)), rng.randint(1, 10)
        chosen = aging(s)(population, random.Random(f"event:{seed}"))
        assert len(chosen.sampled) == s and all(i in population for i in chosen.sampled)
        best = max(i.fitness[STAGE] for i in chosen.sampled)
        first_best = next(i for i in chosen.sampled if i.fitness[STAGE] == best)
        assert chosen.parent is first_best  # the fittest of the sample; the first drawn of them on a tie
        assert chosen.dies is population[0]  # the oldest, however fit
        repeats += len({i.id for i in chosen.sampled}) < s
    assert repeats > 100  # drawn with replacement, as the paper's notebook draws (one random.choice at a time)


def test_the_same_event_draws_the_same_sample():
    population = population_of(random.Random(1), 6)
    draws = [aging(3)(population, random.Random("regularized:0:event:7")) for _ in range(2)]
    assert [i.id for i in draws[0].sampled] == [i.id for i in draws[1].sampled]


def run(folder, trainer, **settings):
    engine = evolution(EvolutionSettings(**{"strategy": "regularized", "population": 5, "child_steps": 10,
                                            "max_generations": 6, "image_size": 32, "num_classes": 10, **settings}),
                       trainer, RunFolder(folder), sample_size=settings.pop("sample_size", 3))
    return engine, engine.run()


def birth(individual: str) -> tuple[int, int]:
    return (0, int(individual[1:])) if individual.startswith("i") else (1, int(individual[1:]))


def test_every_event_records_its_sample_and_the_oldest_ages_out(tmp_path):
    engine, reason = run(tmp_path / "run", Tournament(salt=3))
    assert reason == "max generations" and engine.state.events == 30
    records = RunFolder(tmp_path / "run").read_history()
    fitness = {r["id"]: r["fitness"][STAGE] for r in records}
    events = [r for r in records if r["event"] > 0]
    assert all(len(r["sampled"]) == 3 for r in events)
    assert all("sampled" not in r for r in records if r["event"] == 0)
    for r in events:  # the parent is the fittest of its sample (the first drawn on a tie)
        assert r["parent"] == max(r["sampled"], key=lambda i: fitness[i])
    killed = [r["killed"] for r in sorted(events, key=lambda r: r["event"])]
    assert None not in killed and killed == sorted(killed, key=birth)  # the dead die in order of birth
    assert len(set(killed)) == 30
    # Whoever was fittest, the living are the 5 youngest: every individual lives 5 events.
    born = sorted((r["id"] for r in records), key=birth)
    assert sorted(i.id for i in engine.state.population) == sorted(born[-5:])
    assert set(p.name for p in (tmp_path / "run" / "individuals").iterdir()) == {f"{i}.pt" for i in born[-5:]}


def test_a_young_weak_individual_outlives_an_old_champion(tmp_path):
    """Regularized evolution's point: the fittest starting individual ages out like any other, where a
    tournament (large-scale) would keep it for ever; the best ever stays the answer all the same."""
    trainer = Tournament(salt=11)
    engine, _ = run(tmp_path / "run", trainer, max_generations=2)
    champion = max((f"i{n}" for n in range(5)), key=trainer.fitness)
    assert champion not in {i.id for i in engine.state.population}
    assert engine.best()["id"] == max((r["id"] for r in RunFolder(tmp_path / "run").read_history()),
                                      key=trainer.fitness)


class Bigger:
    """A toy landscape: fitness grows with the network's parameter count (capped), a little noise;
    trains nothing."""

    def __init__(self, seed: int):
        self.seed = seed

    def train(self, training, on_progress=None):
        genome, until, save_to = training.what, training.until, training.save_to
        params = cost(genome, 32, 10).params
        noise = int(hashlib.sha256(f"{self.seed}:{save_to.stem}".encode()).hexdigest()[:4], 16) / 65536
        save_to.parent.mkdir(parents=True, exist_ok=True)
        save_to.write_text(json.dumps({"key": genome.key()}))
        return StageResult("ok", min(90.0, params / 200) + noise, until, until, 0.1, inherited=0)

    def test_accuracy(self, checkpoint):
        return 0.0


def test_on_a_toy_problem_it_climbs_and_beats_random_search(tmp_path):
    """Fitness rises with size: over 5 seeds regularized evolution's best rises above the start
    every time, and its mean best beats random search's at the same number of events."""
    best = {"regularized": [], "random": []}
    for seed in range(5):
        for strategy in best:
            engine, _ = run(tmp_path / f"{strategy}-{seed}", Bigger(seed), strategy=strategy, seed=seed,
                            population=8, max_generations=5)
            records = RunFolder(tmp_path / f"{strategy}-{seed}").read_history()
            start = max(r["fitness"][STAGE] for r in records if r["event"] == 0)
            best[strategy].append(engine.best()["fitness"] - start)
    assert all(gain > 0 for gain in best["regularized"]), best
    assert statistics.mean(best["regularized"]) > statistics.mean(best["random"]), best


# -- the command ---------------------------------------------------------------------------------------
TINY = ["--dataset", "synthetic", "--image-size", "16", "--gpu", "-1", "--schedule-scale", "0.004"]


def regularized(generations: int = 2) -> list[str]:
    """A tiny regularized search: 3 individuals, 2 sampled per event, 20 iterations each."""
    return [*TINY, "--strategy", "regularized", "--population", "3", "--sample-size", "2", "--child-steps", "5000",
            "--max-generations", str(generations)]


def _history(folder):
    keep = ("id", "parent", "event", "killed", "sampled", "key", "mutations", "fitness", "status", "inherited")
    return sorted(({k: r.get(k) for k in keep} for r in RunFolder(folder).read_history()), key=lambda r: r["id"])


def test_eigen_search_regularized_end_to_end(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["search", *regularized(), "--out", str(run_dir)]) == 0
    printed = capsys.readouterr().out
    records = RunFolder(run_dir).read_history()
    assert len(records) == 3 + 6 and all(r["until"] == 20 for r in records)
    assert all(len(r["sampled"]) == 2 for r in records if r["event"])
    config = json.loads((run_dir / "config.json").read_text())
    assert config["settings"]["strategy"] == "regularized" and config["settings"]["sample_size"] == 2
    best = json.loads((run_dir / "best.json").read_text())
    assert best["fitness"] == max(r["fitness"][STAGE] for r in records if r["status"] == "ok")
    assert best["population_ensemble"]["k"] == 2
    pareto = json.loads((run_dir / "pareto.json").read_text())
    living = {i["id"] for i in json.loads((run_dir / "state.json").read_text())["population"]}
    assert pareto["front"] and all(p["id"] in living for p in pareto["front"])
    for picture in ("fitness.png", "cost.png", "pareto.png", "best-genome.png", "index.html"):
        assert (run_dir / "report" / picture).exists(), picture
    assert "search stopped (max generations) after 3 starting individuals and 6 events" in printed
    assert f"eigen duplicate {run_dir / 'best.json'}" in printed
    # --pick: any individual alive at the end, finalised as the best would be
    pick = sorted(living)[0]
    assert main(["duplicate", str(run_dir), "--pick", pick, "--gpu", "-1", "--schedule-scale", "0.0004",
                 "--max-copies", "2"]) == 0
    assert (run_dir / f"final-{pick}" / "metrics.json").exists()


def test_a_killed_regularized_search_resumes_to_the_same_result(tmp_path):
    """Stopped by --max-generations 1 and resumed to 2, the run ends where an unbroken one does."""
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert main(["search", *regularized(2), "--out", str(straight)]) == 0
    assert main(["search", *regularized(1), "--out", str(stopped)]) == 0
    assert main(["search", "--resume", str(stopped), "--gpu", "-1", "--max-generations", "2"]) == 0
    assert _history(stopped) == _history(straight)
    best = [json.loads((folder / "best.json").read_text()) for folder in (straight, stopped)]
    assert [b["id"] for b in best] == [best[0]["id"]] * 2 and best[0]["fitness"] == best[1]["fitness"]


def test_a_sample_larger_than_the_population_is_refused_in_one_sentence(tmp_path, capsys):
    assert main(["search", *TINY, "--strategy", "regularized", "--population", "4", "--sample-size", "9",
                 "--out", str(tmp_path / "run")]) != 0
    err = capsys.readouterr().err
    assert "--sample-size 9 is larger than --population 4" in err and not (tmp_path / "run").exists()


def test_another_strategys_setting_is_named_as_ignored(tmp_path, capsys):
    assert main(["search", *regularized(1), "--t1", "300", "--out", str(tmp_path / "run")]) == 0
    assert "--t1 (eigen's) ignored: --strategy regularized does not read it" in capsys.readouterr().out


def test_a_setting_several_strategies_read_names_them_all():
    """--child-steps is large-scale's, random's and regularized's: an EIGEN search names all three."""
    from eigen.commands.search import ignored_settings
    from eigen.config import SearchConfig
    note = ignored_settings(SearchConfig(strategy="eigen", child_steps=100, t1=300))
    assert note == ("--child-steps (large-scale, random and regularized's) ignored: --strategy eigen does not "
                    "read it")
    assert ignored_settings(SearchConfig(strategy="random", t1=300, sample_size=3)) == (
        "--t1 (eigen's), --sample-size (regularized's) ignored: --strategy random does not read them")
