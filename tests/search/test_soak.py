"""Soak: many small searches over seeds, each checked against its own history, killed and resumed.

Small populations (2-4) and step sizes (1-4) make everything rare in a real search common here: a
child equal to its parent or to any earlier individual (so results are reused across generations),
twins inside a generation, failures, and generations whose every child goes extinct. Each search
runs on `Weights`, a trainer that trains nothing but behaves like the real one where the search can
go wrong: a checkpoint is a file holding a digest of "the weights", which are a pure function of
where the training started (the seed, or the inherited weights) and how long it ran, and the
accuracy is read off those weights. So a result reused without its weights, weights copied from the
wrong file, or a checkpoint read after it was deleted, all show up as a crash or a wrong number.

For every search: it ends without an error; every threshold, survivor, parent and the best ever are
recomputed from `history.jsonl` and must match; every accuracy in the history, and the weights in
parent.pt and best.pt, must be what the trainer gives for that genome and start; a child identical
to its parent trains nothing. Then the same search is killed at random points (any atomic write, a
history line torn in half, a training done but not recorded, a stage boundary) and resumed, again
and again, and must end with the same history, state and best as the uninterrupted run.

A few dozen searches run in the default suite; `pytest -m slow` runs several hundred.
"""
from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

import pytest

from eigen import faults
from eigen.executors.local import InlineExecutor
from eigen.run_folder.folder import RunFolder, read_json, write_json
from eigen.engine.eigen_search import EigenSearch, EigenSettings
from eigen.engine.steady_state import STAGE, Evolution, EvolutionSettings
from eigen.engine.extinction import STAGES
from eigen.engine.individual import Individual
from eigen.training.individual_training import training_seed
from eigen.training.job import StageResult
from tests.search.steady_engine import evolution

KILL_POINTS = ("write", "write", "write", "history-line", "trained", "extinction")
FAST, SLOW = 36, 400  # searches in the default suite, and with -m slow


def digest(*parts) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:16]


def accuracy_of(weights: str) -> float:
    """The validation accuracy "measured" on these weights (0.00 .. 99.99)."""
    return int(weights[:8], 16) % 10_000 / 100


def status_of(weights: str) -> str:
    """Some trainings diverge and some run out of memory (the same training always does the same)."""
    draw = int(digest("fail", weights), 16) % 100
    return "diverged" if draw < 6 else "failed: oom" if draw < 9 else "ok"


class Weights:
    """The trainer the soak runs on (see the module docstring). Training from scratch to T2 leaves the
    same weights as training to T1 and continuing to T2, as the real trainer does (its batch order
    is a pure function of seed and iteration), so a retraining may stand in for a lost checkpoint."""

    def __init__(self):
        self.calls: list[tuple[str, int, int]] = []  # (genome key, until, step started from)

    def train(self, training, on_progress=None):
        genome, seed, until, start_from = training.what, training.seed, training.until, training.start_from
        save_to, inherit_from = training.save_to, training.inherit_from
        if start_from is not None:  # the real trainer's torch.load fails the same way on a missing file
            saved = json.loads(Path(start_from).read_text())
            assert saved["key"] == genome.key(), f"{start_from} holds another genome"
            origin, step = saved["origin"], saved["step"]
            assert step < until
        elif inherit_from is not None:
            origin, step = digest("inherit", json.loads(Path(inherit_from).read_text())["weights"], seed), 0
        else:
            origin, step = digest("init", seed), 0
        self.calls.append((genome.key(), until, step))
        weights = digest(origin, genome.key(), until)
        status = status_of(weights)
        if status == "ok":
            write_json(save_to, {"key": genome.key(), "origin": origin, "step": until, "weights": weights})
        return StageResult(status, accuracy_of(weights) if status == "ok" else 0.0, until if status == "ok" else step,
                           until - step if status == "ok" else 0, 1.0, inherited=int(inherit_from is not None))

    def test_accuracy(self, checkpoint):
        return accuracy_of(digest("test", json.loads(Path(checkpoint).read_text())["weights"]))

    def vote_accuracies(self, checkpoints, splits):
        votes = digest(*sorted(json.loads(Path(c).read_text())["weights"] for c in checkpoints))
        return {split: accuracy_of(digest(split, votes)) for split in splits}


