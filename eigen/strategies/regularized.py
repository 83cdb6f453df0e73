"""Regularized (aging) evolution (Real, Aggarwal, Huang and Le, AAAI 2019, arXiv 1802.01548, Algorithm 1).

Large-Scale Evolution's successor, on Large-Scale Evolution's genome, mutations and training (weights
inherited, §3.6 of the 2017 paper): each event samples S individuals of the population at random,
with replacement, mutates the best of the sample, and removes the *oldest* individual, not the worst.
Every individual thus lives for about P events whatever its fitness, so a lucky training cannot hold
its place for ever: the "regularization" of the name. P = 100 and S = 25 are the paper's, from the
search experiments of its Methods Details section; its public notebook
(google-research/google-research, evolution/regularized_evolution_algorithm) draws the sample the
same way, one `random.choice` at a time.

Under --parallel or --ray it keeps K events in flight as large-scale does: event k is drawn right
after event k - K is applied, and the oldest dies when the event is drawn (its weights stay on disk
until the event is applied, for a child that inherits them), so a run is a function of its seed and K.
Each child's history line names who was sampled (`sampled`) and who aged out (`killed`).
"""
from __future__ import annotations

import random

from ..errors import EigenError
from ..engine.record import STEADY_STAGE
from .registry import register
from .steady import INHERITED_TAU, check_population, steady_engine, steady_strategy

DEFAULT_SAMPLE_SIZE = 25  # S (arXiv 1802.01548, Methods Details); SearchConfig's --sample-size default


def aging(sample_size: int):
    """The selection rule with S = `sample_size`: the parent is the fittest of S individuals drawn at
    random with replacement (the first drawn of the fittest on a tie), and the oldest dies."""
    from ..engine.steady_state import Selection

    def select(population: list, rng: random.Random):
        sampled = [rng.choice(population) for _ in range(sample_size)]
        parent = max(sampled, key=lambda individual: individual.fitness[STEADY_STAGE])
        return Selection(sampled, parent, population[0])  # the living are in order of birth
    return select


def _check(config) -> None:
    check_population(config)
    population = config.resolved_population()
    if config.sample_size > population:
        raise EigenError(f"--sample-size {config.sample_size} is larger than --population {population}: "
                         f"regularized evolution samples S of the P living; use a sample size up to {population} "
                         f"(the paper: S = 25 of P = 100)")


REGULARIZED = register(steady_strategy(
    "regularized", "regularized (aging) evolution (Real et al. 2019): the best of S sampled breeds, the oldest dies",
    lambda config, parts: steady_engine(config, parts, aging(config.sample_size), sample_in_history=True),
    INHERITED_TAU.format(how="the best of each sample"),
    dead="aged out", check=_check, own_settings=("sample_size",),
))
