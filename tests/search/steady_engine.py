"""The steady-state engine with its strategy's selection rule, for tests that drive the engine directly
(`eigen search` builds it through the strategy registry: eigen/strategies/)."""
from __future__ import annotations

from eigen.engine.steady_state import Evolution
from eigen.strategies.large_scale import tournament
from eigen.strategies.random_search import coin
from eigen.strategies.regularized import DEFAULT_SAMPLE_SIZE, aging


def evolution(settings, *args, sample_size: int = DEFAULT_SAMPLE_SIZE, **kwargs) -> Evolution:
    """`Evolution(settings, ...)` with the rule of `settings.strategy` (regularized: S = `sample_size`)."""
    rules = {"large-scale": tournament, "random": coin, "regularized": aging(sample_size)}
    kwargs.setdefault("sample_in_history", settings.strategy == "regularized")
    return Evolution(settings, *args, select=rules[settings.strategy], **kwargs)
