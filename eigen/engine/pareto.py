"""The Pareto front of a run: the individuals no other beats on every objective at once (issue #31).

One scalar fitness hides the trade-off a deployer chooses on: a point of the front is a network that
cannot be made more accurate without growing, or smaller without losing accuracy. The objectives
are validation accuracy (higher is better), parameters and forward FLOPs (lower), and, when the run
measured it, latency in ms (lower). Point a *dominates* b when a is at least as good on every
objective and better on one; the front is every point that nothing dominates. Equal points do not
dominate each other, so ties stay on the front together.

Who may be on it: EIGEN's individuals trained to T3 (an individual extinguished earlier was only
partly trained, so its accuracy is not comparable); a steady state's individuals alive at the end
and trained. A child that took another's recorded result (the same network) is the same point and
is listed as that point's twin, and so is the same network trained again to the same accuracy.
The same function makes a duplication's front, of its candidates.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Iterable, TypedDict

from .latency_cache import saved_latency_setting
from .record import STEADY_STAGE, HistoryRecord

FILE = "pareto.json"
EIGEN_ELIGIBLE = "every individual trained to T3"
STEADY_ELIGIBLE = "every individual alive at the end, trained"
CANDIDATES_ELIGIBLE = "every candidate trained to the end of the schedule"


@dataclass(frozen=True)
class Point:
    """An individual (or a duplication's candidate) as the front sees it."""

    id: str
    accuracy: float  # validation accuracy, %
    params: int
    flops: int
    ms: float | None = None  # measured latency, when the run measured it
    fitness: float | None = None
    generation: int | None = None
    twins: tuple[str, ...] = field(default=())  # individuals that took this one's recorded result

    def costs(self, with_ms: bool) -> tuple:
        return (self.params, self.flops, self.ms) if with_ms else (self.params, self.flops)


def dominates(a: Point, b: Point, with_ms: bool) -> bool:
    """a is at least as good as b on every objective, and better on at least one."""
    pairs = [(-a.accuracy, -b.accuracy), *zip(a.costs(with_ms), b.costs(with_ms))]
    return all(x <= y for x, y in pairs) and any(x < y for x, y in pairs)


def front(points: Iterable[Point]) -> list[Point]:
    """The points nothing dominates, fewest parameters first (then most accurate, then by id).
    Latency counts only when every point has one."""
    points = list(points)
    with_ms = all_timed(points)
    kept = [p for p in points if not any(dominates(q, p, with_ms) for q in points)]
    return sorted(kept, key=lambda p: (p.params, -p.accuracy, p.flops, p.id))


def all_timed(points: list[Point]) -> bool:
    """Latency is an objective only when every point has one (a run that timed its genomes)."""
    return bool(points) and all(p.ms is not None for p in points)


def eigen_points(records: list[HistoryRecord]) -> list[Point]:
    """EIGEN: every individual trained to T3 (a reused result joins its source as a twin)."""
    return _merged([r for r in records if r.stage == "T3" and r.ok], "T3")


def steady_points(records: list[HistoryRecord], living: Iterable[str]) -> list[Point]:
    """A steady state: every individual alive at the end whose training succeeded."""
    alive = set(living)
    return _merged([r for r in records if r.id in alive and r.ok], STEADY_STAGE)


def _merged(records: list[HistoryRecord], stage: str) -> list[Point]:
    """One point per result: a record that reused another's, or the same network (key) trained again
    to the same accuracy, is a twin of the first. A later record of the same id replaces its earlier
    one (an individual trained again goes by its last record)."""
    points: dict[str, Point] = {}
    twins: dict[str, list[str]] = {}
    first: dict[tuple, str] = {}  # (key, accuracy) -> the first individual with that result
    for r in records:
        point = _point(r, stage)
        source = r.reused_from if r.reused_from in points else first.get((r.key, point.accuracy))
        if source is not None and source != r.id:
            twins.setdefault(source, []).append(r.id)
            continue
        points[r.id] = point
        first.setdefault((r.key, point.accuracy), r.id)
    return [Point(**{**asdict(p), "twins": tuple(twins.get(p.id, ()))}) for p in points.values()]


def _point(r: HistoryRecord, stage: str) -> Point:
    return Point(r.id, r.accuracy.get(stage, r.fitness[stage]), r.params, r.flops, r.ms, r.fitness[stage],
                 r.generation)


class ParetoFile(TypedDict):
    """pareto.json: the front, and what it was chosen from."""

    objectives: list[str]
    eligible: str
    considered: int
    best: str | None
    latency: dict | None
    front: list[dict]


def pareto_file(points: list[Point], eligible: str, best: str | None, latency: dict | None = None) -> dict:
    """pareto.json's contents: the front of `points`, each with what it scored, the best marked."""
    chosen = front(points)
    objectives = ["val_accuracy (max)", "params (min)", "flops (min)"] + (["ms (min)"] if all_timed(points) else [])
    return {"objectives": objectives, "eligible": eligible, "considered": len(points), "best": best,
            "latency": latency,
            "front": [{"id": p.id, "generation": p.generation, "val_accuracy": p.accuracy, "fitness": p.fitness,
                       "params": p.params, "flops": p.flops, "ms": p.ms, "twins": list(p.twins),
                       "best": best is not None and (p.id == best or best in p.twins)} for p in chosen]}


def saved_front(records: list[HistoryRecord], state: dict, settings: dict, strategy) -> tuple[list[Point], dict]:
    """The front of a run folder as saved (history, state.json, config.json's settings): what the
    report shows. `strategy` (`eigen.strategies`) says who is eligible and in what words."""
    points = strategy.points(records, state)
    best = (state.get("best") or {}).get("id")
    return points, pareto_file(points, strategy.eligible, best, saved_latency_setting(settings))


def ends(pareto: dict) -> list[dict]:
    """The two ends of a front: its smallest network and its most accurate (the larger on a tie);
    one when they are the same point."""
    points = pareto["front"]
    if not points:
        return []
    smallest = min(points, key=lambda p: (p["params"], -p["val_accuracy"]))
    accurate = max(points, key=lambda p: (p["val_accuracy"], p["params"]))
    return [smallest] if smallest is accurate else [smallest, accurate]
