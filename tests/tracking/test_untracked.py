"""A search with neither --tensorboard nor --mlflow: the run folder holds what it always held,
and neither package is imported."""
from __future__ import annotations

import io
import sys

from eigen.commands.search import search_command
from eigen.views.search_progress import PlainProgress
from tests.search.test_search import Scripted
from tests.search.test_search_run import tiny_config

# What `eigen search` has always written (tests/conftest.py's reference run: TINY, one training at a time).
RUN_FOLDER = ["best.json", "best.pt", "config.json", "history.jsonl", "metrics.csv", "parent.pt", "pareto.json",
              "report", "state.json"]


def test_a_plain_search_writes_what_it_always_wrote(sequential_search_folder):
    assert sorted(p.name for p in sequential_search_folder.iterdir()
                  if p.name != ".eigen.lock") == RUN_FOLDER  # no tensorboard/, no mlflow.json


def test_a_plain_search_imports_neither_package(tmp_path, monkeypatch):
    for package in ("mlflow", "tensorboard", "torch.utils.tensorboard"):
        monkeypatch.setitem(sys.modules, package, None)  # importing it now raises ImportError
    assert search_command(tiny_config(tmp_path / "run", max_generations=1), progress=PlainProgress(io.StringIO()),
                          individuals=Scripted()) == 0
    assert not (tmp_path / "run" / "tensorboard").exists() and not (tmp_path / "run" / "mlflow.json").exists()
