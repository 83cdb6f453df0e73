"""What a search keeps in its run folder, whatever its strategy (SPEC §7): the shared core.

`EigenSearch` (Algorithm 1) and `Evolution` (Large-Scale Evolution's steady state, and the random
control) each hold one `SearchRun` and keep only their own rules. The run holds:

    state      the strategy's state (`SearchState` or `EvolutionState`), read from `state.json`
               when the run is resumed, written atomically by `save()` at every boundary
    records    every line of `history.jsonl` as a typed `HistoryRecord`; `append()` adds one,
               on disk before it returns (its weights are already on disk)
    unsaved    the records written after the state was last saved: results of trainings that
               finished before a kill, which a resumed run takes instead of training again
    spending   FLOPs and device-seconds spent, per generation and in all (LS §3.5)
    fitness    `--fitness`, parsed once; failures: the watch that warns of failures in a row;
    sitting    this sitting's clock and `--time-budget`
    latencies  each genome's measured forward time, once per key (`latency_cache.py`), when `ms` is in
               `--fitness` or `--max-ms` is set; None otherwise (nothing is timed)

and gives the search's answer: `measure_test()` (the best's test accuracy, measured once per best:
the test set never selects) and `answer()` (best.json's fields).

A state class provides `from_dict`/`to_dict` and the fields `best`, `best_test`, `history_count`
and `spent`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, TypedDict

from ..genome.dna import Genome, initial_genome
from ..run_folder.folder import RunFolder, interpreting, read_json, write_json
from ..training.job import FailureWatch
from ..training.latency import Latency
from .fitness import Fitness
from .individual import Individual
from .latency_cache import Latencies, MeasureLatency, times_latency
from .record import HISTORY_FIX, HistoryRecord
from .sitting import Sitting
from .spending import Spending



@dataclass(frozen=True, kw_only=True)
class SearchSettings:
    """What every strategy's engine is told, whatever its rules: the run's limits, its clock, its
    seed, the data's shape and what fitness is. A strategy's own settings extend this class (the
    strategy registry fills each field from the `SearchConfig` field of the same name)."""

    population: int  # the strategy's population (EIGEN: children per generation; steady state: the set-point)
    max_generations: int | None = None
    max_params: int | None = None
    max_flops: int | None = None
    max_ms: float | None = None  # measured forward milliseconds (latency.py)
    latency_device: str = "cpu"  # where `ms` is measured
    latency_batch: int = 1  # images per timed forward pass
    time_budget: float | None = None  # seconds of this sitting
    seed: int = 0
    image_size: int = 32
    num_classes: int = 10
    batch_size: int = 128  # images per iteration, for the FLOPs-spent accounting
    num_val: int = 5_000  # validation images, for the FLOPs-spent accounting
    fitness: str = "acc"  # what selection maximises (see fitness.py)


class BestTest(TypedDict):
    """The best's test accuracy, measured once per best (the test set never selects)."""

    id: str
    test_accuracy: float | None

class SearchRun:
    def __init__(self, folder: RunFolder, settings: SearchSettings, read_state: Callable[[dict], object],
                 initial_state: Callable[[], object], note: Callable[[str], None],
                 measure_latency: MeasureLatency | None = None):
        self.folder = folder
        self.sitting = Sitting(settings.time_budget)
        self.fitness = Fitness.parse(settings.fitness)
        self.failures = FailureWatch(note)
        if folder.state.exists():
            with interpreting(folder.state, "the search state", HISTORY_FIX):
                self.state = read_state(read_json(folder.state, "the search state"))
        else:
            self.state = initial_state()
        lines = folder.read_history()
        with interpreting(folder.history, "the search's history", HISTORY_FIX):
            self.records = [HistoryRecord.from_json(line) for line in lines]
            self.unsaved = self.records[self.state.history_count:]
        self.spending = Spending(self.records)
        self.latencies = None
        if times_latency(settings.fitness, settings.max_ms):
            timed = {r.key: r.latency for r in self.records if r.latency is not None}
            self.latencies = Latencies(folder.path, settings.latency_device, settings.latency_batch,
                                       settings.image_size, settings.num_classes,
                                       **({"measure": measure_latency} if measure_latency else {}), known=timed)

    def latency_of(self, genome: Genome) -> Latency | None:
        """The genome's latency (measured once per key in this run), or None if this run times nothing."""
        return self.latencies.of(genome) if self.latencies is not None else None

    def fitness_of(self, individual: Individual, accuracy: float) -> float:
        """The individual's fitness at this validation accuracy (its cost and latency are its own)."""
        return self.fitness(accuracy, individual.params, individual.flops, individual.ms)

    def append(self, record: HistoryRecord) -> None:
        """One result into history.jsonl (on disk before this returns) and the totals."""
        self.folder.append_history(record.to_json())
        self.records.append(record)
        self.spending.add(record)

    def save(self) -> None:
        """state.json, atomically, with the history's length and the spending so far."""
        self.state.history_count = len(self.records)
        self.state.spent = self.spending.total()
        write_json(self.folder.state, self.state.to_dict())

    def measure_test(self, trainer) -> float | None:
        """Test accuracy of the best individual ever (best.pt), measured once per best."""
        state = self.state
        if state.best is None:
            return None
        if not (state.best_test and state.best_test["id"] == state.best.id):
            state.best_test = {"id": state.best.id,
                               "test_accuracy": trainer.test_accuracy(self.folder.best_weights)}
            self.save()
        return state.best_test["test_accuracy"]

    def answer(self, shown: Individual | None, stage: str, generation: int, trained: bool, **extra) -> dict:
        """best.json: `shown` (the best ever, or what stands in for it before anything is trained)
        with its fitness and validation accuracy at `stage`, its cost, and, once measured, its test
        accuracy; the weights in best.pt when `trained`."""
        state = self.state
        test = (state.best_test["test_accuracy"] if trained and state.best_test and shown is not None
                and state.best_test["id"] == shown.id else None)
        fitness = shown.fitness.get(stage, 0.0) if shown is not None else 0.0
        return {"run": str(self.folder.path.resolve()), "id": shown.id if shown is not None else None,
                "generation": generation, "fitness": fitness, "fitness_expression": self.fitness.expression,
                "val_accuracy": shown.accuracy.get(stage, fitness) if shown is not None else 0.0,
                "test_accuracy": test, "params": shown.params if shown is not None else 0,
                "flops": shown.flops if shown is not None else 0,
                "weights": str(self.folder.best_weights.resolve()) if trained else None,
                "genome": (shown.genome if shown is not None else initial_genome()).to_dict(),
                "search_cost": self.spending.total(), "latency": self.latency_setting(),
                "ms": shown.ms if shown is not None else None, **extra}

    def latency_setting(self) -> dict | None:
        """Where and at what batch this run times its genomes (None when it times nothing)."""
        if self.latencies is None:
            return None
        return {"device": self.latencies.device, "batch": self.latencies.batch}
