"""What an executor is and the one loop that feeds it (SPEC §10).

What it runs is a `Training` (`eigen/training/job.py`): one independent training, whose result
depends on nothing else, so trainings can run in any order, several at once or on other machines,
and still give what one-after-another gives.

`run_all` is the loop every command uses: it keeps the executor's slots full from a queue, hands
each result to the caller as it finishes (the caller records it: checkpoint on disk first, then its
history line), lets the caller queue follow-up trainings (a duplication candidate's next chunk, a
twin genome that could not reuse a failed result), and stops starting new trainings once
`may_start()` says no (a spent `--time-budget`), waiting for those in flight.
"""
from __future__ import annotations

import collections
from typing import Any, Callable, Iterable, Protocol

from ..training.job import StageResult, Training  # noqa: F401  (Training: re-exported)


class Executor(Protocol):
    """Runs trainings, up to `slots` at once, and hands back each result as it finishes."""

    slots: int  # trainings it runs at once
    busy: int  # trainings submitted and not yet handed back

    def submit(self, tag: Any, training: Training) -> None:
        """Start `training` (there is a free slot); `tag` comes back with its result."""

    def wait(self, on_progress: Callable[[Any, int, int, float], None] | None = None) -> tuple[Any, StageResult]:
        """Block until a training finishes; return (tag, result). `on_progress(tag, step, until,
        loss)` hears trainings in flight while it waits, on the calling thread."""

    def close(self) -> None:
        """Stop the workers (trainings still in flight are abandoned)."""


Queued = tuple[Any, Training]


def run_all(executor: Executor, queue: Iterable[Queued], *,
            on_done: Callable[[Any, StageResult], Iterable[Queued] | None],
            on_start: Callable[[Any], bool | None] = lambda tag: None,
            on_progress: Callable[[Any, int, int, float], None] | None = None,
            may_start: Callable[[], bool] = lambda: True) -> bool:
    """Run every queued training (and the follow-ups `on_done` returns) on `executor`.

    `on_start(tag)` hears each training as it is about to start; returning False skips it (the
    caller has handled it otherwise). Returns True when everything ran, False when `may_start()`
    refused to start one (the trainings in flight then still finish and are handed to `on_done`, so
    no finished work is lost)."""
    waiting = collections.deque(queue)
    refused = False
    while True:
        while waiting and not refused and executor.busy < executor.slots:
            if not may_start():
                refused = True
                break
            tag, training = waiting.popleft()
            if on_start(tag) is False:  # the caller dealt with it (a result it can reuse, say)
                continue
            executor.submit(tag, training)
        if executor.busy == 0:
            return not refused and not waiting
        tag, result = executor.wait(on_progress)
        more = on_done(tag, result)
        if more:
            waiting.extend(more)
