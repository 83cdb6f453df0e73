"""What a person watching a search sees: a live table on a terminal, plain lines otherwise.

The search emits the events of `eigen.engine.events.SearchEvents`, each with frozen snapshots of
the search and the generation; these views implement them (the search never imports a view).
`PlainProgress` writes one line per event, for logs and pipes.
`LiveProgress` redraws a rich table of the generation in flight (child, mutations, parameters,
fitness per stage, waiting / training / extinct / alive) under a header with elapsed time and an ETA.
"""
from __future__ import annotations

import sys
from typing import IO

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from ..progress import on_terminal
from ..engine.events import GenerationView, IndividualView, SearchEvents, SearchView
from ..engine.extinction import STAGES
from .live import LiveView, Pace, PlainLines, agreement, budget_left, clock, fitness_text, human, summarize_mutations


def generation_work_left(search: SearchView, generation: GenerationView,
                         done: dict | None = None) -> list[tuple[float, float]]:
    """The trainings left in this generation as [(iterations, FLOPs), ...], for `Pace.seconds_for_work`.

    The living children not yet through this stage count with their own FLOPs (less the iterations
    `done` = {child id: step} already run by those in flight); later stages, whose survivors are
    not known yet, count p and q children of the living children's mean FLOPs."""
    s = search
    ends = (0,) + tuple(s.stage_ends)
    expected = (len(generation.children), min(s.p, s.population), min(s.q, s.population))
    alive = [c for c in generation.children if c.alive and c.status == "ok"] or generation.children
    mean_flops = sum(c.flops for c in alive) / max(len(alive), 1)
    done = done or {}
    work = []
    for k, stage in enumerate(STAGES):
        if generation.stages_done > k:
            continue
        if generation.stages_done == k:  # this stage: the living children not yet through it
            for c in generation.children:
                if c.alive and stage not in c.fitness:
                    start = max(ends[k], done.get(c.id, ends[k]))
                    work.append((ends[k + 1] - start, c.flops))
        else:
            work.append((expected[k] * (ends[k + 1] - ends[k]), mean_flops))
    return work


class PlainProgress(PlainLines, SearchEvents):
    """One line per event, with the time since the sitting began; for logs and pipes."""

    def __init__(self, stream: IO[str] | None = None):
        super().__init__(stream)
        self.pace = Pace()

    def search_started(self, search: SearchView) -> None:
        self.pace.parallel = search.slots
        where = (f"resuming at generation {search.resuming[0]}, stage {search.resuming[1]}" if search.resuming
                 else f"starting generation {search.generations_done + 1}")
        self._say(f"search in {search.folder}: {where} (parent {search.parent.id}, "
                  f"fitness {fitness_text(search.parent_fitness, search.expression)})")

    def note(self, text: str) -> None:
        self._say(text)

    def generation_started(self, search: SearchView, generation: GenerationView) -> None:
        self._say(f"generation {generation.number} ({generation.phase} succession, step size "
                  f"{generation.step_size}): {len(generation.children)} children of {search.parent.id}")

    def child_finished(self, search: SearchView, generation: GenerationView, child: IndividualView, stage: str,
                       record) -> None:
        self.pace.add(record.iterations, record.seconds, child.flops, key=child.id)
        how = f"reused {record.reused_from}" if record.reused_from else f"{record.seconds:.1f}s"
        status = "" if child.status == "ok" else f" [{child.status}]"
        eta = self.pace.seconds_for_work(generation_work_left(search, generation))
        self._say(f"  {child.id} {stage} {fitness_text(child.fitness[stage], search.expression):>7}{status}  "
                  f"{human(child.params)} params  "
                  f"{summarize_mutations(child.mutations)}  ({how}; generation ETA {clock(eta)})")

    def extinction(self, search: SearchView, generation: GenerationView, stage: str, bar) -> None:
        alive = sum(c.alive for c in generation.children)
        self._say(f"  {stage} threshold {fitness_text(bar, search.expression)}: {alive} survive")

    def generation_finished(self, search: SearchView, generation: GenerationView, summary: dict) -> None:
        change = {"secondary": "; plateau: the secondary succession begins",
                  "converged": "; plateau: the search has converged"}.get(summary["succession_change"], "")
        verdict = "new parent" if summary["improved"] else "parent kept"
        best = (f"best child {summary['best_child']} {fitness_text(summary['best_child_fitness'], search.expression)}"
                if summary["best_child"]
                else "no child finished its training")
        new_best = " (the best so far)" if summary.get("new_best") else ""
        # τ near 0: the T1 fitness the cut was made on did not rank the survivors as T2 did.
        self._say(f"generation {generation.number} done: {best}; {verdict} {summary['parent']} "
                  f"{fitness_text(summary['parent_fitness'], search.expression)}{new_best}; "
                  f"τ(T1,T2) {agreement(summary.get('tau_T1_T2'))}{change}")


