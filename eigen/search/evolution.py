"""Large-Scale Evolution (Real et al. 2017, §3.1 and S1) and its random-search control, steady state.

The population starts as `population` copies of the trivial genome (input -> global pool ->
classifier, learning rate 0.1, §3.3), each trained in turn. Then each *event* k = 1, 2, ...:

  1. two distinct living individuals are drawn at random;
  2. `large-scale`: the one with the lower validation accuracy is killed and the other is the parent
     (tournament selection; a tie keeps the first drawn); `random`: a coin decides, with no look at
     fitness (the paper's control, "reproducing and killing random individuals");
  3. the child is a copy of the parent with one mutation of the Large-Scale set, redrawn while it
     breaks --max-params / --max-flops;
  4. the child trains `child_steps` iterations at the genome's constant learning rate, starting from
     its parent's weights wherever a layer matches (§3.6), and joins the population. A child whose
     training fails is recorded and left out; the population refills as in S1 (kill only at the
     set-point, reproduce only below it).

Everything event k draws comes from `random.Random(f"{strategy}:{seed}:event:{k}")` and the population
in order, so a resumed run makes the same choices. `state.json` is written when an event's choices are
made and when it ends; the child's result is in `history.jsonl` as soon as its weights are on disk,
so a kill loses at most the one training in flight. A *generation* here is `population` events, which
is what --max-generations counts and the report plots. The best individual ever (by fitness:
validation accuracy unless `--fitness` says otherwise) keeps its weights in `best.pt`, whatever becomes
of it in the population. At the end of each sitting the best `--top-k` living individuals by fitness
are ensembled by majority vote, as the paper's 95.6% was (its top 2), with their validation and test
accuracy recorded in `state.json` and `best.json`. Every generation's summary and the state carry
the FLOPs and device-seconds spent (LS §3.5).
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

from ..errors import EigenError
from ..genome.cost import cost
from ..genome.dna import initial_genome
from ..runfolder import RunFolder, copy_atomic, interpreting, read_json, write_json
from ..training.individual import FailureWatch, IndividualTrainer
from .eigen_search import HISTORY_FIX, BudgetSpent, Individual, draw_child
from .fitness import Fitness
from .sitting import Sitting
from .spending import Spending

STATE_VERSION = 2  # 2: fitness apart from accuracy, cost totals, the population ensemble
STAGE = "train"  # the one stage of a steady-state individual (history records, fitness key)


@dataclass(frozen=True)
class EvolutionSettings:
    strategy: str = "large-scale"  # or "random"
    population: int = 100  # the set-point (the paper: 1,000)
    child_steps: int = 25_600  # iterations per child (the paper: 25,600 at batch 50)
    max_generations: int | None = None  # generations of `population` events
    max_params: int | None = None
    max_flops: int | None = None
    time_budget: float | None = None  # seconds of this sitting
    seed: int = 0
    image_size: int = 32
    num_classes: int = 10
    batch_size: int = 50  # images per iteration, for the FLOPs-spent accounting
    num_val: int = 5_000
    fitness: str = "acc"  # what the tournaments and the best-ever compare (see fitness.py)
    top_k: int = 2  # living individuals in the end-of-sitting ensemble (1: none)


@dataclass
class EvolutionState:
    population: list[Individual] = field(default_factory=list)  # the living, in order of birth
    born: int = 0  # initial individuals created so far
    events: int = 0  # reproduction events finished
    pending: dict | None = None  # the event in flight: its number, the pair, who dies, the child
    best: Individual | None = None  # the best ever, by validation accuracy
    generations: list[dict] = field(default_factory=list)
    history_count: int = 0
    stopped: str | None = None
    best_test: dict | None = None  # {"id", "test_accuracy"}
    spent: dict = field(default_factory=lambda: {"flops": 0, "seconds": 0.0})  # every training so far
    ensemble: dict | None = None  # the top-k living by fitness, majority vote: members, val/test accuracy

    def to_dict(self) -> dict:
        return {"version": STATE_VERSION, "population": [i.to_dict() for i in self.population], "born": self.born,
                "events": self.events, "pending": self.pending,
                "best": self.best.to_dict() if self.best else None, "generations": self.generations,
                "history_count": self.history_count, "stopped": self.stopped, "best_test": self.best_test,
                "spent": self.spent, "ensemble": self.ensemble}

    @classmethod
    def from_dict(cls, d: dict, image_size: int) -> "EvolutionState":
        if d.get("version") == 1:  # eigen 0.1: fitness was accuracy; the cost is summed again from the history
            d = {**d, "version": STATE_VERSION, "spent": None, "ensemble": None}
        if d.get("version") != STATE_VERSION:
            raise EigenError(f"state.json has version {d.get('version')}, this eigen reads {STATE_VERSION}")
        return cls(population=[Individual.from_dict(i, image_size) for i in d["population"]], born=d["born"],
                   events=d["events"], pending=d["pending"],
                   best=Individual.from_dict(d["best"], image_size) if d["best"] else None,
                   generations=d["generations"], history_count=d["history_count"], stopped=d["stopped"],
                   best_test=d.get("best_test"), spent=d["spent"], ensemble=d["ensemble"])


def child_schedule(child_steps: int, scale: float = 1.0):
    """LS §3.4: SGD momentum 0.9, batch 50, weight decay 1e-4, `child_steps` iterations at the
    genome's own learning rate, held constant (the learning rate evolves in the DNA instead)."""
    from ..training.trainer import Schedule, scale_iterations
    return Schedule(total=scale_iterations(child_steps, scale), milestones=(), lr=0.1, momentum=0.9,
                    weight_decay=1e-4, batch_size=50)


