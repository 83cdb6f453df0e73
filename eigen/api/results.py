"""What the Python API's commands return: typed summaries read back from the folders they wrote.

The run folder is the interface between commands (STYLE.md, principle 9), so a result is read from
the files the CLI leaves too (best.json, pareto.json, final/metrics.json, ensemble.json) and holds
nothing they do not: a search in a notebook and one on the command line answer alike, and a result
can be rebuilt later from its folder (`SearchResult.of(path)`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..genome.dna import Genome
from ..run_folder.file_types import Answer, FinalMetrics
from ..run_folder.folder import read_json
from ..run_folder.portable import resolve_from_file


@dataclass(frozen=True)
class Compute:
    """What the work took: training and validation FLOPs, and seconds on its device (LS §3.5)."""

    flops: float
    seconds: float


@dataclass(frozen=True)
class Individual:
    """A network the search trained: its genome and what it measured."""

    id: str
    genome: Genome
    fitness: float  # what selection maximised (--fitness; validation accuracy by default)
    val_accuracy: float  # %
    test_accuracy: float | None  # %, measured once for the answer (None for the others)
    params: int
    flops: int  # forward FLOPs per image
    weights: Path | None  # its checkpoint (a `.pt` that eigen.load reads)


@dataclass(frozen=True)
class SearchResult:
    """A search's answer: `best` (what `eigen duplicate` trains next), the Pareto `front` of its
    eligible individuals (pareto.json's points: id, params, flops, val_accuracy, ...) and its cost."""

    run: Path  # the run folder
    best: Individual
    front: list[dict[str, Any]]
    cost: Compute
    stopped: str | None  # why the sitting ended ("converged", "max generations", ...); None when read back

    @classmethod
    def of(cls, run: str | Path, stopped: str | None = None) -> "SearchResult":
        """The result a finished sitting left in `run` (its best.json and pareto.json)."""
        run = Path(run)
        answer = read_json(run / "best.json", "the search's best genome", Answer)
        pareto = read_json(run / "pareto.json", "the search's Pareto front")
        image_size = answer["data"]["image_size"] if answer.get("data") else 32
        best = Individual(id=answer["id"], genome=Genome.from_dict(answer["genome"], image_size),
                          fitness=answer["fitness"], val_accuracy=answer["val_accuracy"],
                          test_accuracy=answer["test_accuracy"], params=answer["params"], flops=answer["flops"],
                          weights=resolve_from_file(answer.get("weights"), run / "best.json"))
        spent = answer["search_cost"]
        return cls(run, best, list(pareto.get("front", [])), Compute(spent["flops"], spent["seconds"]), stopped)

    @property
    def best_json(self) -> Path:
        """What `eigen.duplicate` and `eigen duplicate` take."""
        return self.run / "best.json"

    def load(self, device: str = "cpu"):
        """The best individual's network as the search trained it (see `eigen.load`)."""
        from ..loading import load
        return load(self.best_json, device=device)


@dataclass(frozen=True)
class FinalResult:
    """A duplication: the chosen candidate's accuracy and size, and the files of the final model.
    `finished` is False when the time budget stopped it first (the same call continues it)."""

    folder: Path
    finished: bool
    candidate: str | None  # the chosen candidate's id (c0 is the genome as found)
    val_accuracy: float | None
    test_accuracy: float | None
    params: int | None
    flops: int | None
    cost: Compute | None  # the whole pipeline's: search, teacher and these trainings
    metrics: dict[str, Any] | None  # final/metrics.json, all of it

    @classmethod
    def of(cls, folder: str | Path, finished: bool = True) -> "FinalResult":
        folder = Path(folder)
        if not finished:
            return cls(folder, False, None, None, None, None, None, None, None)
        metrics = read_json(folder / "metrics.json", "the final metrics", FinalMetrics)
        model = metrics["model"]
        spent = metrics.get("cost") or {}
        cost = Compute(spent["flops"]["total"], spent["seconds"]["total"]) if spent else None
        return cls(folder, True, model["candidate"], model["val_accuracy"], model["test_accuracy"], model["params"],
                   model["flops"], cost, metrics)

    def load(self, device: str = "cpu"):
        """The final model, preprocessing inside (see `eigen.load`)."""
        from ..loading import load
        return load(self.folder, device=device)


@dataclass(frozen=True)
class TeacherResult:
    """A teacher ensemble: its folder (what `eigen.search` on the same data finds by itself) and, once
    every member has trained, the ensemble's accuracy; `finished` is False when the time budget
    stopped it first (the same call continues it)."""

    folder: Path
    finished: bool
    val_accuracy: float | None
    test_accuracy: float | None
    members: int | None  # DenseNet-BC models in the ensemble

    @classmethod
    def of(cls, folder: str | Path, finished: bool = True) -> "TeacherResult":
        folder = Path(folder)
        if not finished:
            return cls(folder, False, None, None, None)
        saved = read_json(folder / "ensemble.json", "the teacher's ensemble")
        return cls(folder, True, saved["ensemble"]["val_accuracy"], saved["ensemble"]["test_accuracy"],
                   len(saved["members"]))
