"""What every progress view shares: short forms of numbers and mutations, an ETA pace, and the two
ways of showing events (plain time-stamped lines for logs, a rich Live redraw on a terminal), chosen
by the one rule every progress display in eigen follows, `progress.on_terminal`.

The search, the steady-state strategies and duplication each have their own view module beside this
one; they are built from these parts so that they look and behave alike.
"""
from __future__ import annotations

import collections
import datetime
import sys
from typing import IO

from rich.console import Console
from rich.live import Live

from ..progress import clock
from ..engine.sitting import Sitting

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


class Pace:
    """Seconds per training iteration in this sitting, measured as it goes, for ETAs.

    One iteration of a network with 50x the FLOPs of another takes far longer, but not 50x longer
    (every iteration also pays a fixed cost: the batch, the optimiser, kernel launches). So the time
    of an iteration is modelled as `a + b * flops`, fitted by least squares (weighted by iterations)
    to the trainings measured so far, including those in flight; with too few distinct FLOPs to
    fit a line, time is taken as proportional to FLOPs. With `flops` left at 1 this is a plain
    seconds-per-iteration pace.
    """

    def __init__(self):
        self.samples: list[tuple[int, float, float]] = []  # (iterations, flops, seconds) per training
        self.flying: dict = {}  # key -> (iterations, flops, seconds) so far, per training in flight
        self.parallel = 1  # trainings that run at once (`--parallel`, Ray workers): the work divides

    @property
    def current(self) -> tuple[int, float, float] | None:
        """The (first) training in flight, as measured so far."""
        return next(iter(self.flying.values()), None)

    def add(self, iterations: int, seconds: float, flops: float = 1.0, key=None) -> None:
        """A training finished (`key`: which of those in flight; None: the only one)."""
        if iterations > 0:
            self.samples.append((iterations, float(flops), seconds))
        if key is None:
            self.flying.clear()
        else:
            self.flying.pop(key, None)

    def in_flight(self, iterations: int, seconds: float, flops: float = 1.0, key=None) -> None:
        """What a training under way has measured so far (replaced by `add` when it ends)."""
        if iterations > 0:
            self.flying[key] = (iterations, float(flops), seconds)
        else:
            self.flying.pop(key, None)

    def _model(self) -> tuple[float, float] | None:
        """(a, b): seconds per iteration = a + b * flops; None before anything was timed."""
        samples = self.samples + list(self.flying.values())
        if not samples:
            return None
        w = sum(n for n, _, _ in samples)
        mean_x = sum(n * x for n, x, _ in samples) / w
        mean_y = sum(s for _, _, s in samples) / w  # seconds per iteration, iteration-weighted
        var = sum(n * (x - mean_x) ** 2 for n, x, _ in samples)
        if var > 1e-12 * max(mean_x, 1.0) ** 2:
            b = sum((x - mean_x) * (s - n * mean_y) for n, x, s in samples) / var
            a = mean_y - b * mean_x
            if a >= 0 and b >= 0:
                return a, b
        return (mean_y, 0.0) if mean_x == 0 else (0.0, mean_y / mean_x)

    def seconds_for(self, iterations: float, flops: float = 1.0) -> float | None:
        """How long `iterations` more of a network of `flops` would take (None before anything was timed)."""
        return self.seconds_for_work([(iterations, flops)])

    def seconds_for_work(self, work: list[tuple[float, float]]) -> float | None:
        """How long the trainings `work` = [(iterations, flops), ...] would take, `parallel` at a time
        (the measured seconds already carry the slowdown of sharing the device)."""
        model = self._model()
        if model is None:
            return None
        a, b = model
        return sum(n * (a + b * x) for n, x in work) / self.parallel


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
        """`[15:04:31 +1:02:05] text`: the wall-clock time (to line a log up with other logs and
        the machine's own) and the time since the sitting began."""
        print(f"[{datetime.datetime.now():%H:%M:%S} +{clock(self._elapsed())}] {text}", file=self.stream, flush=True)


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}%"


def fitness_text(value: float | None, expression: str = "acc") -> str:
    """A fitness as a person reads it: a percentage when it is validation accuracy, else the value
    of the user's expression (`acc - 20*ms` of 99.09 is not 99.09% of anything)."""
    if expression == "acc":
        return pct(value)
    return "-" if value is None else f"{value:.3f}"


def agreement(tau: float | None) -> str:
    """A Kendall τ as a person reads it: two decimals, or '-' where it is undefined (fewer than two
    pairs, all tied) or was never measured (a generation summarised before eigen measured it)."""
    return "-" if tau is None else f"{tau:.2f}"


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
