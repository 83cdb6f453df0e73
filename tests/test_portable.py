"""A run folder that was moved (copied from a GPU server, renamed) still works: every path a JSON file
stores is relative to that file, so `eval`, `duplicate`, `report` and `--resume` find what it names."""
import io
import json
import re
import shutil
from dataclasses import replace

import pytest

from eigen.commands.duplicate import duplicate_command
from eigen.commands.eval import eval_command
from eigen.commands.report import report_command
from eigen.commands.search import search_command
from eigen.config import DuplicateConfig, EvalConfig, ReportConfig
from eigen.run_folder.portable import relative_to_file, resolve_from_file
from eigen.run_folder.folder import RunFolder
from eigen.views.duplicate_progress import PlainDuplicateProgress
from eigen.views.search_progress import PlainProgress
from tests.search.test_search_run import tiny_config


def test_paths_are_stored_relative_and_old_absolute_ones_still_read(tmp_path):
    file = tmp_path / "runs" / "best.json"
    assert relative_to_file(tmp_path / "runs" / "r1" / "parent.pt", file) == "r1/parent.pt"
    assert relative_to_file(tmp_path / "teachers" / "x", tmp_path / "runs" / "r1" / "config.json") == "../../teachers/x"
    assert resolve_from_file("r1/parent.pt", file) == tmp_path / "runs" / "r1" / "parent.pt"
    assert resolve_from_file("/srv/old/parent.pt", file).as_posix() == "/srv/old/parent.pt"
    assert resolve_from_file(None, file) is None


@pytest.fixture(scope="module")
def moved(tmp_path_factory):
    """A one-generation search, run in one place and then moved (and renamed) to another."""
    root = tmp_path_factory.mktemp("portable")
    assert search_command(tiny_config(root / "server" / "run", max_generations=1),
                          progress=PlainProgress(io.StringIO())) == 0
    shutil.move(root / "server" / "run", root / "laptop-run")
    shutil.rmtree(root / "server")  # nothing of the old place is left
    return root / "laptop-run"


def test_best_json_names_no_absolute_path(moved):
    best = json.loads((moved / "best.json").read_text())
    assert best["run"] == "." and best["weights"] == "best.pt"


def test_eval_of_a_moved_run_folder_without_final_evaluates_its_best(moved, capsys):
    assert eval_command(EvalConfig(path=str(moved), gpu=-1)) == 0
    out = capsys.readouterr().out
    best = json.loads((moved / "best.json").read_text())
    assert f"{best['id']} of {moved / 'best.json'}" in out
    assert float(re.search(r"test accuracy ([\d.]+)%", out).group(1)) == round(best["test_accuracy"], 2)


def test_a_moved_run_folder_resumes_duplicates_and_reports(moved, capsys):
    log = io.StringIO()
    assert search_command(replace(tiny_config(None, max_generations=2), out=None, resume=str(moved)),
                          progress=PlainProgress(log)) == 0
    assert {r["generation"] for r in RunFolder(moved).read_history()} == {1, 2}

    # duplicate finds the run folder through the moved best.json, and writes final/ inside it
    config = DuplicateConfig(best=str(moved / "best.json"), gpu=-1, schedule_scale=0.002, candidates=1, max_copies=1)
    assert duplicate_command(config, progress=PlainDuplicateProgress(io.StringIO())) == 0
    metrics = json.loads((moved / "final" / "metrics.json").read_text())
    assert metrics["device_seconds"]["search"] > 0  # the search's history was found where best.json says
    plan = json.loads((moved / "final" / "plan.json").read_text())
    assert plan["best"] == "../best.json" and plan["source"]["run"] == ".."

    # and once more after a second move: the final folder and the whole run still evaluate and report
    shutil.move(moved, moved.parent / "moved-again")
    again = moved.parent / "moved-again"
    capsys.readouterr()
    assert eval_command(EvalConfig(path=str(again), gpu=-1)) == 0
    assert f"{again / 'final'} (c0" in capsys.readouterr().out
    assert report_command(ReportConfig(run_dir=str(again))) == 0
    assert (again / "report" / "duplicates.png").exists()
    shutil.move(again, moved)  # leave the fixture where it was
