"""How well one ranking of individuals predicts another: Kendall's τ, and how often the truly best
survive a cut made on an early ranking.

A search selects on early fitness (EIGEN's T1 for Eq. 1's cut, T2 for Eq. 2's); it is worth only what
that early fitness says about the final one. These are the measures `bench/fidelity.py` reports on
real CIFAR-10 and each generation of a search reports on its own children (`state.json`, the live
summary, the report page). No scipy: eigen does not depend on it, and the sizes here (a generation
of ten, a bench of sixteen) make the O(n²) pair count instant.
"""
from __future__ import annotations

import math
import random
from itertools import combinations
from typing import Sequence


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's τ-b of two paired lists: +1 same order, -1 reversed, near 0 unrelated. Ties count
    for neither side (τ-b's correction), so two children that both failed at 0 do not decide it.
    None where it is undefined: fewer than two pairs, or one list all tied."""
    if len(x) != len(y):
        raise ValueError(f"kendall_tau needs paired lists, got {len(x)} and {len(y)} values")
    score = tied_x_only = tied_y_only = untied = 0
    for i, j in combinations(range(len(x)), 2):
        dx, dy = _sign(x[i] - x[j]), _sign(y[i] - y[j])
        score += dx * dy
        untied += dx != 0 and dy != 0
        tied_x_only += dx == 0 and dy != 0
        tied_y_only += dy == 0 and dx != 0
    denominator = math.sqrt((untied + tied_y_only) * (untied + tied_x_only))
    return score / denominator if denominator else None


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)


def survivors(early: Sequence[float], rank: int) -> list[int]:
    """Indices that live through a cut at the rank-th best early value (Eq. 1 with p = rank and no
    previous generation's bar): those below it are extinct, ties with it survive."""
    if not early:
        return []
    bar = sorted(early, reverse=True)[min(rank, len(early)) - 1]
    return [i for i, value in enumerate(early) if value >= bar]


def best_kept(early: Sequence[float], final: Sequence[float], rank: int, best: int) -> int:
    """How many of the `best` individuals with the highest final values survive a cut at `rank` made
    on the early values. Ties at the border of the true best: the lower index counts as better."""
    truly_best = sorted(range(len(final)), key=lambda i: (-final[i], i))[:best]
    alive = set(survivors(early, rank))
    return sum(i in alive for i in truly_best)


def retention(readings: Sequence[Sequence[tuple[float, float]]], generation: int = 10, rank: int = 5,
              best: int = 2, draws: int = 10_000, seed: int = 0) -> dict:
    """Resample generations of `generation` individuals without replacement, each read once: one of
    its (early, final) `readings` drawn at random (one per training seed it has); cut each generation
    at `rank` on early; report how often all of the `best` finest by final survive, how often the very
    best does, and the mean share of the `best` that survive."""
    if len(readings) < generation:
        raise ValueError(f"retention needs at least {generation} individuals, got {len(readings)}")
    rng = random.Random(seed)
    kept_all = kept_top = kept_total = 0
    for _ in range(draws):
        drawn = [rng.choice(r) for r in rng.sample(list(readings), generation)]
        early, final = [p[0] for p in drawn], [p[1] for p in drawn]
        kept = best_kept(early, final, rank, best)
        kept_all += kept == best
        kept_top += best_kept(early, final, rank, 1)
        kept_total += kept
    return {"generation": generation, "rank": rank, "best": best, "draws": draws,
            "all_best_survive": kept_all / draws, "top_survives": kept_top / draws,
            "mean_share_of_best_surviving": kept_total / (best * draws)}