class Shuffled:
    """K trainings "at once", finished in a seeded random order, in this thread (deterministic, and
    a result may come back before one submitted earlier, as under --parallel or Ray)."""

    def __init__(self, trainer, slots: int, seed: int):
        self.trainer, self.slots, self.rng = trainer, slots, random.Random(f"shuffled:{seed}")
        self.pending: list = []

    @property
    def busy(self) -> int:
        return len(self.pending)

    def submit(self, tag, training) -> None:
        self.pending.append((tag, training))

    def wait(self, on_progress=None):
        tag, training = self.pending.pop(self.rng.randrange(len(self.pending)))
        result = training.run(self.trainer)
        if result.ok:
            faults.point("trained")
        return tag, result

    def close(self) -> None:
        self.pending.clear()


class Crash(BaseException):
    """Stands in for a kill: unwinds everything, caught by nobody but the test."""


@dataclass
class Kill:
    point: str | None = None  # the fault point to die at, None: never
    visit: int = 0  # ... on this visit
    seen: dict | None = None  # visits of every point so far

    def hit(self, name: str) -> str | None:
        self.seen[name] = self.seen.get(name, 0) + 1
        return "crash" if name == self.point and self.seen[name] == self.visit else None


@pytest.fixture
def arm_kill(monkeypatch):
    """Install a `Kill` as eigen's fault points (faults.hit / faults.act); yields a function that arms one."""
    current = Kill(seen={})

    def act(action, what=""):
        if action == "crash":
            raise Crash(what)

    monkeypatch.setattr(faults, "hit", lambda name: current.hit(name))
    monkeypatch.setattr(faults, "act", act)

    def arm(point=None, visit=0):
        current.point, current.visit, current.seen = point, visit, {}
        return current
    return arm


# -- the searches -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    strategy: str  # "eigen", "large-scale" or "random"
    seed: int
    settings: object  # EigenSettings or EvolutionSettings
    slots: int  # trainings at once (Shuffled when above 1)

    def engine(self, folder: Path, trainer: Weights):
        executor = Shuffled(trainer, self.slots, self.seed) if self.slots > 1 else InlineExecutor(trainer)
        kind = EigenSearch if self.strategy == "eigen" else evolution
        folder.mkdir(parents=True, exist_ok=True)  # as `eigen search` makes it, before any training
        return kind(self.settings, trainer, RunFolder(folder), executor=executor)

    def __str__(self):
        return f"{self.strategy} seed {self.seed} x{self.slots}: {self.settings}"


def draw_case(n: int) -> Case:
    """Search n of the soak: strategy and settings drawn from n."""
    rng = random.Random(f"soak:{n}")
    strategy = ("eigen", "eigen", "eigen", "large-scale", "random", "eigen", "eigen", "regularized")[n % 8]
    population = rng.randint(2, 4)
    common = dict(seed=n, image_size=rng.choice((8, 16)), num_classes=rng.choice((3, 10)),
                  max_params=rng.choice((None, None, 20_000)),
                  fitness=rng.choice(("acc", "acc", "acc - 2*mparams")))
    if strategy == "eigen":
        p = rng.randint(1, population)
        settings = EigenSettings(population=population, primary_step=rng.randint(1, 4),
                                 secondary_step=rng.randint(1, 4), stage_ends=(4, 10, 12), p=p,
                                 q=rng.randint(1, p), plateau_delta=rng.choice((0.2, 5.0)),
                                 plateau_patience=rng.randint(1, 2), max_generations=rng.randint(3, 7),
                                 inherit_weights=rng.random() < 0.4, elitist=rng.random() < 0.4, **common)
    else:
        settings = EvolutionSettings(strategy=strategy, population=population, child_steps=6,
                                     max_generations=rng.randint(3, 8), top_k=rng.choice((1, 2)), **common)
    return Case(strategy, n, settings, slots=rng.choice((1, 1, 2, 3)))


def run_to_end(case: Case, folder: Path) -> tuple[object, Weights]:
    trainer = Weights()
    engine = case.engine(folder, trainer)
    engine.run()
    engine.measure_test()
    return engine, trainer


def outcome(folder: Path) -> dict:
    """What a search ends with, paths aside (the killed run lives in another folder). The history
    is compared as a set: several trainings at once are recorded in the order they finish."""
    best = read_json(folder / "best.json", "best") if (folder / "best.json").exists() else None
    if best is not None:
        best = {k: v for k, v in best.items() if k not in ("run", "weights")}
    history = sorted(RunFolder(folder).read_history(), key=lambda r: (r["generation"], r["id"], r["stage"]))
    return {"history": history, "state": read_json(folder / "state.json", "state"),
            "best": best, "best.pt": (folder / "best.pt").read_text() if (folder / "best.pt").exists() else None}


