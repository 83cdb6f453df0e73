"""The steady state (Large-Scale Evolution, Real et al. 2017, §3.1 and S1), whatever chooses the parent.

Large-scale, random and regularized evolution share this engine and differ only in their selection
rule, which each strategy's own module supplies (`eigen/strategies/`). The population starts as
`population` copies of the trivial genome (input -> global pool -> classifier, learning rate 0.1,
§3.3), each trained in turn. Then each *event* k = 1, 2, ...:

  1. the selection rule looks at the living (in order of birth) and names who it sampled, the
     parent, and who dies once the population is at its set-point (large-scale: the worse of a
     random pair; random: a coin's choice of the pair; regularized: the oldest);
  2. the child is a copy of the parent with one mutation of the Large-Scale set, redrawn while it
     breaks --max-params / --max-flops / --max-ms;
  3. the child trains `child_steps` iterations at the genome's constant learning rate, starting from
     its parent's weights wherever a layer matches (§3.6), and joins the population. A child whose
     training fails is recorded and left out; the population refills as in S1 (kill only at the
     set-point, reproduce only below it).

Everything event k draws comes from `random.Random(f"{strategy}:{seed}:event:{k}")` and the population
in order, so a resumed run makes the same choices. `Evolution.run()` keeps up to `window` events in
flight on the executor (its slots: `--parallel`, `--ray`), as the paper's asynchronous workers did:
event k is drawn right after event k - window is applied (its child is then in the population), and
results are applied in event order, so a run is a pure function of its seed and its window, however
the trainings finish and however often it is killed and resumed. With one slot it is the paper's
loop: draw, train, apply, draw.

`state.json` is written when events are drawn and when one is applied; a child's result is in
`history.jsonl` as soon as its weights are on disk, so a kill loses at most the trainings in flight.
A *generation* here is `population` events, which is what --max-generations counts and the report
plots. The best individual ever (by fitness: validation accuracy unless `--fitness` says otherwise)
keeps its weights in `best.pt`, whatever becomes of it in the population. At the end of each sitting
the best `--top-k` living individuals by fitness are ensembled by majority vote, as the paper's 95.6%
was (its top 2), with their validation and test accuracy recorded in `state.json` and `best.json`.
Every generation's summary and the state carry the FLOPs and device-seconds spent (LS §3.5), and each
summary the run's own evidence that selection means something: Kendall's τ between the fitness of the
round's children that inherited weights and their parents' (`parent_child_agreement`, `tau_parent_child`).
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple, TypedDict

from ..errors import EigenError
from ..executors.local import InlineExecutor
from ..executors.work import Training
from ..genome.cost import cost, training_flops
from ..genome.dna import ADD_THEN_ACTIVATE, initial_genome
from ..run_folder import json_types
from ..run_folder.file_types import Spent
from ..run_folder.folder import RunFolder, copy_atomic
from ..training.individual_training import IndividualTrainer
from .events import EvolutionEvents, EvolutionView
from .individual import Individual, draw_child
from .pareto import STEADY_ELIGIBLE, pareto_file, steady_points
from .rank_agreement import kendall_tau
from .record import STEADY_STAGE as STAGE, HistoryRecord
from .search_run import BestTest, SearchRun, SearchSettings

STATE_VERSION = 3  # 2: fitness apart from accuracy, cost totals, the population ensemble; 3: events in flight


@dataclass(frozen=True, kw_only=True)
class EvolutionSettings(SearchSettings):
    """The steady state's numbers (from `SearchConfig`, already scaled), beside the run's own."""

    strategy: str = "large-scale"  # names the run's random streams (the selection rule is the engine's)
    population: int = 100  # the set-point (the paper: 1,000)
    child_steps: int = 25_600  # iterations per child (the paper: 25,600 at batch 50)
    batch_size: int = 50  # images per iteration, for the FLOPs-spent accounting
    top_k: int = 2  # living individuals in the end-of-sitting ensemble (1: none)


class Selection(NamedTuple):
    """What a selection rule decided for one event."""

    sampled: list  # the individuals it looked at, in the order drawn (repeats where it drew with replacement)
    parent: "Individual"  # the one the child is a mutated copy of
    dies: "Individual"  # who leaves the population, if it is at its set-point


# A selection rule: the living in order of birth (oldest first) and the event's own random stream in,
# the event's choice out. Each strategy's module has its own (eigen/strategies/).
SelectionRule = Callable[[list, random.Random], Selection]


class PendingEvent(TypedDict):
    """A reproduction event drawn and not yet applied: who was sampled, the parent, who dies, the child."""

    event: int
    sampled: list[str]  # "pair" in a state.json written before the selection rules were apart
    parent: str
    killed: str | None
    child: Individual


class EvolutionSummary(TypedDict, total=False):
    """One generation of `population` events in state.json."""

    generation: int
    events: int
    alive: int
    population_best: float
    population_mean: float
    best: str | None
    best_fitness: float
    best_params: int
    flops_spent: int
    seconds: float
    tau_parent_child: float | None  # `parent_child_agreement`; missing (read as None) before eigen measured it


class Ensemble(TypedDict, total=False):
    """The top-k living individuals' majority vote, measured at the end of a sitting."""

    k: int
    members: list[str]
    vote: str
    member_val_accuracy: list[float]
    val_accuracy: float
    test_accuracy: float
    events: int


