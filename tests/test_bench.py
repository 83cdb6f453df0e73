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
    assert json.loads((tmp_path / "gpu-check.json").read_text())["sections"]["throughput"]["error"] == "RuntimeError: boom"
    assert torch.backends.cudnn.benchmark == before