def finish(engine, folder: Path) -> None:
    engine.run()
    engine.measure_test()
    write_json(folder / "best.json", engine.best())


# -- what must hold of every EIGEN search --------------------------------------------------------------
def child_index(individual: str) -> int:
    return int(individual.split("c")[1])


def expected_weights(case: Case, records: list[dict]) -> dict[tuple[str, str], str]:
    """(id, stage) -> the weights the trainer gives that individual at that stage, from the history
    alone: a training from scratch starts from its seed (or, under --inherit-weights, from its
    parent's T3 weights), a continued one from its last stage, a reused result is its source's."""
    from eigen.genome.dna import Genome
    s = case.settings
    at = {(r["id"], r["stage"]): r for r in records}
    genomes = {r["id"]: r["genome"] for r in records if "genome" in r}
    memo: dict[tuple[str, str], tuple[str, str]] = {}

    def origin_and_weights(individual: str, stage: str) -> tuple[str, str]:
        if (individual, stage) not in memo:
            r = at[individual, stage]
            if r["reused_from"]:
                memo[individual, stage] = origin_and_weights(r["reused_from"], stage)
            else:
                if r["iterations"] == r["until"]:  # from scratch
                    genome = Genome.from_dict(genomes[individual], s.image_size)
                    seed = training_seed(s.seed, genome)
                    origin = (digest("inherit", origin_and_weights(r["parent"], "T3")[1], seed) if r["inherited"]
                              else digest("init", seed))
                else:  # continued from its checkpoint of the stage before
                    origin = origin_and_weights(individual, STAGES[STAGES.index(stage) - 1])[0]
                memo[individual, stage] = (origin, digest(origin, r["key"], r["until"]))
        return memo[individual, stage]

    return {(r["id"], r["stage"]): origin_and_weights(r["id"], r["stage"])[1] for r in records if r["status"] == "ok"}


def check_eigen(case: Case, folder: Path, engine: EigenSearch, trainer: Weights) -> None:
    s, state = case.settings, engine.state
    records = RunFolder(folder).read_history()
    # one record per individual per stage
    assert len({(r["generation"], r["id"], r["stage"]) for r in records}) == len(records)
    weights = expected_weights(case, records)
    for r in records:
        if r["status"] == "ok":
            assert r["accuracy"][r["stage"]] == accuracy_of(weights[r["id"], r["stage"]]), r
        if r["reused_from"]:
            assert r["iterations"] == 0 and r["flops_spent"] == 0
    previous = {"T1": None, "T2": None}
    parent, parent_key, parent_fitness, best, best_fitness = "g0", None, 0.0, None, None
    for summary in state.generations:
        g = summary["generation"]
        at = {stage: sorted((r for r in records if r["generation"] == g and r["stage"] == stage),
                            key=lambda r: child_index(r["id"])) for stage in STAGES}
        assert [r["id"] for r in at["T1"]] == [f"g{g}c{i}" for i in range(s.population)]
        assert all(r["parent"] == parent for r in at["T1"])
        for r in records:  # a child identical to its parent trains nothing (the paper's own case)
            if r["generation"] == g and r["key"] == parent_key and not s.inherit_weights:
                assert r["reused_from"] is not None, r
        bars = {}
        for stage, following, rank in (("T1", "T2", s.p), ("T2", "T3", s.q)):
            values = sorted((r["fitness"][stage] for r in at[stage]), reverse=True)
            floor = float("-inf") if previous[stage] is None else previous[stage]
            bar = max(values[min(rank, len(values)) - 1] if values else float("-inf"), floor)
            bars[stage] = None if bar == float("-inf") else bar
            living = [r["id"] for r in at[stage] if r["status"] == "ok" and
                      (bars[stage] is None or r["fitness"][stage] >= bars[stage])]
            assert [r["id"] for r in at[following]] == living, (g, stage)
        assert summary["thresholds"] == bars, g
        finalists = [r for r in at["T3"] if r["status"] == "ok"]
        chosen = max(finalists, key=lambda r: r["fitness"]["T3"], default=None)
        assert summary["best_child"] == (chosen["id"] if chosen else None)
        if chosen is not None and (not s.elitist or chosen["fitness"]["T3"] > parent_fitness):
            parent, parent_key, parent_fitness = chosen["id"], chosen["key"], chosen["fitness"]["T3"]
            parent_weights = weights[chosen["id"], "T3"]
        if chosen is not None and (best is None or chosen["fitness"]["T3"] > best_fitness):
            best, best_fitness, best_weights = chosen["id"], chosen["fitness"]["T3"], weights[chosen["id"], "T3"]
        assert (summary["parent"], summary["parent_fitness"], summary["best"]) == (parent, parent_fitness, best), g
        previous = bars
    assert (state.parent.id, state.best.id if state.best else None) == (parent, best)
    if best is not None:  # the weights on disk are the ones the history says they are
        assert json.loads((folder / "best.pt").read_text())["weights"] == best_weights
        assert engine.best()["test_accuracy"] == accuracy_of(digest("test", best_weights))
    if parent != "g0":
        assert json.loads((folder / "parent.pt").read_text())["weights"] == parent_weights


