"""Progress that tells the truth (issue #18, items 2 and 5): ETAs from measured time per iteration and
each child's FLOPs, a training that moves in its row while it runs, wall-clock times in logs, rows
that fit 100 columns, and labels that say what they hold."""
import io
import re

import pytest
from rich.console import Console

from eigen.run_folder.folder import RunFolder
from eigen.engine.eigen_search import EigenSearch, EigenSettings
from eigen.views.live import Pace
from eigen.views.search_progress import LiveProgress, PlainProgress, generation_work_left
from tests.search.test_search import SMALL, Scripted


def test_the_pace_learns_the_cost_of_flops_and_of_each_iteration():
    pace = Pace()
    assert pace.seconds_for(100) is None  # nothing timed yet: no guess
    # Measured: 0.01 s per iteration plus 2e-9 s per FLOP, on a 1 MFLOP and a 50 MFLOP child.
    for iterations, flops in ((200, 1e6), (100, 50e6)):
        pace.add(iterations, iterations * (0.01 + 2e-9 * flops), flops)
    assert pace.seconds_for(300, 20e6) == pytest.approx(300 * (0.01 + 2e-9 * 20e6))
    # A generation whose children differ 50x in FLOPs: the estimate is the sum of their own costs,
    # where a single seconds-per-iteration pace would be off by ~3x.
    work = [(100, 1e6)] * 5 + [(100, 50e6)]
    truth = sum(n * (0.01 + 2e-9 * x) for n, x in work)
    assert pace.seconds_for_work(work) == pytest.approx(truth)
    flat = Pace()
    flat.add(100, 100 * (0.01 + 2e-9 * 50e6))  # what the old pace knew after timing the big child
    assert flat.seconds_for(600) > 2.5 * truth


def test_one_timed_size_scales_with_flops_and_the_training_in_flight_counts():
    pace = Pace()
    pace.in_flight(10, 1.0, 1e6)  # nothing finished, but the child in flight has run 10 iterations
    assert pace.seconds_for(10, 2e6) == pytest.approx(2.0)
    pace.add(20, 2.0, 1e6)
    assert pace.current is None and pace.seconds_for(20, 1e6) == pytest.approx(2.0)


def test_a_training_reports_its_progress_and_loss_while_it_runs(monkeypatch):
    from eigen import build_model, initial_genome
    from eigen.data.datasets import load_splits
    from eigen.data.device_data import DeviceData
    from eigen.training import trainer as trainer_module
    monkeypatch.setattr(trainer_module, "PROGRESS_EVERY", 0.0)  # every iteration, for the test
    splits = load_splits("synthetic", image_size=8)
    data = DeviceData(splits, "cpu")
    trainer = trainer_module.Trainer(build_model(initial_genome(), splits.num_classes, 8), data,
                                     trainer_module.Schedule().scaled(0.001), seed=0)
    heard = []
    result = trainer.train(until=7, on_progress=lambda step, until, loss: heard.append((step, until, loss)))
    assert result.ok and [h[0] for h in heard] == list(range(1, 8)) and {h[1] for h in heard} == {7}
    assert all(0 < loss < 10 for _, _, loss in heard)


