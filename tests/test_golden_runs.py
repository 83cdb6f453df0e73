"""Golden runs: tiny real searches and a duplication, re-run with the current code and compared, field
by field, with what the code at ea95ead wrote (`tests/fixtures/golden/`, see its README.md).

A safety net for refactors of the search code (strategies, the steady-state loop's scheduling, module
moves) that are meant to change nothing: every run below must end with the same history, the same
best.json and the same learning curves to the last digit, and a run folder written before the
refactor must still resume to the same result. Only the public entry points are used
(`search_command(SearchConfig(...))`, `duplicate_command(DuplicateConfig(...))`), so internal moves do
not break the test itself.

What differs between two runs of the same code (wall-clock time, timestamps, absolute paths, the
versions and commit that wrote a file, whether a CUDA graph was used) is taken out by `normalised_*`
below, which `tests/fixtures/golden/regenerate.py` shares: the fixtures hold exactly what is compared.
Each golden was made twice at ea95ead and the two agreed after this normalisation.

The runs are on the CPU with one torch thread (as a kill-harness sitting trains), on the synthetic
data: floats agree to the last bit on the machine and torch that made the fixtures. Another CPU or
torch version may round differently: then regenerate the fixtures from the baseline commit first
(README.md), and only then compare the refactor against them.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

GOLDEN = Path(__file__).resolve().parent / "fixtures" / "golden"

# -- the runs -------------------------------------------------------------------------------------------
# Every search: the synthetic data at 8 x 8 on the CPU (a quarter of 16 x 16's arithmetic, and the
# accuracies stay off 100%), every iteration count x 0.004, no teacher (said explicitly: a
# teachers/synthetic/ folder made since must not change the runs).
BASE = dict(dataset="synthetic", image_size=8, gpu=-1, schedule_scale=0.004, no_mimicry=True, seed=0)
# EIGEN: 4 children a generation, T1/T2/T3 = 20/80/100 iterations, p = 2, q = 1.
EIGEN = dict(strategy="eigen", population=4, p=2, q=1, primary_step=3, secondary_step=2)
# Large-Scale Evolution and random search: 4 individuals, 20 iterations each (25,600 x 0.004 would
# be 102; 5,000 x 0.004 = 20), a generation is 4 reproduction events.
STEADY = dict(population=4, child_steps=5000, top_k=2)

SEARCHES = {
    "eigen": dict(**EIGEN, max_generations=2),
    "eigen-inherit": dict(**EIGEN, inherit_weights=True, max_generations=2),
    "large-scale": dict(strategy="large-scale", **STEADY, max_generations=2),
    "random": dict(strategy="random", **STEADY, max_generations=2),
    "large-scale-parallel": dict(strategy="large-scale", **STEADY, parallel=2, max_generations=2),
}
# Run folders stopped after generation 1 (kept in the fixtures, weights and all), resumed to 2.
PARTIAL = {
    "eigen-partial": dict(**EIGEN, max_generations=1),
    "large-scale-partial": dict(strategy="large-scale", **STEADY, max_generations=1),
}
RESUME_TO = 2
# `eigen duplicate` of golden "eigen"'s best.json (kept as it was written, in duplicate/input/):
# 2 candidates (as found, one block doubled), 100 iterations each, the best 2 ensembled.
DUPLICATE = dict(gpu=-1, schedule_scale=0.004, candidates=2, max_copies=2, top_k=2, no_mimicry=True, seed=0)


@contextlib.contextmanager
def quiet_one_thread():
    """One torch intra-op thread (another count sums in another order) and stdout into a buffer, so
    the commands print plain lines, not a live table, wherever they run; yields the buffer."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log):
            yield log
    finally:
        torch.set_num_threads(threads)


def run_search(out: Path, name: str, **sitting) -> str:
    """`eigen search` of golden `name` into `out` (or, with resume=..., a sitting that continues one);
    the command's output."""
    from eigen.commands.search import search_command
    from eigen.config import SearchConfig
    settings = {**SEARCHES, **PARTIAL}[name]
    config = (SearchConfig(gpu=-1, **sitting) if "resume" in sitting
              else SearchConfig(**BASE, **settings, out=str(out)))
    with quiet_one_thread() as log:
        code = search_command(config)
    assert code == 0, log.getvalue()[-3000:]
    return log.getvalue()


def run_duplicate(best: Path, out: Path) -> str:
    from eigen.commands.duplicate import duplicate_command
    from eigen.config import DuplicateConfig
    with quiet_one_thread() as log:
        code = duplicate_command(DuplicateConfig(best=str(best), out=str(out), **DUPLICATE))
    assert code == 0, log.getvalue()[-3000:]
    return log.getvalue()


