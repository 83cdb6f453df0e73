"""What a person watching a large-scale or random search sees: recent events live, or plain lines.

`Evolution` emits the events of `eigen.engine.events.EvolutionEvents`, each with frozen snapshots;
these views implement them. `PlainEvolutionProgress` writes one
line per individual trained and one per generation; `LiveEvolutionProgress` redraws a rich table of
the latest events (who met whom, who died, the child's mutation, parameters, fitness) under a header
with the population, the best so far, the elapsed time and what is left of the budget.
"""
from __future__ import annotations

import collections
import sys
from typing import IO

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from ..progress import on_terminal
from ..engine.events import EvolutionEvents, EvolutionView, IndividualView
from ..engine.record import STEADY_STAGE
from .live import LiveView, PlainLines, agreement, budget_left, clock, fitness_text, human, summarize_mutations

RECENT = 12  # events shown in the live table


def _fitness(child, run: EvolutionView) -> str:
    return fitness_text(child.fitness.get(STEADY_STAGE), run.expression)


class PlainEvolutionProgress(PlainLines, EvolutionEvents):
    """One line per individual trained and one per generation."""

    def search_started(self, run: EvolutionView) -> None:
        where = (f"resuming at event {run.events + 1}" if run.born >= run.population
                 else f"training the starting population ({run.born} of {run.population} done)")
        self._say(f"{run.strategy} search in {run.folder}: population {run.population}, {run.child_steps:,} "
                  f"iterations per individual; {where}")

    def note(self, text: str) -> None:
        self._say(text)

    def child_finished(self, run: EvolutionView, child: IndividualView, record) -> None:
        status = "" if child.status == "ok" else f" [{child.status}]"
        if record.event == 0:
            origin = "starting population"
        else:
            killed = f", killed {record.killed}" if record.killed else ""
            origin = f"event {record.event}: child of {child.parent}{killed}; {summarize_mutations(child.mutations)}"
        best = run.best
        self._say(f"  {child.id} {_fitness(child, run)}{status}  {human(child.params)} params  ({origin}; "
                  f"{record.seconds:.1f}s; best {best.id + ' ' + _fitness(best, run) if best else '-'})")

    def generation_finished(self, run: EvolutionView, summary: dict) -> None:
        # τ near 0: children's fitness owed little to their parents', so selecting parents by it ran on noise.
        self._say(f"generation {summary['generation']} done ({summary['events']} events): population "
                  f"{summary['alive']}, mean {fitness_text(summary['population_mean'], run.expression)}, best ever "
                  f"{summary['best']} {fitness_text(summary['best_fitness'], run.expression)}; "
                  f"τ(parent,child) {agreement(summary.get('tau_parent_child'))}")


class LiveEvolutionProgress(LiveView, PlainEvolutionProgress):
    def __init__(self, console: Console | None = None):
        console = console or Console()
        PlainEvolutionProgress.__init__(self, console.file)
        self.run = None
        self.training: dict[str, object] = {}  # id -> individual, for each training in flight
        self.progress: dict[str, tuple[int, int, float]] = {}  # id -> (step, until, loss) so far
        self.recent: collections.deque = collections.deque(maxlen=RECENT)
        self._start_live(console)

    def search_started(self, run: EvolutionView) -> None:
        self.run = run
        super().search_started(run)

    def child_started(self, run: EvolutionView, child: IndividualView, event) -> None:
        self.run = run
        self.training[child.id] = child
        self.progress.pop(child.id, None)
        self.live.refresh()

    def child_progress(self, child: IndividualView, step: int, until: int, loss: float) -> None:
        self.progress[child.id] = (step, until, loss)  # shown in the training row: a long training moves

    def child_finished(self, run: EvolutionView, child: IndividualView, record) -> None:
        self.run = run
        self.training.pop(child.id, None)
        self.progress.pop(child.id, None)
        self.recent.append((child, record))
        self.live.refresh()

    def _render(self):
        run = self.run
        elapsed = clock(self._elapsed())
        if run is None:
            return Text(f"eigen search  {elapsed} elapsed", style="dim")
        budget = budget_left(run.sitting)
        best = f"{run.best.id} {_fitness(run.best, run)} ({human(run.best.params)} params)" if run.best else "-"
        header = Text.from_markup(
            f"[bold]{run.strategy}[/bold]  generation {run.events // run.population + 1}, event {run.events}  "
            f"population {run.alive}/{run.population}  best {best}  {elapsed} elapsed{budget}")
        table = Table(expand=False, header_style="bold")
        for name in ("individual", "parent", "killed", "mutation", "params", "inherited", "fitness"):
            table.add_column(name, justify="right" if name in ("params", "inherited", "fitness") else "left")
        for child, record in self.recent:
            table.add_row(child.id, child.parent or "-", record.killed or "-",
                          summarize_mutations(child.mutations) if child.mutations else "-", human(child.params),
                          str(record.inherited), _fitness(child, run) if child.status == "ok" else child.status)
        for child in list(self.training.values()):
            progress = self.progress.get(child.id)
            table.add_row(child.id, child.parent or "-", "", summarize_mutations(child.mutations)
                          if child.mutations else "-", human(child.params), "",
                          Text("training" if progress is None else
                               "{} {}/{} loss {:.2f}".format("training", *progress), style="yellow"))
        return Group(header, table)


def make_evolution_progress(stream: IO[str] | None = None) -> EvolutionEvents:
    stream = stream or sys.stdout
    if on_terminal(stream):
        return LiveEvolutionProgress(Console(file=stream))
    return PlainEvolutionProgress(stream)