# -- what must hold of every Large-Scale / random search -----------------------------------------------
def check_evolution(case: Case, folder: Path, engine: Evolution, trainer: Weights) -> None:
    s, state = case.settings, engine.state
    records = RunFolder(folder).read_history()
    assert len({r["id"] for r in records}) == len(records)  # one record per individual
    fitness = {r["id"]: r["fitness"][STAGE] for r in records}
    applied_at = {}  # individual -> the event after which it is in the population (initial: 0)
    killed = set()
    alive = []  # in order of birth
    best, best_fitness = None, None
    # A refill (S1's PopulationTooSmall) is born after the children before it, which the history's
    # order does not show: the order of deaths is checked only in runs without one.
    refilled = any(r["event"] == 0 and int(r["id"][1:]) >= s.population for r in records)
    for r in sorted(records, key=lambda r: (r["event"], int(r["id"][1:]) if r["event"] == 0 else 0)):
        if r["event"]:
            k = r["event"]
            # the parent was in the population when the event was drawn: born before it, not yet killed
            assert r["parent"] not in killed and applied_at.get(r["parent"], k) <= k - 1, r
            if r["killed"] is not None:
                assert r["killed"] not in killed and r["killed"] in applied_at, r
                if s.strategy == "large-scale":  # the tournament: the worse of the pair dies
                    assert fitness[r["killed"]] <= fitness[r["parent"]], r
                if s.strategy == "regularized" and not refilled:  # aging: the dead die in order of birth
                    assert r["killed"] == min(set(applied_at) - killed, key=birth), r
                killed.add(r["killed"])
                alive.remove(r["killed"])
            if s.strategy == "regularized":  # the parent is the fittest of its sample (the first on a tie)
                assert r["parent"] == max(r["sampled"], key=lambda i: fitness[i]), r
        if r["status"] == "ok":
            applied_at[r["id"]] = r["event"]
            alive.append(r["id"])
            if best is None or r["fitness"][STAGE] > best_fitness:
                best, best_fitness = r["id"], r["fitness"][STAGE]
    assert sorted(i.id for i in state.population) == sorted(alive)
    assert (state.best.id if state.best else None) == best
    if best is not None:
        record = next(r for r in records if r["id"] == best)
        seed = json.loads((folder / "best.pt").read_text())
        assert seed["key"] == record["key"] and accuracy_of(seed["weights"]) == record["accuracy"][STAGE]
    for individual in state.population:  # every living individual's weights are there, for the ensemble
        assert (folder / individual.checkpoint).exists()


def birth(individual: str) -> tuple[int, int]:
    """Order of birth in a run without refills: the starting individuals by number, then each event's child."""
    return (0, int(individual[1:])) if individual.startswith("i") else (1, int(individual[1:]))


CHECKS = {"eigen": check_eigen, "large-scale": check_evolution, "random": check_evolution,
          "regularized": check_evolution}


def soak_one(n: int, root: Path, arm, kills: int) -> None:
    case = draw_case(n)
    reference = root / f"reference-{n}"
    counter = arm()
    engine, trainer = run_to_end(case, reference)
    write_json(reference / "best.json", engine.best())
    CHECKS[case.strategy](case, reference, engine, trainer)
    visits = dict(counter.seen)

    # Kill it at random points, resuming after each, until a sitting runs to its end.
    rng = random.Random(f"kills:{n}")
    folder = root / f"killed-{n}"
    points = [p for p in KILL_POINTS if visits.get(p)]
    for _ in range(kills):
        point = rng.choice(points)
        arm(point, rng.randint(1, visits[point]))
        try:
            finish(case.engine(folder, Weights()), folder)
            break
        except Crash:
            continue
    arm()
    finish(case.engine(folder, Weights()), folder)
    assert outcome(folder) == outcome(reference), f"{case}: the resumed run ends elsewhere"


@pytest.mark.parametrize("n", range(FAST))
def test_soak(n, tmp_path, arm_kill):
    soak_one(n, tmp_path, arm_kill, kills=3)


