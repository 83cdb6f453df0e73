"""The benchmarks run: a GPU session has minutes, not hours, so `bench/gpu_check.py` must not meet its
first bug on the GPU machine. Here it runs end to end on the CPU at toy size (its figures mean
nothing on a CPU; that every section runs and is recorded is what is tested)."""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from eigen import Genome, cost

BENCH = Path(__file__).resolve().parents[1] / "bench"


def bench_module(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", sorted((BENCH / "genomes").glob("*.json")), ids=lambda p: p.stem)
def test_each_bench_genome_is_valid_and_named_after_its_size(path):
    genome = Genome.from_json(path.read_text())
    size = re.search(r"(\d+(?:\.\d+)?)m$", path.stem)
    if size:  # six-conv-1.15m: 1.15 million parameters on CIFAR-10
        assert round(cost(genome, 32, 10).params / 1e6, len(size.group(1).partition(".")[2])) == float(size.group(1))


def test_the_gpu_check_runs_every_section_and_records_each(tmp_path, capsys):
    check = bench_module("gpu_check")
    assert check.main(["--dataset", "synthetic", "--gpu", "-1", "--quick", "--out", str(tmp_path), "--workers", "0",
                       "--genomes", "tiny-early", "--reference", "tiny-early", "--recipe-scale", "0.0008",
                       "--children", "2", "--parallel-children", "2", "--ks", "1", "2"]) == 0
    record = json.loads((tmp_path / "gpu-check.json").read_text())
    assert list(record["sections"]) == list(check.SECTIONS)
    failed = {name: s["error"] for name, s in record["sections"].items() if "error" in s}
    assert not failed, failed
    s = record["sections"]
    assert s["tests"]["exit_code"] == 0 and s["tests"]["counts"].get("skipped", 0) >= 1  # no CUDA here: all skip
    assert {(r["genome"], r["cudnn_benchmark"]) for r in s["throughput"]["results"]} == \
           {("tiny-early", False), ("tiny-early", True)}
    assert s["recipe"]["status"] == "ok" and s["recipe"]["iterations"] == 20
    assert s["mimicry"]["cache_shape"][1] == 162
    assert s["memory"]["ok"] == 2
    assert [r["k"] for r in s["parallel"]["results"]] == [1, 2]
    assert record["device"] == "cpu" and record["command"]
    assert "GPU check" in capsys.readouterr().out


def test_the_gpu_check_skips_what_would_start_after_its_deadline(tmp_path):
    check = bench_module("gpu_check")
    assert check.main(["--dataset", "synthetic", "--gpu", "-1", "--quick", "--out", str(tmp_path),
                       "--sections", "recipe", "mimicry", "--reference", "tiny-early", "--recipe-scale", "0.0008",
                       "--deadline", "0"]) == 0
    sections = json.loads((tmp_path / "gpu-check.json").read_text())["sections"]
    assert "recipe" in sections and "skipped" not in sections["recipe"]  # the first always starts
    assert "out of time" in sections["mimicry"]["skipped"]


def test_a_throughput_section_that_fails_leaves_cudnn_benchmark_as_it_found_it(tmp_path, monkeypatch):
    """A failure with cudnn.benchmark on must not leave it on for the sections measured after it."""
    import torch
    check = bench_module("gpu_check")

    def fail_with_benchmark_on(*args, **kwargs):
        if torch.backends.cudnn.benchmark:
            raise RuntimeError("boom")
        return 1.0, False, None, None
    monkeypatch.setattr(check, "plain_loop", lambda *args: 1.0)
    monkeypatch.setattr(check, "eigen_trainer", fail_with_benchmark_on)
    before = torch.backends.cudnn.benchmark
    assert check.main(["--dataset", "synthetic", "--gpu", "-1", "--quick", "--out", str(tmp_path),
                       "--sections", "throughput", "--genomes", "tiny-early"]) == 0
    rows = json.loads((tmp_path / "gpu-check.json").read_text())["sections"]["throughput"]["results"]
    assert [r.get("eigen_error") for r in rows] == [None, "RuntimeError: boom"]
    assert torch.backends.cudnn.benchmark == before


def test_a_failing_throughput_row_costs_only_itself_and_each_row_is_on_disk_as_it_ends(tmp_path, monkeypatch):
    """Issue #26: a SystemExit from one eigen row ended the whole check, and the section's rows were
    written only when it ended."""
    check = bench_module("gpu_check")
    out = tmp_path / "gpu-check.json"
    seen_on_disk = []

    def plain(genome, *args):
        rows = json.loads(out.read_text())["sections"].get("throughput", {}).get("results", []) if out.exists() else []
        seen_on_disk.append(len(rows))
        if len(seen_on_disk) == 2:
            raise RuntimeError("DataLoader worker died")
        return 1000.0

    monkeypatch.setattr(check, "plain_loop", plain)
    monkeypatch.setattr(check, "eigen_trainer", lambda *args: (2000.0, False, None, None))
    assert check.main(["--dataset", "synthetic", "--gpu", "-1", "--quick", "--out", str(tmp_path),
                       "--sections", "throughput", "mimicry", "--genomes", "tiny-early", "tiny-early",
                       "--reference", "tiny-early"]) == 0
    sections = json.loads(out.read_text())["sections"]
    rows = sections["throughput"]["results"]
    assert seen_on_disk == [0, 1, 2, 3]  # each row was written before the next began
    assert [r.get("plain_error") for r in rows] == [None, "RuntimeError: DataLoader worker died", None, None]
    assert [r.get("ratio") for r in rows] == [2.0, None, 2.0, 2.0] and rows[1]["eigen_images_per_s"] == 2000
    assert "error" not in sections["throughput"] and "partial" not in sections["throughput"]
    assert "step_overhead" in sections["mimicry"]  # the next section ran


def test_a_check_interrupted_by_its_time_limit_keeps_what_it_measured(tmp_path, monkeypatch, capsys):
    """`timeout -s INT` around the command: the section in flight keeps its rows, the rest are
    written as skipped, and the table still prints."""
    check = bench_module("gpu_check")
    calls = []

    def eigen(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return 2000.0, False, None, None
    monkeypatch.setattr(check, "plain_loop", lambda *args: 1000.0)
    monkeypatch.setattr(check, "eigen_trainer", eigen)
    assert check.main(["--dataset", "synthetic", "--gpu", "-1", "--quick", "--out", str(tmp_path),
                       "--sections", "throughput", "memory", "--genomes", "tiny-early", "--reference", "tiny-early"]) == 0
    sections = json.loads((tmp_path / "gpu-check.json").read_text())["sections"]
    assert len(sections["throughput"]["results"]) == 1 and "interrupted" in sections["throughput"]["error"]
    assert sections["memory"] == {"skipped": "interrupted during throughput"}
    assert "GPU check" in capsys.readouterr().out


def test_tests_that_run_out_of_time_keep_their_output(tmp_path, monkeypatch):
    """A hung tests/test_gpu.py used to leave only 'TimeoutExpired' in the record."""
    import subprocess
    check = bench_module("gpu_check")
    printed = ("tests/test_gpu.py::test_graphed_training_learns PASSED\n"
               "tests/test_gpu.py::test_graph_replays_continue_across_calls FAILED\n"
               "tests/test_gpu.py::test_parallel_trainings_on_streams_are_graphed_learn_and_free_their_memory ")

    def hang(command, **kwargs):
        raise subprocess.TimeoutExpired(command, kwargs["timeout"], output=printed.encode(), stderr=b"")
    monkeypatch.setattr(check.subprocess, "run", hang)
    assert check.main(["--dataset", "synthetic", "--gpu", "-1", "--quick", "--out", str(tmp_path),
                       "--sections", "tests", "--tests-timeout", "5"]) == 0
    tests = json.loads((tmp_path / "gpu-check.json").read_text())["sections"]["tests"]
    assert tests["counts"] == {"passed": 1, "failed": 1}
    assert tests["failures"] == ["tests/test_gpu.py::test_graph_replays_continue_across_calls"]
    assert tests["error"] == ("timed out after 5 s in "
                              "tests/test_gpu.py::test_parallel_trainings_on_streams_are_graphed_learn_and_free_their_memory")
    assert "test_graphed_training_learns PASSED" in tests["tail"]


def test_the_fidelity_bench_draws_a_searchs_first_generations_and_continues_its_record(tmp_path):
    fidelity = bench_module("fidelity")
    drawn = fidelity.drawn_genomes(6, max_flops=5e6)
    assert len({Genome.from_dict(d["genome"]).key() for d in drawn}) == 6
    assert all(10_000 <= d["params"] <= 300_000 and d["flops"] <= 5e6 and 1 <= d["generations"] <= 4 for d in drawn)
    assert all(d["params"] == cost(Genome.from_dict(d["genome"]), 32, 10).params for d in drawn)
    out = tmp_path / "fidelity.json"
    args = ["--dataset", "synthetic", "--gpu", "-1", "--genomes", "2", "--seeds", "0", "--schedule-scale", "0.0004",
            "--recipe", "paper", "fast", "--max-mflops", "5", "--preprocess", "standard", "--out", str(out)]
    assert fidelity.main(args) == 0
    runs = json.loads(out.read_text())["runs"]
    assert [(r["genome"], r["recipe"]) for r in runs] == [("walk-00", "paper"), ("walk-00", "fast"),
                                                         ("walk-01", "paper"), ("walk-01", "fast")]
    assert all(r["status"] == "ok" and r["iterations"] == [2, 8, 10] and set(r["val"]) == {"T1", "T2", "T3"}
               for r in runs)
    assert fidelity.main([*args[:args.index("--seeds") + 1], "0", "1", *args[args.index("--seeds") + 2:]]) == 0
    record = json.loads(out.read_text())
    assert len(record["runs"]) == 8 and record["runs"][:4] == runs  # continued, nothing trained twice


def test_the_fidelity_summary_on_synthetic_rankings():
    """Seed 0's T1 ranks the genomes as their finals do, seed 1's reverses them; T2 always agrees; the
    two seeds' finals agree: the figures follow."""
    fidelity = bench_module("fidelity")
    runs = []
    for g in range(12):
        for seed, t1 in ((0, g), (1, -g)):
            runs.append({"genome": f"walk-{g:02d}", "seed": seed, "recipe": "paper", "status": "ok",
                         "val": {"T1": t1, "T2": 10 + g, "T3": 20 + g}})
    summary = fidelity.summarise(runs, draws=300)["paper"]
    assert summary["tau_T1_final_per_seed"] == [1.0, -1.0] and summary["tau_T1_final"] == 0.0
    assert summary["tau_T2_final"] == 1.0 and summary["tau_final_seed_to_seed"] == 1.0
    assert summary["retention_other_seed_final"]["all_best_survive"] == 1.0
    kept = summary["retention_T1"]  # each of the best two survives only where its drawn T1 is seed 0's
    assert 0 < kept["all_best_survive"] < kept["top_survives"] < 1


def test_the_threads_bench_tells_thread_counts_apart_and_trainings_beside_each_other_not(tmp_path, capsys):
    threads = bench_module("threads")
    assert threads.main(["--dataset", "synthetic", "--image-size", "16", "--iterations", "10", "--genomes",
                         "tiny-early", "--seeds", "0", "--settings", "1x1", "2x1", "1x2",
                         "--out", str(tmp_path / "threads.json")]) == 0
    record = json.loads((tmp_path / "threads.json").read_text())
    pairs = {(p["a"], p["b"]): p["trainings"]["tiny-early/0"] for p in record["pairs"]}
    assert not pairs["#0 1x1", "#1 2x1"]["bitwise_equal"] and pairs["#0 1x1", "#1 2x1"]["max_abs_weight_diff"] > 0
    assert pairs["#0 1x1", "#2 1x2"]["bitwise_equal"]
    assert "#0 1x1 vs #2 1x2: 1/1 bitwise equal" in capsys.readouterr().out
