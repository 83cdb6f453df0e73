"""The Pareto front (issue #31): equal to a brute-force computation on many random sets, ties kept,
and the eligible individuals of EIGEN and steady-state runs."""
import random

import numpy as np
import pytest

from eigen.engine.pareto import (EIGEN_ELIGIBLE, STEADY_ELIGIBLE, Point, eigen_points, ends, front, pareto_file,
                                 steady_points)
from eigen.engine.record import HistoryRecord


def brute_front(points, with_ms):
    """Every point that no other is at least as good as on every objective and better on one,
    computed over the whole matrix at once."""
    values = np.array([[-p.accuracy, p.params, p.flops] + ([p.ms] if with_ms else []) for p in points], float)
    at_least = (values[:, None, :] <= values[None, :, :]).all(axis=2)  # [q, p]: q at least as good as p
    better = (values[:, None, :] < values[None, :, :]).any(axis=2)
    dominated = (at_least & better).any(axis=0)
    return {p.id for p, d in zip(points, dominated) if not d}


def random_points(rng, n, timed):
    """Few distinct values per objective, so ties and equal points are common."""
    return [Point(f"i{k}", rng.choice([50.0, 60.0, 60.0, 70.0, 80.5]), rng.choice([100, 200, 300, 300]),
                  rng.choice([10, 20, 30]), rng.choice([0.1, 0.2, 0.3]) if timed else None) for k in range(n)]


@pytest.mark.parametrize("timed", [False, True])
def test_the_front_equals_a_brute_force_computation_on_many_random_sets(timed):
    rng = random.Random(31)
    for trial in range(300):
        points = random_points(rng, rng.randint(1, 25), timed)
        got = front(points)
        assert {p.id for p in got} == brute_front(points, timed), trial
        assert [p.params for p in got] == sorted(p.params for p in got)  # fewest parameters first


def test_equal_points_stay_on_the_front_together_and_latency_counts_only_when_all_have_it():
    a, b = Point("a", 70.0, 100, 10, 0.2), Point("b", 70.0, 100, 10, 0.2)
    assert {p.id for p in front([a, b])} == {"a", "b"}
    slow_small, fast_big = Point("s", 70.0, 100, 10, 0.9), Point("f", 70.0, 200, 10, 0.1)
    assert {p.id for p in front([slow_small, fast_big])} == {"s", "f"}  # each wins on something
    untimed = Point("u", 70.0, 200, 10, None)
    assert {p.id for p in front([slow_small, untimed])} == {"s"}  # without ms for all, ms is left out


def record(id, stage, acc, params, key=None, reused_from=None, status="ok", ms=None):
    latency = {"ms": ms, "iqr_ms": 0.0, "runs": 15, "device": "cpu", "batch": 1, "threads": 1,
               "seconds": 0.01} if ms is not None else None
    return HistoryRecord(id=id, parent=None, generation=1, succession="primary", step_size=1, stage=stage, until=1,
                         key=key or id, mutations=[], params=params, flops=params * 10, fitness={stage: acc},
                         accuracy={stage: acc}, status=status, iterations=1, seconds=0.1, flops_spent=0,
                         reused_from=reused_from, checkpoint=None, latency=latency)


def test_eigen_takes_only_individuals_trained_to_t3_and_a_reused_result_is_a_twin():
    records = [record("a", "T1", 99.0, 10), record("b", "T1", 50.0, 100), record("b", "T2", 60.0, 100),
               record("b", "T3", 61.0, 100), record("c", "T3", 70.0, 200), record("d", "T3", 70.0, 200, key="c",
                                                                                    reused_from="c"),
               record("e", "T3", 0.0, 5, status="diverged")]
    points = eigen_points(records)
    pareto = pareto_file(points, EIGEN_ELIGIBLE, best="d", latency=None)
    assert {p.id for p in points} == {"b", "c"}  # a stopped at T1, e failed, d is c's twin
    assert [p["id"] for p in pareto["front"]] == ["b", "c"]
    assert pareto["front"][1]["twins"] == ["d"] and pareto["front"][1]["best"]  # the best, through its twin
    assert pareto["considered"] == 2 and pareto["objectives"] == ["val_accuracy (max)", "params (min)", "flops (min)"]


def test_a_steady_state_takes_the_living_that_trained():
    records = [record("i0", "train", 40.0, 10), record("i1", "train", 80.0, 50), record("c1", "train", 0.0, 20,
                                                                                         status="diverged"),
               record("c2", "train", 90.0, 60, ms=0.5), record("c3", "train", 85.0, 70)]
    points = steady_points(records, ["i0", "c1", "c2", "c3"])
    pareto = pareto_file(points, STEADY_ELIGIBLE, best="i1", latency=None)
    assert {p.id for p in points} == {"i0", "c2", "c3"}  # i1 is dead; c1 failed
    assert [p["id"] for p in pareto["front"]] == ["i0", "c2"] and not any(p["best"] for p in pareto["front"])


def test_the_two_ends_are_the_smallest_and_the_most_accurate():
    pareto = pareto_file([Point("s", 60.0, 10, 1), Point("m", 70.0, 20, 2), Point("l", 80.0, 30, 3)], "x", "m")
    assert [p["id"] for p in ends(pareto)] == ["s", "l"]
    assert [p["id"] for p in ends(pareto_file([Point("only", 60.0, 10, 1)], "x", None))] == ["only"]
    assert ends(pareto_file([], "x", None)) == []
