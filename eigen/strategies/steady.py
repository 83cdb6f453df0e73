"""What the steady-state strategies share (large-scale, random, regularized): Large-Scale Evolution's
population, individuals and training (§3.1-§3.6), its views, table and plots. Each strategy's own
module gives its selection rule (`eigen.engine.steady_state.SelectionRule`) and calls `steady_strategy`."""
from __future__ import annotations

from typing import Callable

from ..engine.events import EvolutionEvents
from ..engine.pareto import STEADY_ELIGIBLE
from ..engine.record import STEADY_STAGE
from .registry import EngineParts, Strategy, settings_for


def child_schedule(config):
    """LS §3.4: SGD momentum 0.9, batch 50, weight decay 1e-4, --child-steps iterations at the
    genome's own learning rate, held constant (the learning rate evolves in the DNA instead)."""
    from ..engine.steady_state import child_schedule as schedule
    return schedule(config.child_steps, config.schedule_scale)


def steady_engine(config, parts: EngineParts, select, sample_in_history: bool = False):
    """The steady-state engine (`eigen.engine.steady_state.Evolution`) with `select` as its rule."""
    from ..engine.steady_state import Evolution, EvolutionSettings
    settings = settings_for(EvolutionSettings, config, parts, strategy=config.strategy,
                            child_steps=parts.schedule.total)
    return Evolution(settings, parts.trainer, parts.folder, parts.progress, parts.executor,
                     parts.measure_latency, select=select, sample_in_history=sample_in_history)


def pair_drawn(population: list, rng, first_breeds: Callable) -> "Selection":
    """Two distinct individuals drawn at random (LS §3.1): the first breeds and the second dies when
    `first_breeds(a, b)` says so, else the other way round. Large-scale's and random search's rule."""
    from ..engine.steady_state import Selection
    a, b = rng.sample(population, 2)
    parent, loser = (a, b) if first_breeds(a, b) else (b, a)
    return Selection([a, b], parent, loser)


def check_population(config) -> None:
    from ..errors import EigenError
    if config.resolved_population() < 2:
        raise EigenError(f"--population {config.population} is too small for --strategy {config.strategy}: "
                         f"a selection needs two individuals")


def _points(records, state: dict):
    from ..engine.pareto import steady_points
    return steady_points(records, [i["id"] for i in state.get("population", [])])


def _progress(stream=None):
    from ..views.evolution_progress import make_evolution_progress
    return make_evolution_progress(stream)


def _closing_table(state: dict):
    from ..views.tables import evolution_table
    return evolution_table(state)


def _plots():
    from ..views import search_plots
    return ((search_plots.steady_fitness, "fitness.png", 1),)


def steady_strategy(name: str, summary: str, engine: Callable, reading_tau: str, *, default_population: int = 100,
                    dead: str = "dead", check: Callable = check_population,
                    own_settings: tuple[str, ...] = ()) -> Strategy:
    """A steady-state strategy: Large-Scale Evolution's everything but `engine` (which gives the
    selection rule), the τ reading and what its dead died of."""
    return Strategy(
        name=name, summary=summary, default_population=default_population,
        last_stage=STEADY_STAGE, eligible=STEADY_ELIGIBLE, front_labels=("alive at the end", dead),
        mimicry=False, keeps_optimizer=False, schedule=child_schedule, engine=engine,
        resolved=lambda config, schedule: {"stage_ends": None, "child_steps": schedule.total},
        points=_points, progress=_progress, events=EvolutionEvents, closing_table=_closing_table, plots=_plots,
        done=lambda state: f"{state.get('born', 0)} starting individuals and {state.get('events', 0)} events",
        reading_tau=reading_tau, check=check, own_settings=("child_steps", "top_k", *own_settings))


INHERITED_TAU = ("τ(parent, child) is Kendall's rank agreement between the fitness of the round's children that "
                 "inherited weights and their parents' fitness: near 1, fitter parents have fitter children, so "
                 "choosing parents by fitness ({how}) breeds better networks; near 0, a child's fitness owes little "
                 "to its parent's and selection runs on noise — lengthen --child-steps or raise --schedule-scale.")
