"""The EIGEN search (SPEC §6): generations of children of one parent, staged extinction, succession.

`EigenSearch.run()` is Algorithm 1 of the paper. Each generation draws `population` children of the
current parent, each k ~ U{1..m} mutations away (m = 100 in the primary succession, 10 in the
secondary); trains them all to T1 and extinguishes those below v_{g,T1} (Eq. 1); trains the
survivors to T2 and extinguishes those below v_{g,T2} (Eq. 2); trains the rest to T3; the best of
them becomes the next parent (line 9: "only the best individual in the previous generation will
survive"), even when it is worse than the current parent; if none reaches T3 the parent stays.
`--elitist` keeps the parent unless a child beats it. The parent's own recorded fitness is the
maximum of many noisy single-seed trainings, so comparing against it (a winner's curse) freezes the
search early; the paper's rule keeps it moving. The search's answer is the best individual ever
trained to T3 (`best.pt`, `best.json`), not necessarily the last parent, and the plateaus that end
a succession are measured on that best-ever fitness.

Fitness is validation accuracy unless `--fitness` says otherwise (`fitness.py`); every record keeps
the accuracy apart. Each record also carries the FLOPs and device-seconds it spent (Large-Scale
Evolution §3.5); every generation's summary and the state sum them. Each summary also carries the
run's own evidence that selecting on early fitness means something: Kendall's τ between the T1 and
the T2 fitness of the children that survived to T2 (`early_agreement`, `tau_T1_T2`).

Everything the loop knows lives in `SearchState`, written to `state.json` at every stage boundary
(after the generation's children are drawn, after each stage, after the generation ends). Within a
stage, each child's result is appended to `history.jsonl` as soon as its checkpoint is on disk, so a
resumed run picks up those results instead of training the children again, and loses at most the
trainings in flight. The children of a stage train on an executor (`eigen.executors`: one at a time,
`--parallel K` at once, or on a Ray cluster) and are recorded in the order they finish; each result
depends only on the child's own seed and inputs, so every executor gives the same records. A genome
already trained in this run (same key, same iteration count) is not trained again: its recorded
result is reused.
"""
from __future__ import annotations

import dataclasses
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypedDict

from .. import faults
from ..errors import EigenError, own_file_missing
from ..executors.local import InlineExecutor
from ..executors.work import Executor, Training, run_all
from ..genome.cost import cost, training_flops
from ..genome.dna import Genome, initial_genome
from ..genome.mutations import step_count
from ..run_folder import json_types
from ..run_folder.file_types import Spent
from ..run_folder.folder import RunFolder, copy_atomic
from ..training.individual_training import IndividualTrainer, training_seed
from ..training.job import StageResult
from .events import GenerationView, SearchEvents, SearchView
from .extinction import STAGES, survives, threshold
from .individual import Individual, draw_child
from .pareto import EIGEN_ELIGIBLE, eigen_points, pareto_file
from .rank_agreement import kendall_tau
from .record import HistoryRecord
from .search_run import BestTest, SearchRun, SearchSettings
from .succession import Succession

STATE_VERSION = 2  # 2: the paper's parent rule, a best-ever answer, fitness apart from accuracy, cost totals
REUSABLE = ("ok", "diverged")  # statuses a retraining would reproduce; an OOM may not repeat


@dataclass(frozen=True, kw_only=True)
class EigenSettings(SearchSettings):
    """The numbers of Algorithm 1 (all from `SearchConfig`, already scaled), beside the run's own."""

    population: int = 10  # n: children per generation
    primary_step: int = 100  # m in the primary succession
    secondary_step: int = 10  # m in the secondary succession
    stage_ends: tuple[int, int, int] = (5_000, 20_000, 25_000)  # iterations: T1, T1+T2, T1+T2+T3
    p: int = 5  # rank of the T1 threshold (Eq. 1)
    q: int = 2  # rank of the T2 threshold (Eq. 2)
    plateau_delta: float = 0.2  # accuracy points
    plateau_patience: int = 3  # generations
    inherit_weights: bool = False  # children start from the parent's matching weights (LS §3.6; an ablation)
    elitist: bool = False  # keep the parent unless a child beats it (not the paper's rule)

    def step_size(self, phase: str) -> int:
        return self.primary_step if phase == "primary" else self.secondary_step


