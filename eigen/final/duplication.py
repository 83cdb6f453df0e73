"""The candidates of a duplication trained in a final folder, chunk by chunk (SPEC §9).

The final folder (`runs/<name>/final/` unless `--out` says otherwise) holds:

    plan.json                the settings, the blocks and every candidate's genome (written first)
    state.json               each candidate's progress and validation accuracy, rewritten atomically
                             after every chunk of training
    candidates/<id>.pt       each candidate's checkpoint (weights, optimiser, place in the schedule)

Each candidate trains in `CHUNKS` pieces with a checkpoint after each; running the same command again
continues where a kill or the time budget stopped it, and ends with the same models. Candidates train
side by side on the executor (`--parallel`, `--ray`).
"""
from __future__ import annotations

from pathlib import Path

from ..executors.local import InlineExecutor
from ..executors.work import run_all
from ..genome.dna import Genome
from ..run_folder.file_types import DuplicationProgress
from ..run_folder.folder import interpreting, read_json, write_json
from ..engine.fitness import Fitness
from ..engine.sitting import Sitting
from ..training.individual_training import training_seed
from ..training.job import FailureWatch, Training
from .plan import PLAN_VERSION


def candidate_ms(candidate: dict) -> float | None:
    """A plan candidate's latency, measured when the plan was made (None: the fitness does not use ms)."""
    latency = candidate.get("latency")
    return latency["ms"] if latency else None


class DuplicationEvents:
    """What a duplication tells whoever watches it (the views implement it); shows nothing itself."""

    def started(self, run) -> None: ...
    def note(self, text: str) -> None: ...
    def chunk_started(self, run, candidate: dict, until: int) -> None: ...
    def chunk_finished(self, run, candidate: dict, entry: dict, seconds: float) -> None: ...
    def close(self) -> None: ...


class Duplication:
    """Trains the planned candidates, chunk by chunk, in a final folder; see the module docstring."""

    def __init__(self, folder: Path, plan: dict, individuals, progress=None, time_budget: float | None = None,
                 executor=None):
        self.folder, self.plan, self.individuals = Path(folder), plan, individuals
        self.executor = executor or InlineExecutor(individuals)  # where the candidates train (SPEC §10)
        self._until: dict[str, int] = {}  # candidate id -> the end of the chunk queued or in training
        self.progress = progress or DuplicationEvents()
        self.failures = FailureWatch(self.progress.note)
        self.sitting = Sitting(time_budget)
        self.candidates = plan["candidates"]
        self.total = plan["schedule"]["total"]
        self.chunk_ends = plan["chunk_ends"]
        self.image_size = plan["data"]["image_size"]
        self.fitness = Fitness.parse(plan.get("fitness_expression", "acc"))  # the search's; chooses the final model
        if self.state_path.exists():
            self.state = read_json(self.state_path, "the duplication's progress", DuplicationProgress)
            with interpreting(self.state_path, "the duplication's progress",
                              "remove it to train every candidate again, or pass --out to start afresh elsewhere"):
                for c in self.candidates:  # every entry the loop reads, checked before any training
                    entry = self.state["candidates"][c["id"]]
                    entry["step"], entry["seconds"] = int(entry["step"]), float(entry["seconds"])
                    str(entry["status"]), list(entry["curve"]), dict(self.state["tests"])
        else:
            self.state = {"version": PLAN_VERSION, "candidates": {
                c["id"]: {"step": 0, "status": "ok", "fitness": None, "seconds": 0.0, "curve": []}
                for c in self.candidates}, "tests": {}}

    state_path = property(lambda self: self.folder / "state.json")

    def checkpoint(self, candidate: dict) -> Path:
        return self.folder / "candidates" / f"{candidate['id']}.pt"

    def entry(self, candidate: dict) -> dict:
        return self.state["candidates"][candidate["id"]]

    def finished(self, candidate: dict) -> bool:
        entry = self.entry(candidate)
        return entry["status"] != "ok" or entry["step"] >= self.total

    def iterations_left(self) -> int:
        return sum(self.total - self.entry(c)["step"] for c in self.candidates if not self.finished(c))

    def save(self) -> None:
        write_json(self.state_path, self.state)

    def run(self) -> str:
        """Train every candidate to the end of the schedule; 'done', or 'time budget' if it ran out.

        Candidates train side by side on the executor (`--parallel`, `--ray`), each chunk by chunk:
        a finished chunk is recorded in state.json and the candidate's next chunk is queued."""
        self.progress.started(self)
        seed = self.plan["settings"]["seed"]
        genomes = {c["id"]: Genome.from_dict(c["genome"], self.image_size) for c in self.candidates}

        def next_chunk(candidate: dict):
            entry, path = self.entry(candidate), self.checkpoint(candidate)
            if entry["step"] and not path.exists():  # weights gone: start this candidate again
                entry.update(step=0, fitness=None, curve=[])
            until = next(end for end in self.chunk_ends if end > entry["step"])
            genome = genomes[candidate["id"]]
            return Training(genome, training_seed(seed, genome, "final"), until, save_to=path,
                            start_from=path if entry["step"] else None)

        def started(candidate: dict):
            self.progress.chunk_started(self, candidate, self._until[candidate["id"]])

        def finished(candidate: dict, result):
            entry = self.entry(candidate)
            entry["status"], entry["seconds"] = result.status, entry["seconds"] + result.seconds
            if result.ok:
                entry["step"], entry["fitness"] = result.step, result.fitness
                entry["curve"].append([result.step, result.fitness])
            else:
                entry["fitness"] = 0.0
            self.save()
            self.progress.chunk_finished(self, candidate, entry, result.seconds)
            self.failures.saw(candidate["id"], result.status)
            return [] if self.finished(candidate) else [self._queued(candidate, next_chunk(candidate))]

        queue = [self._queued(c, next_chunk(c)) for c in self.candidates if not self.finished(c)]
        everything = run_all(self.executor, queue, on_done=finished, on_start=started,
                             may_start=lambda: not self.sitting.spent())
        return "done" if everything else "time budget"

    def _queued(self, candidate: dict, training):
        self._until[candidate["id"]] = training.until
        return candidate, training

    def ranked(self) -> list[dict]:
        """Trained candidates, best fitness first (the search's `--fitness`, validation accuracy by
        default; ties: the earlier, smaller candidate)."""
        trained = [c for c in self.candidates if self.entry(c)["status"] == "ok" and self.entry(c)["step"] >= self.total]
        return sorted(trained, key=lambda c: -self.fitness_of(c))

    def fitness_of(self, candidate: dict) -> float:
        """The candidate's fitness from its validation accuracy (the entry's "fitness" is that accuracy),
        its cost and, when the fitness uses ms, its latency measured when the plan was made."""
        return self.fitness(self.entry(candidate)["fitness"], candidate["params"], candidate["flops"],
                            candidate_ms(candidate))

    def measured_once(self, name: str, measure) -> float:
        """A test accuracy, measured the first time it is asked for and remembered after that."""
        if name not in self.state["tests"]:
            self.state["tests"][name] = measure()
            self.save()
        return self.state["tests"][name]
