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
in order, so a resumed run makes the same choices. With an executor that trains several at once
(`--parallel`, `--ray`), up to that many events are in flight, as the paper's asynchronous workers
were: event k is drawn once event k - window has been applied (its child is then in the population)
and results are applied in event order, so a run is a pure function of its seed and its window
(with window 1, the classic loop). `state.json` is written when events are drawn and when one is
applied; a child's result is in `history.jsonl` as soon as its weights are on disk, so a kill loses
at most the trainings in flight. A *generation* here is `population` events, which
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
from ..executors.local import InlineExecutor
from ..executors.work import Training, run_all
from ..genome.cost import cost
from ..genome.dna import initial_genome
from ..runfolder import RunFolder, copy_atomic, interpreting, read_json, write_json
from ..training.individual import FailureWatch, IndividualTrainer
from .eigen_search import HISTORY_FIX, Individual, draw_child
from .fitness import Fitness
from .sitting import Sitting
from .spending import Spending

STATE_VERSION = 3  # 2: fitness apart from accuracy, cost totals, the population ensemble; 3: events in flight
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
    pending: list[dict] = field(default_factory=list)  # events drawn, not yet applied: number, pair, who dies, child
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
            d = {**d, "version": 2, "spent": None, "ensemble": None}
        if d.get("version") == 2:  # one event in flight at most, or none
            d = {**d, "version": STATE_VERSION, "pending": [d["pending"]] if d["pending"] else []}
        if d.get("version") != STATE_VERSION:
            raise EigenError(f"state.json has version {d.get('version')}, this eigen reads {STATE_VERSION}")
        return cls(population=[Individual.from_dict(i, image_size) for i in d["population"]], born=d["born"],
                   events=d["events"], pending=list(d["pending"]),
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
                 progress=None, executor=None):
        from ..views.evolution_progress import EvolutionProgress
        self.settings, self.individuals, self.folder = settings, individuals, folder
        self.executor = executor or InlineExecutor(individuals)  # where the individuals train (SPEC §10)
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
            # Trained before a kill. Every record, not only those after the state's count: with several
            # trainings in flight a result is recorded as it finishes but applied in event order, so a
            # state saved in between counts records whose events are still pending.
            self.recorded = {r["id"]: r for r in records}
            self.history_count = len(records)
            self.spending = Spending(records)

    @property
    def best_weights(self):
        return self.folder.path / "best.pt"

    # -- the loop ------------------------------------------------------------------------------------
    def run(self) -> str:
        """Evolve until out of generations or time; return why it stopped.

        Trainings run on the executor, up to `window` at once: the starting population all at once,
        then up to `window` events in flight (the paper's asynchronous workers). Results are applied
        in order (initial individual n, then event k), and event k's tournament is drawn once event
        k - window has been applied, so the run is a pure function of its seed and window, whatever
        order the trainings finish in and however often it is killed and resumed."""
        self.progress.search_started(self)
        self._individuals: dict[tuple, Individual] = {}  # tag -> the individual it trains
        self._done: dict[tuple, tuple[Individual, dict]] = {}  # finished, waiting for their turn to apply
        self._flying: set[tuple] = set()  # queued or training in this sitting
        everything = run_all(self.executor, self._startable(), on_done=self._finished, on_start=self._started,
                             on_progress=lambda tag, step, end, loss: self.progress.child_progress(
                                 self, self._individuals[tag], step, end, loss),
                             may_start=lambda: not self.sitting.spent())
        self.state.stopped = self.stop_reason() or ("time budget" if not everything else "max generations")
        self.save()
        return self.state.stopped

    @property
    def window(self) -> int:
        """Events in flight at once: the executor's slots (1: the classic one-at-a-time loop)."""
        return self.executor.slots

    def stop_reason(self) -> str | None:
        s = self.settings
        if s.max_generations is not None and self.state.events >= s.max_generations * s.population:
            return "max generations"
        if self.sitting.spent():
            return "time budget"
        return None

    def _startable(self) -> list:
        """The trainings that may start now, each (tag, Training), tag ("initial", n) or ("event", k);
        draws (and saves) new events' tournaments while fewer than `window` are pending. Results
        recorded before a kill are applied on the way, which may make more trainings startable."""
        state = self.state
        while True:
            before = (state.born, state.events, len(state.pending))
            ready = self._startable_now()
            if ready or (state.born, state.events, len(state.pending)) == before:
                return ready

    def _startable_now(self) -> list:
        state, s = self.state, self.settings
        ready = []
        if state.born < s.population or (len(state.population) < 2 and not state.pending):
            # The starting population, or a refill (S1's PopulationTooSmall): all independent.
            first = state.born
            last = s.population if state.born < s.population else state.born + 1
            for n in range(first, last):
                if ("initial", n) not in self._flying and ("initial", n) not in self._done:
                    ready.append(self._queue_initial(n))
            return [r for r in ready if r is not None]
        if self._draw():
            self.save()
        for pending in state.pending:
            ready.append(self._queue_event(pending))
        return [r for r in ready if r is not None]

    def _draw(self) -> bool:
        """Draw events while fewer than `window` are pending: called after every result applied, so
        event k is drawn right after event k - window is applied, from the population as it is then
        (that is what makes the run independent of finishing order). True if any was drawn."""
        state, s = self.state, self.settings
        if state.born < s.population:
            return False
        limit = s.max_generations * s.population if s.max_generations is not None else None
        drawn = False
        while len(state.pending) < self.window and len(state.population) >= 2:
            k = state.events + len(state.pending) + 1
            if limit is not None and k > limit:
                break
            state.pending.append(self._choose(k))
            killed = state.pending[-1]["killed"]
            if killed is not None:  # dead now; its weights go when this event is applied
                state.population = [i for i in state.population if i.id != killed]
            drawn = True
        return drawn

    def _queue_initial(self, n: int):
        genome = initial_genome()
        c = cost(genome, self.settings.image_size, self.settings.num_classes)
        return self._queue(("initial", n), Individual(f"i{n}", None, genome, [], c.params, c.flops), inherit=None)

    def _queue_event(self, pending: dict):
        tag = ("event", pending["event"])
        if tag in self._flying or tag in self._done:
            return None
        child = Individual.from_dict(pending["child"], self.settings.image_size)
        parent = next((i for i in self.state.population if i.id == pending["parent"]), None)
        if parent is None:  # killed by an event drawn after this one; its weights stay until that one applies
            checkpoint = f"{self.folder.individuals.name}/{pending['parent']}.pt"
        else:
            checkpoint = parent.checkpoint
        inherit = self.folder.path / checkpoint if checkpoint else None
        return self._queue(tag, child, inherit=inherit)

    def _queue(self, tag: tuple, individual: Individual, inherit):
        """Queue one training, unless it finished before a kill (its result is then taken as is)."""
        self._individuals[tag] = individual
        recorded = self.recorded.get(individual.id)
        if recorded is not None:
            self._flying.add(tag)
            self._finished(tag, None, recorded)
            return None
        self._flying.add(tag)
        name = f"{self.folder.individuals.name}/{individual.id}.pt"
        s = self.settings
        return tag, Training(individual.genome, individual_seed(s.seed, individual.id), s.child_steps,
                             save_to=self.folder.path / name,
                             inherit_from=inherit if inherit is not None and inherit.exists() else None)

    def _started(self, tag: tuple) -> None:
        pending = next((p for p in self.state.pending if ("event", p["event"]) == tag), None)
        self.progress.child_started(self, self._individuals[tag], pending)

    def _finished(self, tag: tuple, result, recorded: dict | None = None):
        """A training finished (or was found recorded): write its history line now, apply it in turn."""
        individual = self._individuals[tag]
        record = recorded if recorded is not None else self._record(tag, individual, result)
        self._done[tag] = (individual, record)
        self._apply_in_order()
        if recorded is None:
            return self._startable()

    def _record(self, tag: tuple, individual: Individual, result) -> dict:
        s = self.settings
        event = tag[1] if tag[0] == "event" else 0
        pending = next((p for p in self.state.pending if p["event"] == event), None) if event else None
        flops_spent = 3 * individual.flops * s.batch_size * result.iterations + individual.flops * s.num_val
        fitness = self.fitness(result.fitness, individual.params, individual.flops)  # trainer: accuracy
        name = f"{self.folder.individuals.name}/{individual.id}.pt"
        record = {
            "id": individual.id, "parent": individual.parent, "generation": -(-event // s.population),
            "event": event, "killed": pending["killed"] if pending else None, "succession": None, "step_size": 1,
            "stage": STAGE, "until": s.child_steps, "key": individual.key, "mutations": individual.mutations,
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
        return record

    def _apply_in_order(self) -> None:
        """Apply every finished result whose turn has come: initial individuals by number, then events."""
        state, s = self.state, self.settings
        while True:
            if state.born < s.population or (len(state.population) < 2 and not state.pending):
                tag = ("initial", state.born)
            elif state.pending:
                tag = ("event", state.pending[0]["event"])
            else:
                return
            if tag not in self._done:
                return
            individual, record = self._done.pop(tag)
            self._flying.discard(tag)
            self._take(individual, record)
            if tag[0] == "initial":
                state.born += 1
                if individual.status == "ok":
                    state.population.append(individual)
                if state.born == s.population and not state.generations:
                    self._summarize(0)
            else:
                pending = state.pending.pop(0)
                if pending["killed"] is not None:
                    self._drop_weights(pending["killed"])
                if individual.status == "ok":
                    state.population.append(individual)
                state.events = pending["event"]
                if state.events % s.population == 0:
                    self._summarize(state.events // s.population)
            self._draw()
            self.progress.child_finished(self, individual, record)
            self.save()

    def _take(self, individual: Individual, record: dict) -> None:
        """The individual becomes what its record says; the best ever follows it if it is better."""
        individual.fitness = dict(record["fitness"])
        individual.accuracy = dict(record.get("accuracy", record["fitness"]))  # eigen 0.1: the same
        individual.status, individual.checkpoint = record["status"], record["checkpoint"]
        individual.step = record["until"] if record["status"] == "ok" else 0
        best = self.state.best
        if individual.status == "ok" and (best is None or individual.fitness[STAGE] > best.fitness[STAGE]):
            copy_atomic(self.folder.path / individual.checkpoint, self.best_weights)
            self.state.best = Individual.from_dict(individual.to_dict(), self.settings.image_size)

    def _choose(self, k: int) -> dict:
        state, s = self.state, self.settings
        rng = random.Random(f"{s.strategy}:{s.seed}:event:{k}")
        a, b = rng.sample(state.population, 2)
        if s.strategy == "large-scale":
            better, worse = (a, b) if a.fitness[STAGE] >= b.fitness[STAGE] else (b, a)
        else:  # random search: no selection
            better, worse = (a, b) if rng.random() < 0.5 else (b, a)
        # S1's set-point: kill only at it (the children in flight count, as they will join)
        killed = worse.id if len(state.population) + len(state.pending) >= s.population else None
        genome, mutations, c, _ = draw_child(better, rng, "large-scale", lambda: 1, s)
        child = Individual(f"c{k}", better.id, genome, mutations, c.params, c.flops)
        return {"event": k, "pair": [a.id, b.id], "parent": better.id, "killed": killed, "child": child.to_dict()}

    # -- helpers -------------------------------------------------------------------------------------
    def _drop_weights(self, individual_id: str) -> None:
        (self.folder.path / self.folder.individuals.name / f"{individual_id}.pt").unlink(missing_ok=True)

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