class GenerationSummary(TypedDict, total=False):
    """One finished generation in state.json (what the live view, the report and the summary table
    show); a run begun by an older eigen may lack some keys."""

    generation: int
    phase: str
    step_size: int
    trained: dict[str, int]  # stage -> children trained to it
    failed: int
    rejected: int
    thresholds: dict[str, float | None]
    best_child: str | None
    best_child_fitness: float | None
    parent: str
    parent_fitness: float
    parent_params: int
    improved: bool
    new_best: bool
    best: str | None
    best_fitness: float | None
    flops_spent: int
    seconds: float
    succession_change: str | None
    tau_T1_T2: float | None  # `early_agreement` of its children; missing (read as None) before eigen measured it


@dataclass
class Generation:
    number: int
    phase: str  # "primary" or "secondary"
    step_size: int
    children: list[Individual]
    stages_done: int = 0  # 0..3
    thresholds: dict[str, float] = field(default_factory=dict)  # v_{g,T1}, v_{g,T2}
    rejected: int = 0  # children redrawn because they broke --max-params / --max-flops / --max-ms

    def view(self) -> GenerationView:
        return GenerationView(self.number, self.phase, self.step_size, self.stages_done, dict(self.thresholds),
                              tuple(c.view() for c in self.children))

    def to_dict(self) -> dict:
        return {**{k: v for k, v in asdict(self).items() if k != "children"},
                "children": [c.to_dict() for c in self.children]}

    @classmethod
    def from_dict(cls, d: dict, image_size: int) -> "Generation":
        return cls(**{**d, "children": [Individual.from_dict(c, image_size) for c in d["children"]]})


@dataclass
class SearchState:
    """Where the search stands; `state.json` is this, written atomically at every stage boundary."""

    parent: Individual
    parent_fitness: float  # fitness of the parent at T3 (0 for the initial genome)
    succession: Succession
    # v_{g-1}; None before the first generation: no bar (v_0 = 0 for accuracy, which bars nothing either)
    thresholds: dict[str, float | None] = field(default_factory=lambda: {"T1": None, "T2": None})
    generation: Generation | None = None  # the generation in flight
    generations: list[GenerationSummary] = field(default_factory=list)  # summaries of finished generations
    history_count: int = 0  # records in history.jsonl at this boundary
    stopped: str | None = None  # why the last sitting ended
    best: Individual | None = None  # the best individual ever trained to T3, weights in best.pt
    best_test: BestTest | None = None  # measured once per reported best
    spent: Spent | None = field(default_factory=lambda: {"flops": 0, "seconds": 0.0})  # every sitting (None: sum the history)

    @classmethod
    def initial(cls, settings: EigenSettings) -> "SearchState":
        genome = initial_genome()
        c = cost(genome, settings.image_size, settings.num_classes)
        parent = Individual("g0", None, genome, [], c.params, c.flops)
        return cls(parent=parent, parent_fitness=0.0,
                   succession=Succession(settings.plateau_delta, settings.plateau_patience))

    def to_dict(self) -> dict:
        return {"version": STATE_VERSION, "parent": self.parent.to_dict(), "parent_fitness": self.parent_fitness,
                "succession": self.succession.to_dict(), "thresholds": self.thresholds,
                "generation": self.generation.to_dict() if self.generation else None,
                "generations": self.generations, "history_count": self.history_count, "stopped": self.stopped,
                "best": self.best.to_dict() if self.best else None, "best_test": self.best_test,
                "spent": self.spent}

    @classmethod
    def from_dict(cls, d: dict, settings: EigenSettings) -> "SearchState":
        if d.get("version") != STATE_VERSION:
            raise EigenError(f"state.json has version {d.get('version')}, this eigen reads {STATE_VERSION}")
        json_types.check(d, cls)  # every field's type, before anything (the live view, say) uses one
        size = settings.image_size
        return cls(parent=Individual.from_dict(d["parent"], size), parent_fitness=d["parent_fitness"],
                   succession=Succession.from_dict(d["succession"], settings.plateau_delta,
                                                   settings.plateau_patience),
                   thresholds=d["thresholds"],
                   generation=Generation.from_dict(d["generation"], size) if d["generation"] else None,
                   generations=d["generations"], history_count=d["history_count"], stopped=d["stopped"],
                   best=Individual.from_dict(d["best"], size) if d["best"] else None, best_test=d["best_test"],
                   spent=d["spent"])


class BudgetSpent(Exception):
    """The sitting's --time-budget ran out; stop at the next safe point."""


