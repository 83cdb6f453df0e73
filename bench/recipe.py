"""Train one hand-picked genome with the paper recipe (EIGEN §4.1) and report accuracy and time.

    python3 bench/recipe.py --data-dir /root/cifar --gpu 0 --schedule-scale 0.2     # issue #3's run
    python3 bench/recipe.py --data-dir /tmp/cifar --gpu -1 --genome tiny-early --schedule-scale 0.01
    python3 bench/recipe.py --data-dir /tmp/cifar --gpu -1 --genome three-conv-pools --schedule-scale 0.04 \
        --preprocess standard gcn-zca --seeds 0 1 2          # issue #30: which preprocessing, 3 seeds each
    python3 bench/recipe.py --data-dir /tmp/cifar --gpu -1 --genome tiny-early --schedule-scale 0.04 \
        --preprocess gcn-zca --recipe paper fast --seeds 0 1 2   # issue #40: the child recipes at equal iterations

Validation accuracy is what a search would see; test accuracy is measured once, at the end. With
several --preprocess or --seeds, every combination is trained (each preprocessing fitted once, on
the training split) and the summary gives mean +- std per preprocessing.
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

from eigen import Genome, build_model, cost  # noqa: E402
from eigen.data.datasets import load_splits  # noqa: E402
from eigen.data.device_data import DeviceData  # noqa: E402
from eigen.config import PREPROCESSING  # noqa: E402
from eigen.data.preprocess import prepared  # noqa: E402
from eigen.device import resolve_device  # noqa: E402
from eigen.training.recipes import CHILD_RECIPES, FINAL_RECIPES, child_schedule  # noqa: E402
from eigen.training.trainer import Schedule, Trainer  # noqa: E402


def genome_path(name: str) -> Path:
    """A genome named in bench/genomes/, or a genome.json path."""
    return Path(name) if name.endswith(".json") else Path(__file__).parent / "genomes" / f"{name}.json"


def schedule_for(recipe: str, scale: float) -> Schedule:
    """The paper's schedule scaled by `scale`; the `fast` child recipe on it (the same iterations and
    steps); or the `long` final recipe's shape (cosine, Nesterov, label smoothing) at the very same
    number of iterations: an equal budget."""
    paper = Schedule().scaled(scale)
    if recipe in CHILD_RECIPES:
        return child_schedule(recipe, paper)
    return replace(FINAL_RECIPES[recipe], total=paper.total)


def train_recipe(genome: Genome, splits, device, schedule_scale: float, seed: int = 0, preprocess="standard",
                 recipe: str = "paper") -> dict:
    """Train `genome` once with `recipe` at the paper's length scaled by `schedule_scale`: status, time, accuracy."""
    data = DeviceData(splits, device, with_test=True, preprocess=preprocess)
    schedule = schedule_for(recipe, schedule_scale)
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


def arguments() -> argparse.ArgumentParser:
    """The command line, apart from main, so a documented command's flags can be checked without running
    it (tests/test_doc_commands.py)."""
    ap = argparse.ArgumentParser(allow_abbrev=False, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default="~/.cache/eigen")
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--gpu", type=int, default=0)
    ap.add_argument("--genome", default="six-conv-1.15m", help="name in bench/genomes/ or a genome.json path")
    ap.add_argument("--schedule-scale", type=float, default=0.2)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--preprocess", nargs="+", default=["standard"], choices=PREPROCESSING)
    ap.add_argument("--recipe", nargs="+", default=["paper"], choices=tuple(FINAL_RECIPES),
                    help="paper, fast (the child recipe), or the long final recipe's shape at the paper's (scaled) "
                         "number of iterations")
    ap.add_argument("--preprocess-cache", default=None, help="folder to keep (and find) the fitted whitening in")
    ap.add_argument("--out", default=None, help="JSON file for the results")
    return ap


def main(argv: list[str] | None = None) -> None:
    args = arguments().parse_args(argv)

    path = genome_path(args.genome)
    genome = Genome.from_json(path.read_text())
    device = resolve_device(args.gpu)
    splits = load_splits(args.dataset, args.data_dir)
    runs, summary = [], {}
    for kind in args.preprocess:
        started = time.perf_counter()
        cache = Path(args.preprocess_cache) if args.preprocess_cache else None
        fitted = prepared(kind, splits, cache)  # on the training split, as eigen search fits it
        fit_seconds = round(time.perf_counter() - started, 1)
        for recipe in args.recipe:
            for seed in args.seeds:
                run = dict(preprocess=kind, recipe=recipe, seed=seed, fit_seconds=fit_seconds,
                           **train_recipe(genome, splits, device, args.schedule_scale, seed, fitted, recipe))
                print(json.dumps(run), flush=True)
                runs.append(run)
            mine = [r for r in runs if r["preprocess"] == kind and r["recipe"] == recipe]
            summary[f"{kind} {recipe}"] = {**accuracy_summary(mine), "seeds": args.seeds}
    record = bench_record(device, genome=path.stem, schedule_scale=args.schedule_scale, summary=summary, runs=runs)
    print(json.dumps(record, indent=1))
    save_record(record, args.out)


if __name__ == "__main__":
    main()
