"""What a person watching `eigen duplicate` sees: a live table of the candidates, or plain lines.

The duplication emits the events of `eigen.final.duplication.DuplicationEvents` as it trains;
these views implement them. `PlainDuplicateProgress` writes a line per chunk of training;
`LiveDuplicateProgress` redraws a rich table (candidate, which blocks it repeats, parameters,
progress, validation accuracy) under a header with the elapsed time, an ETA and what is left of the
time budget.
"""
from __future__ import annotations

import sys
from typing import IO

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from ..final.duplication import DuplicationEvents
from ..progress import on_terminal
from .live import LiveView, Pace, PlainLines, budget_left, clock, human, pct


class PlainDuplicateProgress(PlainLines, DuplicationEvents):
    """One line per chunk of training, with the time since the sitting began."""

    def __init__(self, stream: IO[str] | None = None):
        super().__init__(stream)
        self.pace = Pace()
        self._step_before: dict[str, int] = {}

    def started(self, run) -> None:
        self.pace.parallel = getattr(getattr(run, "executor", None), "slots", 1)  # candidates training at once
        done = sum(run.finished(c) for c in run.candidates)
        self._say(f"duplication in {run.folder}: {len(run.candidates)} candidates of {run.plan['source']['id']}, "
                  f"{run.total:,} iterations each" + (f", {done} already trained" if done else ""))

    def note(self, text: str) -> None:
        self._say(text)

    def chunk_started(self, run, candidate, until) -> None:
        self._step_before[candidate["id"]] = run.entry(candidate)["step"]

    def chunk_finished(self, run, candidate, entry, seconds) -> None:
        self.pace.add(entry["step"] - self._step_before.pop(candidate["id"], entry["step"]), seconds)
        status = "" if entry["status"] == "ok" else f" [{entry['status']}]"
        self._say(f"  {candidate['id']} ({candidate['label']}, {human(candidate['params'])} params) "
                  f"{entry['step']:,}/{run.total:,} it, validation {pct(entry['fitness'])}{status} "
                  f"({seconds:.1f}s; ETA {clock(self.pace.seconds_for(run.iterations_left()))})")


class LiveDuplicateProgress(LiveView, PlainDuplicateProgress):
    """A rich live table of every candidate; notes scroll above it."""

    def __init__(self, console: Console | None = None):
        console = console or Console()
        PlainDuplicateProgress.__init__(self, console.file)
        self.run = None
        self.training: set[str] = set()  # candidates in training now (several with --parallel or --ray)
        self._start_live(console)

    def started(self, run) -> None:
        self.run = run
        super().started(run)

    def chunk_started(self, run, candidate, until) -> None:
        super().chunk_started(run, candidate, until)
        self.training.add(candidate["id"])
        self.live.refresh()

    def chunk_finished(self, run, candidate, entry, seconds) -> None:
        self.pace.add(entry["step"] - self._step_before.pop(candidate["id"], entry["step"]), seconds)
        self.training.discard(candidate["id"])
        self.live.refresh()

    def _render(self):
        run = self.run
        elapsed = clock(self._elapsed())
        if run is None:
            return Text(f"eigen duplicate  {elapsed} elapsed", style="dim")
        budget = budget_left(run.sitting)
        header = Text.from_markup(f"[bold]gene duplication[/bold] of {run.plan['source']['id']}  "
                                  f"{elapsed} elapsed  ETA {clock(self.pace.seconds_for(run.iterations_left()))}{budget}")
        table = Table(expand=False, header_style="bold")
        for name in ("candidate", "duplication", "params", "FLOPs", "trained", "validation", "state"):
            table.add_column(name, justify="right" if name in ("params", "FLOPs", "trained", "validation") else "left")
        for c in run.candidates:
            entry = run.entry(c)
            table.add_row(c["id"], c["label"], human(c["params"]), human(c["flops"]),
                          f"{100 * entry['step'] // run.total}%", pct(entry["fitness"]), self._state(c, entry, run))
        return Group(header, table)

    def _state(self, candidate, entry, run) -> Text:
        if candidate["id"] in self.training:
            return Text("training", style="yellow")
        if entry["status"] != "ok":
            return Text(entry["status"], style="red")
        if entry["step"] >= run.total:
            return Text("done", style="green")
        return Text("waiting" if entry["step"] == 0 else "paused", style="dim")


def make_duplicate_progress(stream: IO[str] | None = None) -> DuplicationEvents:
    """A live table when writing to a terminal, plain lines otherwise."""
    stream = stream or sys.stdout
    if on_terminal(stream):
        return LiveDuplicateProgress(Console(file=stream))
    return PlainDuplicateProgress(stream)
