"""Every field of every run file type-checked where it is read (issue #29, item 6).

Real files from real runs (an EIGEN search with its final folder, a Large-Scale Evolution search),
damaged one field at a time: each leaf and each container in turn gets a value of the wrong type,
and the reader must refuse the file with one sentence that names the file and the field, for every
field, not only the ones the code happened to touch first. (The genome inside a file is checked by
`Genome.from_dict`, node by node, where a genome is built; `tests/test_errors.py` covers it.)
"""
from __future__ import annotations

import copy
import json

import pytest

from eigen.cli import main
from eigen.errors import EigenError
from eigen.run_folder.file_types import Answer, DuplicationProgress, FinalMetrics, Plan, RunConfig
from eigen.run_folder.folder import RunFolder, read_json
from eigen.views.report import load_run
from tests.search.test_search_run import TINY

SMALL = ["--dataset", "synthetic", "--image-size", "16", "--gpu", "-1", "--schedule-scale", "0.004"]

# Fields whose contents are checked elsewhere, or that hold free-form values by design.
UNCHECKED = {
    "config.json": ("settings.",),  # every flag's type: `check_saved_settings` (tests/test_errors.py)
    "metrics.json": ("parent.", "ensemble."),  # informative only; eval and report do not read them
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("types")
    eigen, evolution = root / "eigen", root / "large-scale"
    assert main(["search", *TINY[:TINY.index("--max-generations")], "--max-generations", "1", "--out", str(eigen)]) == 0
    assert main(["duplicate", str(eigen / "best.json"), "--gpu", "-1", "--schedule-scale", "0.004",
                 "--candidates", "2", "--max-copies", "2"]) == 0
    assert main(["search", *SMALL, "--strategy", "large-scale", "--population", "3", "--max-generations", "1",
                 "--out", str(evolution)]) == 0
    return eigen, evolution


def wrong(value):
    """A value of another type than `value`'s (None: a type no field of any eigen file has)."""
    if isinstance(value, bool):
        return "yes"
    if isinstance(value, (int, float)):
        return "x"
    if isinstance(value, str):
        return 7
    if value is None:
        return [[[]]]
    return 7  # a list or a mapping given a number


def damaged_copies(data, path=""):
    """(field, a copy of `data` with that field given a wrong type), for every field, deepest first."""
    children = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in children:
        where = f"{path}.{key}" if isinstance(data, dict) and path else (str(key) if isinstance(data, dict)
                                                                        else f"{path}[{key}]")
        if isinstance(data, dict) and key == "genome":
            continue  # Genome.from_dict's own checks
        for field, inner in damaged_copies(value, where):
            bad = copy.copy(data)
            bad[key] = inner
            yield field, bad
        bad = copy.copy(data)
        bad[key] = wrong(value)
        yield where, bad


def refused_fields(file, read, unchecked=()):
    """The fields whose damage the reader accepted (the test wants none)."""
    original = json.loads(file.read_text())
    accepted = []
    for field, bad in damaged_copies(original):
        if any(field.startswith(prefix) for prefix in unchecked):
            continue
        file.write_text(json.dumps(bad))
        try:
            read(file)
        except EigenError as e:
            assert str(file) in str(e) and "damaged or was edited by hand" in str(e), (field, str(e))
        else:
            accepted.append(field)
        finally:
            file.write_text(json.dumps(original))
    return accepted


@pytest.mark.parametrize("strategy", ["eigen", "large-scale"])
def test_every_field_of_a_search_state_is_type_checked(runs, strategy, tmp_path):
    import shutil
    folder = tmp_path / "run"
    shutil.copytree(runs[0] if strategy == "eigen" else runs[1], folder)
    state = RunFolder(folder).state
    assert refused_fields(state, lambda f: load_run(RunFolder(folder))) == []


@pytest.mark.parametrize("name, shape", [("config.json", RunConfig), ("best.json", Answer),
                                         ("final/plan.json", Plan), ("final/state.json", DuplicationProgress),
                                         ("final/metrics.json", FinalMetrics)])
def test_every_field_of_each_run_file_is_type_checked(runs, name, shape, tmp_path):
    import shutil
    file = tmp_path / name
    file.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(runs[0] / name, file)
    unchecked = UNCHECKED.get(file.name, ())
    assert refused_fields(file, lambda f: read_json(f, "the file", shape), unchecked) == []


def test_the_large_scale_config_is_type_checked_too(runs, tmp_path):
    import shutil
    file = tmp_path / "config.json"
    shutil.copy(runs[1] / "config.json", file)
    assert refused_fields(file, lambda f: read_json(f, "the file", RunConfig), UNCHECKED["config.json"]) == []


@pytest.mark.parametrize("strategy", ["eigen", "large-scale"])
def test_every_field_of_a_history_line_is_type_checked(runs, strategy, tmp_path):
    from eigen.run_folder.folder import interpreting
    from eigen.engine.record import HistoryRecord
    history = (runs[0] if strategy == "eigen" else runs[1]) / "history.jsonl"
    line = tmp_path / "history.jsonl"
    line.write_text(history.read_text().splitlines()[-1])

    def read(file):
        with interpreting(file, "the search's history", "restore it"):
            HistoryRecord.from_json(json.loads(file.read_text()))
    assert refused_fields(line, read) == []
