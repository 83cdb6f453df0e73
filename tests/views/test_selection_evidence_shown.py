"""Where a person sees the run's own evidence (issue #40, item 3): each generation's τ in the live
line, the closing table with its mean under it, the report page with one sentence on how to read it;
and a run begun before eigen measured τ loads, reports and resumes, its older generations shown "-"."""
import html
import io
import json
import re
from dataclasses import replace

import pytest
from rich.console import Console

from eigen.cli import main
from eigen.commands.search import search_command
from eigen.run_folder.folder import RunFolder
from eigen.engine.eigen_search import EigenSearch, EigenSettings
from eigen.engine.steady_state import EvolutionSettings
from eigen.views.evolution_progress import PlainEvolutionProgress
from eigen.strategies import named
from eigen.views.tables import evolution_table, summary_table
from eigen.views.search_progress import PlainProgress
from tests.search.steady_engine import evolution
from tests.search.test_evolution import SETTINGS
from tests.search.test_search import SMALL, Scripted
from tests.search.test_search_run import tiny_config
from tests.search.test_selection_evidence import SURVIVORS, Heritable

EIGEN_ROW = {"generation": 1, "phase": "primary", "step_size": 100, "trained": {"T1": 6, "T2": 3, "T3": 2},
             "thresholds": {"T1": 40.0, "T2": 70.0}, "best_child": "g1c3", "best_child_fitness": 75.0,
             "parent": "g1c3", "parent_fitness": 75.0, "improved": True, "parent_params": 1234,
             "flops_spent": 10**12, "seconds": 12.0, "tau_T1_T2": 1 / 3}
LS_ROW = {"generation": 1, "events": 5, "alive": 5, "population_mean": 50.0, "population_best": 60.0,
          "best": "c4", "best_fitness": 60.0, "best_params": 1234, "flops_spent": 10**12, "seconds": 12.0,
          "tau_parent_child": -0.6}


def rendered(table) -> str:
    out = io.StringIO()
    Console(file=out, width=120).print(table)
    return out.getvalue()


def row_of(text: str, first: str) -> list[str]:
    return next(line.split() for line in text.splitlines() if line.split()[:1] == [first])


def test_the_closing_tables_show_each_generations_tau_and_its_mean_under_them():
    older = {k: v for k, v in EIGEN_ROW.items() if k != "tau_T1_T2"} | {"generation": 2}  # before eigen measured it
    text = rendered(summary_table({"generations": [EIGEN_ROW, older]}))
    header = next(line for line in text.splitlines() if line.startswith("gen"))
    assert re.search(r"v\(T2\)\s+τ\s+best child", header)
    assert row_of(text, "1")[6] == "0.33" and row_of(text, "2")[6] == "-"
    assert "mean τ(T1,T2) 0.33 over 1 of 2 generations" in text.splitlines()[-1]

    text = rendered(evolution_table({"generations": [{**LS_ROW, "generation": 0, "tau_parent_child": None}, LS_ROW]}))
    assert re.search(r"best ever\s+τ\s+params", text)
    assert row_of(text, "0")[7] == "-" and row_of(text, "1")[7] == "-0.60"
    assert "mean τ(parent,child) -0.60 over 1 of 2 generations" in text.splitlines()[-1]


def test_each_generation_done_line_says_its_tau(tmp_path):
    log = io.StringIO()
    EigenSearch(EigenSettings(**{**SMALL, "max_generations": 3}), Scripted(SURVIVORS), RunFolder(tmp_path / "a"),
                PlainProgress(log)).run()
    done = [line for line in log.getvalue().splitlines() if " done: " in line]
    assert [re.search(r"τ\(T1,T2\) ([^;\s]+)", line).group(1) for line in done] == ["0.33", "1.00", "-"]

    log = io.StringIO()
    evolution(EvolutionSettings(**SETTINGS), Heritable(), RunFolder(tmp_path / "b"), PlainEvolutionProgress(log)).run()
    done = [line for line in log.getvalue().splitlines() if " done (" in line]
    taus = [re.search(r"τ\(parent,child\) (\S+)$", line).group(1) for line in done]
    assert taus[0] == "-" and "1.00" in taus and set(taus) <= {"-", "1.00"}


