"""Train one hand-picked genome with the paper recipe (EIGEN §4.1) and report accuracy and time.

    python3 bench/recipe.py --data-dir /root/cifar --gpu 0 --schedule-scale 0.2     # issue #3's run
    python3 bench/recipe.py --data-dir /tmp/cifar --gpu -1 --genome tiny-early --schedule-scale 0.01

Validation accuracy is what a search would see; test accuracy is measured once, at the end.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from record import bench_record, save_record  # noqa: E402

from eigen import Genome, build_model, cost  # noqa: E402
from eigen.data.datasets import load_splits  # noqa: E402
from eigen.data.device_data import DeviceData  # noqa: E402
from eigen.device import resolve_device  # noqa: E402
from eigen.training.trainer import Schedule, Trainer  # noqa: E402


def genome_path(name: str) -> Path:
    """A genome named in bench/genomes/, or a genome.json path."""
    return Path(name) if name.endswith(".json") else Path(__file__).parent / "genomes" / f"{name}.json"


def train_recipe(genome: Genome, splits, device, schedule_scale: float, seed: int = 0) -> dict:
    """Train `genome` once with the paper recipe scaled by `schedule_scale`: status, time, accuracy."""
    data = DeviceData(splits, device, with_test=True)
    schedule = Schedule().scaled(schedule_scale)
    torch.manual_seed(seed)
    trainer = Trainer(build_model(genome, splits.num_classes), data, schedule, seed=seed)
    started = time.perf_counter()
    result = trainer.train(until=schedule.total)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - started
    return dict(params=cost(genome, splits.image_size, splits.num_classes).params, iterations=schedule.total,
                status=result.status, graphed=result.graphed, graph_error=trainer.graph_error,
                train_seconds=round(seconds, 1), images_per_s=round(schedule.total * schedule.batch_size / seconds),
                val_accuracy=trainer.evaluate("val"), test_accuracy=trainer.evaluate("test"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default="~/.cache/eigen")
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--gpu", type=int, default=0)
    ap.add_argument("--genome", default="six-conv-1.15m", help="name in bench/genomes/ or a genome.json path")
    ap.add_argument("--schedule-scale", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="JSON file for the results")
    args = ap.parse_args()

    path = genome_path(args.genome)
    genome = Genome.from_json(path.read_text())
    device = resolve_device(args.gpu)
    splits = load_splits(args.dataset, args.data_dir)
    record = bench_record(device, genome=path.stem, **train_recipe(genome, splits, device, args.schedule_scale, args.seed))
    print(json.dumps(record, indent=1))
    save_record(record, args.out)


if __name__ == "__main__":
    main()
