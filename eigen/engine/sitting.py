"""One sitting of a long command: its clock and its --time-budget.

A search, an evolution and a duplication stop at their next safe point once the sitting's budget is
spent, and their live views show what is left; both read it here.
"""
from __future__ import annotations

import time


class Sitting:
    def __init__(self, budget: float | None = None):
        self.budget = budget  # seconds, or None for no limit
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def spent(self) -> bool:
        return self.budget is not None and self.elapsed() >= self.budget

    def left(self) -> float | None:
        return None if self.budget is None else max(0.0, self.budget - self.elapsed())