@dataclass
class EvolutionState:
    population: list[Individual] = field(default_factory=list)  # the living, in order of birth
    born: int = 0  # initial individuals created so far
    events: int = 0  # reproduction events finished
    pending: list[PendingEvent] = field(default_factory=list)  # events drawn, not yet applied
    best: Individual | None = None  # the best ever, by validation accuracy
    generations: list[EvolutionSummary] = field(default_factory=list)
    history_count: int = 0
    stopped: str | None = None
    best_test: BestTest | None = None
    spent: Spent | None = field(default_factory=lambda: {"flops": 0, "seconds": 0.0})  # every training (None: sum the history)
    ensemble: Ensemble | None = None  # the top-k living by fitness, majority vote

    def to_dict(self) -> dict:
        return {"version": STATE_VERSION, "population": [i.to_dict() for i in self.population], "born": self.born,
                "events": self.events, "pending": self.pending,
                "best": self.best.to_dict() if self.best else None, "generations": self.generations,
                "history_count": self.history_count, "stopped": self.stopped, "best_test": self.best_test,
                "spent": self.spent, "ensemble": self.ensemble}

    @classmethod
    def from_dict(cls, d: dict, image_size: int) -> "EvolutionState":
        if d.get("version") != STATE_VERSION:
            raise EigenError(f"state.json has version {d.get('version')}, this eigen reads {STATE_VERSION}")
        if isinstance(d.get("pending"), list):  # a pending event's sample was called its pair
            d = {**d, "pending": [{("sampled" if k == "pair" else k): v for k, v in p.items()}
                                  if isinstance(p, dict) else p for p in d["pending"]]}
        json_types.check(d, cls)  # every field's type, before anything (the live view, say) uses one
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
    """Runs (or resumes) a steady-state search in a run folder; see the module docstring.

    It keeps the run (`SearchRun`), the strategy's selection rule (`select`), and the steady state's
    own rules: who starts, how an event is drawn, what applying a result does, and the loop that keeps
    the executor's slots full (`run`). `sample_in_history` writes each event's sample into its child's
    history line (regularized evolution's S individuals; a tournament's pair stays in state.json)."""

    def __init__(self, settings: EvolutionSettings, trainer: IndividualTrainer, folder: RunFolder,
                 progress=None, executor=None, measure_latency=None, *, select: SelectionRule,
                 sample_in_history: bool = False):
        self.settings, self.trainer, self.folder = settings, trainer, folder
        self.select, self.sample_in_history = select, sample_in_history
        self.executor = executor or InlineExecutor(trainer)  # where the individuals train (SPEC §10)
        self.progress = progress or EvolutionEvents()  # who watches: a view, or nobody
        self.core = SearchRun(folder, settings, lambda d: EvolutionState.from_dict(d, settings.image_size),
                              EvolutionState, self.progress.note, measure_latency)
        # Trained before a kill. Every record, not only those after the state's count: with several
        # trainings in flight a result is recorded as it finishes but applied in event order, so a
        # state saved in between counts records whose events are still pending.
        self.recorded = {r.id: r for r in self.core.records}

    state = property(lambda self: self.core.state)
    sitting = property(lambda self: self.core.sitting)
    fitness = property(lambda self: self.core.fitness)

    def view(self) -> EvolutionView:
        """The run as its watchers see it now (see `events.py`)."""
        s, state = self.settings, self.state
        return EvolutionView(self.folder.path, s.strategy, s.population, s.child_steps, state.born, state.events,
                             len(state.population), state.best.view() if state.best else None, self.sitting,
                             self.fitness.expression)

    def run(self) -> str:
        """Evolve until out of generations or time; return why it stopped.

        The loop: start every training that may start (up to the executor's slots; a result recorded
        before a kill is taken instead of trained), apply in order every result whose turn has come
        (each applied event lets the next one be drawn), else wait for a training to finish. With one
        slot: draw, train, apply, draw, as §3.1 tells it."""
        self.progress.search_started(self.view())
        done: dict[tuple, tuple[Individual, HistoryRecord]] = {}  # finished, waiting for their turn
        flying: dict[tuple, Individual] = {}  # on the executor
        refused = False  # a start was refused (the time budget): nothing more starts this sitting
        if self._draw_events():
            self.save()
        while True:
            for tag, individual, inherit in self._wanted():
                if tag in flying or tag in done:
                    continue
                if individual.id in self.recorded:  # trained before a kill: its result as it was
                    done[tag] = (individual, self.recorded[individual.id])
                elif not refused and self.executor.busy < self.executor.slots:
                    refused = self.sitting.spent()
                    if not refused:
                        self.progress.child_started(self.view(), individual.view(), self._pending(tag))
                        self.executor.submit(tag, self.training(individual, inherit))
                        flying[tag] = individual
            if self._apply_in_order(done):
                continue  # the population moved on: more may start
            if not flying:
                break
            tag, result = self.executor.wait(lambda tag, step, until, loss: self.progress.child_progress(
                flying[tag].view(), step, until, loss))
            individual = flying.pop(tag)
            done[tag] = (individual, self.record(individual, result))
        self.state.stopped = self.stop_reason() or ("time budget" if refused else "max generations")
        self.save()
        return self.state.stopped

    def _starting(self) -> bool:
        """The starting population is not all trained, or it must refill (S1's PopulationTooSmall)."""
        state = self.state
        return state.born < self.settings.population or (len(state.population) < 2 and not state.pending)

    def _wanted(self) -> list[tuple]:
        """The trainings that should be in flight now, in the order their results apply, each
        (tag, individual, weights it inherits): the starting individuals (all independent), or the
        events drawn and not yet applied."""
        state, s = self.state, self.settings
        if self._starting():
            last = s.population if state.born < s.population else state.born + 1
            return [(("initial", n), self.starting_individual(n), None) for n in range(state.born, last)]
        return [(("event", e["event"]), Individual.from_dict(e["child"], s.image_size), self.parent_weights(e))
                for e in state.pending]

    def _pending(self, tag: tuple) -> dict | None:
        return next((p for p in self.state.pending if ("event", p["event"]) == tag), None)

    def _next_turn(self) -> tuple | None:
        """The tag of the result that applies next: starting individual n, or the oldest pending event."""
        if self._starting():
            return ("initial", self.state.born)
        return ("event", self.state.pending[0]["event"]) if self.state.pending else None

    def _apply_in_order(self, done: dict) -> bool:
        """Apply every finished result whose turn has come, each followed by the draws it allows;
        True if any was applied."""
        applied = False
        while (tag := self._next_turn()) in done:
            individual, record = done.pop(tag)
            (self.apply_initial if tag[0] == "initial" else self.apply_event)(individual, record)
            self._draw_events()
            self.announce(individual, record)
            applied = True
        return applied

    def _draw_events(self) -> bool:
        """Draw events while fewer than `window` are pending, from the population as it is now: run
        after every result applied, so event k is drawn right after event k - window is applied
        (which is what makes the run independent of finishing order). True if any was drawn."""
        state = self.state
        if state.born < self.settings.population:
            return False
        drawn = False
        while len(state.pending) < self.window and len(state.population) >= 2:
            k = state.events + len(state.pending) + 1
            if self.event_limit is not None and k > self.event_limit:
                break
            self.draw_event(k)
            drawn = True
        return drawn

    @property
    def window(self) -> int:
        """Events in flight at once: the executor's slots (1: the classic one-at-a-time loop)."""
        return self.executor.slots

    @property
    def event_limit(self) -> int | None:
        s = self.settings
        return s.max_generations * s.population if s.max_generations is not None else None

    def stop_reason(self) -> str | None:
        if self.event_limit is not None and self.state.events >= self.event_limit:
            return "max generations"
        if self.sitting.spent():
            return "time budget"
        return None

    # -- the rules both loops apply ------------------------------------------------------------------
    def starting_individual(self, n: int) -> Individual:
        """Starting individual n: the trivial network, learning rate 0.1 (§3.3), whose vertices sum
        their inputs, then activate (§3.2); every child inherits that order."""
        genome = initial_genome(vertex_order=ADD_THEN_ACTIVATE)
        c = cost(genome, self.settings.image_size, self.settings.num_classes)
        return Individual(f"i{n}", None, genome, [], c.params, c.flops, latency=self.core.latency_of(genome))

    def draw_event(self, k: int) -> dict:
        """Event k's selection and child, from the population as it is now and k's own generator;
        pending until its child's result is applied. Who dies is dead at once (its weights go when
        the event is applied). S1's set-point: kill only at it, the children in flight counted."""
        state, s = self.state, self.settings
        rng = random.Random(f"{s.strategy}:{s.seed}:event:{k}")
        chosen = self.select(state.population, rng)
        killed = chosen.dies.id if len(state.population) + len(state.pending) >= s.population else None
        parent = chosen.parent
        genome, mutations, c, _, latency = draw_child(parent, rng, "large-scale", lambda: 1, s, self.core.latency_of)
        child = Individual(f"c{k}", parent.id, genome, mutations, c.params, c.flops, latency=latency)
        event = {"event": k, "sampled": [i.id for i in chosen.sampled], "parent": parent.id, "killed": killed,
                 "child": child.to_dict()}
        state.pending.append(event)
        if killed is not None:
            state.population = [i for i in state.population if i.id != killed]
        return event

    def parent_weights(self, event: dict) -> Path | None:
        """The weights event's child inherits (§3.6): its parent's, which stay on disk until the
        event that killed the parent (drawn after this one) is applied."""
        parent = next((i for i in self.state.population if i.id == event["parent"]), None)
        checkpoint = f"{self.folder.individuals.name}/{event['parent']}.pt" if parent is None else parent.checkpoint
        return self.folder.path / checkpoint if checkpoint else None

    def training(self, individual: Individual, inherit: Path | None) -> Training:
        s = self.settings
        return Training(individual.genome, individual_seed(s.seed, individual.id), s.child_steps,
                        save_to=self.folder.path / f"{self.folder.individuals.name}/{individual.id}.pt",
                        inherit_from=inherit if inherit is not None and inherit.exists() else None)

    def record(self, individual: Individual, result) -> HistoryRecord:
        """The individual's line of history.jsonl, written now (its weights are on disk)."""
        s = self.settings
        event = int(individual.id[1:]) if individual.id.startswith("c") else 0
        pending = next((p for p in self.state.pending if p["event"] == event), None) if event else None
        record = HistoryRecord(
            id=individual.id, parent=individual.parent, generation=-(-event // s.population), event=event,
            killed=pending["killed"] if pending else None, succession=None, step_size=1, stage=STAGE,
            until=s.child_steps, key=individual.key, mutations=individual.mutations, params=individual.params,
            flops=individual.flops, fitness={STAGE: self.core.fitness_of(individual, result.fitness)},
            accuracy={STAGE: result.fitness},  # the trainer's fitness is validation accuracy
            status=result.status, iterations=result.iterations, seconds=round(result.seconds, 3),
            flops_spent=training_flops(individual.flops, s.batch_size, result.iterations, s.num_val),
            reused_from=None, checkpoint=f"{self.folder.individuals.name}/{individual.id}.pt" if result.ok else None,
            inherited=result.inherited, genome=individual.genome.to_dict(), graphed=result.graphed,
            graph_error=result.graph_error, latency=individual.latency,
            sampled=list(pending["sampled"]) if pending and self.sample_in_history else None)
        self.core.append(record)
        self.core.failures.saw(individual.id, record.status)
        return record

    def apply_initial(self, individual: Individual, record: HistoryRecord) -> None:
        """A starting individual's result: it joins the population unless its training failed."""
        state = self.state
        self._take(individual, record)
        state.born += 1
        if individual.status == "ok":
            state.population.append(individual)
        if state.born == self.settings.population and not state.generations:
            self._summarize(0)

    def apply_event(self, child: Individual, record: HistoryRecord) -> None:
        """The oldest pending event's result: the loser's weights go, the child joins (unless its
        training failed), and every `population` events make a generation."""
        state, s = self.state, self.settings
        self._take(child, record)
        event = state.pending.pop(0)
        if event["killed"] is not None:
            self._drop_weights(event["killed"])
        if child.status == "ok":
            state.population.append(child)
        state.events = event["event"]
        if state.events % s.population == 0:
            self._summarize(state.events // s.population)

    def announce(self, individual: Individual, record: HistoryRecord) -> None:
        """A result applied: the view hears it, and the state is saved."""
        self.progress.child_finished(self.view(), individual.view(), record)
        self.save()

    def _take(self, individual: Individual, record: HistoryRecord) -> None:
        """The individual becomes what its record says; the best ever follows it if it is better."""
        individual.fitness = dict(record.fitness)
        individual.accuracy = dict(record.accuracy)
        individual.status, individual.checkpoint = record.status, record.checkpoint
        individual.step = record.until if record.ok else 0
        best = self.state.best
        if individual.status == "ok" and (best is None or individual.fitness[STAGE] > best.fitness[STAGE]):
            copy_atomic(self.folder.path / individual.checkpoint, self.folder.best_weights)
            self.state.best = Individual.from_dict(individual.to_dict(), self.settings.image_size)

    # -- helpers -------------------------------------------------------------------------------------
    def _drop_weights(self, individual_id: str) -> None:
        (self.folder.path / self.folder.individuals.name / f"{individual_id}.pt").unlink(missing_ok=True)

    def _summarize(self, generation: int) -> None:
        state = self.state
        fitness = [i.fitness[STAGE] for i in state.population]
        spent = self.core.spending.of(generation)
        state.generations.append({
            "generation": generation, "events": state.events, "alive": len(fitness),
            "population_best": max(fitness, default=0.0), "population_mean": sum(fitness) / max(len(fitness), 1),
            "best": state.best.id if state.best else None,
            "best_fitness": state.best.fitness[STAGE] if state.best else 0.0,
            "best_params": state.best.params if state.best else 0,
            "flops_spent": spent["flops"], "seconds": spent["seconds"],
            "tau_parent_child": parent_child_agreement(self.core.records, generation),
        })
        self.progress.generation_finished(self.view(), state.generations[-1])

    def save(self) -> None:
        self.core.save()

    # -- the answer ----------------------------------------------------------------------------------
    def best(self) -> dict:
        """best.json: the best individual ever, as for EIGEN, with the population's ensemble."""
        b = self.state.best
        generation = -(-int(b.id[1:]) // self.settings.population) if b and b.id.startswith("c") else 0
        return self.core.answer(b, STAGE, generation, trained=b is not None, population_ensemble=self.state.ensemble)

    def measure_test(self) -> float | None:
        """The best's test accuracy, and the living's ensemble (`measure_ensemble`), each measured once."""
        test = self.core.measure_test(self.trainer)
        self.measure_ensemble()
        return test

    def pareto(self) -> dict:
        """pareto.json: the front of the living individuals, trained (see `pareto.py`)."""
        best = self.state.best.id if self.state.best else None
        living = [i.id for i in self.state.population]
        return pareto_file(steady_points(self.core.records, living), STEADY_ELIGIBLE, best,
                           self.core.latency_setting())

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
            accuracy = self.trainer.vote_accuracies([self.folder.path / i.checkpoint for i in living],
                                                        ("val", "test"))
            state.ensemble = {"k": len(members), "members": members, "vote": "majority",
                              "member_val_accuracy": [i.accuracy.get(STAGE, i.fitness[STAGE]) for i in living],
                              "val_accuracy": accuracy["val"], "test_accuracy": accuracy["test"],
                              "events": state.events}
            self.save()
        return state.ensemble


def parent_child_agreement(records: list[HistoryRecord], generation: int) -> float | None:
    """Kendall's τ between parents' and children's fitness over the children of round `generation`
    that trained from their parent's weights: the run's own evidence that fitness passes from parent
    to child, so that choosing parents by it (large-scale's tournaments) means something. Near 0, a
    child's fitness owes little to its parent's and selection works on noise (each individual trains
    too briefly). A failed training is left out
    (its fitness says nothing about the ranking); None with fewer than two children, or all tied."""
    fitness = {r.id: r.value for r in records if r.ok}
    pairs = [(fitness[r.parent], r.value) for r in records
             if r.event and r.generation == generation and r.ok and r.inherited and r.parent in fitness]
    return kendall_tau([parent for parent, _ in pairs], [child for _, child in pairs])
