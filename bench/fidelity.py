"""What a child's early fitness is worth: train genomes as a search's first generations meet them under
the staged schedule, read validation accuracy at the ends of T1, T2 and T3, and measure how well the
early readings rank the final one (issue #40).

    python3 bench/fidelity.py --data-dir /tmp/cifar --gpu -1 --schedule-scale 0.04 --recipe paper --threads 1 \
        --preprocess-cache /tmp/zca --out docs/benchmarks/fidelity-cpu-paper.json   # 16 genomes x 2 seeds, ~1 h on a core

The genomes are mutation walks from the trivial network with the primary step size, as a search's
first generations are: 1 to 4 generations of k ~ U{1..100} EIGEN mutations each, kept when they have
10k-300k parameters (and, to fit a CPU, at most --max-mflops forward MFLOPs per image; that cap is
stated in every record because it leaves out the widest full-resolution networks). Each genome
trains with the seed a search would give it (`training_seed(seed, genome)`), for each --seeds, on
the schedule a search child gets (`child_schedule(recipe, ...)`), continuing T1 -> T2 -> T3 as the
search does. The record is rewritten after every training; run the same command again to continue
it. `--summary-only` recomputes the figures from a record.

Figures, per recipe: Kendall τ between T1 and final (T3) accuracy and between T2 and final, within
each seed, then their mean; the seed-to-seed τ of final accuracy (the noise floor: how well one
training of a genome predicts another of the same genome); and, by resampling generations of 10 from
the set (each genome with one of its seeds drawn at random), how often the true best two by final
accuracy survive Eq. 1's cut at p = 5 on T1 accuracy, beside the same with the cut made on another
seed's final accuracy (what a perfect but noisy T1 would give).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_record import bench_record  # noqa: E402

from eigen import build_model, cost  # noqa: E402
from eigen.strategies.eigen import stage_ends  # noqa: E402
from eigen.config import SearchConfig  # noqa: E402
from eigen.data.datasets import load_splits  # noqa: E402
from eigen.data.device_data import DeviceData  # noqa: E402
from eigen.data.preprocess import prepared  # noqa: E402
from eigen.device import resolve_device  # noqa: E402
from eigen.genome.dna import Genome, initial_genome  # noqa: E402
from eigen.genome.mutations import mutate, step_count  # noqa: E402
from eigen.engine.rank_agreement import kendall_tau, retention  # noqa: E402
from eigen.training.individual_training import training_seed  # noqa: E402
from eigen.training.recipes import CHILD_RECIPES, child_schedule  # noqa: E402
from eigen.training.trainer import Schedule, Trainer, seeded  # noqa: E402

PRIMARY_STEP = 100  # EIGEN's primary mutation step size m


def drawn_genomes(count: int, seed: int = 40, min_params: int = 10_000, max_params: int = 300_000,
                  max_flops: float = 12e6, image_size: int = 32, num_classes: int = 10) -> list[dict]:
    """`count` distinct genomes grown as a search's first generations grow them (see the module
    docstring), each with how it was drawn."""
    rng = random.Random(f"fidelity:{seed}")
    found, keys = [], set()
    while len(found) < count:
        genome, generations = initial_genome(), rng.randint(1, 4)
        mutations = 0
        for _ in range(generations):
            k = step_count(rng, PRIMARY_STEP)
            genome, _ = mutate(genome, rng, "eigen", k, image_size)
            mutations += k
        c = cost(genome, image_size, num_classes)
        if min_params <= c.params <= max_params and c.flops <= max_flops and genome.key() not in keys:
            keys.add(genome.key())
            found.append({"name": f"walk-{len(found):02d}", "generations": generations, "mutations": mutations,
                          "params": c.params, "flops": c.flops, "nodes": len(genome.nodes), "genome": genome.to_dict()})
    return found


def train_staged(genome: Genome, data: DeviceData, recipe: str, scale: float, seed: int) -> dict:
    """One child's life in a search: T1, then T2 more, then T3 more, validation accuracy after each."""
    schedule = child_schedule(recipe, Schedule().scaled(scale))
    ends = list(stage_ends(SearchConfig(schedule_scale=scale)))  # the search's own T1, T1 + T2, T1 + T2 + T3
    assert ends[-1] == schedule.total, (ends, schedule.total)
    model = seeded(seed, lambda: build_model(genome, data.num_classes, data.image_size))
    trainer = Trainer(model, data, replace(schedule, lr=genome.learning_rate), seed=seed)
    accuracy, started = {}, time.perf_counter()
    for stage, until in zip(("T1", "T2", "T3"), ends):
        result = trainer.train(until=until)
        accuracy[stage] = trainer.evaluate("val") if result.ok else 0.0
        if not result.ok:
            break
    return {"status": trainer.status, "iterations": ends, "seconds": round(time.perf_counter() - started, 1),
            "val": accuracy}


