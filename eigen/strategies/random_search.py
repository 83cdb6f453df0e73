"""The random-search control of Large-Scale Evolution (§4): the steady state with selection by a coin."""
from __future__ import annotations

import random

from .registry import register
from .steady import INHERITED_TAU, pair_drawn, steady_engine, steady_strategy


def coin(population: list, rng: random.Random):
    """Two distinct individuals drawn at random; a coin decides which breeds and which dies, with no
    look at fitness ("reproducing and killing random individuals")."""
    return pair_drawn(population, rng, lambda a, b: rng.random() < 0.5)


RANDOM = register(steady_strategy(
    "random", "random search: Large-Scale Evolution's steady state with parents and deaths chosen by a coin "
              "(its control)",
    lambda config, parts: steady_engine(config, parts, coin),
    INHERITED_TAU.format(how="which random search does not do: its τ is the baseline for large-scale's"),
))
