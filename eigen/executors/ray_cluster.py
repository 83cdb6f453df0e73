"""Trainings on a Ray cluster (`--ray [ADDRESS]`): one long-lived worker per GPU, several GPUs or machines.

Each worker is a Ray actor that builds its trainer once from a `WorkerSpec` (the dataset and the
teacher's logits put on its device when it starts, not per training) and then trains whatever it is
sent. Nothing assumes a shared filesystem: the checkpoints a training starts from travel to the
worker as bytes through Ray's object store, and the checkpoint it writes travels back the same way;
the driver writes it into the run folder, then records the result (the kill-safety order: weights on
disk, then the history line).

A worker that dies mid-training (its process killed, its machine gone) is restarted by Ray, on the
same or another node, and the training is retried there (`max_restarts`, `max_task_retries`);
since a training's result depends only on its seed and inputs, the retry gives the same result.
A cluster with GPUs gets one worker per GPU, each running up to `--parallel` trainings at once
(one thread and CUDA stream each, as `--parallel` does locally). A cluster without GPUs (a laptop,
CI) trains with the run's intra-op thread count (`threads`, which the driver's trainings would use:
on the CPU the count changes a training's last digits, see threads.py), so it gets one worker per
that many CPUs (`cpu_workers`): start a run with OMP_NUM_THREADS=1 for one single-threaded worker per
CPU, as eigen had before it recorded the count. While the driver waits it asks every
worker, twice a second, how far its trainings are (a spare thread of each actor answers), so the
live view moves as it does with `--parallel`.
"""
from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import threading
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from .. import faults
from ..errors import EigenError, first_line
from ..run_folder.folder import write_bytes
from .threads import cpu_workers, with_threads
from .work import Training

INSTALL = 'pip install "eigen[ray]"'
INPUTS = ("start_from", "inherit_from")  # the checkpoint files a training reads
POLL_EVERY = 0.5  # seconds between progress questions to the workers while the driver waits


