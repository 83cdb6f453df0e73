"""Which recipe trains a teacher member to the most accuracy per minute (issue #30, item 2).

    python3 bench/teacher_recipe.py --data-dir /tmp/cifar --gpu -1 --depth 10 --growth 8 --epochs 2 \
        --max-train 10000 --seeds 0 1 2                      # the CPU figures in docs/BENCHMARKS.md

Every candidate trains the same small DenseNet-BC for the same number of epochs (an equal budget in
images seen), from the same seeds, on the project's trainer and data pipeline (C10+ augmentation,
the CIFAR default preprocessing), and is measured on the 5,000 held-out validation images and the
test set. Candidates: `fast` as it stood (`batch-128`: lr / 10 at 50% and 75%, no Nesterov), the same
with a cosine schedule, Nesterov and label smoothing 0.1 (`cosine`), and DenseNet-BC's own recipe
(`densenet`: batch 64, Nesterov, steps at 50% and 75%), at the given epochs instead of its 300.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_record import accuracy_summary, bench_record, save_record  # noqa: E402

from eigen.config import default_preprocess  # noqa: E402
from eigen.data.datasets import ImageSet, load_splits  # noqa: E402
from eigen.data.device_data import DeviceData  # noqa: E402
from eigen.data.preprocess import prepared  # noqa: E402
from eigen.device import resolve_device  # noqa: E402
from eigen.training.densenet import DenseNetBC  # noqa: E402
from eigen.training.recipes import TEACHER_RECIPES  # noqa: E402
from eigen.training.trainer import Trainer  # noqa: E402

BEFORE = replace(TEACHER_RECIPES["fast"], batch_size=128, nesterov=False)  # `fast` until issue #30's measurement
CANDIDATES = {
    "batch-128": BEFORE,
    "cosine": replace(BEFORE, shape="cosine", nesterov=True, label_smoothing=0.1),
    "densenet": TEACHER_RECIPES["densenet"],
}


def train_member(recipe, data, depth: int, growth: int, classes: int, epochs: int, seed: int, device) -> dict:
    torch.manual_seed(seed)
    schedule = recipe.schedule(epochs, data.num_train // recipe.batch_size)
    trainer = Trainer(DenseNetBC(depth, growth, classes), data, schedule, seed=seed)
    started = time.perf_counter()
    result = trainer.train(until=schedule.total)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - started
    return dict(status=result.status, iterations=schedule.total, train_seconds=round(seconds, 1),
                val_accuracy=trainer.evaluate("val"), test_accuracy=trainer.evaluate("test"))


def arguments() -> argparse.ArgumentParser:
    """The command line, apart from main, so a documented command's flags can be checked without running
    it (tests/test_doc_commands.py)."""
    ap = argparse.ArgumentParser(allow_abbrev=False, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default="~/.cache/eigen")
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--gpu", type=int, default=0)
    ap.add_argument("--depth", type=int, default=16)
    ap.add_argument("--growth", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--max-train", type=int, default=None,
                    help="train on the first N training images only (a CPU-sized budget; validation and test whole)")
    ap.add_argument("--recipes", nargs="+", default=list(CANDIDATES), choices=tuple(CANDIDATES))
    ap.add_argument("--out", default=None, help="JSON file for the results")
    return ap


def main(argv: list[str] | None = None) -> None:
    args = arguments().parse_args(argv)

    device = resolve_device(args.gpu)
    splits = load_splits(args.dataset, args.data_dir, args.image_size)
    if args.max_train:
        splits = replace(splits, train=ImageSet(splits.train.x[:args.max_train], splits.train.y[:args.max_train]))
    kind = default_preprocess(args.dataset)
    data = DeviceData(splits, device, with_test=True, preprocess=prepared(kind, splits, None))
    runs, summary = [], {}
    for name in args.recipes:
        for seed in args.seeds:
            run = dict(recipe=name, seed=seed, **train_member(CANDIDATES[name], data, args.depth, args.growth,
                                                              splits.num_classes, args.epochs, seed, device))
            print(json.dumps(run), flush=True)
            runs.append(run)
        mine = [r for r in runs if r["recipe"] == name]
        minutes = sum(r["train_seconds"] for r in mine) / len(mine) / 60
        val = sum(r["val_accuracy"] for r in mine) / len(mine)
        summary[name] = {**accuracy_summary(mine), "minutes_per_member": round(minutes, 2),
                         "val_points_per_minute": round(val / max(minutes, 1e-6), 2)}  # toy runs round to 0 s
    record = bench_record(device, depth=args.depth, growth=args.growth, epochs=args.epochs, preprocess=kind,
                          train_images=len(splits.train),
                          summary=summary, runs=runs)
    print(json.dumps(record, indent=1))
    save_record(record, args.out)


if __name__ == "__main__":
    main()
