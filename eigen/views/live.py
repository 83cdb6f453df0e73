"""What every progress view shares: short forms of numbers and mutations, an ETA pace, and the two
ways of showing events (plain time-stamped lines for logs, a rich Live redraw on a terminal).

The search, the steady-state strategies and duplication each have their own view module beside this
one; they are built from these parts so that they look and behave alike.
"""
from __future__ import annotations

import collections
import sys
from typing import IO

from rich.console import Console
from rich.live import Live

from ..search.sitting import Sitting

SHORT_OPS = {
    "insert-convolution": "+conv", "insert-concatenation": "+concat", "insert-pooling": "+pool",
    "remove-convolution": "-conv", "remove-concatenation": "-concat", "remove-pooling": "-pool",
    "alter-number-of-channels": "~channels", "alter-stride": "~stride", "alter-filter-size": "~kernel",
    "filter-size": "~kernel", "alter-learning-rate": "~lr", "add-skip": "+skip", "remove-skip": "-skip",
    "insert-one-to-one": "+one-to-one", "reset-weights": "reset", "identity": "identity",
}


def summarize_mutations(mutations: list[str], most: int = 3) -> str:
    """'12: +conv x5, +pool x3, ~stride x2, ...' from the mutation descriptions."""
    counts = collections.Counter(SHORT_OPS.get(m.split()[0], m.split()[0]) for m in mutations)
    shown = ", ".join(f"{op} x{n}" if n > 1 else op for op, n in counts.most_common(most))
    return f"{len(mutations)}: {shown}{', ...' if len(counts) > most else ''}"


def human(n: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f}{unit}"
    return f"{n:.0f}"


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class Pace:
    """Seconds per training iteration in this sitting, measured as it goes, for ETAs."""

    def __init__(self):
        self.iterations = 0
        self.seconds = 0.0

    def add(self, iterations: int, seconds: float) -> None:
        self.iterations += iterations
        self.seconds += seconds

    def seconds_for(self, iterations: int) -> float | None:
        """How long `iterations` more would take at this pace (None before anything was timed)."""
        return iterations * self.seconds / self.iterations if self.iterations else None


def budget_left(sitting) -> str:
    """'  budget left 0:42' for a header, or nothing without a --time-budget."""
    left = sitting.left()
    return "" if left is None else f"  budget left {clock(left)}"


class PlainLines:
    """What every plain view shares: lines on a stream, stamped with the time since the sitting began."""

    def __init__(self, stream: IO[str] | None = None):
        self.stream = stream or sys.stdout
        self._since = Sitting()

    def _elapsed(self) -> float:
        return self._since.elapsed()

    def _say(self, text: str) -> None:
        print(f"[{clock(self._elapsed())}] {text}", file=self.stream, flush=True)


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}%"


class LiveView:
    """What every live view shares: a rich Live redrawing `_render()` twice a second, with event
    lines printed above it, stamped with the time since the sitting began (`_elapsed()`)."""

    def _start_live(self, console: Console) -> None:
        self.console = console
        self.live = Live(console=console, get_renderable=self._render, refresh_per_second=2, transient=True)
        self.live.start()

    def _say(self, text: str) -> None:
        self.console.print(f"[dim]{clock(self._elapsed())}[/dim] {text}", highlight=False)

    def close(self) -> None:
        self.live.stop()