# -- normalisation (shared with regenerate.py) -----------------------------------------------------------
# Wall-clock time, in every file: a history record's `seconds`, best.json's search_cost.seconds, the
# duplication's per-candidate `seconds` (state.json) and `device_seconds` and `cost.seconds`
# (metrics.json). Each is measured, never a function of the seed.
TIMES = {"seconds", "device_seconds"}
# A history record's `graphed` / `graph_error`: whether the training ran as a CUDA graph and why not,
# a fact about the device (always false and null on the CPU, but not what a search decides).
DEVICE_FACTS = {"graphed", "graph_error"}
# When a file was written and by what: `created` (a timestamp), `git_commit` (changes with every
# commit, the refactor's included), `versions` (python, torch, numpy of the machine).
PROVENANCE = {"created", "git_commit", "versions"}
VOLATILE = TIMES | DEVICE_FACTS | PROVENANCE
# metrics.csv: the speed (`images_per_s`), the time spent and the clock are measured; what remains is
# the learning curve: loss (8 significant digits), learning rate and validation accuracy per step.
METRICS_KEPT = ("individual", "stage", "iteration", "loss", "lr", "val_accuracy")


def drop_volatile(value):
    """`value` (parsed JSON) without the VOLATILE keys, at any depth."""
    if isinstance(value, dict):
        return {k: drop_volatile(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [drop_volatile(v) for v in value]
    return value


def normalised_history(path: Path) -> list[dict]:
    """history.jsonl's records, in order, without times and device facts. The ids, parents, keys,
    mutations, genomes, params, FLOPs, fitness and accuracy per stage, status, iterations,
    flops_spent, reused_from, inherited tensors, event, killed and checkpoint names all stay."""
    return [drop_volatile(json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def normalised_best(path: Path) -> dict:
    """best.json without search_cost.seconds (the FLOPs spent stay). Its `run` and `weights` are
    relative to the file ("." and "best.pt"), so they stay too."""
    return drop_volatile(json.loads(path.read_text()))


def normalised_metrics(path: Path) -> list[dict]:
    """metrics.csv's learning curves, without the measured speed and times, sorted by (individual,
    stage, iteration): with --parallel the rows of trainings in flight interleave as the threads run."""
    with path.open(newline="") as f:
        rows = [{k: row[k] for k in METRICS_KEPT} for row in csv.DictReader(f)]
    return sorted(rows, key=lambda r: (r["individual"], r["stage"], int(r["iteration"])))


def normalised_plan(path: Path) -> dict:
    """The duplication's plan.json without the paths of the best.json it read (`best`, `source.run`:
    relative to the final folder, so they say where the test put things) and provenance."""
    plan = drop_volatile(json.loads(path.read_text()))
    plan.pop("best", None)
    plan.get("source", {}).pop("run", None)
    return plan


def normalised_json(path: Path) -> dict:
    return drop_volatile(json.loads(path.read_text()))


def in_event_order(records: list[dict]) -> list[dict]:
    """Steady-state records by (event, id): with --parallel the history gets each line when its
    training ends, and of trainings in flight together either may end first (checked at ea95ead: four
    runs wrote the same records in three line orders; sorted, they were identical)."""
    def key(r):
        digits = "".join(c for c in r["id"] if c.isdigit())
        return r["event"], r["id"].rstrip("0123456789"), int(digits or 0), r["id"]
    return sorted(records, key=key)


def search_outputs(folder: Path, in_flight: bool = False) -> dict:
    """What a search golden compares, by fixture file name (`in_flight`: trainings ran at once, so
    the history's line order is the threads' and is normalised to event order)."""
    history = normalised_history(folder / "history.jsonl")
    return {"history.jsonl": in_event_order(history) if in_flight else history,
            "best.json": normalised_best(folder / "best.json"),
            "metrics.csv": normalised_metrics(folder / "metrics.csv")}


def duplicate_outputs(folder: Path) -> dict:
    """What the duplicate golden compares: the plan (blocks, candidates and their genomes), each
    candidate's progress and validation curve (state.json), the chosen model's record with its
    accuracies, the ensemble and the FLOPs spent (metrics.json), the chosen genome and the curves."""
    return {"plan.json": normalised_plan(folder / "plan.json"),
            "state.json": normalised_json(folder / "state.json"),
            "metrics.json": normalised_json(folder / "metrics.json"),
            "genome.json": normalised_json(folder / "genome.json"),
            "metrics.csv": normalised_metrics(folder / "metrics.csv")}


# -- the fixture files ---------------------------------------------------------------------------------
def write_outputs(folder: Path, outputs: dict) -> None:
    """The normalised outputs as fixture files: .jsonl one record a line, .csv the kept columns,
    .json indented."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, value in outputs.items():
        path = folder / name
        if name.endswith(".jsonl"):
            path.write_text("".join(json.dumps(r) + "\n" for r in value))
        elif name.endswith(".csv"):
            with path.open("w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=METRICS_KEPT, lineterminator="\n")
                writer.writeheader()
                writer.writerows(value)
        else:
            path.write_text(json.dumps(value, indent=1) + "\n")


def read_outputs(folder: Path, names) -> dict:
    """The fixture files of `folder` as `search_outputs` / `duplicate_outputs` return them."""
    outputs = {}
    for name in names:
        path = folder / name
        if name.endswith(".jsonl"):
            outputs[name] = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        elif name.endswith(".csv"):
            with path.open(newline="") as f:
                outputs[name] = list(csv.DictReader(f))
        else:
            outputs[name] = json.loads(path.read_text())
    return outputs


# -- the comparison ------------------------------------------------------------------------------------
def first_difference(expected, got, where: str = "") -> str | None:
    """Where `got` first differs from `expected` (a path like `[3].fitness.T2`) and how, else None."""
    if isinstance(expected, dict) and isinstance(got, dict):
        for key in list(expected) + [k for k in got if k not in expected]:
            if key not in got:
                return f"{where}.{key}: missing (expected {expected[key]!r})"
            if key not in expected:
                return f"{where}.{key}: unexpected field (got {got[key]!r})"
            found = first_difference(expected[key], got[key], f"{where}.{key}")
            if found:
                return found
        return None
    if isinstance(expected, list) and isinstance(got, list):
        for i, (a, b) in enumerate(zip(expected, got)):
            found = first_difference(a, b, f"{where}[{i}]")
            if found:
                return found
        if len(expected) != len(got):
            return f"{where}: {len(got)} items, expected {len(expected)}"
        return None
    if expected != got or type(expected) is not type(got):
        return f"{where}: got {got!r}, expected {expected!r}"
    return None


def describe_record(records, path: str) -> str:
    """For a difference inside a list of records: the record's identity (id, stage, event), so the
    message names the individual and not only its position."""
    if not path.startswith("[") or not isinstance(records, list):
        return ""
    index = int(path[1:path.index("]")])
    if index >= len(records) or not isinstance(records[index], dict):
        return ""
    record = records[index]
    keys = [k for k in ("id", "individual", "stage", "iteration", "event") if k in record]
    return " (record " + ", ".join(f"{k}={record[k]!r}" for k in keys) + ")"


def assert_same(golden: str, expected: dict, got: dict, log: str = "") -> None:
    problems = []
    for name, value in expected.items():
        found = first_difference(value, got[name])
        if found:
            more = ""
            if isinstance(value, list) and isinstance(got[name], list):
                differing = sum(a != b for a, b in zip(value, got[name])) + abs(len(value) - len(got[name]))
                more = f" [{differing} of {len(value)} records differ]" if differing > 1 else ""
            problems.append(f"{golden}/{name}{describe_record(value, found)}: {found}{more}")
    if problems:
        meta = json.loads((GOLDEN / "meta.json").read_text())
        hint = (f"\n(fixtures made at {meta['commit']} with torch {meta['torch']}, here torch {torch.__version__}; "
                f"if this change is meant to alter results, or the machine/torch differs, see "
                f"tests/fixtures/golden/README.md)")
        tail = f"\n--- the command's last output ---\n{log[-1500:]}" if log else ""
        pytest.fail("the golden run differs from the fixture; first difference of each file:\n  "
                    + "\n  ".join(problems) + hint + tail, pytrace=False)


# -- the tests -----------------------------------------------------------------------------------------
SEARCH_FILES = ("history.jsonl", "best.json", "metrics.csv")
DUPLICATE_FILES = ("plan.json", "state.json", "metrics.json", "genome.json", "metrics.csv")


def in_flight(name: str) -> bool:
    return {**SEARCHES, **PARTIAL}[name].get("parallel", 1) > 1


@pytest.mark.parametrize("name", list(SEARCHES))
def test_a_golden_search_ends_as_it_did(name, tmp_path):
    log = run_search(tmp_path / "run", name)
    assert_same(name, read_outputs(GOLDEN / name, SEARCH_FILES), search_outputs(tmp_path / "run", in_flight(name)),
                log)


def test_the_golden_duplication_ends_as_it_did(tmp_path):
    """`eigen duplicate` of golden "eigen"'s best.json, as the old code wrote it (its run "." is the
    folder it is copied to, which holds nothing else)."""
    source = tmp_path / "search"
    source.mkdir()
    shutil.copy(GOLDEN / "duplicate" / "input" / "best.json", source / "best.json")
    log = run_duplicate(source / "best.json", tmp_path / "final")
    assert_same("duplicate", read_outputs(GOLDEN / "duplicate", DUPLICATE_FILES),
                duplicate_outputs(tmp_path / "final"), log)


@pytest.mark.parametrize("name", list(PARTIAL))
def test_a_run_folder_written_before_resumes_to_the_same_result(name, tmp_path):
    """A run folder the old code stopped after generation 1 (its state, history, weights), resumed
    by this code to generation 2, ends where the old code's resume ended."""
    folder = tmp_path / "run"
    shutil.copytree(GOLDEN / name / "run", folder)
    log = run_search(folder, name, resume=str(folder), max_generations=RESUME_TO)
    assert_same(name, read_outputs(GOLDEN / name, SEARCH_FILES), search_outputs(folder, in_flight(name)), log)
