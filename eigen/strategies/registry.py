"""What a search strategy is to the rest of eigen, and the registry that finds one by name.

A `Strategy` owns everything that differs between strategies: its settings and engine, how its
individuals train, whether it mimics a teacher, its live and plain views, its closing table and
plots, the stage its individuals' training ends at, and which individuals the Pareto front, `--pick`
and the report's answer may choose from. The commands, the report and the front ask the strategy;
none of them branches on a strategy's name. Adding a strategy is one module in this package that
calls `register`, plus its tests and docs.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

_REGISTRY: dict[str, "Strategy"] = {}


@dataclass(frozen=True)
class Strategy:
    name: str  # what --strategy says
    summary: str  # one line: what it is, with its source
    default_population: int  # --population unless given
    last_stage: str  # the stage an individual's training ends at ("T3", or the steady state's "train")
    eligible: str  # who the front and the answer choose from, in pareto.json's words
    front_labels: tuple[str, str]  # the Pareto plot's legend: (eligible, not eligible)
    mimicry: bool  # learns from the teacher's logits (EIGEN); otherwise from the labels alone
    keeps_optimizer: bool  # an individual's optimizer state carries from one stage to the next
    schedule: Callable  # (config) -> training.trainer.Schedule, before --child-recipe
    engine: Callable  # (config, parts: EngineParts) -> the engine: run(), best(), measure_test(), pareto()
    resolved: Callable  # (config, schedule) -> config.json's strategy-specific "resolved" entries
    points: Callable  # (records, state dict) -> the eligible search.pareto.Points
    progress: Callable  # (stream | None) -> the live view on a terminal, plain lines otherwise
    events: type  # its engine's event protocol, a null object: what a quiet search (the Python API's) shows
    closing_table: Callable  # (state dict) -> rich Table of the generations
    plots: Callable  # () -> ((draw, filename, panels), ...): the report's plots of its own
    done: Callable  # (state dict) -> "3 generation(s)": how far it got, in words
    reading_tau: str  # how to read the τ column of its closing table (the HTML report)
    check: Callable = lambda config: None  # (config) -> None, or EigenError on settings it cannot run
    own_settings: tuple[str, ...] = ()  # SearchConfig fields only this strategy reads


@dataclass(frozen=True)
class EngineParts:
    """What the command has built for an engine: the data's shape, the schedule, where individuals
    train and who watches."""

    splits: Any
    schedule: Any
    trainer: Any  # trains one individual of the search (`training.individual_training.IndividualTrainer`)
    folder: Any
    progress: Any
    executor: Any
    measure_latency: Callable | None = None


def register(strategy: Strategy) -> Strategy:
    if strategy.name in _REGISTRY:
        raise ValueError(f"a strategy named {strategy.name} is already registered")
    _REGISTRY[strategy.name] = strategy
    return strategy


def named(name: str) -> Strategy:
    """The registered strategy `name`; a name no strategy has (a hand-edited config.json, a run of a
    newer eigen) is a KeyError that says so, which the file's reader turns into one sentence."""
    if name not in _REGISTRY:
        raise KeyError(f"its strategy {name!r} is none of this eigen's ({', '.join(_REGISTRY)})")
    return _REGISTRY[name]


def names() -> tuple[str, ...]:
    """Every registered strategy's name, in the order registered (EIGEN first: the default)."""
    return tuple(_REGISTRY)


def of_settings(settings: dict) -> Strategy:
    """The strategy of a run folder, from its config.json's settings (the default, EIGEN, for one that
    names none)."""
    return named(settings.get("strategy") or names()[0])


def last_stage_of(settings: dict) -> str:
    """The stage a run's individuals train to, from its config.json's settings."""
    return of_settings(settings).last_stage


def settings_for(settings_class: type, config, parts: EngineParts, **own) -> Any:
    """`settings_class` (a `search.search_run.SearchSettings`) filled from `config`: each field from the
    `SearchConfig` field of the same name, the data's shape and the batch from `parts`, and `own`
    (what the strategy resolves itself) over both."""
    given = {"image_size": parts.splits.image_size, "num_classes": parts.splits.num_classes,
             "num_val": len(parts.splits.val), "batch_size": parts.schedule.batch_size,
             "population": config.resolved_population(), "latency_device": config.latency_device or "cpu", **own}
    return settings_class(**{f.name: given[f.name] if f.name in given else getattr(config, f.name)
                             for f in dataclasses.fields(settings_class)})
