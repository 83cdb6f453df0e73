"""The EIGEN loop (Algorithm 1) through a scripted trainer: extinction by Eq. 1/2, succession, memo, resume."""
import hashlib
import json
import re

import pytest

from eigen.run_folder.folder import RunFolder
from eigen.engine.eigen_search import EigenSearch, EigenSettings
from eigen.engine.extinction import rank_value, threshold
from eigen.engine.succession import Succession
from eigen.training.job import StageResult, Training

SMALL = dict(population=6, primary_step=100, secondary_step=10, stage_ends=(10, 30, 40), p=3, q=2,
             max_generations=3, image_size=32, num_classes=10)


class Scripted:
    """Trains nothing. Fitness comes from `script` (in call order) or a hash of (genome, iteration).

    A script entry is a number (status ok) or a status string ("diverged", "failed: oom"). Checkpoints
    are small JSON files holding the step, so continuing from the right checkpoint is checked too.
    """

    def __init__(self, script=None, seed=0, kill_after=None, kill_after_save=False):
        self.script = list(script) if script is not None else None
        self.seed, self.kill_after, self.kill_after_save = seed, kill_after, kill_after_save
        self.calls = []

    def score(self, genome, until):
        digest = hashlib.sha256(f"{self.seed}:{genome.key()}:{until}".encode()).hexdigest()
        return round(int(digest[:8], 16) % 10_000 / 100, 2)

    def train(self, training, on_progress=None):
        genome, until, start_from, save_to = training.what, training.until, training.start_from, training.save_to
        if self.kill_after is not None and len(self.calls) == self.kill_after and not self.kill_after_save:
            raise Killed
        step = json.loads(start_from.read_text())["step"] if start_from else 0
        assert step < until or until == step
        self.calls.append((genome.key(), until, step))
        value = self.script.pop(0) if self.script is not None else self.score(genome, until)
        ok = not isinstance(value, str)
        if ok:
            save_to.parent.mkdir(parents=True, exist_ok=True)
            save_to.write_text(json.dumps({"step": until, "key": genome.key()}))
        if self.kill_after is not None and len(self.calls) == self.kill_after + 1 and self.kill_after_save:
            raise Killed  # killed after the checkpoint was written, before the result was recorded
        return StageResult("ok" if ok else value, float(value) if ok else 0.0, until if ok else step,
                           until - step if ok else 0, 0.5)

    def test_accuracy(self, checkpoint):
        return 50.0


class Killed(BaseException):
    """Stands in for SIGKILL between (or right after) trainings."""


def search(folder, individuals, **settings):
    s = EigenSettings(**{**SMALL, **settings})
    engine = EigenSearch(s, individuals, RunFolder(folder))
    return engine, engine.run()


def records_of(folder):
    return RunFolder(folder).read_history()