class LiveProgress(LiveView, PlainProgress):
    """A rich live table of the generation in flight; event lines scroll above it."""

    def __init__(self, console: Console | None = None):
        console = console or Console()
        PlainProgress.__init__(self, console.file)
        self.search = self.generation = None
        self.training: dict[str, str] = {}  # child id -> stage, for each training in flight
        self.progress: dict[str, tuple[int, int, float]] = {}  # child id -> (step, until, loss) so far
        self._first: dict[str, tuple[int, float]] = {}  # child id -> (step, elapsed) at its first report
        self._start_live(console)

    def search_started(self, search: SearchView) -> None:
        self.search = search
        super().search_started(search)

    def generation_started(self, search: SearchView, generation: GenerationView) -> None:
        self.search, self.generation = search, generation
        super().generation_started(search, generation)

    def child_started(self, search: SearchView, generation: GenerationView, child: IndividualView, stage: str) -> None:
        self.search, self.generation = search, generation
        self.training[child.id] = stage
        self.progress.pop(child.id, None)
        self.live.refresh()

    def child_progress(self, child: IndividualView, stage: str, step: int, until: int, loss: float) -> None:
        """A training in flight moves: its row shows the iteration and loss, the ETA learns its pace."""
        if child.id not in self.progress:  # the first report: iterations from here on are what is timed
            self._first[child.id] = (step, self._elapsed())
        self.progress[child.id] = (step, until, loss)
        first_step, first_time = self._first[child.id]
        if step > first_step:
            self.pace.in_flight(step - first_step, self._elapsed() - first_time, child.flops, key=child.id)

    def child_finished(self, search: SearchView, generation: GenerationView, child: IndividualView, stage: str,
                       record) -> None:
        self.search, self.generation = search, generation
        self.training.pop(child.id, None)
        self.progress.pop(child.id, None)
        self._first.pop(child.id, None)
        # No line per child: the table shows it.
        self.pace.add(record.iterations, record.seconds, child.flops, key=child.id)
        self.live.refresh()

    def extinction(self, search: SearchView, generation: GenerationView, stage: str, bar) -> None:
        self.search, self.generation = search, generation
        self.live.refresh()
        super().extinction(search, generation, stage, bar)

    def generation_finished(self, search: SearchView, generation: GenerationView, summary: dict) -> None:
        super().generation_finished(search, generation, summary)
        self.search, self.generation = search, None

    def _render(self):
        search, generation = self.search, self.generation
        elapsed = clock(self._elapsed())
        if search is None or generation is None:
            return Text(f"eigen search  {elapsed} elapsed", style="dim")
        done = {child: step for child, (step, _, _) in dict(self.progress).items()}
        eta = clock(self.pace.seconds_for_work(generation_work_left(search, generation, done)))
        budget = budget_left(search.sitting)
        header = Text.from_markup(
            f"[bold]generation {generation.number}[/bold] ({generation.phase}, m = {generation.step_size})  "
            f"parent {search.parent.id} {fitness_text(search.parent_fitness, search.expression)}, "
            f"{human(search.parent.params)} params  "
            f"{elapsed} elapsed, ETA {eta}{budget}")
        # Rows stay one line at 100 columns: no vertical rules, and only the mutations give way (ellipsis).
        table = Table(expand=False, header_style="bold", box=box.SIMPLE_HEAD, padding=(0, 1, 0, 1),
                      pad_edge=False)
        for name in ("child", "mutations", "params", "FLOPs", *STAGES, "state"):
            numeric = name in ("params", "FLOPs", *STAGES)
            table.add_column(name, justify="right" if numeric else "left", no_wrap=True, overflow="ellipsis",
                             max_width=26 if name == "mutations" else None,
                             min_width=None if name == "mutations" else {"child": 5, "FLOPs": 7, "state": 22}.get(name, 6))
        thresholds = generation.thresholds
        for child in list(generation.children):
            cells = [f"{child.fitness[st]:.2f}" if st in child.fitness else "" for st in STAGES]
            table.add_row(child.id, summarize_mutations(child.mutations), human(child.params), human(child.flops),
                          *cells, self._state(child, thresholds))
        bars = "  ".join(f"v({st}) = {thresholds[st]:.2f}" for st in ("T1", "T2") if st in thresholds)
        return Group(header, table, Text(bars, style="dim")) if bars else Group(header, table)

    def _state(self, child, thresholds) -> Text:
        stage = self.training.get(child.id)
        if stage is not None:
            progress = self.progress.get(child.id)
            if progress is None:
                return Text(f"training to {stage}", style="yellow")
            step, until, loss = progress
            return Text(f"{stage} {step}/{until} loss {loss:.2f}", style="yellow")
        if child.status != "ok":
            return Text(child.status, style="red")
        if not child.alive:
            stage = "T1" if "T2" not in child.fitness else "T2"
            return Text(f"extinct at {stage}", style="dim")
        if not child.fitness:  # drawn, not yet trained: "alive" would claim it survived something
            return Text("waiting", style="dim")
        return Text("alive", style="green")


def make_progress(stream: IO[str] | None = None) -> SearchEvents:
    """A live table when writing to a terminal, plain lines otherwise."""
    stream = stream or sys.stdout
    if on_terminal(stream):
        return LiveProgress(Console(file=stream))
    return PlainProgress(stream)
