"""How long a genome's network takes to answer: the `ms` of `--fitness` and `--max-ms` (issue #31).

FLOPs predict latency badly: depth, concats and small convolutions cost time that FLOPs do not
show, and a deployer ships to a device, not to a FLOP count. So eigen times the real network: built
from the genome with fresh weights (the time of a forward pass does not depend on the values of the
weights), in eval mode under `torch.inference_mode`, on the latency device at the latency batch.

A measurement is a warm-up (allocator, cuDNN's choice of algorithm, the CPU's caches) followed by
at least `MIN_RUNS` timed forward passes and at least `MIN_SECONDS` of them; the answer is their
median, and the interquartile range is kept as its spread. On a GPU every pass is bracketed by a
synchronisation, so a pass is the whole of its kernels. The garbage collector is off while timing.

The same genome measured again gives a slightly different median (see the README's figures), so
a search measures each genome key once and keeps the answer (`eigen/engine/latency_cache.py`).
"""
from __future__ import annotations

import gc
import statistics
import time
from typing import TYPE_CHECKING, TypedDict

from ..errors import EigenError
from ..genome.dna import Genome

if TYPE_CHECKING:  # torch is imported where a latency is measured: reading one back needs none
    import torch

WARMUP_RUNS = 3
WARMUP_SECONDS = 0.05
MIN_RUNS = 15
MIN_SECONDS = 0.25
MAX_RUNS = 400


class Latency(TypedDict):
    """One genome's measured forward time (what history.jsonl, latency.jsonl and plan.json keep)."""

    ms: float  # median milliseconds per forward pass of `batch` images
    iqr_ms: float  # interquartile range of the timed passes (their spread)
    runs: int  # timed passes
    device: str  # where: "cpu", "cuda:0"
    batch: int  # images per pass
    threads: int  # CPU threads torch used (intra-op)
    seconds: float  # what measuring it cost, warm-up included


class LatencyDeviceError(EigenError):
    """A --latency-device that this machine cannot time on."""


def latency_device(text: str) -> "torch.device":
    """`--latency-device`: cpu, cuda or cuda:N (mps where torch has it), checked before any work."""
    import torch
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise LatencyDeviceError(f"--latency-device {text!r} is not a device; use cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise LatencyDeviceError(f"--latency-device {text}: this machine has no CUDA GPU; time on cpu, or "
                                     f"search where the GPU is")
        index = torch.cuda.current_device() if device.index is None else device.index
        if index >= torch.cuda.device_count():
            raise LatencyDeviceError(f"--latency-device {text}: this machine has {torch.cuda.device_count()} "
                                     f"CUDA GPU(s), numbered from 0")
        return torch.device("cuda", index)
    if device.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise LatencyDeviceError(f"--latency-device {text}: this machine has no MPS device; time on cpu")
    if device.type not in ("cpu", "cuda", "mps"):
        raise LatencyDeviceError(f"--latency-device {text}: eigen times on cpu, cuda or mps")
    return device


def measure_latency(genome: Genome, image_size: int, num_classes: int, device: "torch.device | str",
                    batch: int = 1) -> Latency:
    """The median forward time of `genome`'s network in eval mode (see the module docstring)."""
    import torch

    from ..genome.model import build_model
    device = torch.device(device)
    began = time.perf_counter()
    model = build_model(genome, num_classes, image_size).to(device).eval()
    images = torch.randn(batch, 3, image_size, image_size, generator=torch.Generator().manual_seed(0)).to(device)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    collecting = gc.isenabled()
    gc.disable()
    try:
        with torch.inference_mode():
            warm = time.perf_counter()
            for n in range(MAX_RUNS):
                model(images)
                sync()
                if n + 1 >= WARMUP_RUNS and time.perf_counter() - warm >= WARMUP_SECONDS:
                    break
            times: list[float] = []
            timing = time.perf_counter()
            while len(times) < MAX_RUNS and (len(times) < MIN_RUNS or time.perf_counter() - timing < MIN_SECONDS):
                start = time.perf_counter()
                model(images)
                sync()
                times.append(time.perf_counter() - start)
    finally:
        if collecting:
            gc.enable()
    quartiles = statistics.quantiles(times, n=4)
    return {"ms": round(1000 * statistics.median(times), 4), "iqr_ms": round(1000 * (quartiles[2] - quartiles[0]), 4),
            "runs": len(times), "device": str(device), "batch": batch, "threads": torch.get_num_threads(),
            "seconds": round(time.perf_counter() - began, 3)}
