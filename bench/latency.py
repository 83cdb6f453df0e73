"""Measured latency of genomes: how repeatable eigen's measurement is, and how well FLOPs rank it.

    python3 bench/latency.py --device cpu --batches 1 32 --repeats 10 --out /tmp/latency.json

Each genome (the bench genomes, plus `--drawn` genomes grown by EIGEN mutations from the trivial
network with fixed seeds, so the set spans depths, widths and merges) is measured `--repeats` times
with `eigen.training.latency.measure_latency`, the measurement a search makes once per genome key.
Per genome and batch it prints the median of the medians, their spread (max - min over the
repeats, also as % of the median) and the FLOPs; then Kendall's tau and Spearman's rho between
FLOPs and measured ms over every genome, per batch (1: FLOPs order the genomes as ms does; 0: no
relation). Writes a JSON record (with torch version, device and date) to --out.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_record import bench_record, save_record  # noqa: E402

from eigen import Genome, cost  # noqa: E402
from eigen.genome.dna import initial_genome  # noqa: E402
from eigen.genome.mutations import mutate, step_count  # noqa: E402
from eigen.engine.rank_agreement import kendall_tau  # noqa: E402
from eigen.training.latency import latency_device, measure_latency  # noqa: E402

GENOMES = Path(__file__).parent / "genomes"


def drawn_genomes(count: int, seed: int = 31) -> dict[str, Genome]:
    """Genomes grown by EIGEN mutations from the trivial network until they have a drawn number of
    nodes (5 to 60), one seed each: depths, widths, pools and merges as a search meets them."""
    found = {}
    for n in range(count):
        rng = random.Random(f"latency-bench:{seed}:{n}")
        target, genome = rng.randint(5, 60), initial_genome()
        for _ in range(5_000):
            if len(genome.nodes) >= target:
                break
            genome, _ = mutate(genome, rng, "eigen", step_count(rng, 10), 32)
        found[f"drawn-{n:02d}"] = genome
    return found


def ranks(values: list[float]) -> list[float]:
    """Average ranks (ties share theirs), for Spearman's rho."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2
        i = j + 1
    return out


def spearman(x: list[float], y: list[float]) -> float:
    rx, ry = ranks(x), ranks(y)
    return statistics.correlation(rx, ry)


def arguments() -> argparse.ArgumentParser:
    """The command line, apart from main, so a documented command's flags can be checked without running
    it (tests/test_doc_commands.py)."""
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--drawn", type=int, default=12, help="genomes grown by mutation besides the bench genomes")
    parser.add_argument("--genomes", nargs="*", default=None, help="bench genome names (default: all)")
    parser.add_argument("--out", default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = arguments().parse_args(argv)
    device = latency_device(args.device)
    genomes = {p.stem: Genome.from_json(p.read_text()) for p in sorted(GENOMES.glob("*.json"))
               if args.genomes is None or p.stem in args.genomes}
    genomes.update(drawn_genomes(args.drawn))
    rows = []
    for name, genome in genomes.items():
        c = cost(genome, 32, 10)
        for batch in args.batches:
            medians = [measure_latency(genome, 32, 10, device, batch) for _ in range(args.repeats)]
            ms = [m["ms"] for m in medians]
            middle = statistics.median(ms)
            row = {"genome": name, "nodes": len(genome.nodes), "params": c.params, "flops": c.flops, "batch": batch,
                   "ms": round(middle, 4), "spread_ms": round(max(ms) - min(ms), 4),
                   "spread_pct": round(100 * (max(ms) - min(ms)) / middle, 1),
                   "iqr_ms": round(statistics.median(m["iqr_ms"] for m in medians), 4),
                   "measure_seconds": round(statistics.median(m["seconds"] for m in medians), 3),
                   "runs": medians[0]["runs"], "threads": medians[0]["threads"]}
            rows.append(row)
            print(f"{name:22s} nodes {row['nodes']:3d}  {c.flops / 1e6:9.2f} MFLOPs  batch {batch:3d}  "
                  f"{row['ms']:9.3f} ms  spread {row['spread_ms']:.3f} ms ({row['spread_pct']}%)  "
                  f"measured in {row['measure_seconds']} s", flush=True)
    agreement = {}
    for batch in args.batches:
        mine = [r for r in rows if r["batch"] == batch]
        flops, ms = [r["flops"] for r in mine], [r["ms"] for r in mine]
        agreement[batch] = {"kendall_tau": round(kendall_tau(flops, ms), 3), "spearman_rho": round(spearman(flops, ms), 3),
                            "genomes": len(mine)}
        print(f"batch {batch}: FLOPs vs ms over {len(mine)} genomes: Kendall tau {agreement[batch]['kendall_tau']}, "
              f"Spearman rho {agreement[batch]['spearman_rho']}")
    save_record(bench_record(device, threads=torch.get_num_threads(), repeats=args.repeats, rows=rows,
                             agreement=agreement), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
