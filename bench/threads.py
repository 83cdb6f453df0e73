"""Does a CPU training's result depend on torch's intra-op thread count, or on trainings beside it?

    python3 bench/threads.py --dataset synthetic --image-size 16 --iterations 200                # ~1 min, 2 cores
    python3 bench/threads.py --dataset cifar10 --data-dir /tmp/cifar --iterations 300 --seeds 0 1 2 \
        --out docs/benchmarks/threads-cpu.json

Each genome trains `--iterations` iterations from each seed through eigen's executor, once per
(threads, K) in `--settings` (intra-op threads, trainings at once): one at a time, and K at once
(`ThreadedExecutor`, each thread with the same count). Prints, per pair of settings, whether the
final weights are equal to the last bit, the largest weight difference, and the validation
accuracies, and writes a JSON record to --out. `eigen/executors/threads.py` is what the answer decided.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_record import bench_record, save_record  # noqa: E402

from eigen import Genome  # noqa: E402
from eigen.data.datasets import load_splits  # noqa: E402
from eigen.data.device_data import DeviceData  # noqa: E402
from eigen.executors import Training, run_all  # noqa: E402
from eigen.executors.local import InlineExecutor, ThreadedExecutor  # noqa: E402
from eigen.training.individual_training import TorchIndividuals  # noqa: E402
from eigen.training.trainer import Schedule  # noqa: E402

GENOMES = Path(__file__).parent / "genomes"


def train_all(individuals, genomes: dict, seeds, iterations: int, threads: int, parallel: int, folder: Path):
    """{(genome, seed): (val accuracy, weights)} trained with `threads` intra-op threads, `parallel` at once."""
    executor = (InlineExecutor(individuals, threads=threads) if parallel == 1
                else ThreadedExecutor(individuals, parallel, threads=threads))
    jobs = [((name, seed), Training(g, seed, iterations, folder / f"{name}-{seed}.pt"))
            for name, g in genomes.items() for seed in seeds]
    results = {}
    try:
        run_all(executor, jobs, on_done=results.__setitem__)
    finally:
        executor.close()
    return {key: (r.fitness, torch.load(folder / f"{key[0]}-{key[1]}.pt", weights_only=True)["trainer"]["model"])
            for key, r in results.items()}


def compare(a: dict, b: dict) -> dict:
    """Bitwise equality, the largest weight difference and both accuracies, per training."""
    rows = {}
    for key in a:
        (fa, wa), (fb, wb) = a[key], b[key]
        floats = [k for k in wa if wa[k].is_floating_point()]
        rows["/".join(map(str, key))] = {
            "bitwise_equal": all(torch.equal(wa[k], wb[k]) for k in wa),
            "max_abs_weight_diff": max(float((wa[k] - wb[k]).abs().max()) for k in floats),
            "val_accuracy": [fa, fb]}
    return rows


def arguments() -> argparse.ArgumentParser:
    """The command line, apart from main, so a documented command's flags can be checked without running
    it (tests/test_doc_commands.py)."""
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--data-dir", default="~/.cache/eigen")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--genomes", nargs="+", default=["tiny-early", "three-conv-pools"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--settings", nargs="+", default=["1x1", "2x1", "1x1", "1x2", "2x2"],
                        help="THREADSxK: intra-op threads, trainings at once (a repeat checks run-to-run equality)")
    parser.add_argument("--out")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = arguments().parse_args(argv)
    splits = load_splits(args.dataset, args.data_dir, args.image_size)
    genomes = {name: Genome.from_json((GENOMES / f"{name}.json").read_text()) for name in args.genomes}
    schedule = Schedule(total=args.iterations, milestones=(args.iterations * 3 // 4,))
    individuals = TorchIndividuals(DeviceData(splits, "cpu"), schedule)
    runs, seconds = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for n, setting in enumerate(args.settings):
            threads, parallel = map(int, setting.split("x"))
            folder = Path(tmp) / str(n)
            folder.mkdir()
            started = time.perf_counter()
            runs.append(train_all(individuals, genomes, args.seeds, args.iterations, threads, parallel, folder))
            seconds.append(round(time.perf_counter() - started, 1))
            print(f"#{n} {setting}: {seconds[-1]} s", flush=True)
    pairs = []
    names = [f"#{n} {setting}" for n, setting in enumerate(args.settings)]  # a setting may repeat
    for i in range(len(runs)):
        for j in range(i + 1, len(runs)):
            rows = compare(runs[i], runs[j])
            pairs.append({"a": names[i], "b": names[j], "trainings": rows})
            equal = sum(r["bitwise_equal"] for r in rows.values())
            worst = max(r["max_abs_weight_diff"] for r in rows.values())
            differ = [r["val_accuracy"] for r in rows.values() if r["val_accuracy"][0] != r["val_accuracy"][1]]
            print(f"{names[i]} vs {names[j]}: {equal}/{len(rows)} bitwise equal, largest weight difference "
                  f"{worst:.3g}, validation accuracies that differ: {differ or 'none'}")
    save_record(bench_record(torch.device("cpu"), dataset=args.dataset, image_size=args.image_size,
                             iterations=args.iterations, genomes=args.genomes, seeds=args.seeds,
                             settings=args.settings, seconds=seconds, pairs=pairs), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