@pytest.mark.slow
@pytest.mark.parametrize("n", range(FAST, FAST + SLOW))
def test_soak_long(n, tmp_path, arm_kill):
    soak_one(n, tmp_path, arm_kill, kills=6)


def test_the_soak_meets_what_it_is_for(tmp_path, arm_kill):
    """The default suite's searches do meet the rare cases: reuse across generations, a child equal
    to its parent, failures, a generation with no child at T3, twins in a generation, inheritance."""
    seen = set()
    for n in range(FAST):
        case = draw_case(n)
        arm_kill()
        engine, _ = run_to_end(case, tmp_path / str(n))
        records = RunFolder(tmp_path / str(n)).read_history()
        first = {}
        for r in records:
            if r["status"] != "ok":
                seen.add(f"{case.strategy} failure")
            if r.get("reused_from"):
                same = r["generation"] == first.get(r["reused_from"], r["generation"])
                seen.add("twins" if same else "reuse across generations")
            first.setdefault(r["id"], r["generation"])
            if r.get("inherited"):
                seen.add(f"{case.strategy} inheritance")
        if case.strategy == "eigen":
            summaries = engine.state.generations
            if any(g["best_child"] is None for g in summaries):
                seen.add("no child at T3")
            parents = {g["generation"]: g["parent"] for g in summaries}
            keys = {r["id"]: r["key"] for r in records}
            for r in records:
                parent = parents.get(r["generation"] - 1)
                if r["stage"] == "T1" and parent in keys and keys[parent] == r["key"]:
                    seen.add("a child equal to its parent")
        elif any(r.get("killed") for r in records):
            seen.add(f"{case.strategy} kills")
    assert seen >= {"eigen failure", "large-scale failure", "random failure", "reuse across generations", "twins",
                    "no child at T3", "a child equal to its parent", "eigen inheritance", "large-scale inheritance",
                    "large-scale kills", "random kills"}, seen


def _without_cost(value):
    """A state entry without what a retraining adds to it (seconds and FLOPs spent)."""
    if isinstance(value, list):
        return [_without_cost(v) for v in value]
    if isinstance(value, dict):
        return {k: _without_cost(v) for k, v in value.items() if k not in ("seconds", "flops_spent", "checkpoint")}
    return value


# -- Large-Scale Evolution: the window of events in flight against the serial loop ------------------------
STEADY = [n for n in range(200) if draw_case(n).strategy != "eigen"][:24]


def serial_loop(evolution: Evolution) -> None:
    """The steady state one event at a time, as §3.1 and S1 tell it (no resume, no time budget, no
    executor: each training runs here and now), from the engine's own rules: the oracle that
    `Evolution.run()` with one slot must match."""
    state, s = evolution.state, evolution.settings

    def train(individual, inherit):
        return evolution.record(individual, evolution.training(individual, inherit).run(evolution.trainer))

    def start_one():
        individual = evolution.starting_individual(state.born)
        evolution.apply_initial(individual, record := train(individual, None))
        evolution.announce(individual, record)

    while state.born < s.population or len(state.population) < 2:  # S1: the simplest networks
        start_one()
    while evolution.stop_reason() is None:
        event = evolution.draw_event(state.events + 1)  # the selection; the child, one mutation away
        child = Individual.from_dict(event["child"], s.image_size)
        record = train(child, evolution.parent_weights(event))  # trained from its parent's weights
        evolution.apply_event(child, record)  # ... and joins the population; who died loses its weights
        evolution.announce(child, record)
        while len(state.population) < 2:  # S1's PopulationTooSmall
            start_one()
    evolution.state.stopped = evolution.stop_reason()
    evolution.save()


@pytest.mark.parametrize("n", STEADY)
def test_the_scheduler_with_one_slot_writes_what_the_serial_loop_writes(n, tmp_path, arm_kill):
    """`Evolution.run()` with one slot is the loop that reads like §3.1 (`serial_loop`): the same
    history.jsonl, line for line, and the same state."""
    from dataclasses import replace as with_
    arm_kill()
    case = with_(draw_case(n), slots=1)
    window = case.engine(tmp_path / "window", Weights())
    window.run()
    serial = case.engine(tmp_path / "serial", Weights())
    serial_loop(serial)
    lines = [(tmp_path / name / "history.jsonl").read_text() for name in ("window", "serial")]
    assert lines[0] == lines[1] and lines[0]
    states = [read_json(tmp_path / name / "state.json", "state") for name in ("window", "serial")]
    assert states[0] == states[1]
