"""Staged extinction (EIGEN §3.1, Algorithm 1, Eq. 1 and 2), as pure functions of fitness values.

After a stage, the threshold is the larger of the rank-th best fitness of this generation at that
stage and the previous generation's threshold at the same stage; children below it are extinct.
Fitness is only ever compared with fitness at the same stage.
"""
from __future__ import annotations

STAGES = ("T1", "T2", "T3")


def rank_value(values: list[float], rank: int) -> float:
    """S(values)_rank: the rank-th largest value (1-based); the smallest when there are fewer values.

    With no values at all (every child rejected) the result is minus infinity, so the previous
    threshold stands.
    """
    if not values:
        return float("-inf")
    ordered = sorted(values, reverse=True)
    return ordered[min(rank, len(ordered)) - 1]


def threshold(values: list[float], rank: int, previous: float | None) -> float | None:
    """Eq. 1 (rank p, stage T1) and Eq. 2 (rank q, stage T2): v_g = max(S(F_g)_rank, v_{g-1}).

    `previous` is None before the first generation: no bar. The paper's v_0 = 0 bars nothing when
    fitness is accuracy, but a user-defined fitness (`--fitness "acc - 2*mparams"`) can be negative,
    and a bar of 0 would then kill every child. None also comes back when there is nothing to rank."""
    bar = max(rank_value(values, rank), float("-inf") if previous is None else previous)
    return None if bar == float("-inf") else bar


def survives(fitness: float, ok: bool, bar: float | None) -> bool:
    """A child lives on if it trained without failing and its fitness is not below the threshold."""
    return ok and (bar is None or fitness >= bar)