class EigenSearch:
    """Runs (or resumes) an EIGEN search in a run folder; see the module docstring."""

    def __init__(self, settings: EigenSettings, trainer: IndividualTrainer, folder: RunFolder,
                 progress: SearchEvents | None = None, executor: Executor | None = None, measure_latency=None):
        self.settings, self.trainer, self.folder = settings, trainer, folder
        self.executor = executor or InlineExecutor(trainer)  # where the children train (SPEC §10)
        self.progress = progress or SearchEvents()  # who watches: a view, or nobody
        self.core = SearchRun(folder, settings, lambda d: SearchState.from_dict(d, settings),
                              lambda: SearchState.initial(settings), self.progress.note, measure_latency)
        self.memo: dict[tuple, HistoryRecord] = {}  # a training's memo key -> its (first) record
        self.genome_of: dict[str, dict] = {}  # individual id -> genome, from the T1 records
        for r in self.core.records:
            self._remember(r)
        # Results written after the last boundary: children of the stage in flight already trained.
        self.recorded = {(r.generation, r.id, r.stage): r for r in self.core.unsaved}

    state = property(lambda self: self.core.state)
    sitting = property(lambda self: self.core.sitting)
    fitness = property(lambda self: self.core.fitness)

    def view(self) -> SearchView:
        """The search as its watchers see it now (see `events.py`)."""
        s, state = self.settings, self.state
        resuming = ((state.generation.number, STAGES[min(state.generation.stages_done, 2)])
                    if state.generation else None)
        return SearchView(self.folder.path, state.parent.view(), state.parent_fitness, len(state.generations),
                          resuming, self.executor.slots, self.sitting, s.population, s.p, s.q, s.stage_ends,
                          self.fitness.expression)

    # -- Algorithm 1 ---------------------------------------------------------------------------------
    def run(self) -> str:
        """Search until converged, out of generations or out of time; return why it stopped."""
        self.progress.search_started(self.view())
        try:
            while (reason := self.stop_reason()) is None:
                generation = self.state.generation or self.begin_generation()
                self.progress.generation_started(self.view(), generation.view())
                self.train_stage(generation, 0)  # train all children T1 iterations
                self.extinguish(generation, 0, self.settings.p)  # Eq. 1
                self.train_stage(generation, 1)  # train the survivors T2 more
                self.extinguish(generation, 1, self.settings.q)  # Eq. 2
                self.train_stage(generation, 2)  # train the rest T3 more
                self.end_generation(generation)  # the best finalist becomes the parent (line 9)
        except BudgetSpent:
            reason = "time budget"
        self.state.stopped = reason
        self.save()
        return reason

    def stop_reason(self) -> str | None:
        s = self.settings
        if self.state.succession.converged:
            return "converged"
        if s.max_generations is not None and len(self.state.generations) >= s.max_generations:
            return "max generations"
        if self.sitting.spent():
            return "time budget"
        return None

    # -- one generation ------------------------------------------------------------------------------
    def begin_generation(self) -> Generation:
        """Draw the generation's children from the parent; the draw depends only on (seed, number)."""
        s, state = self.settings, self.state
        number = len(state.generations) + 1
        phase = state.succession.phase
        m = s.step_size(phase)
        rng = random.Random(f"eigen:{s.seed}:generation:{number}")
        # Checkpoints left by a kill just before the last generation's end removed them: none belongs
        # to this generation, and a reuse must not find weights there that an unkilled run would not.
        shutil.rmtree(self.folder.individuals, ignore_errors=True)
        children, rejected = [], 0
        for slot in range(s.population):
            genome, mutations, c, redrawn, latency = draw_child(state.parent, rng, "eigen", lambda: step_count(rng, m),
                                                                s, self.core.latency_of)
            rejected += redrawn
            children.append(Individual(f"g{number}c{slot}", state.parent.id, genome, mutations, c.params, c.flops,
                                       latency=latency))
        generation = Generation(number, phase, m, children, rejected=rejected)
        state.generation = generation
        self.save()
        return generation

    def train_stage(self, generation: Generation, k: int) -> None:
        """Train every living child of `generation` to the end of stage k (skipped if already done).

        The children train on the executor, several at once with `--parallel` or `--ray`; each
        result is recorded as it finishes. A child whose genome another child of this stage is
        already training waits for that result and reuses it, as it would one recorded earlier."""
        if generation.stages_done > k:
            return
        stage, until = STAGES[k], self.settings.stage_ends[k]
        twins: dict[tuple, list[Individual]] = {}  # memo key in training -> children waiting for its result
        queue = []
        for child in generation.children:
            if not child.alive or stage in child.fitness:
                continue
            recorded = self.recorded.get((generation.number, child.id, stage))
            if recorded is not None:  # trained before a kill; its checkpoint is on disk
                self._apply(child, stage, recorded)
                continue
            queue.append((child, self._training(child, stage, until)))

        def starting(child: Individual) -> bool:
            key = self._memo_key(child.key, until, child.parent)
            earlier = self.memo.get(key)
            # An identical genome already trained this far: take its result. A finalist may become the
            # parent or the best, so at T3 a result whose weights are gone is trained again instead.
            if earlier is not None and (k < 2 or self._weights_of(key, earlier.checkpoint) is not None):
                self._reuse(generation, child, stage, until, earlier)
                return False
            if key in twins:  # an identical genome is training now: wait for its result
                twins[key].append(child)
                return False
            twins[key] = []
            self.progress.child_started(self.view(), generation.view(), child.view(), stage)
            return True

        def finished(child: Individual, result: StageResult):
            child.status, child.step = result.status, result.step
            child.accuracy[stage] = result.fitness  # the trainer's fitness is validation accuracy
            child.fitness[stage] = self.core.fitness_of(child, result.fitness)
            child.checkpoint = self._checkpoint_name(child, stage) if result.ok else None
            record = self._record(generation, child, stage, until, seconds=result.seconds,
                                  iterations=result.iterations, inherited=result.inherited,
                                  graphed=result.graphed, graph_error=result.graph_error)
            self._finish(generation, child, stage, record)
            # Its twins start again: each takes this result, or (a failure is not reused: an OOM may
            # not repeat) the first trains itself and the others wait for it.
            waiting = twins.pop(self._memo_key(child.key, until, child.parent), [])
            return [(twin, self._training(twin, stage, until)) for twin in waiting]

        everything = run_all(
            self.executor, queue, on_done=finished, on_start=starting,
            on_progress=lambda child, step, end, loss: self.progress.child_progress(child.view(), stage, step, end, loss),
            may_start=lambda: not self.sitting.spent())
        if not everything:
            raise BudgetSpent
        if k == 2:
            self._close_stage(generation, k)

    def _reuse(self, generation: Generation, child: Individual, stage: str, until: int, earlier: HistoryRecord) -> None:
        """Take an identical genome's recorded result (same genome, same length) as this child's."""
        self.progress.child_started(self.view(), generation.view(), child.view(), stage)
        self._apply(child, stage, earlier)
        child.checkpoint = self._weights_of(self._memo_key(child.key, until, child.parent), earlier.checkpoint)
        record = self._record(generation, child, stage, until, seconds=0.0, iterations=0, reused_from=earlier.id)
        self._finish(generation, child, stage, record)

    def _finish(self, generation: Generation, child: Individual, stage: str, record: HistoryRecord) -> None:
        """A child's result is in: its history line (its checkpoint is already on disk), the totals, the view."""
        self.core.append(record)
        self._remember(record)
        self.progress.child_finished(self.view(), generation.view(), child.view(), stage, record)
        self.core.failures.saw(f"{child.id} at {stage}", child.status)

    def extinguish(self, generation: Generation, k: int, rank: int) -> None:
        """Eq. 1 / Eq. 2: v_{g,stage} = max(rank-th best fitness at this stage, v_{g-1,stage})."""
        if generation.stages_done > k:
            return
        stage = STAGES[k]
        trained = [c for c in generation.children if c.alive]
        bar = threshold([c.fitness[stage] for c in trained], rank, self.state.thresholds[stage])
        generation.thresholds[stage] = bar
        faults.point("extinction")
        for c in trained:
            c.alive = survives(c.fitness[stage], c.status == "ok", bar)
        self._close_stage(generation, k)
        self.progress.extinction(self.view(), generation.view(), stage, bar)

    def end_generation(self, generation: Generation) -> None:
        """Algorithm 1, line 9: the best child that reached T3 becomes the parent (with --elitist, only
        if it beats the parent); the best ever is kept apart, and the plateaus are measured on it."""
        state = self.state
        finalists = [c for c in generation.children if c.alive and c.status == "ok"]
        best = max(finalists, key=lambda c: c.fitness["T3"], default=None)
        weights = self._finalist_weights(best) if best is not None else None
        replaced = best is not None and (not self.settings.elitist or best.fitness["T3"] > state.parent_fitness)
        if replaced:
            copy_atomic(weights, self.folder.parent_weights)
            state.parent = dataclasses.replace(best, checkpoint=self.folder.parent_weights.name)
            state.parent_fitness = best.fitness["T3"]
        new_best = best is not None and (state.best is None or best.fitness["T3"] > state.best.fitness["T3"])
        if new_best:
            copy_atomic(weights, self.folder.best_weights)
            state.best = dataclasses.replace(best, checkpoint=self.folder.best_weights.name)
        state.thresholds = {stage: generation.thresholds[stage] for stage in ("T1", "T2")}
        best_ever = state.best.fitness["T3"] if state.best else 0.0
        change = state.succession.record(generation.number, best_ever)
        spent = self.core.spending.of(generation.number)
        summary = {
            "generation": generation.number, "phase": generation.phase, "step_size": generation.step_size,
            "trained": {s: sum(s in c.fitness for c in generation.children) for s in STAGES},
            "failed": sum(c.status != "ok" for c in generation.children), "rejected": generation.rejected,
            "thresholds": generation.thresholds,
            "best_child": best.id if best else None, "best_child_fitness": best.fitness["T3"] if best else None,
            "parent": state.parent.id, "parent_fitness": state.parent_fitness, "parent_params": state.parent.params,
            "improved": replaced, "new_best": new_best,
            "best": state.best.id if state.best else None, "best_fitness": state.best.fitness["T3"] if state.best else None,
            "flops_spent": spent["flops"], "seconds": spent["seconds"],
            "succession_change": change, "tau_T1_T2": early_agreement(generation.children),
        }
        state.generations.append(summary)
        state.generation = None
        self.save()
        shutil.rmtree(self.folder.individuals, ignore_errors=True)
        self.progress.generation_finished(self.view(), generation.view(), summary)

    # -- helpers -------------------------------------------------------------------------------------
    def _training(self, child: Individual, stage: str, until: int) -> Training:
        """What training `child` to the end of `stage` takes: its seed, its last checkpoint (or the
        parent's weights to inherit), and where its new checkpoint goes."""
        found = self._weights_of_child(child) if child.step else None
        # A reused result whose weights are gone trains from scratch to this stage's end: the same
        # seed and batch order give the weights it would have continued from (the cost is recorded).
        start = self.folder.path / found if found else None
        inherit_from = None
        if start is None and self.settings.inherit_weights and self.state.parent.checkpoint:
            inherit_from = self.folder.parent_weights  # the parent of this generation, trained
        return Training(child.genome, training_seed(self.settings.seed, child.genome), until,
                        save_to=self.folder.path / self._checkpoint_name(child, stage), start_from=start,
                        inherit_from=inherit_from)

    def _memo_key(self, key: str, until: int, parent: str | None) -> tuple:
        """What decides a training's result: the genome and its length, and with weight inheritance
        also the parent whose weights it starts from."""
        return (key, until, parent if self.settings.inherit_weights else None)

    def _weights_of(self, key: tuple, checkpoint: str | None) -> str | None:
        """Where the weights of the training `key` (`_memo_key`) are now, relative to the run folder,
        or None if nowhere.

        A checkpoint in individuals/ lives while its generation lasts (each is named after the
        individual and stage that wrote it, so it never holds anything else); after that, weights
        survive only as parent.pt or best.pt, when their genome became the parent or the best ever.
        The same genome trained as long from the same start leaves the same weights, so those files
        serve every later child that reuses the result: a child identical to its parent (the paper's
        own case, common under the secondary succession's small steps) trains nothing and is copied
        from parent.pt."""
        if checkpoint and checkpoint.startswith(f"{self.folder.individuals.name}/") and \
                (self.folder.path / checkpoint).exists():
            return checkpoint
        for holder, path in ((self.state.parent, self.folder.parent_weights), (self.state.best, self.folder.best_weights)):
            if holder is not None and holder.checkpoint and holder.status == "ok" and path.exists() and \
                    self._memo_key(holder.key, holder.step, holder.parent) == key:
                return path.name
        return None

    def _weights_of_child(self, child: Individual) -> str | None:
        """Where `child`'s weights at its last stage are now (see `_weights_of`)."""
        return self._weights_of(self._memo_key(child.key, child.step, child.parent), child.checkpoint)

    def _finalist_weights(self, child: Individual) -> Path:
        found = self._weights_of_child(child)
        if found is None:  # a finalist's weights are kept until its generation ends: a damaged run folder
            raise own_file_missing(self.folder.path / (child.checkpoint or f"{child.id}-T3.pt"),
                                   f"the weights of finalist {child.id}")
        return self.folder.path / found

    def _checkpoint_name(self, child: Individual, stage: str) -> str:
        return f"{self.folder.individuals.name}/{child.id}-{stage}.pt"

    def _apply(self, child: Individual, stage: str, record: HistoryRecord) -> None:
        """Take a recorded result (this child's own, or an identical genome's) as the child's `stage`.

        An identical genome may name its nodes differently (the key ignores ids), and the weights it
        left are named after its own nodes; so a child that takes its result takes its genome too,
        and its later stages continue those weights under the names they carry."""
        source = record.reused_from or record.id
        if source != child.id and source in self.genome_of:
            child.genome = Genome.from_dict(self.genome_of[source], self.settings.image_size)
        child.fitness[stage] = record.value
        child.accuracy[stage] = record.accuracy[record.stage]
        child.status = record.status
        child.checkpoint = record.checkpoint
        if child.status == "ok":
            child.step = record.until

    def _record(self, generation: Generation, child: Individual, stage: str, until: int, *, seconds: float,
                iterations: int, reused_from: str | None = None, inherited: int = 0, graphed: bool | None = None,
                graph_error: str | None = None) -> HistoryRecord:
        """One line of history.jsonl: everything about this individual after this stage."""
        s = self.settings
        spent = 0 if reused_from else training_flops(child.flops, s.batch_size, iterations, s.num_val)
        return HistoryRecord(
            id=child.id, parent=child.parent, generation=generation.number, succession=generation.phase,
            step_size=generation.step_size, stage=stage, until=until, key=child.key, mutations=list(child.mutations),
            params=child.params, flops=child.flops, fitness=dict(child.fitness), accuracy=dict(child.accuracy),
            status=child.status, iterations=iterations, seconds=round(seconds, 3), flops_spent=spent,
            reused_from=reused_from, checkpoint=child.checkpoint, inherited=inherited,
            genome=child.genome.to_dict() if stage == "T1" else None, graphed=graphed, graph_error=graph_error,
            latency=child.latency)

    def _remember(self, record: HistoryRecord) -> None:
        if record.genome is not None and not record.reused_from:
            self.genome_of[record.id] = record.genome
        if record.status in REUSABLE and not record.reused_from:
            self.memo[self._memo_key(record.key, record.until, record.parent)] = record

    def _close_stage(self, generation: Generation, k: int) -> None:
        """A stage boundary: save the state, then drop checkpoints nobody will read again."""
        generation.stages_done = k + 1
        self.save()
        keep = {c.checkpoint for c in generation.children if c.alive and c.checkpoint}
        if self.folder.individuals.exists():
            for path in self.folder.individuals.iterdir():
                if f"{self.folder.individuals.name}/{path.name}" not in keep:
                    path.unlink(missing_ok=True)

    def save(self) -> None:
        self.core.save()

    # -- the answer ----------------------------------------------------------------------------------
    def best(self) -> dict:
        """best.json: the best individual ever trained to T3 (the initial genome before any), with its
        fitness, validation accuracy, cost and, once measured, test accuracy."""
        b = self.state.best or self.state.parent
        return self.core.answer(b, "T3", _generation_of(b.id), trained=self.state.best is not None)

    def measure_test(self) -> float | None:
        """Test accuracy of the best individual, measured once per best (the test set never selects)."""
        return self.core.measure_test(self.trainer)

    def pareto(self) -> dict:
        """pareto.json: the front of the individuals trained to T3 (see `pareto.py`)."""
        best = self.state.best.id if self.state.best else None
        return pareto_file(eigen_points(self.core.records), EIGEN_ELIGIBLE, best, self.core.latency_setting())


def early_agreement(children: list[Individual]) -> float | None:
    """Kendall's τ between the T1 and the T2 fitness of the children that trained to T2 without
    failing (the survivors of Eq. 1's cut): the run's own evidence of whether the fitness its cut
    was made on ranks children as longer training does. Near 0, T1 is too short for selection to
    mean anything. A failure is left out (its fitness says nothing about the ranking, and an OOM
    need not repeat); None with fewer than two, or where one stage ranks them all tied."""
    # A child's status is its last stage's: one that trained on to T3 had passed T2.
    passed = [c for c in children if "T2" in c.fitness and (c.status == "ok" or "T3" in c.fitness)]
    return kendall_tau([c.fitness["T1"] for c in passed], [c.fitness["T2"] for c in passed])


def _generation_of(individual_id: str) -> int:
    return int(individual_id[1:].split("c")[0])
