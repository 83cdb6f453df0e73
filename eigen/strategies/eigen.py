"""EIGEN (the paper's Algorithm 1): generations of children of one parent, staged extinction (Eq. 1
and 2), rapid succession, mimicry of a teacher. The rules are in `eigen.engine.eigen_search`."""
from __future__ import annotations

from ..engine.events import SearchEvents
from ..engine.pareto import EIGEN_ELIGIBLE
from .registry import EngineParts, Strategy, register, settings_for


def stage_ends(config) -> tuple[int, int, int]:
    """Iterations at the end of T1, T2 and T3, after --schedule-scale."""
    from ..training.trainer import scale_iterations
    t1, t2, t3 = (scale_iterations(n, config.schedule_scale) for n in (config.t1, config.t2, config.t3))
    return (t1, t1 + t2, t1 + t2 + t3)


def _schedule(config):
    """EIGEN §4.1's recipe: T1 + T2 + T3 iterations, the learning rate stepped at its milestones."""
    from ..training.trainer import Schedule
    return Schedule().scaled(config.schedule_scale)


def _engine(config, parts: EngineParts):
    from ..engine.eigen_search import EigenSearch, EigenSettings
    settings = settings_for(EigenSettings, config, parts, stage_ends=stage_ends(config))
    return EigenSearch(settings, parts.trainer, parts.folder, parts.progress, parts.executor,
                       parts.measure_latency)


def _points(records, state: dict):
    from ..engine.pareto import eigen_points
    return eigen_points(records)


def _progress(stream=None):
    from ..views.search_progress import make_progress
    return make_progress(stream)


def _closing_table(state: dict):
    from ..views.tables import summary_table
    return summary_table(state)


def _plots():
    from ..views import search_plots
    return ((search_plots.eigen_fitness, "fitness.png", 2), (search_plots.survivors, "survivors.png", 1))


EIGEN = register(Strategy(
    name="eigen",
    summary="EIGEN (Ren et al.): generations of children of one parent, staged extinction, rapid succession, "
            "mimicry of a teacher",
    default_population=10,  # EIGEN §3
    last_stage="T3",
    eligible=EIGEN_ELIGIBLE,
    front_labels=("trained to T3", "extinguished before T3"),
    mimicry=True,
    keeps_optimizer=True,  # T1, T2 and T3 are one training, continued
    schedule=_schedule,
    engine=_engine,
    resolved=lambda config, schedule: {"stage_ends": stage_ends(config), "child_steps": None},
    points=_points,
    progress=_progress,
    events=SearchEvents,
    closing_table=_closing_table,
    plots=_plots,
    done=lambda state: f"{len(state.get('generations', []))} generation(s)",
    reading_tau="τ(T1, T2) is Kendall's rank agreement between the T2 survivors' fitness after T1 and after T2: "
                "near 1, the early fitness ranks children as later training does and the cut keeps the right ones; "
                "near 0, T1 is too short for the search to select — lengthen --t1 or raise --schedule-scale.",
    own_settings=("primary_step", "secondary_step", "t1", "t2", "t3", "p", "q", "plateau_delta", "plateau_patience",
                  "inherit_weights", "elitist"),
))
