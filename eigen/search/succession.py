"""The rules of EIGEN's rapid succession (§3.1), as pure functions of fitness values.

Extinction (Algorithm 1, Eq. 1 and 2): after a stage, the threshold is the larger of the rank-th
best fitness of this generation at that stage and the previous generation's threshold at the same
stage; children below it are extinct. Fitness is only ever compared with fitness at the same stage.

Succession: the primary succession (large mutation step) ends when the best fitness stops improving;
then the secondary succession (small step) runs until it stops improving too.
"""
from __future__ import annotations

from dataclasses import dataclass, field

STAGES = ("T1", "T2", "T3")
PHASES = ("primary", "secondary")


def rank_value(values: list[float], rank: int) -> float:
    """S(values)_rank: the rank-th largest value (1-based); the smallest when there are fewer values.

    With no values at all (every child rejected) the result is minus infinity, so the previous
    threshold stands.
    """
    if not values:
        return float("-inf")
    ordered = sorted(values, reverse=True)
    return ordered[min(rank, len(ordered)) - 1]


def threshold(values: list[float], rank: int, previous: float) -> float:
    """Eq. 1 (rank p, stage T1) and Eq. 2 (rank q, stage T2): v_g = max(S(F_g)_rank, v_{g-1})."""
    return max(rank_value(values, rank), previous)


def survives(fitness: float, ok: bool, bar: float) -> bool:
    """A child lives on if it trained without failing and its fitness is not below the threshold."""
    return ok and fitness >= bar


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