def individual_seed(run_seed: int, individual_id: str) -> int:
    """Initial weights and batch order of one individual (IDENTITY children share their parent's
    genome, so unlike EIGEN the seed follows the individual, not the genome)."""
    return int(hashlib.sha256(f"{run_seed}:{individual_id}".encode()).hexdigest()[:8], 16) & 0x7FFFFFFF


class Evolution:
    """Runs (or resumes) a large-scale or random search in a run folder; see the module docstring."""

    def __init__(self, settings: EvolutionSettings, individuals: IndividualTrainer, folder: RunFolder,
                 progress=None):
        from ..views.evolution_progress import EvolutionProgress
        self.settings, self.individuals, self.folder = settings, individuals, folder
        self.progress = progress or EvolutionProgress()
        self.sitting = Sitting(settings.time_budget)
        if folder.state.exists():
            with interpreting(folder.state, "the search state", HISTORY_FIX):
                self.state = EvolutionState.from_dict(read_json(folder.state, "the search state"), settings.image_size)
        else:
            self.state = EvolutionState()
        self.failures = FailureWatch(self.progress.note)
        self.fitness = Fitness.parse(settings.fitness)
        records = folder.read_history()
        with interpreting(folder.history, "the search's history", HISTORY_FIX):
            self.recorded = {r["id"]: r for r in records[self.state.history_count:]}  # trained before a kill
            self.history_count = len(records)
            self.spending = Spending(records)

    @property
    def best_weights(self):
        return self.folder.path / "best.pt"

    # -- the loop ------------------------------------------------------------------------------------
    def run(self) -> str:
        """Evolve until out of generations or time; return why it stopped."""
        s, state = self.settings, self.state
        self.progress.search_started(self)
        try:
            while (reason := self.stop_reason()) is None:
                if state.pending is None and (state.born < s.population or len(state.population) < 2):
                    self.train_initial()  # the starting population, or a refill (S1's PopulationTooSmall)
                else:
                    self.event(state.events + 1)
        except BudgetSpent:
            reason = "time budget"
        state.stopped = reason
        self.save()
        return reason

    def stop_reason(self) -> str | None:
        s = self.settings
        if s.max_generations is not None and self.state.events >= s.max_generations * s.population:
            return "max generations"
        if self.sitting.spent():
            return "time budget"
        return None

    def train_initial(self) -> None:
        """One more individual of the starting population: the trivial genome, trained from scratch."""
        state, s = self.state, self.settings
        genome = initial_genome()
        c = cost(genome, s.image_size, s.num_classes)
        individual = Individual(f"i{state.born}", None, genome, [], c.params, c.flops)
        self._train_and_record(individual, event=0, killed=None, inherit=None)
        state.born += 1
        if individual.status == "ok":
            state.population.append(individual)
        if state.born == s.population and not state.generations:
            self._summarize(0)
        self.save()

    def event(self, k: int) -> None:
        """Reproduction event k: draw a pair, kill one, train the other's child (resumable)."""
        state, s = self.state, self.settings
        if state.pending is None or state.pending["event"] != k:
            state.pending = self._choose(k)
            self.save()
        pending = state.pending
        child = Individual.from_dict(pending["child"], s.image_size)
        if pending["killed"] is not None:
            killed = next((i for i in state.population if i.id == pending["killed"]), None)
            if killed is not None:
                state.population.remove(killed)
                self._drop_weights(killed)
        parent = next(i for i in state.population if i.id == pending["parent"])
        self.progress.child_started(self, child, pending)
        inherit = self.folder.path / parent.checkpoint if parent.checkpoint else None
        record = self._train_and_record(child, event=k, killed=pending["killed"], inherit=inherit)
        if child.status == "ok":
            state.population.append(child)
        state.events = k
        state.pending = None
        self.progress.child_finished(self, child, record)
        if k % s.population == 0:
            self._summarize(k // s.population)
        self.save()

    def _choose(self, k: int) -> dict:
        state, s = self.state, self.settings
        rng = random.Random(f"{s.strategy}:{s.seed}:event:{k}")
        a, b = rng.sample(state.population, 2)
        if s.strategy == "large-scale":
            better, worse = (a, b) if a.fitness[STAGE] >= b.fitness[STAGE] else (b, a)
        else:  # random search: no selection
            better, worse = (a, b) if rng.random() < 0.5 else (b, a)
        killed = worse.id if len(state.population) >= s.population else None  # S1's set-point
        genome, mutations, c, _ = draw_child(better, rng, "large-scale", lambda: 1, s)
        child = Individual(f"c{k}", better.id, genome, mutations, c.params, c.flops)
        return {"event": k, "pair": [a.id, b.id], "parent": better.id, "killed": killed, "child": child.to_dict()}

    # -- helpers -------------------------------------------------------------------------------------
    def _train_and_record(self, individual: Individual, *, event: int, killed: str | None, inherit) -> dict:
        s = self.settings
        recorded = self.recorded.get(individual.id)
        if recorded is not None:  # trained before a kill; its weights are on disk
            record = recorded
        else:
            if self.sitting.spent():
                raise BudgetSpent
            if event == 0:
                self.progress.child_started(self, individual, None)
            name = f"{self.folder.individuals.name}/{individual.id}.pt"
            result = self.individuals.train(individual.genome, seed=individual_seed(s.seed, individual.id),
                                            until=s.child_steps, start_from=None, save_to=self.folder.path / name,
                                            inherit_from=inherit if inherit is not None and inherit.exists() else None,
                                            on_progress=lambda step, end, loss: self.progress.child_progress(
                                                self, individual, step, end, loss))
            flops_spent = 3 * individual.flops * s.batch_size * result.iterations + individual.flops * s.num_val
            fitness = self.fitness(result.fitness, individual.params, individual.flops)  # trainer: accuracy
            record = {
                "id": individual.id, "parent": individual.parent, "generation": -(-event // s.population),
                "event": event, "killed": killed, "succession": None, "step_size": 1, "stage": STAGE,
                "until": s.child_steps, "key": individual.key, "mutations": individual.mutations,
                "params": individual.params, "flops": individual.flops, "fitness": {STAGE: fitness},
                "accuracy": {STAGE: result.fitness},
                "status": result.status, "iterations": result.iterations, "seconds": round(result.seconds, 3),
                "flops_spent": flops_spent, "reused_from": None, "checkpoint": name if result.ok else None,
                "inherited": result.inherited, "genome": individual.genome.to_dict(), **result.graph_fields(),
            }
            self.folder.append_history(record)
            self.history_count += 1
            self.spending.add(record)
            self.failures.saw(individual.id, record["status"])
        individual.fitness = dict(record["fitness"])
        individual.accuracy = dict(record.get("accuracy", record["fitness"]))  # eigen 0.1: the same
        individual.status, individual.checkpoint = record["status"], record["checkpoint"]
        individual.step = record["until"] if record["status"] == "ok" else 0
        best = self.state.best
        if individual.status == "ok" and (best is None or individual.fitness[STAGE] > best.fitness[STAGE]):
            copy_atomic(self.folder.path / individual.checkpoint, self.best_weights)
            self.state.best = Individual.from_dict(individual.to_dict(), self.settings.image_size)
        if event == 0:
            self.progress.child_finished(self, individual, record)
        return record

    def _drop_weights(self, individual: Individual) -> None:
        if individual.checkpoint:
            (self.folder.path / individual.checkpoint).unlink(missing_ok=True)

    def _summarize(self, generation: int) -> None:
        state = self.state
        fitness = [i.fitness[STAGE] for i in state.population]
        spent = self.spending.of(generation)
        state.generations.append({
            "generation": generation, "events": state.events, "alive": len(fitness),
            "population_best": max(fitness, default=0.0), "population_mean": sum(fitness) / max(len(fitness), 1),
            "best": state.best.id if state.best else None,
            "best_fitness": state.best.fitness[STAGE] if state.best else 0.0,
            "best_params": state.best.params if state.best else 0,
            "flops_spent": spent["flops"], "seconds": spent["seconds"],
        })
        self.progress.generation_finished(self, state.generations[-1])

    def save(self) -> None:
        self.state.history_count = self.history_count
        self.state.spent = self.spending.total()
        write_json(self.folder.state, self.state.to_dict())

    # -- the answer ----------------------------------------------------------------------------------
    def best(self) -> dict:
        """best.json: the best individual ever, as for EIGEN."""
        state = self.state
        b = state.best
        test = state.best_test["test_accuracy"] if state.best_test and b and state.best_test["id"] == b.id else None
        return {"run": str(self.folder.path.resolve()), "id": b.id if b else None,
                "generation": -(-int(b.id[1:]) // self.settings.population) if b and b.id.startswith("c") else 0,
                "fitness": b.fitness[STAGE] if b else 0.0, "fitness_expression": self.fitness.expression,
                "val_accuracy": b.accuracy.get(STAGE, b.fitness[STAGE]) if b else 0.0, "test_accuracy": test,
                "params": b.params if b else 0, "flops": b.flops if b else 0,
                "weights": str(self.best_weights.resolve()) if b else None,
                "genome": (b.genome if b else initial_genome()).to_dict(), "search_cost": self.spending.total(),
                "population_ensemble": state.ensemble}

    def measure_test(self) -> float | None:
        state = self.state
        if state.best is None:
            return None
        if not (state.best_test and state.best_test["id"] == state.best.id):
            state.best_test = {"id": state.best.id, "test_accuracy": self.individuals.test_accuracy(self.best_weights)}
            self.save()
        return state.best_test["test_accuracy"]

    def measure_ensemble(self) -> dict | None:
        """LS's ensemble: the best `top_k` living individuals by fitness, majority vote, on validation
        and test (measured once per set of members; the members are chosen by validation alone)."""
        state, k = self.state, self.settings.top_k
        living = sorted((i for i in state.population if i.status == "ok" and i.checkpoint),
                        key=lambda i: -i.fitness[STAGE])[:k]
        if k < 2 or len(living) < 2:
            return None
        members = [i.id for i in living]
        if state.ensemble is None or state.ensemble["members"] != members:
            accuracy = self.individuals.vote_accuracies([self.folder.path / i.checkpoint for i in living],
                                                        ("val", "test"))
            state.ensemble = {"k": len(members), "members": members, "vote": "majority",
                              "member_val_accuracy": [i.accuracy.get(STAGE, i.fitness[STAGE]) for i in living],
                              "val_accuracy": accuracy["val"], "test_accuracy": accuracy["test"],
                              "events": state.events}
            self.save()
        return state.ensemble
