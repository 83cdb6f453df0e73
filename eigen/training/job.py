"""One training and what it gives back: the unit every trainer, executor and search passes around.

A `Training` is one independent training: the network to build (a genome, or a teacher member's
architecture), its seed, the iteration to train to, and the checkpoint files it reads and writes.
Its result depends on nothing else, which is why trainings can run in any order, several at once or
on other machines, and still give what one-after-another gives. Every trainer takes one whole:
`trainer.train(training, on_progress)`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import first_line


@dataclass(frozen=True)
class Training:
    """One training to run on some worker: everything it depends on, nothing the driver keeps."""

    what: Any  # the network: a `Genome`, or a teacher member's architecture dict
    seed: int  # initial weights and batch order
    until: int  # the iteration to train to (absolute)
    save_to: Path  # where the checkpoint goes
    start_from: Path | None = None  # a checkpoint to continue (weights, momentum, position)
    inherit_from: Path | None = None  # a checkpoint whose matching weights a fresh network takes

    def run(self, trainer, on_progress=None) -> "StageResult":
        """Train on `trainer` (an `IndividualTrainer`, or a teacher's `MemberTrainer`)."""
        return trainer.train(self, on_progress=on_progress)


@dataclass(frozen=True)
class StageResult:
    status: str  # "ok", "diverged", "failed: oom", "failed: <reason>"
    fitness: float  # validation accuracy in percent; 0 unless status is "ok"
    step: int  # iterations trained in total after this call
    iterations: int  # iterations this call trained
    seconds: float  # wall time of this call: build, load, train, evaluate, save
    inherited: int = 0  # tensors taken from the parent's weights (weight inheritance), 0 without it
    graphed: bool = False  # the steps ran as a replayed CUDA graph
    graph_error: str | None = None  # why they ran eager on a GPU (CUDA graphs turned off), if they did

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def graph_fields(self) -> dict:
        """What the history records about CUDA graphs for this training (the final summary counts it)."""
        return {"graphed": self.graphed, "graph_error": self.graph_error}


def failure_status(error: BaseException) -> str:
    """A training's status for an error that failed it: 'failed: <Type>: <first line>' (300 chars at
    most, so one bad network cannot flood the history)."""
    return f"failed: {type(error).__name__}: {first_line(error)}"[:300]


class FailureWatch:
    """Failures are results, but several in a row are news: say so at every third in a row, with
    what went wrong, so a broken setup (no memory left, a learning rate that always diverges) is
    never hidden behind a search that keeps going."""

    def __init__(self, say):
        self.say = say
        self.streak: list[str] = []

    def saw(self, who: str, status: str) -> None:
        if status == "ok":
            self.streak = []
            return
        self.streak.append(f"{who} {status}")
        if len(self.streak) % 3 == 0:
            self.say(f"warning: {len(self.streak)} trainings in a row failed ({'; '.join(self.streak[-3:])}); "
                     f"the run goes on, but check the GPU's memory and the learning rates")
