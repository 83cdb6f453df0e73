"""The run's own evidence that it selects on something (issue #40, item 3): each generation's summary
carries Kendall's τ between the fitness selection used and the fitness that followed, among its own
children. EIGEN: T1 against T2 over the T2 survivors; large-scale and random: parent against child over
the children that inherited weights. Each is checked against the history, recomputed by hand."""
import json

import pytest

from eigen.run_folder.folder import RunFolder
from eigen.engine.steady_state import STAGE
from eigen.engine.rank_agreement import kendall_tau
from eigen.training.job import StageResult
from tests.search.test_evolution import Tournament, evolve
from tests.search.test_search import Scripted, records_of, search

# population 6, p = 3, q = 2 (tests.search.test_search.SMALL); scripted in call order.
SURVIVORS = [
    10, 50, 30, 40, 20, 60,  # gen 1, T1: v = 40 -> c1 (50), c3 (40), c5 (60) go on
    65, 70, 72,  # T2: c1's 65 < c3's 70 although 50 > 40; the other pairs agree: tau = (2 - 1) / 3
    75, 74,  # T3 (c3, c5)
    45, 50, 41, 10, 20, 30,  # gen 2, T1: v = 41 -> c0, c1, c2
    "diverged", 80, 71,  # T2: c0 fails (left out: 0 is no ranking); c1, c2 agree with T1: tau = 1
    "diverged", 81,  # T3: c1 fails, yet it passed T2 and still counts there
    90, 1, 2, 3, 4, 5,  # gen 3, T1: v = 41 -> c0 alone
    95,  # T2: one survivor, nothing to rank: tau is None
    96,
]


def test_each_generation_carries_the_tau_of_its_t2_survivors_t1_and_t2_fitness(tmp_path):
    individuals = Scripted(SURVIVORS)
    engine, _ = search(tmp_path / "run", individuals, max_generations=3)
    assert individuals.script == []  # every scripted result was used, in the order above
    taus = [g["tau_T1_T2"] for g in engine.state.generations]
    assert taus == [pytest.approx(1 / 3), 1.0, None]
    records = records_of(tmp_path / "run")
    for g in engine.state.generations:  # the oracle: the history's T2 lines that trained ok
        passed = [r for r in records if r["generation"] == g["generation"] and r["stage"] == "T2"
                  and r["status"] == "ok"]
        assert g["tau_T1_T2"] == kendall_tau([r["fitness"]["T1"] for r in passed],
                                             [r["fitness"]["T2"] for r in passed])
    saved = json.loads((tmp_path / "run" / "state.json").read_text())
    assert [g["tau_T1_T2"] for g in saved["generations"]] == taus


def test_a_generation_with_every_child_tied_at_t1_has_no_tau(tmp_path):
    script = [50, 50, 50, 50, 50, 50, 60, 61, 62, 63, 64, 65, 70, 71]  # T1 ties all six: all survive
    engine, _ = search(tmp_path / "run", Scripted(script), max_generations=1)
    assert engine.state.generations[0]["trained"]["T2"] == 6 and engine.state.generations[0]["tau_T1_T2"] is None


class Heritable(Tournament):
    """A child that inherits scores its parent's fitness plus one, so where inheritance is counted
    alone τ is 1; every third child trains from scratch (inherited 0) and scores the reverse, 100 -
    its parent's; child c7 fails. Counting either would pull τ below 1. Checkpoints hold the fitness,
    so a resumed run's children find their parents'."""

    def train(self, training, on_progress=None):
        individual, parent = training.save_to.stem, training.inherit_from
        self.calls.append((individual, parent.stem if parent else None))
        if individual == "c7":
            return StageResult("failed: out of memory", 0.0, 0, 0, 0.1)
        scratch = parent is not None and int(individual[1:]) % 3 == 0
        inherited = json.loads(parent.read_text())["fitness"] if parent else None
        fitness = self.fitness(individual) if parent is None else 100 - inherited if scratch else inherited + 1
        training.save_to.parent.mkdir(parents=True, exist_ok=True)
        training.save_to.write_text(json.dumps({"id": individual, "fitness": fitness}))
        return StageResult("ok", fitness, training.until, training.until, 0.1,
                           inherited=0 if parent is None or scratch else 3)


@pytest.mark.parametrize("strategy", ["large-scale", "random"])
def test_each_round_carries_the_tau_of_parents_and_their_inheriting_childrens_fitness(tmp_path, strategy):
    engine, _ = evolve(tmp_path / "run", Heritable(), strategy=strategy)
    records = RunFolder(tmp_path / "run").read_history()
    fitness = {r["id"]: r["fitness"][STAGE] for r in records if r["status"] == "ok"}
    rounds = engine.state.generations
    assert [g["generation"] for g in rounds] == [0, 1, 2, 3, 4]
    assert rounds[0]["tau_parent_child"] is None  # the starting population has no parents
    for g in rounds:  # the oracle: the round's children that trained ok from their parent's weights
        inheriting = [r for r in records if r["event"] and r["generation"] == g["generation"]
                      and r["status"] == "ok" and r["inherited"] > 0]
        assert g["tau_parent_child"] == kendall_tau([fitness[r["parent"]] for r in inheriting],
                                                    [r["fitness"][STAGE] for r in inheriting])
    assert {g["tau_parent_child"] for g in rounds[1:]} <= {1.0, None} and 1.0 in {g["tau_parent_child"] for g in rounds}
    # Those left out would have changed it: every child that trained ok, scratch ones included.
    everyone = [r for r in records if r["event"] and r["status"] == "ok"]
    assert kendall_tau([fitness[r["parent"]] for r in everyone], [r["fitness"][STAGE] for r in everyone]) < 0.9
    saved = json.loads((tmp_path / "run" / "state.json").read_text())
    assert [g["tau_parent_child"] for g in saved["generations"]] == [g["tau_parent_child"] for g in rounds]