class Reporting(Scripted):
    """A scripted trainer that reports progress halfway, as the real one does while it trains."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.screens = []

    def train(self, training, on_progress=None):
        if on_progress is not None:
            on_progress(training.until // 2, training.until, 1.234)
            self.screens.append(self.view())
        return super().train(training)


def test_the_live_view_shows_the_training_child_moving_within_100_columns(tmp_path):
    screen = io.StringIO()
    live = LiveProgress(Console(file=screen, force_terminal=True, width=100))
    trainer = Reporting()
    rendered = Console(file=io.StringIO(), width=100, force_terminal=False)

    def view():
        with rendered.capture() as capture:
            rendered.print(live._render())
        return capture.get()
    trainer.view = view
    EigenSearch(EigenSettings(**{**SMALL, "max_generations": 1}), trainer, RunFolder(tmp_path / "a"), live).run()
    live.close()
    first = trainer.screens[0]
    assert re.search(r"g1c0 .* T1 5/10 loss 1\.23", first), first  # the row moves while it trains
    assert re.search(r"g1c1 .* waiting", first)  # not yet trained: waiting, not "alive"
    assert " alive" not in first
    lines = [line for screen_text in trainer.screens for line in screen_text.splitlines()]
    assert max(len(line) for line in lines) <= 100
    rows = [line for line in trainer.screens[3].splitlines() if re.search(r"g1c\d", line)]
    assert len(rows) == SMALL["population"]  # one line per child: nothing wrapped
    assert re.search(r"elapsed, ETA \?", first)  # the header fits one line too
    assert "ETA ?" not in trainer.screens[1]  # the first child's progress already gives an estimate


def test_generation_work_counts_each_child_by_its_flops_less_what_the_one_in_flight_has_done(tmp_path):
    search = EigenSearch(EigenSettings(**{**SMALL, "max_generations": 1}), Scripted(), RunFolder(tmp_path / "a"))
    generation = search.begin_generation()
    first = generation.children[0]
    work = generation_work_left(search.view(), generation.view(), {first.id: 4})
    assert work[0] == (6, first.flops)  # 10 iterations in T1, 4 done
    assert [w[1] for w in work[:6]] == [c.flops for c in generation.children]
    assert work[6][0] == 3 * 20 and work[7][0] == 2 * 10  # p survivors to T2, q to T3


def test_log_lines_carry_the_wall_clock_and_name_no_missing_best_child(tmp_path):
    log = io.StringIO()
    EigenSearch(EigenSettings(**{**SMALL, "max_generations": 1}), Scripted(script=["diverged"] * 6),
                RunFolder(tmp_path / "a"), PlainProgress(log)).run()
    lines = log.getvalue().splitlines()
    assert all(re.match(r"\[\d\d:\d\d:\d\d \+\d+:\d\d\] ", line) for line in lines), lines[:3]
    assert "best child - -" not in log.getvalue()
    assert "no child finished its training" in lines[-1]


def test_the_summary_says_its_stage_column_holds_counts_and_cost_names_the_device():
    from eigen.views.tables import device_hours, summary_table
    table = summary_table({"generations": []})
    assert "# T1/T2/T3" in [c.header for c in table.columns] and "children trained" in str(table.title)
    assert device_hours("cpu") == "CPU-hours"
    assert device_hours("NVIDIA H100 80GB HBM3") == "GPU-hours (NVIDIA H100 80GB HBM3)"


def test_the_closing_tables_fit_100_columns_late_in_a_long_search():
    """Three-digit generations, six-figure parameter counts, hours of device time and a negative τ:
    nothing cut."""
    from eigen.views.tables import evolution_table, summary_table
    eigen_row = {"generation": 120, "phase": "secondary", "step_size": 10, "trained": {"T1": 10, "T2": 5, "T3": 2},
                 "thresholds": {"T1": 93.41, "T2": 94.02}, "best_child": "g120c9", "best_child_fitness": 94.53,
                 "parent": "g120c9", "parent_fitness": 94.53, "improved": True, "parent_params": 4_812_345,
                 "flops_spent": 3.21e15, "seconds": 12_345.6, "tau_T1_T2": -0.33}
    ls_row = {"generation": 120, "events": 100, "alive": 100, "population_mean": 90.12, "population_best": 94.5,
              "best": "i11999", "best_fitness": 94.61, "best_params": 4_812_345, "flops_spent": 3.21e15,
              "seconds": 12_345.6, "tau_parent_child": -0.33}
    for table in (summary_table({"generations": [eigen_row]}), evolution_table({"generations": [ls_row]})):
        out = io.StringIO()
        Console(file=out, width=100).print(table)
        assert "…" not in out.getvalue() and max(map(len, out.getvalue().splitlines())) <= 100, out.getvalue()
        assert "-0.33" in out.getvalue()


@pytest.mark.parametrize("strategy", ["eigen", "large-scale"])
def test_a_fitness_that_is_not_accuracy_is_never_printed_as_a_percentage(tmp_path, strategy):
    """`acc - 2*mparams` of 97.3 is not 97.3% of anything: the log prints the value, accuracy keeps its %."""
    from eigen.engine.steady_state import EvolutionSettings
    from eigen.views.evolution_progress import PlainEvolutionProgress
    from tests.search.steady_engine import evolution
    from tests.search.test_evolution import SETTINGS, Tournament
    for expression in ("acc", "acc - 2*mparams"):
        log = io.StringIO()
        if strategy == "eigen":
            EigenSearch(EigenSettings(**{**SMALL, "max_generations": 1, "fitness": expression}), Scripted(),
                        RunFolder(tmp_path / expression), PlainProgress(log)).run()
        else:
            evolution(EvolutionSettings(**{**SETTINGS, "max_generations": 1, "fitness": expression}), Tournament(),
                      RunFolder(tmp_path / expression), PlainEvolutionProgress(log)).run()
        text = log.getvalue()
        assert ("%" in text) == (expression == "acc"), text[:400]
        assert re.search(r"\d+\.\d{3}", text) or expression == "acc"