def summarise(runs: list[dict], draws: int = 10_000) -> dict:
    """The figures of the module docstring, for each recipe in `runs`."""
    out = {}
    for recipe in sorted({r["recipe"] for r in runs}):
        mine = [r for r in runs if r["recipe"] == recipe and r["status"] == "ok" and "T3" in r["val"]]
        every = {r["genome"] for r in mine}
        per_seed = {s: {r["genome"]: r["val"] for r in mine if r["seed"] == s} for s in sorted({r["seed"] for r in mine})}
        # A seed still being trained (a record continued, or cut short) would rank fewer genomes than
        # the others: the figures use the seeds that cover every genome, and name the rest.
        partial = {s: len(v) for s, v in per_seed.items() if set(v) != every}
        per_seed = {s: v for s, v in per_seed.items() if s not in partial}
        seeds = sorted(per_seed)
        taus = {"T1": [], "T2": []}
        for s in seeds:
            names = sorted(per_seed[s])
            for stage in taus:
                tau = kendall_tau([per_seed[s][n][stage] for n in names], [per_seed[s][n]["T3"] for n in names])
                if tau is not None:
                    taus[stage].append(tau)
        floor = []
        for i, a in enumerate(seeds):
            for b in seeds[i + 1:]:
                names = sorted(every)
                tau = kendall_tau([per_seed[a][n]["T3"] for n in names], [per_seed[b][n]["T3"] for n in names])
                if tau is not None:
                    floor.append(tau)
        genomes = sorted(every) if per_seed else []  # every complete seed covers every genome
        summary = {"genomes": len(genomes), "seeds": seeds, "partial_seeds": partial,
                   "tau_T1_final": _mean(taus["T1"]), "tau_T1_final_per_seed": taus["T1"],
                   "tau_T2_final": _mean(taus["T2"]), "tau_T2_final_per_seed": taus["T2"],
                   "tau_final_seed_to_seed": _mean(floor),
                   "final_val_mean": round(statistics.fmean(v[n]["T3"] for v in per_seed.values() for n in v), 2)
                   if per_seed else None}
        if len(genomes) >= 10:
            summary["retention_T1"] = _resampled(per_seed, genomes, "T1", draws)
            if len(seeds) >= 2:
                summary["retention_other_seed_final"] = _resampled(per_seed, genomes, "other", draws)
        out[recipe] = summary
    return out


def _resampled(per_seed: dict, genomes: list[str], early: str, draws: int) -> dict:
    """Eq. 1's cut at p = 5 over resampled generations of 10, each genome read through one of its
    seeds; `early` is the stage cut on, or "other": another seed's final accuracy."""
    seeds = sorted(per_seed)
    if early == "other":
        readings = [[(per_seed[o][n]["T3"], per_seed[s][n]["T3"]) for s in seeds for o in seeds if o != s]
                    for n in genomes]
    else:
        readings = [[(per_seed[s][n][early], per_seed[s][n]["T3"]) for s in seeds] for n in genomes]
    kept = retention(readings, draws=draws, seed=f"fidelity-retention:{early}")
    return {"draws": draws, "generation": 10, "p": 5, "best": 2,
            **{k: round(kept[k], 3) for k in ("all_best_survive", "top_survives", "mean_share_of_best_surviving")}}


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 3) if values else None


def arguments() -> argparse.ArgumentParser:
    """The command line, apart from main, so a documented command's flags can be checked without running
    it (tests/test_doc_commands.py)."""
    ap = argparse.ArgumentParser(allow_abbrev=False, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default="~/.cache/eigen")
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--gpu", type=int, default=0)
    ap.add_argument("--genomes", type=int, default=16)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--schedule-scale", type=float, default=0.04)
    ap.add_argument("--recipe", nargs="+", default=["paper"], choices=CHILD_RECIPES)
    ap.add_argument("--max-mflops", type=float, default=12.0, help="leave out genomes above this (CPU time)")
    ap.add_argument("--preprocess", default="gcn-zca", choices=("standard", "gcn-zca"))
    ap.add_argument("--preprocess-cache", default=None, help="folder to keep the fitted whitening in")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--summary-only", action="store_true", help="recompute the figures of --out's record")
    ap.add_argument("--out", required=True, help="JSON record, rewritten after every training")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = arguments().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    record = json.loads(out.read_text()) if out.exists() else None
    if args.summary_only:
        record["summary"] = summarise(record["runs"])
        _save(record, out)
        print(json.dumps(record["summary"], indent=1))
        return 0
    device = resolve_device(args.gpu)
    drawn = drawn_genomes(args.genomes, max_flops=args.max_mflops * 1e6)
    if record is None:
        record = bench_record(device, schedule_scale=args.schedule_scale, preprocess=args.preprocess,
                              threads=torch.get_num_threads(), max_mflops=args.max_mflops, genomes=drawn, runs=[])
    done = {(r["genome"], r["seed"], r["recipe"]) for r in record["runs"]}
    splits = load_splits(args.dataset, args.data_dir)
    data = DeviceData(splits, device, preprocess=prepared(args.preprocess, splits, args.preprocess_cache and Path(args.preprocess_cache)))
    for entry in drawn:
        genome = Genome.from_dict(entry["genome"], splits.image_size)
        for seed in args.seeds:
            for recipe in args.recipe:
                if (entry["name"], seed, recipe) in done:
                    continue
                run = {"genome": entry["name"], "seed": seed, "recipe": recipe, "params": entry["params"],
                       "flops": entry["flops"],
                       **train_staged(genome, data, recipe, args.schedule_scale, training_seed(seed, genome))}
                print(json.dumps(run), flush=True)
                record["runs"].append(run)
                record["summary"] = summarise(record["runs"], draws=2_000)
                _save(record, out)
    record["summary"] = summarise(record["runs"])
    _save(record, out)
    print(json.dumps(record["summary"], indent=1))
    return 0


def _save(record: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_suffix(".tmp")
    temporary.write_text(json.dumps(record, indent=1))
    os.replace(temporary, out)


if __name__ == "__main__":
    raise SystemExit(main())