def comparable(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


# -- the rules, as pure functions --------------------------------------------------------------------
def test_eq1_and_eq2_take_the_rank_th_best_or_the_previous_threshold():
    f = [10, 50, 30, 40, 20, 60]
    assert rank_value(f, 3) == 40 and rank_value(f, 1) == 60 and rank_value(f, 9) == 10
    assert threshold(f, 3, previous=0.0) == 40
    assert threshold(f, 3, previous=45.0) == 45
    assert threshold([], 3, previous=12.5) == 12.5
    assert threshold(f, 3, previous=None) == 40 and threshold([], 3, previous=None) is None  # v_0: no bar


def test_a_plateau_switches_primary_to_secondary_then_converges():
    s = Succession(delta=0.2, patience=2)
    assert [s.record(g, best) for g, best in enumerate([50, 60, 60.1, 60.2], start=1)] == [None, None, None, "secondary"]
    assert (s.phase, s.switched_at) == ("secondary", 4)
    assert [s.record(g, best) for g, best in enumerate([61, 61.1, 61.2], start=5)] == [None, None, "converged"]
    assert s.converged


# -- Algorithm 1 on a scripted sequence --------------------------------------------------------------
def test_extinction_follows_eq1_and_eq2_on_a_scripted_sequence(tmp_path):
    script = [
        10, 50, 30, 40, 20, 60,  # gen 1, T1: v = 3rd best = 40 -> c1, c3, c5 live
        70, 65, 72,  # T2 (c1, c3, c5): v = 2nd best = 70 -> c1, c5 live
        75, 74,  # T3 (c1, c5): c1 becomes the parent at 75
        35, 38, 42, 30, 39, 41,  # gen 2, T1: 3rd best 39 < v_{1,T1} = 40 -> v = 40 -> c2, c5 live
        66, 69,  # T2 (c2, c5): 2nd best 66 < v_{1,T2} = 70 -> v = 70: nobody lives, parent kept
    ]
    engine, reason = search(tmp_path / "run", Scripted(script), max_generations=2)
    assert reason == "max generations"
    gens = engine.state.generations
    assert gens[0]["thresholds"] == {"T1": 40, "T2": 70} and gens[1]["thresholds"] == {"T1": 40, "T2": 70}
    assert [gens[0]["trained"][s] for s in ("T1", "T2", "T3")] == [6, 3, 2]
    assert [gens[1]["trained"][s] for s in ("T1", "T2", "T3")] == [6, 2, 0]
    assert (engine.state.parent.id, engine.state.parent_fitness) == ("g1c1", 75)
    assert gens[1]["improved"] is False and gens[1]["parent"] == "g1c1"
    t2 = [r["id"] for r in records_of(tmp_path / "run") if r["stage"] == "T2"]
    assert t2 == ["g1c1", "g1c3", "g1c5", "g2c2", "g2c5"]


# p = q = 1: gen 1: c0 alone passes T1 (80) and T2 (85) and ends at 80; gen 2: c0 passes both bars
# (82 >= 80, 86 >= 85) and ends at 70, worse than its parent.
WORSE_CHILD = [80, 10, 10, 10, 10, 10, 85, 80,
               82, 10, 10, 10, 10, 10, 86, 70]


def test_the_papers_rule_makes_the_best_finalist_the_parent_even_when_it_is_worse(tmp_path):
    engine, _ = search(tmp_path / "run", Scripted(WORSE_CHILD), population=6, p=1, q=1, max_generations=2)
    state, gens = engine.state, engine.state.generations
    assert [g["parent"] for g in gens] == ["g1c0", "g2c0"] and state.parent_fitness == 70
    assert [g["improved"] for g in gens] == [True, True] and [g["new_best"] for g in gens] == [True, False]
    assert state.best.id == "g1c0" and state.best.fitness["T3"] == 80
    best = engine.best()
    assert best["id"] == "g1c0" and best["fitness"] == 80 and best["weights"].endswith("best.pt")
    assert json.loads((tmp_path / "run" / "best.pt").read_text())["step"] == 40  # g1c0's own checkpoint
    assert state.succession.bests[-1] == 80  # plateaus are measured on the best ever, not the parent


def test_elitist_keeps_the_parent_unless_a_child_beats_it(tmp_path):
    engine, _ = search(tmp_path / "run", Scripted(WORSE_CHILD), population=6, p=1, q=1, max_generations=2,
                       elitist=True)
    gens = engine.state.generations
    assert [g["parent"] for g in gens] == ["g1c0", "g1c0"] and engine.state.parent_fitness == 80
    assert [g["improved"] for g in gens] == [True, False]
    assert engine.best()["id"] == "g1c0"


def test_when_no_child_reaches_t3_the_parent_stays(tmp_path):
    script = [80, 10, 10, 10, 10, 10, 85, 80,  # gen 1: c0 becomes the parent
              82, 10, 10, 10, 10, 10, "diverged"]  # gen 2: its only survivor diverges at T2
    engine, _ = search(tmp_path / "run", Scripted(script), population=6, p=1, q=1, max_generations=2)
    assert [g["parent"] for g in engine.state.generations] == ["g1c0", "g1c0"]
    assert engine.state.generations[1]["best_child"] is None


def test_a_user_defined_fitness_selects_and_accuracy_is_kept_apart(tmp_path):
    engine, _ = search(tmp_path / "run", Scripted(), fitness="acc - 2*mparams - 0.5*gflops", max_generations=2)
    for r in records_of(tmp_path / "run"):
        if r["status"] == "ok" and not r["reused_from"]:
            acc = r["accuracy"][r["stage"]]
            assert r["fitness"][r["stage"]] == pytest.approx(acc - 2 * r["params"] / 1e6 - 0.5 * r["flops"] / 1e9)
    check_algorithm_1(records_of(tmp_path / "run"), engine.state, p=3, q=2, population=6)
    assert engine.best()["fitness_expression"] == "acc - 2*mparams - 0.5*gflops"


def test_cost_is_summed_per_generation_and_per_search(tmp_path):
    engine, _ = search(tmp_path / "run", Scripted(), max_generations=2)
    records = records_of(tmp_path / "run")
    for g in engine.state.generations:
        mine = [r for r in records if r["generation"] == g["generation"]]
        assert g["flops_spent"] == sum(r["flops_spent"] for r in mine) > 0
        assert g["seconds"] == pytest.approx(sum(r["seconds"] for r in mine))
    assert engine.state.spent["flops"] == sum(r["flops_spent"] for r in records)
    assert engine.best()["search_cost"] == engine.state.spent
    saved = json.loads((tmp_path / "run" / "state.json").read_text())
    assert saved["spent"]["flops"] == engine.state.spent["flops"]


def check_algorithm_1(records, state, p, q, population, elitist=False):
    """Recompute every threshold, survivor, parent and best-ever from the history; compare with the run."""
    previous, parent, best = {"T1": None, "T2": None}, 0.0, None
    for summary in state.generations:
        g = summary["generation"]
        at = {s: {r["id"]: r for r in records if r["generation"] == g and r["stage"] == s} for s in ("T1", "T2", "T3")}
        assert len(at["T1"]) == population
        bars = {}
        for stage, nxt, rank in (("T1", "T2", p), ("T2", "T3", q)):
            values = [r["fitness"][stage] for r in at[stage].values()]
            floor = float("-inf") if previous[stage] is None else previous[stage]
            bars[stage] = max(sorted(values, reverse=True)[min(rank, len(values)) - 1], floor) \
                if values else previous[stage]
            live = {i for i, r in at[stage].items()
                    if r["status"] == "ok" and (bars[stage] is None or r["fitness"][stage] >= bars[stage])}
            assert set(at[nxt]) == live, (g, stage)
        assert summary["thresholds"] == bars
        finals = [r["fitness"]["T3"] for r in at["T3"].values() if r["status"] == "ok"]
        if elitist:
            parent = max([parent] + finals)  # the parent never gets worse
        elif finals:
            parent = max(finals)  # Algorithm 1, line 9: the best child that reached T3, better or not
        best = max([b for b in (best, *finals) if b is not None], default=None)
        assert summary["parent_fitness"] == parent
        assert summary["best_fitness"] == best  # the answer: the best ever trained to T3
        previous = bars
    assert state.best is None or state.best.fitness["T3"] == best


@pytest.mark.parametrize("seed", range(8))
def test_every_generation_obeys_algorithm_1_with_failures_mixed_in(tmp_path, seed):
    class Flaky(Scripted):
        def score(self, genome, until):
            value = super().score(genome, until)
            return "diverged" if value < 8 else "failed: oom" if value > 95 else value
    elitist = seed % 2 == 1  # both parent rules, on the same kinds of sequence
    engine, _ = search(tmp_path / "run", Flaky(seed=seed), seed=seed, max_generations=4, elitist=elitist)
    records = records_of(tmp_path / "run")
    check_algorithm_1(records, engine.state, p=3, q=2, population=6, elitist=elitist)
    failed = [r for r in records if r["status"] != "ok"]
    assert all(r["fitness"][r["stage"]] == 0 for r in failed)
    assert len(engine.state.generations) == 4  # failures are results; the search went on


def test_a_plateau_moves_to_the_secondary_step_size_and_ends_the_search(tmp_path):
    class Flat(Scripted):
        def score(self, genome, until):
            return 50.0
    engine, reason = search(tmp_path / "run", Flat(), primary_step=20, secondary_step=2, plateau_patience=2,
                            max_generations=None)
    assert reason == "converged"
    phases = [g["phase"] for g in engine.state.generations]
    assert phases == ["primary"] * 3 + ["secondary"] * 2
    assert engine.state.succession.switched_at == 3
    for r in records_of(tmp_path / "run"):
        assert r["step_size"] == (20 if r["generation"] <= 3 else 2)
        assert 1 <= len(r["mutations"]) <= r["step_size"]


def test_a_genome_trained_before_is_not_trained_again(tmp_path):
    individuals = Scripted()
    # One mutation of `input -> output` can only insert the default conv or a pool: many twins.
    search(tmp_path / "run", individuals, primary_step=1, max_generations=2)
    records = records_of(tmp_path / "run")
    trained = [(key, until) for key, until, _ in individuals.calls]
    assert len(trained) == len(set(trained))
    reused = [r for r in records if r["reused_from"]]
    assert reused and all(r["flops_spent"] == 0 and r["iterations"] == 0 for r in reused)
    assert len(records) == len(individuals.calls) + len(reused)


def test_max_params_redraws_children_that_break_the_limit(tmp_path):
    engine, _ = search(tmp_path / "run", Scripted(), max_params=20_000, max_generations=2)
    records = records_of(tmp_path / "run")
    assert all(r["params"] <= 20_000 for r in records)
    assert sum(g["rejected"] for g in engine.state.generations) > 0


# -- resume ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("after_save", [False, pytest.param(True, marks=pytest.mark.slow)])  # ~8 s each
def test_a_run_killed_between_any_two_trainings_resumes_to_the_same_result(tmp_path, after_save):
    whole_trainer = Scripted()
    whole, _ = search(tmp_path / "whole", whole_trainer)
    expected = comparable(records_of(tmp_path / "whole"))
    for n in range(len(whole_trainer.calls)):
        folder = tmp_path / f"killed-{n}"
        first = Scripted(kill_after=n, kill_after_save=after_save)
        with pytest.raises(Killed):
            search(folder, first)
        second = Scripted()
        resumed, reason = search(folder, second)
        assert reason == "max generations"
        assert comparable(records_of(folder)) == expected, n
        assert resumed.state.generations == whole.state.generations
        assert resumed.best()["genome"] == whole.best()["genome"]
        # Nothing recorded is trained again; only the training in flight (if it had finished) repeats.
        assert len(first.calls) + len(second.calls) == len(whole_trainer.calls) + after_save
        assert not (folder / "individuals").exists()


def test_a_time_budget_stops_the_search_and_a_resume_finishes_it(tmp_path):
    whole, _ = search(tmp_path / "whole", Scripted())
    stopped, reason = search(tmp_path / "run", Scripted(), time_budget=1e-9)
    assert reason == "time budget" and stopped.state.stopped == "time budget"
    resumed, reason = search(tmp_path / "run", Scripted())
    assert reason == "max generations"
    assert comparable(records_of(tmp_path / "run")) == comparable(records_of(tmp_path / "whole"))


def test_a_torn_last_history_line_is_dropped_on_resume(tmp_path):
    whole, _ = search(tmp_path / "whole", Scripted())
    folder = tmp_path / "run"
    with pytest.raises(Killed):
        search(folder, Scripted(kill_after=8))
    with open(folder / "history.jsonl", "a") as f:
        f.write('{"id": "g1c7", "stag')  # what a kill in the middle of an append leaves
    search(folder, Scripted())
    assert comparable(records_of(folder)) == comparable(records_of(tmp_path / "whole"))


def test_progress_shows_the_generation_live_on_a_terminal_and_as_lines_in_a_log(tmp_path):
    import io

    from rich.console import Console

    from eigen.views.search_progress import LiveProgress, PlainProgress
    screen = io.StringIO()
    live = LiveProgress(Console(file=screen, force_terminal=True, width=160))
    EigenSearch(EigenSettings(**{**SMALL, "max_generations": 1}), Scripted(), RunFolder(tmp_path / "a"), live).run()
    live.close()
    shown = screen.getvalue()
    assert "generation 1" in shown and "g1c5" in shown and "extinct at T1" in shown

    log = io.StringIO()
    EigenSearch(EigenSettings(**{**SMALL, "max_generations": 1}), Scripted(), RunFolder(tmp_path / "b"),
                PlainProgress(log)).run()
    lines = log.getvalue().splitlines()
    assert sum(re.search(r"g1c\d T1 ", line) is not None for line in lines) == 6 and any("T1 threshold" in line for line in lines)
    assert "generation 1 done" in lines[-1]
