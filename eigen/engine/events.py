"""What a search tells whoever watches it: the events it emits and small frozen snapshots with them.

The search owns this protocol; the views (`eigen/views/`: a live table, plain log lines) implement
it, so nothing under `eigen/engine/` imports a view, and a view never holds the engine: each event
carries a snapshot of what it may show, taken when the event happens. `SearchEvents` and
`EvolutionEvents` are null objects as well as the protocols: the Python API and the tests use them
as they are (nothing is shown), a view overrides what it shows.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .record import HistoryRecord
from .sitting import Sitting


@dataclass(frozen=True)
class IndividualView:
    """An individual as it stands: what it is and what its trainings have made of it so far."""

    id: str
    parent: str | None
    mutations: tuple[str, ...]
    params: int
    flops: int  # forward FLOPs per image
    fitness: dict  # stage -> fitness so far (a copy)
    status: str
    alive: bool


@dataclass(frozen=True)
class GenerationView:
    """An EIGEN generation in flight."""

    number: int
    phase: str  # "primary" or "secondary"
    step_size: int
    stages_done: int  # 0..3
    thresholds: dict  # stage -> v_{g,stage} once set (a copy)
    children: tuple[IndividualView, ...]


@dataclass(frozen=True)
class SearchView:
    """An EIGEN search: where it runs, its parent, and the numbers a view needs for an estimate."""

    folder: Path
    parent: IndividualView
    parent_fitness: float
    generations_done: int
    resuming: tuple[int, str] | None  # (generation, stage) a resumed sitting starts in, or None
    slots: int  # trainings at once (`--parallel`, `--ray`)
    sitting: Sitting  # the sitting's clock and --time-budget
    population: int  # n
    p: int
    q: int
    stage_ends: tuple[int, int, int]  # iterations at the end of T1, T2, T3
    expression: str = "acc"  # --fitness: its values are percentages only when it is accuracy alone


@dataclass(frozen=True)
class EvolutionView:
    """A steady-state search (Large-Scale Evolution, random search)."""

    folder: Path
    strategy: str
    population: int  # the set-point
    child_steps: int
    born: int  # starting individuals trained so far
    events: int  # reproduction events applied
    alive: int  # the population now
    best: IndividualView | None
    sitting: Sitting
    expression: str = "acc"  # --fitness, as in SearchView


class SearchEvents:
    """EIGEN's events (Algorithm 1), in the order a generation emits them."""

    def search_started(self, search: SearchView) -> None: ...
    def note(self, text: str) -> None: ...
    def generation_started(self, search: SearchView, generation: GenerationView) -> None: ...
    def child_started(self, search: SearchView, generation: GenerationView, child: IndividualView,
                      stage: str) -> None: ...
    def child_progress(self, child: IndividualView, stage: str, step: int, until: int, loss: float) -> None: ...
    def child_finished(self, search: SearchView, generation: GenerationView, child: IndividualView, stage: str,
                       record: HistoryRecord) -> None: ...
    def extinction(self, search: SearchView, generation: GenerationView, stage: str, bar: float | None) -> None: ...
    def generation_finished(self, search: SearchView, generation: GenerationView, summary: dict) -> None: ...
    def close(self) -> None: ...


class EvolutionEvents:
    """A steady-state search's events: each individual's training, and each generation of events."""

    def search_started(self, run: EvolutionView) -> None: ...
    def note(self, text: str) -> None: ...
    def child_started(self, run: EvolutionView, child: IndividualView, event: dict | None) -> None: ...
    def child_progress(self, child: IndividualView, step: int, until: int, loss: float) -> None: ...
    def child_finished(self, run: EvolutionView, child: IndividualView, record: HistoryRecord) -> None: ...
    def generation_finished(self, run: EvolutionView, summary: dict) -> None: ...
    def close(self) -> None: ...
