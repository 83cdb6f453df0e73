"""The whole GPU check in one command (issues #13, #26): every GPU path run and measured, in ~3-5 minutes.

    python3 bench/gpu_check.py --data-dir /root/cifar --out $OUT                       # on the GPU machine
    python3 bench/gpu_check.py --dataset synthetic --gpu -1 --quick --out /tmp/check   # CPU smoke (a test runs it)

docs/BENCHMARKS.md ("The GPU plan") has the exact commands for the device machine, with what each
takes along. Sections, most important first; each is written into OUT/gpu-check.json as soon as it
ends (the throughput and parallel rows as each ends), so a time-out or a crash in one loses none of
those before it; a figure that fails is recorded as that row's error and the others go on; a
section that would start after `--deadline` seconds is recorded as skipped rather than cut off by
the machine's limit, and a SIGINT (`timeout -s INT`) keeps what the section in flight measured:

  tests       pytest tests/test_gpu.py: counts, and the names of the failures
  throughput  bench/throughput.py's plain loop vs eigen's trainer on tiny-early, six-conv-1.15m and
              wide-20-conv-4.4m, each with cudnn.benchmark off and on (images/s, ratio, graphed,
              seconds of the first CUDA-graph capture: warm-up steps + capture)
  recipe      six-conv-1.15m with the paper recipe at --schedule-scale 0.2: val/test accuracy, wall
  mimicry     step time with a teacher-logits cache of the real shape (N_train, 162 views, K) vs none
  memory      GPU memory allocated before, at the peak of and after 50 children of a real generation
  parallel    aggregate images/s of a generation trained K = 1, 2, 4, 8 at once (`--parallel`, issue #17)

Ends with a table of the figures against the issue's targets. Every later GPU check starts here.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))
from parallel import generation, timed_generation  # noqa: E402
from recipe import genome_path, train_recipe  # noqa: E402
from bench_record import bench_record, save_record  # noqa: E402
from throughput import channel_stats, eigen_trainer, plain_loop, sync  # noqa: E402

from eigen import Genome  # noqa: E402
from eigen.data.datasets import load_splits  # noqa: E402
from eigen.data.device_data import NUM_VIEWS, DeviceData  # noqa: E402
from eigen.device import resolve_device  # noqa: E402
from eigen.genome.cost import cost  # noqa: E402
from eigen.training.individual_training import TorchIndividuals  # noqa: E402
from eigen.training.job import Training  # noqa: E402
from eigen.training.trainer import Schedule  # noqa: E402

GENOMES = ("tiny-early", "six-conv-1.15m", "wide-20-conv-4.4m")
MiB = 2 ** 20


def load(name: str) -> Genome:
    return Genome.from_json(genome_path(name).read_text())


# -- the sections: each returns what it measured ------------------------------------------------------

def check_tests(ctx) -> dict:
    """tests/test_gpu.py in a fresh interpreter (its own CUDA context, as CI on a GPU would run it).
    Verbose, so that a run cut off by --tests-timeout still says which tests passed before it."""
    command = [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "-rfEs", "tests/test_gpu.py"]
    try:
        run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=ctx.args.tests_timeout)
        out, exit_code, timed_out = run.stdout + run.stderr, run.returncode, False
    except subprocess.TimeoutExpired as e:  # keep what it printed: the counts so far, the test that hung
        out = "".join(part.decode(errors="replace") if isinstance(part, bytes) else (part or "")
                      for part in (e.stdout, e.stderr))
        exit_code, timed_out = None, True
    summary = out.strip().splitlines()[-1] if out.strip() and not timed_out else ""
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|error|errors)", summary)}
    if timed_out:  # count the verbose lines instead
        counts = {word.lower(): n for word in ("PASSED", "FAILED", "SKIPPED", "ERROR")
                  if (n := len(re.findall(rf"::\S+ {word}", out)))}
    failures = sorted(set(re.findall(r"^(?:FAILED|ERROR) (\S+)", out, flags=re.M))
                      | set(re.findall(r"^(\S+::\S+) (?:FAILED|ERROR)", out, flags=re.M)))
    result = dict(exit_code=exit_code, counts=counts, failures=failures, tail=out[-3000:])
    if timed_out:  # pytest -v writes a test's name when it starts and its verdict when it ends
        hung = re.fullmatch(r"(\S+::\S+)\s*", out.splitlines()[-1]) if out.strip() else None
        result["error"] = f"timed out after {ctx.args.tests_timeout:.0f} s" + (f" in {hung.group(1)}" if hung else "")
    return result


def failure(e: BaseException) -> str:
    return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]


def check_throughput(ctx) -> dict:
    """Plain loop vs eigen's trainer, cudnn.benchmark off and on, for each genome. Each figure is
    measured on its own: a loop that fails is recorded as that row's error and the rest go on, and
    the section is written into the JSON after every row. The setting is restored however the
    section ends: the later sections measure eigen as it runs."""
    rows, setting = [], torch.backends.cudnn.benchmark
    section = dict(iterations=ctx.iterations, batch_size=128, results=rows)
    try:
        for name in ctx.args.genomes:
            genome = load(name)
            for benchmark in (False, True):
                torch.backends.cudnn.benchmark = benchmark
                row = dict(genome=name, params=cost(genome, ctx.splits.image_size, ctx.splits.num_classes).params,
                           cudnn_benchmark=benchmark)
                try:
                    plain = plain_loop(genome, ctx.splits, ctx.device, 128, ctx.iterations, ctx.warmup,
                                       ctx.args.workers, ctx.stats)
                    row["plain_images_per_s"] = round(plain)
                except Exception as e:
                    plain, row["plain_error"] = None, failure(e)
                try:
                    fast, graphed, graph_error, capture = eigen_trainer(genome, ctx.data, ctx.device, 128,
                                                                        ctx.iterations, ctx.warmup)
                    row.update(eigen_images_per_s=round(fast), graphed=graphed, graph_error=graph_error,
                               capture_seconds=capture)
                except Exception as e:
                    fast, row["eigen_error"] = None, failure(e)
                if plain and fast:
                    row["ratio"] = round(fast / plain, 2)
                rows.append(row)
                ctx.save_partial("throughput", section)
                ctx.say(f"  {name:18s} cudnn.benchmark={benchmark!s:5s}  plain {rate(plain)}  eigen {rate(fast)} img/s"
                        + (f"  x{row['ratio']:5.2f}  graphed={row['graphed']}" if "ratio" in row else "")
                        + (f"  capture {row['capture_seconds']:.2f} s" if row.get("capture_seconds") else "")
                        + "".join(f"  {k}: {row[k]}" for k in ("plain_error", "eigen_error") if k in row))
    finally:
        torch.backends.cudnn.benchmark = setting
    return section


def rate(images_per_s: float | None) -> str:
    return f"{images_per_s:9.0f}" if images_per_s else "   failed"


def check_recipe(ctx) -> dict:
    return dict(genome=ctx.args.reference, schedule_scale=ctx.args.recipe_scale,
                **train_recipe(load(ctx.args.reference), ctx.splits, ctx.device, ctx.args.recipe_scale))


def check_mimicry(ctx) -> dict:
    """The cost of Eq. 3 in the step: a cache of the real shape (random logits: the gather and the
    extra loss cost the same whatever the values) against plain cross-entropy."""
    genome = load(ctx.args.reference)
    logits = torch.randn(ctx.data.num_train, NUM_VIEWS, ctx.splits.num_classes, device=ctx.device).half()
    rates = {name: eigen_trainer(genome, ctx.data, ctx.device, 128, ctx.iterations, ctx.warmup, teacher)[0]
             for name, teacher in (("cross_entropy", None), ("mimicry", logits))}
    overhead = rates["cross_entropy"] / rates["mimicry"] - 1
    ctx.say(f"  cross-entropy {rates['cross_entropy']:.0f} img/s, mimicry {rates['mimicry']:.0f} img/s: "
            f"{100 * overhead:+.1f}% step time")
    return dict(cache_shape=list(logits.shape), cache_mib=round(logits.numel() * 2 / MiB),
                images_per_s={k: round(v) for k, v in rates.items()}, step_overhead=round(overhead, 3))


def check_memory(ctx) -> dict:
    """50 children of the reference genome (a real generation: every child another network), one
    after another as the search trains them: allocated memory must come back to where it started."""
    on_gpu = ctx.device.type == "cuda"
    individuals = TorchIndividuals(ctx.data, Schedule(total=ctx.memory_iterations, milestones=()))
    genomes = generation(load(ctx.args.reference), ctx.args.children, image_size=ctx.splits.image_size)
    with tempfile.TemporaryDirectory() as folder:
        individuals.train(Training(genomes[0], 0, ctx.memory_iterations, Path(folder) / "warm.pt"))
        sync(ctx.device)
        if on_gpu:
            torch.cuda.reset_peak_memory_stats(ctx.device)
        before = torch.cuda.memory_allocated(ctx.device) if on_gpu else None
        started, statuses = time.perf_counter(), []
        for n, genome in enumerate(genomes):
            statuses.append(individuals.train(Training(genome, n, ctx.memory_iterations, Path(folder) / "child.pt")).status)
        sync(ctx.device)
        seconds = time.perf_counter() - started
    if not on_gpu:
        return dict(children=len(genomes), ok=statuses.count("ok"), seconds=round(seconds, 1), device="cpu")
    after, peak = torch.cuda.memory_allocated(ctx.device), torch.cuda.max_memory_allocated(ctx.device)
    ctx.say(f"  {len(genomes)} children: allocated {before / MiB:.0f} MiB before, {peak / MiB:.0f} at peak, "
            f"{after / MiB:.0f} after ({(after - before) / MiB:+.0f} MiB)")
    return dict(children=len(genomes), iterations=ctx.memory_iterations, ok=statuses.count("ok"),
                statuses=sorted(set(statuses)), seconds=round(seconds, 1), before_mib=round(before / MiB),
                peak_mib=round(peak / MiB), after_mib=round(after / MiB), growth_mib=round((after - before) / MiB),
                reserved_mib=round(torch.cuda.memory_reserved(ctx.device) / MiB))


def check_parallel(ctx) -> dict:
    """What `--parallel K` gains on one device, on a small and a large generation."""
    individuals = TorchIndividuals(ctx.data, Schedule(total=ctx.parallel_iterations, milestones=()))
    rows = []
    section = dict(iterations=ctx.parallel_iterations, results=rows)
    with tempfile.TemporaryDirectory() as folder:
        for name in dict.fromkeys(("tiny-early", ctx.args.reference)):
            genomes = generation(load(name), ctx.args.parallel_children, image_size=ctx.splits.image_size)
            timed_generation(individuals, genomes[:1], 1, 20, ctx.device, folder)  # warm-up: cuDNN, allocator
            base = None
            for k in ctx.args.ks:
                try:
                    seconds, results = timed_generation(individuals, genomes, k, ctx.parallel_iterations, ctx.device,
                                                        folder)
                except Exception as e:  # the other K still measure
                    rows.append(dict(parent=name, k=k, children=len(genomes), error=failure(e)))
                    ctx.save_partial("parallel", section)
                    ctx.say(f"  {name:16s} K={k}  failed: {rows[-1]['error']}")
                    continue
                rate = len(genomes) * ctx.parallel_iterations * 128 / seconds
                base = base or rate
                rows.append(dict(parent=name, k=k, children=len(genomes), seconds=round(seconds, 2),
                                 images_per_s=round(rate), speedup=round(rate / base, 2),
                                 ok=sum(r.ok for r in results), graphed=sum(r.graphed for r in results)))
                ctx.save_partial("parallel", section)
                ctx.say(f"  {name:16s} K={k}  {seconds:7.2f} s  {rate:9.0f} img/s  x{rate / base:4.2f}"
                        f"  graphed {rows[-1]['graphed']}/{len(genomes)}")
    return section


SECTIONS = {"tests": check_tests, "throughput": check_throughput, "recipe": check_recipe, "mimicry": check_mimicry,
            "memory": check_memory, "parallel": check_parallel}


# -- the verdict ----------------------------------------------------------------------------------------

def verdicts(record: dict) -> list[tuple[str, str, str]]:
    """(figure, measured, target) for each target of issue #13 (and #17's --parallel) that was measured."""
    rows = []
    s = record["sections"]
    if "counts" in s.get("tests", {}):
        rows.append(("tests/test_gpu.py", ", ".join(f"{n} {w}" for w, n in s["tests"]["counts"].items()) or "?",
                     "all pass"))
    throughput = s.get("throughput", {}).get("results", [])
    for r in throughput:
        name = f"{r['genome']}, cudnn.benchmark {'on' if r['cudnn_benchmark'] else 'off'}"
        if "plain_error" in r or "eigen_error" in r:
            rows.append((name, "; ".join(r[k] for k in ("plain_error", "eigen_error") if k in r), "runs"))
        elif r["genome"] == "six-conv-1.15m":
            rows.append((name, f"{r['eigen_images_per_s']:,} img/s, x{r['ratio']} plain", ">= 100,000 img/s, >= x4"))
    measured = [r for r in throughput if "graphed" in r]
    if measured:
        rows.append(("throughput rows graphed", f"{sum(r['graphed'] for r in measured)} of {len(measured)}", "all"))
    if "val_accuracy" in s.get("recipe", {}):
        r = s["recipe"]
        rows.append((f"recipe at scale {r['schedule_scale']}", f"{r['val_accuracy']:.2f}% val, {r['test_accuracy']:.2f}% "
                     f"test, {r['train_seconds']} s", ">= 88% val"))
    if "step_overhead" in s.get("mimicry", {}):
        rows.append(("mimicry step overhead", f"{100 * s['mimicry']['step_overhead']:+.1f}%", "~ +5% (SPEC §11)"))
    if "growth_mib" in s.get("memory", {}):
        m = s["memory"]
        rows.append((f"memory after {m['children']} children", f"{m['growth_mib']:+} MiB (peak {m['peak_mib']} MiB)",
                     "within 200 MB"))
    for r in s.get("parallel", {}).get("results", []):
        if "error" in r:
            rows.append((f"--parallel {r['k']}, {r['parent']}", r["error"], "runs"))
        elif r["k"] != 1:
            rows.append((f"--parallel {r['k']}, {r['parent']}",
                         f"x{r['speedup']} ({r['images_per_s']:,} img/s, {r['graphed']}/{r['children']} graphed)",
                         ">= x1.5, all graphed" if (r["parent"], r["k"]) == ("tiny-early", 4) else "all graphed"))
    for name, section in s.items():
        if "error" in section or "skipped" in section:
            rows.append((name, section.get("error") or section["skipped"], "runs"))
    return rows


