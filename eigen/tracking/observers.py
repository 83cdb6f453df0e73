"""Trackers as observers of a search's events: what they hear, and the fan-out that tells them.

The two search protocols (`SearchEvents`, EIGEN's; `EvolutionEvents`, a steady state's) differ in
their views but agree on what a tracker needs: the run folder when the search starts, and a
`HistoryRecord` with every result. `Tracked` implements both, hands every event to the progress
view unchanged, and reduces them to `Tracker`'s three calls, so a tracker is written once for
every strategy and never sees an engine.

Every search event arrives on the search's own thread (the executors call back on the calling
thread, `executors/work.py`), so the trackers' `started`, `result` and `close` need no lock; the
learning-curve points of `MetricsEvents` come from the training threads (`--parallel`), and a
tracker that hears them guards its own state.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..engine.events import EvolutionEvents, SearchEvents
from ..engine.record import HistoryRecord
from ..training.metrics import MetricsEvents


class Tracker:
    """What a tracker hears; a null object as well as the protocol."""

    def started(self, folder: Path) -> None:
        """The search began or resumed in `folder` (its config.json is written)."""

    def result(self, record: HistoryRecord) -> None:
        """A result is recorded (history.jsonl has its line): one per individual per stage."""

    def close(self) -> None:
        """The sitting is over, however it ended."""


class Tracked(SearchEvents, EvolutionEvents):
    """The progress view, with each tracker told the start, every result and the end.

    The view hears each event first and exactly as the search sent it (either protocol's
    signature: the arguments pass through untouched)."""

    def __init__(self, view, trackers: list[Tracker]):
        self.view, self.trackers = view, list(trackers)

    def search_started(self, search) -> None:
        self.view.search_started(search)
        for tracker in self.trackers:
            tracker.started(Path(search.folder))

    def note(self, text: str) -> None:
        self.view.note(text)

    def generation_started(self, *args) -> None:
        self.view.generation_started(*args)

    def child_started(self, *args) -> None:
        self.view.child_started(*args)

    def child_progress(self, *args) -> None:
        self.view.child_progress(*args)

    def child_finished(self, *args) -> None:
        """EIGEN's (search, generation, child, stage, record) or a steady state's (run, child, record):
        the record comes last in both."""
        self.view.child_finished(*args)
        record = args[-1]
        for tracker in self.trackers:
            tracker.result(record)

    def extinction(self, *args) -> None:
        self.view.extinction(*args)

    def generation_finished(self, *args) -> None:
        self.view.generation_finished(*args)

    def close(self) -> None:
        try:
            for tracker in self.trackers:
                tracker.close()
        finally:
            self.view.close()


def trackers_for(config, folder: Path, say: Callable[[str], None]) -> list[Tracker]:
    """The trackers a search's flags ask for: `--tensorboard`'s HParams rows (under the run's
    tensorboard/, beside `MetricsLog`'s scalars) and `--mlflow URI`'s runs; none without either,
    and then neither package is imported."""
    trackers: list[Tracker] = []
    if config.tensorboard:
        from .hparams import HParamsRows
        trackers.append(HParamsRows(Path(folder) / "tensorboard"))
    if getattr(config, "mlflow", None):
        from .mlflow_runs import MlflowRuns
        trackers.append(MlflowRuns(config.mlflow, say))
    return trackers


def metrics_listeners(trackers: list[Tracker]) -> tuple[MetricsEvents, ...]:
    """The trackers that want each learning-curve point (`MetricsLog`'s listeners)."""
    return tuple(t for t in trackers if isinstance(t, MetricsEvents))