def require_ray() -> None:
    """Before anything is written: --ray without Ray installed is one sentence and how to get it."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise EigenError(f"--ray needs Ray, which is not installed here; install it with `{INSTALL}`, "
                         f"or leave out --ray to train on this machine") from None


class TrainingWorker:
    """The body of a Ray actor: a trainer on this worker's device, and a private scratch folder.

    The trainer is built from the `WorkerSpec` on the first call that needs it (`load`, which the
    executor calls on every worker at the start, or `train`), not in the constructor: every call
    carries the spec's object reference, so a worker that Ray restarts after a crash builds itself
    again from the one copy in the object store (constructor arguments there are what Ray warns a
    restart may lose)."""

    def __init__(self, parallel: int, threads: int):
        import ray
        import torch
        if ray.get_gpu_ids() and torch.cuda.is_available():
            device = torch.device("cuda", 0)  # Ray hands each worker its own GPU as device 0
        else:
            device = torch.device("cpu")
        self.device = device
        self.threads = threads  # a CPU training's intra-op threads, set in the thread that runs it
        self.trainer = None
        self._building = threading.Lock()  # one build, however many threads ask at once
        self.scratch = Path(tempfile.mkdtemp(prefix="eigen-worker-"))
        self.streams: dict[int, Any] = {}  # thread -> its CUDA stream (up to `parallel` threads)
        self.reached: dict[int, tuple[int, int, float]] = {}  # training key -> (step, until, mean loss)

    def pid(self) -> int:
        return os.getpid()

    def load(self, spec_box: list) -> None:
        """Build the trainer, data and logits on this worker's device, once. `spec_box` is
        [ObjectRef of the WorkerSpec]: inside a list Ray passes the reference, not the value."""
        import ray
        with self._building:
            if self.trainer is None:
                self.trainer = ray.get(spec_box[0]).build(self.device)

    def progress(self) -> dict[int, tuple[int, int, float]]:
        """How far each training in flight is (answered by the actor's spare thread)."""
        return dict(self.reached)

    def train(self, training: Training, inputs: dict[str, bytes], key: int, spec_box: list) -> tuple[Any, bytes | None]:
        """Run `training` with its input checkpoints given as bytes; return (result, checkpoint bytes).
        `key` names it in `progress()`; `spec_box` builds the trainer if this worker has none yet."""
        import torch
        self.load(spec_box)  # nothing to do unless Ray restarted this worker
        name = uuid.uuid4().hex
        local = {}
        for field, blob in inputs.items():
            local[field] = self.scratch / f"{name}-{field}.pt"
            local[field].write_bytes(blob)
        out = self.scratch / f"{name}-out.pt"
        here = replace(training, save_to=out, **{field: local.get(field) for field in INPUTS})
        stream = contextlib.nullcontext()
        threads = with_threads(self.threads) if self.device.type == "cpu" else contextlib.nullcontext()
        if self.device.type == "cuda":
            thread = threading.get_ident()
            if thread not in self.streams:
                self.streams[thread] = torch.cuda.Stream(self.device)
                # the data and logits were put on the device on its default stream
                self.streams[thread].wait_stream(torch.cuda.default_stream(self.device))
            stream = torch.cuda.stream(self.streams[thread])
        try:
            with stream, threads:  # set in each call: the actor's threads are Ray's, each keeps its own count
                result = here.run(self.trainer, on_progress=lambda step, until, loss:
                                  self.reached.__setitem__(key, (step, until, loss)))
            return result, (out.read_bytes() if out.exists() else None)
        finally:
            self.reached.pop(key, None)
            for path in (out, *local.values()):
                path.unlink(missing_ok=True)


def _counted(n: int, thing: str) -> str:
    return f"{n} {thing}{'s' if n != 1 else ''}"


def _check_reachable(address: str) -> None:
    """A HOST:PORT that answers nothing would keep `ray.init` retrying for minutes: try it first."""
    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        return  # ray://... (Ray Client) or something Ray itself will judge
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as e:
        raise EigenError(f"nothing answers at {address} ({e.strerror or e}); start the cluster there with "
                         f"`ray start --head`, or use --ray auto on a machine of the cluster") from None


_OURS = {"connected": False}  # whether eigen made this process's Ray connection (and so closes it)


def connect(address: str, say) -> None:
    """Join (or, for "local", start) the cluster, unless this process is already connected; a cluster
    that cannot be reached is one sentence, before the command writes anything."""
    import ray
    if ray.is_initialized():
        return
    if address not in ("local", "auto"):
        _check_reachable(address)
    quiet = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    try:
        if address == "local":
            ray.init(**quiet)
            say("Ray: started a local cluster on this machine")
        else:
            ray.init(address=address, **quiet)
            say(f"Ray: joined the cluster at {address}")
    except (ConnectionError, RuntimeError, ValueError) as e:
        hint = ("start one with `ray start --head` on the head machine, or use --ray alone for a cluster "
                "on this machine" if address == "auto" else "check the address, or use --ray auto")
        raise EigenError(f"cannot reach a Ray cluster at {address} ({first_line(e) or e}); "
                         f"{hint}") from None
    _OURS["connected"] = True


class RayExecutor:
    """Trainings on Ray actors; see the module docstring."""

    def __init__(self, spec, address: str = "local", parallel: int = 1, say: Callable[[str], None] = print,
                 workers: int | None = None, threads: int | None = None):
        require_ray()
        import ray
        import torch
        connect(address, say)
        threads = threads or torch.get_num_threads()  # each training's intra-op threads (None: the driver's)
        gpus = int(ray.cluster_resources().get("GPU", 0))
        if gpus:
            count, per_worker = workers or gpus, {"num_gpus": 1, "num_cpus": 1}
            kind = _counted(gpus, "GPU")
        else:
            nodes = [int(node["Resources"].get("CPU", 0)) for node in ray.nodes() if node.get("Alive")]
            count, each = cpu_workers(nodes, threads)
            count, per_worker = workers or count, {"num_cpus": each}
            kind = f"{_counted(sum(nodes), 'CPU')}, {_counted(threads, 'thread')} each"
        actor = ray.remote(max_restarts=-1, max_task_retries=-1)(TrainingWorker)
        # One copy of the data and the logits in the object store for every worker, kept alive here:
        # a restarted worker builds itself from it again.
        self._spec_box = [ray.put(spec)]
        # One thread more than trainings: the spare one answers `progress()` while all of them train.
        self.workers = [actor.options(**per_worker, max_concurrency=parallel + 1).remote(parallel, threads)
                        for _ in range(count)]
        ray.get([worker.load.remote(self._spec_box) for worker in self.workers])  # data on every device, once
        self.parallel = parallel
        self.slots = count * parallel
        self._load = [0] * count  # trainings in flight per worker
        self._flying: dict[Any, tuple[Any, Training, int, int]] = {}  # object ref -> (tag, training, worker, key)
        self._keys = 0  # each submitted training's key in its worker's `progress()`
        say(f"Ray: {_counted(count, 'worker')} ({kind}), up to {_counted(self.slots, 'training')} at once")

    @property
    def busy(self) -> int:
        return len(self._flying)

    def submit(self, tag, training: Training) -> None:
        inputs = {field: Path(getattr(training, field)).read_bytes()
                  for field in INPUTS if getattr(training, field) is not None}
        worker = min(range(len(self.workers)), key=self._load.__getitem__)
        self._keys += 1
        ref = self.workers[worker].train.remote(training, inputs, self._keys, self._spec_box)
        self._load[worker] += 1
        self._flying[ref] = (tag, training, worker, self._keys)

    def wait(self, on_progress=None):
        """The next finished training; its checkpoint is written into the run folder before it is
        returned. Meanwhile `on_progress(tag, step, until, loss)` hears the trainings in flight."""
        import ray
        while True:
            ready, _ = ray.wait(list(self._flying), num_returns=1, timeout=None if on_progress is None else POLL_EVERY)
            if ready:
                break
            self._report_progress(on_progress)
        tag, training, worker, _ = self._flying.pop(ready[0])
        self._load[worker] -= 1
        result, checkpoint = ray.get(ready[0])
        if checkpoint is not None:
            write_bytes(training.save_to, checkpoint)
        if result.ok:
            faults.point("trained")  # weights on disk, result not yet recorded
        return tag, result

    def _report_progress(self, on_progress) -> None:
        """Ask each worker with trainings in flight how far they are; progress is only for the eye, so a
        worker that does not answer in time (restarting, say) is skipped."""
        import ray
        tags = {(worker, key): tag for tag, _, worker, key in self._flying.values()}
        busy = sorted({worker for worker, _ in tags})
        try:
            answers = ray.get([self.workers[w].progress.remote() for w in busy], timeout=5)
        except Exception:  # noqa: BLE001 (a dead or restarting actor, a slow cluster: no progress this time)
            return
        for worker, reached in zip(busy, answers):
            for key, (step, until, loss) in reached.items():
                if (worker, key) in tags:
                    on_progress(tags[worker, key], step, until, loss)

    def close(self) -> None:
        import ray
        for worker in self.workers:
            ray.kill(worker)
        self.workers = []
        if _OURS["connected"]:
            ray.shutdown()
            _OURS["connected"] = False
