"""What a person watching a large-scale or random search sees: recent events live, or plain lines.

`Evolution` calls these methods; the base class ignores them. `PlainEvolutionProgress` writes one
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

from .live import LiveView, PlainLines, budget_left, clock, human, summarize_mutations

RECENT = 12  # events shown in the live table


class EvolutionProgress:
    """Receives the evolution's events and shows nothing."""

    def search_started(self, run) -> None: ...
    def note(self, text: str) -> None: ...
    def child_started(self, run, child, pending: dict | None) -> None: ...
    def child_progress(self, run, child, step: int, until: int, loss: float) -> None: ...
    def child_finished(self, run, child, record: dict) -> None: ...
    def generation_finished(self, run, summary: dict) -> None: ...
    def close(self) -> None: ...


def _fitness(child) -> str:
    value = child.fitness.get("train")
    return "-" if value is None else f"{value:.2f}%"


class PlainEvolutionProgress(PlainLines, EvolutionProgress):
    """One line per individual trained and one per generation."""

    def search_started(self, run) -> None:
        s, state = run.settings, run.state
        where = (f"resuming at event {state.events + 1}" if state.born >= s.population
                 else f"training the starting population ({state.born} of {s.population} done)")
        self._say(f"{s.strategy} search in {run.folder.path}: population {s.population}, {s.child_steps:,} "
                  f"iterations per individual; {where}")

    def note(self, text: str) -> None:
        self._say(text)

    def child_finished(self, run, child, record) -> None:
        status = "" if child.status == "ok" else f" [{child.status}]"
        if record["event"] == 0:
            origin = "starting population"
        else:
            killed = f", killed {record['killed']}" if record["killed"] else ""
            origin = f"event {record['event']}: child of {child.parent}{killed}; {summarize_mutations(child.mutations)}"
        best = run.state.best
        self._say(f"  {child.id} {_fitness(child)}{status}  {human(child.params)} params  ({origin}; "
                  f"{record['seconds']:.1f}s; best {best.id + ' ' + _fitness(best) if best else '-'})")

    def generation_finished(self, run, summary) -> None:
        self._say(f"generation {summary['generation']} done ({summary['events']} events): population "
                  f"{summary['alive']}, mean {summary['population_mean']:.2f}%, best ever {summary['best']} "
                  f"{summary['best_fitness']:.2f}%")


class LiveEvolutionProgress(LiveView, PlainEvolutionProgress):
    def __init__(self, console: Console | None = None):
        console = console or Console()
        PlainEvolutionProgress.__init__(self, console.file)
        self.run = None
        self.training: dict[str, object] = {}  # id -> individual, for each training in flight
        self.progress: dict[str, tuple[int, int, float]] = {}  # id -> (step, until, loss) so far
        self.recent: collections.deque = collections.deque(maxlen=RECENT)
        self._start_live(console)

    def search_started(self, run) -> None:
        self.run = run
        super().search_started(run)

    def child_started(self, run, child, pending) -> None:
        self.training[child.id] = child
        self.progress.pop(child.id, None)
        self.live.refresh()

    def child_progress(self, run, child, step, until, loss) -> None:
        self.progress[child.id] = (step, until, loss)  # shown in the training row: a long training moves

    def child_finished(self, run, child, record) -> None:
        self.training.pop(child.id, None)
        self.progress.pop(child.id, None)
        self.recent.append((child, record))
        self.live.refresh()

    def _render(self):
        run = self.run
        elapsed = clock(self._elapsed())
        if run is None:
            return Text(f"eigen search  {elapsed} elapsed", style="dim")
        s, state = run.settings, run.state
        budget = budget_left(run.sitting)
        best = f"{state.best.id} {_fitness(state.best)} ({human(state.best.params)} params)" if state.best else "-"
        header = Text.from_markup(
            f"[bold]{s.strategy}[/bold]  generation {state.events // s.population + 1}, event {state.events}  "
            f"population {len(state.population)}/{s.population}  best {best}  {elapsed} elapsed{budget}")
        table = Table(expand=False, header_style="bold")
        for name in ("individual", "parent", "killed", "mutation", "params", "inherited", "fitness"):
            table.add_column(name, justify="right" if name in ("params", "inherited", "fitness") else "left")
        for child, record in self.recent:
            table.add_row(child.id, child.parent or "-", record["killed"] or "-",
                          summarize_mutations(child.mutations) if child.mutations else "-", human(child.params),
                          str(record["inherited"]), _fitness(child) if child.status == "ok" else child.status)
        for child in list(self.training.values()):
            progress = self.progress.get(child.id)
            table.add_row(child.id, child.parent or "-", "", summarize_mutations(child.mutations)
                          if child.mutations else "-", human(child.params), "",
                          Text("training" if progress is None else
                               "{} {}/{} loss {:.2f}".format("training", *progress), style="yellow"))
        return Group(header, table)


def make_evolution_progress(stream: IO[str] | None = None) -> EvolutionProgress:
    stream = stream or sys.stdout
    if stream.isatty():
        return LiveEvolutionProgress(Console(file=stream))
    return PlainEvolutionProgress(stream)
