"""Rapid succession (EIGEN §3.1): which mutation step size the search uses, and when it stops.

(Staged extinction, the other rule of §3.1, is `extinction.py` beside this file.)

Succession: the primary succession (large mutation step) ends when the best fitness stops improving;
then the secondary succession (small step) runs until it stops improving too.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Succession:
    """Which succession the search is in, and whether the best fitness has plateaued.

    `bests` holds the best fitness when the current succession began, then after each of its
    generations. A plateau is `patience` generations whose total gain is at most `delta` points.
    """

    delta: float
    patience: int
    phase: str = "primary"
    bests: list[float] = field(default_factory=lambda: [0.0])
    switched_at: int | None = None  # last generation of the primary succession
    converged: bool = False

    def plateaued(self) -> bool:
        b = self.bests
        # Rounded so that 60.2 - 60.0 counts as a gain of 0.2, not 0.2000000000000028.
        return len(b) > self.patience and round(b[-1] - b[-1 - self.patience], 9) <= self.delta

    def record(self, generation: int, best: float) -> str | None:
        """Note the best fitness after `generation`; return 'secondary' or 'converged' on a change."""
        self.bests.append(best)
        if not self.plateaued():
            return None
        if self.phase == "primary":
            self.phase, self.switched_at, self.bests = "secondary", generation, [best]
            return "secondary"
        self.converged = True
        return "converged"

    def to_dict(self) -> dict:
        return {"phase": self.phase, "bests": self.bests, "switched_at": self.switched_at,
                "converged": self.converged}

    @classmethod
    def from_dict(cls, data: dict, delta: float, patience: int) -> "Succession":
        return cls(delta=delta, patience=patience, phase=data["phase"], bests=list(data["bests"]),
                   switched_at=data["switched_at"], converged=data["converged"])
