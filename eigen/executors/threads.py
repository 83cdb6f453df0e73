"""The intra-op thread count a run's CPU trainings use: fixed when the run begins, recorded, kept.

On the CPU a training's result depends on torch's intra-op thread count: a convolution's or a
matrix product's sums are split across the threads, and floating-point addition in another order
rounds differently, and the differences grow as a network trains. Measured on a 2-core machine
(`bench/threads.py`, docs/benchmarks/threads-cpu-2026-12-05.json): 100 iterations of CIFAR-10 at
16 px, two bench genomes x 3 seeds, with 1 and with 2 threads: no training's weights agree, and
validation accuracy moves by up to 1.2 points (35.16% vs 33.98%); the same count twice agrees to the
last bit, and so does the same count with another training beside it (`--parallel 2`). So the count
is part of what a CPU training depends on, like its seed, and a run fixes it:

- a new run trains with the count torch has when it begins (every core, or what OMP_NUM_THREADS or
  `torch.set_num_threads` set) and records it as `cpu_threads` (a search's config.json, a
  duplication's plan.json, a teacher's ensemble.json);
- a resumed run (a search's --resume, a continued duplication) trains with its recorded count, even
  on a machine with fewer cores (slower, the same results); a teacher continued after a kill trains
  with its sitting's count (it has no record until ensemble.json, which says the last sitting's);
- every executor trains with the count it is given, in whatever thread trains: the command's own
  (one at a time), each `--parallel` thread, each call on a Ray CPU worker (`with_threads`). Torch
  keeps the count per thread: a thread started earlier keeps the count it had, so each sets it.

On a GPU the count does not enter a training's arithmetic (the data, the network and its steps are
on the GPU; the CPU threads only launch its kernels; not measured, by reasoning); it is recorded and
applied all the same.
"""
from __future__ import annotations

import contextlib
import os
from typing import Callable, Iterator

import torch

from ..errors import EigenError

THREADS_FIELD = "cpu_threads"  # the field of a run's record (config.json, plan.json, ensemble.json)


def run_threads(record: dict | None, device, say: Callable[[str], None]) -> int:
    """The count this run's trainings use: the one `record` (a resumed run's config.json or
    plan.json) holds, else this thread's torch count (a new run, which records that count)."""
    here = torch.get_num_threads()
    if record is None:
        return here
    count = record.get(THREADS_FIELD)
    on_cpu = torch.device(device).type == "cpu"
    if count is None:  # begun before eigen recorded it: that count is unknown, this sitting's is used
        if on_cpu:
            say(f"this run was begun before eigen recorded its CPU thread count; its CPU trainings now use "
                f"{here} intra-op threads (another count than it began with changes their last digits)")
        return here
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise EigenError(f"the run's recorded {THREADS_FIELD} ({count!r}) is not a thread count; restore the file from "
                         f"a copy, or set it to the count the run began with (1 or more)")
    cores = os.cpu_count() or 1
    if on_cpu and count > cores:
        say(f"this run trains with {count} intra-op threads, as it began, on a machine with {cores} cores: "
            f"slower, the same results")
    return count


@contextlib.contextmanager
def with_threads(count: int) -> Iterator[None]:
    """Torch's intra-op threads at `count` in this thread for the block, then as they were."""
    before = torch.get_num_threads()
    if count != before:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def cpu_workers(node_cpus: list[int], threads: int) -> tuple[int, int]:
    """(workers, CPUs each) for a Ray cluster without GPUs whose nodes have `node_cpus` CPUs: each
    worker claims `threads` CPUs (as many as any one node has, at most: a claim no node can meet would
    wait forever), so the workers' threads do not outnumber the cores."""
    each = max(1, min(threads, max(node_cpus, default=1)))
    return max(1, sum(cpus // each for cpus in node_cpus)), each
