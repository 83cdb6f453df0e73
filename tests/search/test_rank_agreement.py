"""Kendall's τ and the survival of the truly best (issue #40): against brute-force computations on
synthetic rankings, ties included."""
from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest

from eigen.engine.rank_agreement import best_kept, kendall_tau, retention, survivors


def brute_tau_b(x, y) -> float | None:
    """τ-b as the correlation of the sign matrices of all ordered pairs (a formulation of its own)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    a, b = np.sign(x[:, None] - x[None, :]), np.sign(y[:, None] - y[None, :])
    denominator = math.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator else None


@pytest.mark.parametrize("seed", range(200))
def test_tau_equals_the_brute_force_one_with_and_without_ties(seed):
    rng = random.Random(seed)
    n = rng.randint(2, 16)
    spread = rng.choice([3, 10, 1000])  # 3: many ties; 1000: almost none
    x = [rng.randint(0, spread) for _ in range(n)]
    y = [v + rng.randint(-spread, spread) * rng.random() for v in x]
    expected = brute_tau_b(x, y)
    got = kendall_tau(x, y)
    assert (got is None) == (expected is None)
    if got is not None:
        assert got == pytest.approx(expected, abs=1e-12) and -1 <= got <= 1


def test_tau_without_ties_counts_inversions():
    rng = random.Random(7)
    for _ in range(50):
        n = rng.randint(2, 12)
        y = rng.sample(range(100), n)
        inversions = sum(y[i] > y[j] for i, j in itertools.combinations(range(n), 2))
        assert kendall_tau(list(range(n)), y) == pytest.approx(1 - 4 * inversions / (n * (n - 1)))


def test_tau_at_its_ends_and_where_it_is_undefined():
    assert kendall_tau([1, 2, 3], [10, 20, 30]) == 1 and kendall_tau([1, 2, 3], [3, 2, 1]) == -1
    assert kendall_tau([5], [1]) is None and kendall_tau([], []) is None
    assert kendall_tau([1, 1, 1], [1, 2, 3]) is None  # one ranking all tied: no information
    with pytest.raises(ValueError, match="paired"):
        kendall_tau([1, 2], [1])


def test_the_cut_keeps_ties_with_the_bar_as_eq_1_does():
    assert survivors([50, 70, 60, 70, 40], rank=2) == [1, 3]
    assert survivors([50, 70, 60, 60, 40], rank=2) == [1, 2, 3]  # the 2nd best is 60: both 60s live
    assert survivors([1, 2], rank=5) == [0, 1]  # fewer than p: the smallest is the bar
    assert survivors([], rank=5) == []


def brute_best_kept(early, final, rank, best):
    bar = sorted(early, reverse=True)[min(rank, len(early)) - 1]
    order = sorted(range(len(final)), key=lambda i: (-final[i], i))
    return sum(early[i] >= bar for i in order[:best])


@pytest.mark.parametrize("seed", range(100))
def test_best_kept_equals_the_brute_force_count(seed):
    rng = random.Random(seed)
    early = [rng.randint(0, 8) for _ in range(10)]
    final = [rng.randint(0, 8) for _ in range(10)]
    for best in (1, 2, 3):
        assert best_kept(early, final, 5, best) == brute_best_kept(early, final, 5, best)


def test_retention_matches_the_exact_probability_over_every_generation():
    """From 12 individuals there are C(12, 10) = 66 generations of 10: enumerated exactly, the share in
    which both of the true best two survive a cut at p = 5 equals the resampled estimate."""
    rng = random.Random(3)
    pairs = [(rng.gauss(0, 1), rng.gauss(0, 1)) for _ in range(12)]
    pairs = [(e + f, f) for e, f in pairs]  # early fitness that partly predicts the final one
    exact_both = exact_top = 0
    generations = list(itertools.combinations(pairs, 10))
    for drawn in generations:
        early, final = [p[0] for p in drawn], [p[1] for p in drawn]
        exact_both += brute_best_kept(early, final, 5, 2) == 2
        exact_top += brute_best_kept(early, final, 5, 1)
    got = retention([[p] for p in pairs], draws=20_000, seed=1)
    assert got["all_best_survive"] == pytest.approx(exact_both / len(generations), abs=0.015)
    assert got["top_survives"] == pytest.approx(exact_top / len(generations), abs=0.015)


def test_retention_of_a_perfect_and_of_a_reversed_early_ranking():
    pairs = [(v, v) for v in range(16)]
    assert retention([[p] for p in pairs], draws=500)["all_best_survive"] == 1.0
    reversed_ = [(-v, v) for v in range(16)]
    assert retention([[p] for p in reversed_], draws=500)["all_best_survive"] == 0.0
    with pytest.raises(ValueError, match="at least 10"):
        retention([[p] for p in pairs[:9]])
