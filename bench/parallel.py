"""Aggregate images/s of a generation of children trained K at once (`--parallel K`) on one device.

    python3 bench/parallel.py --data-dir /root/cifar --gpu 0 --out $OUT/parallel.json     # H100: K = 1, 2, 4, 8
    python3 bench/parallel.py --data-dir /tmp/cifar --gpu -1 --iterations 30 --ks 1 2     # CPU smoke

A generation is what the search trains: `--children` children of a parent genome, each k ~ U{1..m}
EIGEN mutations away (m = 10, the secondary succession's step: children of about the parent's
size), drawn from `six-conv-1.15m` (large) and `tiny-early` (small). Every child trains
`--iterations` iterations through eigen's executor (`ThreadedExecutor`, one thread and CUDA stream per
slot, CUDA graphs on), so what is timed is what `eigen search --parallel K` does, checkpoints included.
Prints one line per (parent, K) with the aggregate images/s and the speed-up over K = 1, and writes a
JSON record (command, device, torch, date) to --out.
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_record import bench_record, save_record  # noqa: E402

from eigen import Genome  # noqa: E402
from eigen.data.datasets import load_splits  # noqa: E402
from eigen.data.device_data import DeviceData  # noqa: E402
from eigen.device import resolve_device  # noqa: E402
from eigen.executors import Training, local_executor, run_all  # noqa: E402
from eigen.genome.cost import cost  # noqa: E402
from eigen.genome.mutations import mutate  # noqa: E402
from eigen.training.individual_training import TorchIndividuals  # noqa: E402
from eigen.training.trainer import Schedule  # noqa: E402

GENOMES = Path(__file__).parent / "genomes"


def generation(parent: Genome, children: int, seed: int = 0, image_size: int = 32) -> list[Genome]:
    """A generation as the secondary succession draws it: k ~ U{1..10} EIGEN mutations each."""
    rng = random.Random(seed)
    return [mutate(parent, rng, "eigen", rng.randint(1, 10), image_size)[0] for _ in range(children)]


def timed_generation(individuals, genomes, k, iterations, device, folder) -> tuple[float, list]:
    executor = local_executor(individuals, k, device)
    jobs = [(n, Training(g, n, iterations, Path(folder) / f"{n}.pt")) for n, g in enumerate(genomes)]
    results = {}
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    try:
        run_all(executor, jobs, on_done=results.__setitem__)
    finally:
        executor.close()
    return time.perf_counter() - started, [results[n] for n in range(len(genomes))]


def arguments() -> argparse.ArgumentParser:
    """The command line, apart from main, so a documented command's flags can be checked without running
    it (tests/test_doc_commands.py)."""
    ap = argparse.ArgumentParser(allow_abbrev=False, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default="~/.cache/eigen")
    ap.add_argument("--gpu", type=int, default=0)
    ap.add_argument("--parents", nargs="+", default=["tiny-early", "six-conv-1.15m"])
    ap.add_argument("--children", type=int, default=8)
    ap.add_argument("--iterations", type=int, default=400, help="iterations per child")
    ap.add_argument("--ks", type=int, nargs="+", default=[1, 2, 4, 8], help="trainings at once")
    ap.add_argument("--out", default=None, help="JSON file for the results")
    return ap


def main(argv: list[str] | None = None) -> None:
    args = arguments().parse_args(argv)

    device = resolve_device(args.gpu)
    splits = load_splits("cifar10", args.data_dir)
    data = DeviceData(splits, device)
    schedule = Schedule(total=args.iterations, milestones=(), batch_size=128)
    individuals = TorchIndividuals(data, schedule)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.parents:
            genomes = generation(Genome.from_json((GENOMES / f"{name}.json").read_text()), args.children)
            params = [cost(g, 32, 10).params for g in genomes]
            timed_generation(individuals, genomes[:1], 1, 20, device, folder)  # warm-up: cuDNN, allocator
            base = None
            for k in args.ks:
                seconds, results = timed_generation(individuals, genomes, k, args.iterations, device, folder)
                rate = len(genomes) * args.iterations * schedule.batch_size / seconds
                base = base or rate
                row = dict(parent=name, k=k, children=len(genomes), params_min=min(params), params_max=max(params),
                           seconds=round(seconds, 2), images_per_s=round(rate), speedup=round(rate / base, 2),
                           ok=sum(r.ok for r in results), graphed=sum(r.graphed for r in results))
                rows.append(row)
                print(f"{name:16s} K={k}  {len(genomes)} children {min(params) / 1e6:.2f}-{max(params) / 1e6:.2f}M params  "
                      f"{seconds:7.2f} s  {rate:9.0f} img/s  x{rate / base:4.2f}  ok {row['ok']}  graphed {row['graphed']}",
                      flush=True)
    if device.type == "cuda":
        print(f"peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB")
    save_record(bench_record(device, iterations=args.iterations, results=rows), args.out)


if __name__ == "__main__":
    main()
