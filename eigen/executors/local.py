"""Trainings on this machine's one device: one at a time, or `--parallel K` at once.

`InlineExecutor` (K = 1, the default) trains in the calling thread, exactly as eigen always did.

`ThreadedExecutor` (K > 1) runs K worker threads in this process, sharing one copy of the dataset
and the teacher's logits on the device. On a GPU each thread issues its work on its own CUDA stream,
so the kernels of K small networks overlap instead of leaving most of the GPU idle between launches;
a replayed CUDA graph launches a whole step at once and PyTorch releases the GIL while kernels run,
so K threads keep K streams busy. Threads rather than K processes: processes would each hold a copy
of the dataset and the logits cache, and kernels of different processes time-slice on a GPU rather
than overlap (without MPS). What must not interleave is serialised in the trainer: building a
network under its seed (the global RNG) and capturing a CUDA graph (one capture at a time).

Results do not depend on K: each training's result is a function of its own seed and inputs, and
(on the CPU) of the intra-op thread count, which both executors apply in the thread that trains
(`threads`, the run's recorded count: see threads.py). Measured: K trainings at once, each with the
same count, end as one after another does, to the last bit.
"""
from __future__ import annotations

import contextlib
import queue
import threading
import time
from typing import Any, Callable

import torch

from .. import faults
from ..device import indexed
from ..training import cancel
from ..training.job import StageResult
from .threads import with_threads
from .work import Training

_STOP = object()


class InlineExecutor:
    """One training at a time, in the calling thread (Ctrl-C and faults behave as without an executor)."""

    slots = 1

    def __init__(self, trainer, threads: int | None = None):
        self.trainer = trainer
        self.threads = threads or torch.get_num_threads()  # intra-op threads (None: the caller's now)
        self._pending: tuple[Any, Training] | None = None

    @property
    def busy(self) -> int:
        return int(self._pending is not None)

    def submit(self, tag: Any, training: Training) -> None:
        assert self._pending is None, "InlineExecutor runs one training at a time"
        self._pending = (tag, training)

    def wait(self, on_progress: Callable | None = None) -> tuple[Any, StageResult]:
        tag, training = self._pending
        self._pending = None
        report = None if on_progress is None else (lambda step, until, loss: on_progress(tag, step, until, loss))
        with with_threads(self.threads):
            result = training.run(self.trainer, on_progress=report)
        if result.ok:
            faults.point("trained")  # weights on disk, result not yet recorded
        return tag, result

    def close(self) -> None:
        pass


class ThreadedExecutor:
    """K trainings at once on one device, one thread (and one CUDA stream) each; see the module docstring."""

    def __init__(self, trainer, parallel: int, device: torch.device | str = "cpu", threads: int | None = None):
        if parallel < 1:
            raise ValueError(f"parallel must be at least 1, not {parallel}")
        self.trainer, self.slots, self.device = trainer, parallel, indexed(device)
        self.threads = threads or torch.get_num_threads()  # each worker's intra-op threads (None: the caller's now)
        self.busy = 0
        self._jobs: queue.Queue = queue.Queue()
        self._events: queue.Queue = queue.Queue()
        self._stop = threading.Event()  # set by close(): trainings in flight end at their next step
        # Daemon threads, not concurrent.futures (whose workers are joined at exit): a Ctrl-C or an
        # error in the driver must not wait minutes for the trainings in flight.
        self._threads = [threading.Thread(target=self._work, args=(slot,), name=f"eigen-train-{slot}", daemon=True)
                         for slot in range(parallel)]
        for thread in self._threads:
            thread.start()

    def submit(self, tag: Any, training: Training) -> None:
        self.busy += 1
        self._jobs.put((tag, training))

    def wait(self, on_progress: Callable | None = None) -> tuple[Any, StageResult]:
        while True:
            kind, tag, payload = self._events.get()
            if kind == "progress":
                if on_progress is not None:
                    on_progress(tag, *payload)
                continue
            self.busy -= 1
            if kind == "error":  # the machine's problem (a full disk): the driver stops, as without threads
                raise payload
            if payload.ok:
                faults.point("trained")  # weights on disk, result not yet recorded
            return tag, payload

    def close(self, grace: float = 10.0) -> None:
        """Stop the workers: idle ones at once, training ones at their next step (a driver that
        stopped early, on Ctrl-C, SIGTERM or an error, does not wait for its trainings to finish),
        and wait up to `grace` seconds for them, so none is inside torch when the interpreter exits."""
        self._stop.set()
        for _ in self._threads:
            self._jobs.put((_STOP, None))
        deadline = time.monotonic() + grace
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _work(self, slot: int) -> None:
        cancel.watch(self._stop)
        with with_threads(self.threads):  # torch keeps the count per thread: this one's own, set here
            self._serve(slot)

    def _serve(self, slot: int) -> None:
        """Train what the driver queues until it says stop."""
        on_gpu = self.device.type == "cuda"
        try:
            stream = self._set_up(slot) if on_gpu else None
        except BaseException as e:  # a worker that cannot start must stop the driver, not leave it waiting
            self._events.put(("error", None, e))
            return
        while True:
            tag, training = self._jobs.get()
            if tag is _STOP or self._stop.is_set():  # a closed executor starts nothing queued
                return
            try:
                with torch.cuda.stream(stream) if on_gpu else contextlib.nullcontext():
                    result = training.run(self.trainer, on_progress=lambda step, until, loss, tag=tag:
                                          self._events.put(("progress", tag, (step, until, loss))))
                    if on_gpu:
                        stream.synchronize()
                self._events.put(("done", tag, result))
            except BaseException as e:  # handed to the driver, which decides (worker threads never print)
                self._events.put(("error", tag, e))


    def _set_up(self, slot: int) -> "torch.cuda.Stream":
        """This thread's device and stream (the slot's, reused by every executor of the process)."""
        torch.cuda.set_device(self.device)
        stream = worker_stream(self.device, slot)
        stream.wait_stream(torch.cuda.default_stream(self.device))  # the data was put there on the default stream
        return stream


_WORKER_STREAMS: dict[tuple[torch.device, int], "torch.cuda.Stream"] = {}


def worker_stream(device: torch.device, slot: int) -> "torch.cuda.Stream":
    """Slot `slot`'s stream on `device`, made once per process. `torch.cuda.Stream()` hands out a
    fixed pool of 32 streams per priority round-robin: new streams for every executor (a search
    makes one per stage, a benchmark one per K) would wrap around the pool, and K workers could
    share a stream. The warm-up and capture streams come from the high-priority pool, apart."""
    key = (device, slot)
    with _STREAMS_LOCK:
        if key not in _WORKER_STREAMS:
            _WORKER_STREAMS[key] = torch.cuda.Stream(device)
        return _WORKER_STREAMS[key]


_STREAMS_LOCK = threading.Lock()


def local_executor(trainer, parallel: int = 1, device: torch.device | str = "cpu", threads: int | None = None):
    """The executor for `--parallel K` on this machine's device, its trainings with `threads` intra-op
    threads (None: the caller's count now)."""
    return InlineExecutor(trainer, threads) if parallel == 1 else ThreadedExecutor(trainer, parallel, device, threads)