def eigen_run(folder, **changes):
    """`eigen search` as a user runs it (config.json, the closing table, report/index.html), on
    SURVIVORS' scripted fitness."""
    config = tiny_config(folder, **{"population": 6, "p": 3, "q": 2, "primary_step": 100, "max_generations": 3,
                                    **changes})
    return search_command(config, progress=PlainProgress(io.StringIO()), individuals=Scripted(SURVIVORS))


def test_the_search_ends_with_the_tau_column_and_the_page_says_how_to_read_it(tmp_path, capsys):
    assert eigen_run(tmp_path / "run") == 0
    out = capsys.readouterr().out
    assert "mean τ(T1,T2) 0.67 over 2 of 3 generations" in out
    page = html.unescape((tmp_path / "run" / "report" / "index.html").read_text())
    assert named("eigen").reading_tau in page
    assert named("eigen").reading_tau.startswith("τ(T1, T2) is Kendall's rank agreement between the T2 survivors' fitness")
    generations = page.split('<section id="generations">')[1].split("</section>")[0]
    assert "mean τ(T1,T2) 0.67 over 2 of 3 generations" in generations and " 0.33 " in generations


@pytest.mark.parametrize("strategy", ["large-scale", "random"])
def test_a_steady_state_page_says_how_to_read_its_tau(tmp_path, strategy):
    config = replace(tiny_config(tmp_path / "run"), strategy=strategy, population=5, child_steps=20, top_k=1,
                     max_generations=3)
    assert search_command(config, progress=PlainEvolutionProgress(io.StringIO()), individuals=Heritable()) == 0
    page = html.unescape((tmp_path / "run" / "report" / "index.html").read_text())
    assert named(strategy).reading_tau in page and "τ(parent, child) is Kendall's rank agreement" in page
    assert re.search(r"mean τ\(parent,child\) (1\.00|-) over \d of 4 generations", page)


def without_tau(folder, key: str) -> None:
    """state.json as eigen wrote it before it measured τ: no `key` in any generation's summary."""
    state = json.loads((folder / "state.json").read_text())
    state["generations"] = [{k: v for k, v in g.items() if k != key} for g in state["generations"]]
    (folder / "state.json").write_text(json.dumps(state))


def test_a_run_from_before_tau_loads_reports_and_resumes(tmp_path, capsys):
    folder = tmp_path / "run"
    assert eigen_run(folder, max_generations=2) == 0
    without_tau(folder, "tau_T1_T2")
    capsys.readouterr()
    assert main(["report", str(folder)]) == 0
    out = capsys.readouterr().out
    assert row_of(out, "1")[6] == "-" and row_of(out, "2")[6] == "-"
    assert "mean τ(T1,T2) - over 0 of 2 generations" in out
    assert "τ(T1, T2) is Kendall" in html.unescape((folder / "report" / "index.html").read_text())

    resumed = replace(tiny_config(None, max_generations=3), out=None, resume=str(folder))
    assert search_command(resumed, progress=PlainProgress(io.StringIO()), individuals=Scripted()) == 0
    state = json.loads((folder / "state.json").read_text())
    assert ["tau_T1_T2" in g for g in state["generations"]] == [False, False, True]
    capsys.readouterr()
    assert main(["report", str(folder)]) == 0
    assert row_of(capsys.readouterr().out, "1")[6] == "-"


def test_a_steady_state_run_from_before_tau_loads_reports_and_resumes(tmp_path, capsys):
    folder = tmp_path / "run"
    config = replace(tiny_config(folder), strategy="large-scale", population=5, child_steps=20, top_k=1,
                     max_generations=2)
    assert search_command(config, progress=PlainEvolutionProgress(io.StringIO()), individuals=Heritable()) == 0
    without_tau(folder, "tau_parent_child")
    capsys.readouterr()
    assert main(["report", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "mean τ(parent,child) - over 0 of 3 generations" in out and row_of(out, "2")[7] == "-"
    resumed = replace(tiny_config(None, max_generations=3), out=None, resume=str(folder))
    assert search_command(resumed, progress=PlainEvolutionProgress(io.StringIO()), individuals=Heritable()) == 0
    state = json.loads((folder / "state.json").read_text())
    assert ["tau_parent_child" in g for g in state["generations"]] == [False, False, False, True]
