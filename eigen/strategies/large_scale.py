"""Large-Scale Evolution (Real et al. 2017, §3.1): a tournament of two, the fitter breeds, the other dies."""
from __future__ import annotations

import random

from ..engine.record import STEADY_STAGE
from .registry import register
from .steady import INHERITED_TAU, pair_drawn, steady_engine, steady_strategy


def tournament(population: list, rng: random.Random):
    """Two distinct individuals drawn at random; the fitter is the parent and the other dies (a tie
    keeps the first drawn)."""
    return pair_drawn(population, rng, lambda a, b: a.fitness[STEADY_STAGE] >= b.fitness[STEADY_STAGE])


LARGE_SCALE = register(steady_strategy(
    "large-scale", "Large-Scale Evolution (Real et al. 2017): tournaments of two in a steady-state population, "
                   "weights inherited",
    lambda config, parts: steady_engine(config, parts, tournament),
    INHERITED_TAU.format(how="large-scale's tournaments"),
))