def print_table(rows) -> None:
    from rich.console import Console
    from rich.table import Table
    table = Table(title="GPU check", header_style="bold")
    for column in ("figure", "measured", "target"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console(width=120).print(table)


class Context:
    """What every section reads: the arguments, the device, the data (loaded once), and the record
    a long section writes its rows into as it goes (`save_partial`)."""

    def __init__(self, args, say, record: dict, out: Path):
        self.args, self.say, self.record, self.out = args, say, record, out
        self.device = resolve_device(args.gpu)
        self.splits = load_splits(args.dataset, args.data_dir, 32)
        self.data = DeviceData(self.splits, self.device)
        self.stats = channel_stats(self.splits)  # the plain loop's Normalize, computed once
        quick = args.quick
        self.iterations, self.warmup = (10, 4) if quick else (args.iterations, 50)
        self.memory_iterations = 6 if quick else 100
        self.parallel_iterations = 10 if quick else 400

    def save_partial(self, name: str, section: dict) -> None:
        """Write a section's rows so far: a time-out or a crash later in it keeps them."""
        self.record["sections"][name] = {**section, "partial": True}
        save_record(self.record, str(self.out))


def arguments() -> argparse.ArgumentParser:
    """The command line, apart from main, so a documented command's flags can be checked without running
    it (tests/test_doc_commands.py)."""
    ap = argparse.ArgumentParser(allow_abbrev=False, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default="~/.cache/eigen")
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--gpu", type=int, default=0)
    ap.add_argument("--out", required=True, help="folder for gpu-check.json")
    ap.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=list(SECTIONS))
    ap.add_argument("--genomes", nargs="+", default=list(GENOMES), help="throughput's genomes (bench/genomes/)")
    ap.add_argument("--iterations", type=int, default=500, help="timed iterations per throughput/mimicry figure")
    ap.add_argument("--workers", type=int, default=8, help="DataLoader workers of the plain loop")
    ap.add_argument("--reference", default="six-conv-1.15m",
                    help="the genome of recipe, mimicry, memory and parallel's large generation")
    ap.add_argument("--recipe-scale", type=float, default=0.2)
    ap.add_argument("--children", type=int, default=50, help="children of the memory check")
    ap.add_argument("--parallel-children", type=int, default=8)
    ap.add_argument("--ks", type=int, nargs="+", default=[1, 2, 4, 8], help="trainings at once (parallel)")
    ap.add_argument("--deadline", type=float, default=420,
                    help="seconds after which no section starts (a section may run past it: leave room "
                         "under the machine's 600-s command limit)")
    ap.add_argument("--tests-timeout", type=float, default=150, help="seconds for tests/test_gpu.py")
    ap.add_argument("--quick", action="store_true", help="a few iterations each: a smoke run of this script")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = arguments().parse_args(argv)

    started = time.perf_counter()
    say = lambda text: print(text, flush=True)
    out = Path(args.out) / "gpu-check.json"
    record = bench_record(resolve_device(args.gpu), dataset=args.dataset, quick=args.quick, sections={})
    ctx = Context(args, say, record, out)
    stopped = None
    for name in args.sections:
        elapsed = time.perf_counter() - started
        if stopped or (record["sections"] and elapsed > args.deadline):  # the first section always runs
            record["sections"][name] = {"skipped": stopped or f"out of time ({elapsed:.0f} s > --deadline "
                                                              f"{args.deadline:.0f})"}
            continue
        say(f"[{elapsed:5.0f} s] {name}")
        began = time.perf_counter()
        try:
            result = SECTIONS[name](ctx)
        except KeyboardInterrupt:  # `timeout -s INT`: keep what this section measured, write the rest as skipped
            stopped = f"interrupted during {name}"
            result = {**record["sections"].get(name, {}), "error": "interrupted (SIGINT: the command's time limit?)"}
            say(f"  {stopped}")
        except Exception as e:  # one broken section must not cost the figures of the others
            result = {**record["sections"].get(name, {}), "error": failure(e)}
            say(f"  failed: {result['error']}")
        result.pop("partial", None)
        result["seconds"] = round(time.perf_counter() - began, 1)
        record["sections"][name] = result
        record["total_seconds"] = round(time.perf_counter() - started, 1)
        save_record(record, str(out))
    save_record(record, str(out))  # with the skipped sections
    print_table(verdicts(record))
    say(f"{out} ({record['total_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
