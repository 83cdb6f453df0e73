"""The strategies side by side: the same wall-clock budget each, on the same data and device.

    python3 bench/search.py --data-dir /root/cifar --gpu 0 --out $OUT/bench-search          # ~9.5 min on a GPU
    python3 bench/search.py --dataset synthetic --image-size 16 --gpu -1 --budget 20s \\
        --schedule-scale 0.004 --population 4 --sample-size 2 --out /tmp/bench-search       # CPU smoke

Runs `eigen search` with every --strategy (eigen, large-scale, random, regularized) one after another, each with
--time-budget BUDGET, into OUT/<strategy>/, then prints and saves (OUT/search.json, OUT/search.png; each search's own output in OUT/<strategy>.log)
one row per strategy: best validation accuracy, its test accuracy (measured once, at the end),
individuals trained, device-seconds of training, and the best validation accuracy against time.

The default sizes fit all four in one 10-minute GPU command at the default --budget: EIGEN at
--schedule-scale 0.02 (T1, T2, T3 = 100, 300, 100 iterations), the steady-state strategies with a
population of 20 and 25,600 x 0.02 = 512 iterations per individual at batch 50 (the paper: 1,000
individuals, 25,600), regularized evolution sampling 5 of the 20 (the paper's ratio, S = 25 of
P = 100). None uses mimicry.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_record import bench_record, save_record  # noqa: E402

from eigen.commands.search import search_command  # noqa: E402
from eigen.config import SearchConfig, parse_duration  # noqa: E402
from eigen.device import resolve_device  # noqa: E402
from eigen.run_folder.folder import RunFolder, read_json  # noqa: E402
from eigen.strategies import named, names  # noqa: E402

STRATEGIES = names()


def run_strategy(strategy: str, args, out: Path) -> dict:
    """One search for the budget; its figures read back from the run folder."""
    config = SearchConfig(dataset=args.dataset, data_dir=args.data_dir, image_size=args.image_size, gpu=args.gpu,
                          seed=args.seed, schedule_scale=args.schedule_scale, time_budget=args.budget,
                          no_mimicry=True, strategy=strategy, out=str(out / strategy),
                          population=None if named(strategy).mimicry else args.population,
                          sample_size=args.sample_size)
    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    with open(out / f"{strategy}.log", "w") as log, contextlib.redirect_stdout(log):
        search_command(config, progress=named(strategy).progress(log))  # plain lines: the bench prints its own table
    wall = time.monotonic() - started
    folder = RunFolder(out / strategy)
    records = folder.read_history()
    best = read_json(folder.best, "the best individual")
    curve, best_so_far, elapsed = [], 0.0, 0.0
    for r in records:
        elapsed += r["seconds"]
        stage = named(strategy).last_stage
        if r["stage"] == stage and r["status"] == "ok":
            best_so_far = max(best_so_far, r["fitness"][stage])
        curve.append((round(elapsed, 1), best_so_far))
    return {"strategy": strategy, "best_id": best["id"], "val_accuracy": best["fitness"],
            "test_accuracy": best["test_accuracy"], "params": best["params"],
            "individuals_trained": len({r["id"] for r in records if not r.get("reused_from")}),
            "trainings": len(records), "device_seconds": round(elapsed, 1), "wall_seconds": round(wall, 1),
            "curve": curve}


def plot(rows: list[dict], path: Path, budget: float) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for row in rows:
        if row["curve"]:
            xs, ys = zip(*row["curve"])
            ax.step(xs, ys, where="post", label=f"{row['strategy']} (best {row['val_accuracy']:.2f}%)")
    ax.set_xlabel("device-seconds of training (each strategy had the same wall-clock budget)")
    ax.set_ylabel("best validation accuracy (%)")
    ax.set_title(f"{' vs '.join(row['strategy'] for row in rows)}, {budget:.0f} s each", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def arguments() -> argparse.ArgumentParser:
    """The command line, apart from main, so a documented command's flags can be checked without running
    it (tests/test_doc_commands.py)."""
    ap = argparse.ArgumentParser(allow_abbrev=False, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--data-dir", default="~/.cache/eigen")
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--gpu", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget", type=parse_duration, default=parse_duration("130s"),
                    help="wall-clock budget of each strategy's search (default 130s: four fit in 10 minutes)")
    ap.add_argument("--schedule-scale", type=float, default=0.02)
    ap.add_argument("--population", type=int, default=20, help="the steady-state strategies' population")
    ap.add_argument("--sample-size", type=int, default=5, help="regularized evolution's S (default 5: the paper's "
                                                                "25 of 100, scaled to the population of 20)")
    ap.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    ap.add_argument("--out", required=True, help="folder for the run folders, search.json and search.png")
    return ap


def main(argv: list[str] | None = None) -> None:
    args = arguments().parse_args(argv)
    out = Path(args.out)
    if any((out / s).exists() for s in args.strategies):
        sys.exit(f"bench/search.py: {out} already holds runs; choose another --out")
    device = resolve_device(args.gpu)

    rows = [run_strategy(strategy, args, out) for strategy in args.strategies]
    print(f"{'strategy':12s} {'best val %':>10s} {'test %':>7s} {'params':>10s} {'trained':>8s} {'device s':>9s}")
    for r in rows:
        test = f"{r['test_accuracy']:.2f}" if r["test_accuracy"] is not None else "-"
        print(f"{r['strategy']:12s} {r['val_accuracy']:10.2f} {test:>7s} {r['params']:10,d} "
              f"{r['individuals_trained']:8d} {r['device_seconds']:9.1f}")
    plot(rows, out / "search.png", args.budget)
    save_record(bench_record(device, budget_seconds=args.budget, schedule_scale=args.schedule_scale,
                             population=args.population, sample_size=args.sample_size,
                             **{"dataset": args.dataset}, results=rows),
                str(out / "search.json"))
    print(f"wrote {out / 'search.json'} and {out / 'search.png'}")


if __name__ == "__main__":
    main()
