"""Training one individual: the paper's recipe, mimicry, CUDA graphs, and failures as results.

`Trainer(model, data, schedule, seed=...)` owns a model's optimiser and position in its schedule;
`trainer.train(until=T1)` then `trainer.train(until=T1 + T2)` continues exactly where it stopped
(the search trains T1, then T2 more, then T3 more), and `trainer.evaluate()` returns validation
accuracy in percent. Training returns metrics; it never prints.

On a GPU the whole step (augmentation gather, forward and backward under bf16 autocast in
channels_last, fused SGD with the learning rate as a device tensor) is captured once as a CUDA graph
and replayed; on the CPU, or if capture fails, the same step runs eagerly. A failed capture can leave
the caching allocator mid-capture, so after one failure graphs stay off for the rest of the process
(`graphs_off_reason()` says why; each `TrainResult` says whether it ran graphed).
"""
from __future__ import annotations

import copy
import gc
import math
import threading
import time
from dataclasses import asdict, dataclass, replace
from typing import Callable

import torch
import torch.nn.functional as F

from ..data.device_data import BatchOrder, DeviceData
from ..errors import first_line
from . import cancel
from .job import failure_status
from .metrics import LOG_POINTS, LogPoint
from .mimicry import Mimicry, mimicry_loss

CHECK_EVERY = 100  # iterations between checks for a non-finite loss (each check syncs the GPU)
PROGRESS_EVERY = 0.5  # seconds between progress reports to `on_progress` (at most)
GRAPH_WARMUP = 3  # eager iterations on a side stream before capture (they are real training steps)


EMPTY_CACHE_EVERY = 16  # trainings between returns of the allocator's cached blocks (each syncs the device)

# Process-wide, on purpose: after a failed capture the CUDA allocator itself may be unusable for
# capture, so no later Trainer in this process may try again. Read through the functions below.
_GRAPHS_OFF: dict = {"reason": None, "announced": False}
_CAPTURE_STREAMS: dict = {}  # device -> (warm-up stream, capture stream), reused by every capture
_FREED: dict = {}  # device -> trainings since its cached blocks were last returned
# What trainings running at once in one process (`--parallel K`, one thread each) must not
# interleave: seeding the global RNG and building a network under that seed, a CUDA graph capture
# (warm-up, capture stream and allocator pool are shared), and emptying the allocator's cache.
SERIAL = threading.RLock()


def seeded(seed: int, build):
    """`build()` with the global RNG seeded with `seed`, so a network's initial weights depend only on
    its seed even while other threads build theirs."""
    with SERIAL:
        torch.manual_seed(seed)
        return build()


def free_cached_memory(device: torch.device, now: bool = False) -> None:
    """On a GPU, after a training: give the allocator's unused cached blocks back to the driver
    (never mid-capture) every EMPTY_CACHE_EVERY trainings, or `now` (after an out-of-memory).

    Not after every training: `empty_cache` frees with cudaFree, which waits for the whole device,
    so under `--parallel` each child would stall every other thread's training. Nothing is lost in
    between: a dead trainer's tensors and captured graph go back to the allocator by reference
    count (a trainer holds no reference cycles; tests/training/test_train.py checks it), the
    allocator reuses them, and one that cannot find memory returns every cached block itself before
    it fails. No `gc.collect()` after an ordinary training either: it holds the GIL for 0.1-0.3 s
    and a dead trainer leaves nothing for it to find; after an out-of-memory, where every byte
    counts, it runs too."""
    if device.type != "cuda":
        return
    with SERIAL:
        _FREED[device] = _FREED.get(device, 0) + 1
        if now or _FREED[device] >= EMPTY_CACHE_EVERY:
            if now:
                gc.collect()
            torch.cuda.empty_cache()
            _FREED[device] = 0


def graphs_off_reason() -> str | None:
    """Why CUDA graphs are off for this process (a failed capture), or None while they are on."""
    return _GRAPHS_OFF["reason"]


def turn_graphs_off(reason: str) -> None:
    if _GRAPHS_OFF["reason"] is None:
        _GRAPHS_OFF["reason"] = reason


def announce_graphs_off() -> bool:
    """True exactly once after graphs were turned off: whoever gets True tells the user."""
    if _GRAPHS_OFF["reason"] is None or _GRAPHS_OFF["announced"]:
        return False
    _GRAPHS_OFF["announced"] = True
    return True


def _capture_streams(device: torch.device) -> tuple["torch.cuda.Stream", "torch.cuda.Stream"]:
    """The warm-up stream and the capture stream of `device`, made once and reused by every capture
    (new ones per capture over hundreds of trainings only add to what the driver keeps). Both come
    from the high-priority pool: `torch.cuda.Stream()` hands out a pool of 32 streams per priority
    round-robin, and the default-priority pool is where `--parallel`'s worker streams come from; a
    worker that was handed the capture stream would have its kernels captured into another
    child's graph."""
    if device not in _CAPTURE_STREAMS:
        _CAPTURE_STREAMS[device] = (torch.cuda.Stream(device, priority=-1), torch.cuda.Stream(device, priority=-1))
    return _CAPTURE_STREAMS[device]


def match_parameters(optimizer: torch.optim.Optimizer) -> None:
    """Give every optimiser state tensor its parameter's device, dtype and memory format.

    `Optimizer.load_state_dict` moves state to the parameter's device but keeps the saved layout, so
    a checkpoint written on the CPU (contiguous) and loaded for channels_last parameters on a GPU
    (or the other way) leaves momentum buffers in the wrong layout, which fused SGD refuses.
    `empty_like(p)` takes p's strides; the values are copied unchanged.
    """
    for group in optimizer.param_groups:
        for p in group["params"]:
            state = optimizer.state.get(p)
            if not state:
                continue
            for name, value in state.items():
                if torch.is_tensor(value) and value.shape == p.shape and (
                        value.device != p.device or value.dtype != p.dtype or value.stride() != p.stride()):
                    state[name] = torch.empty_like(p).copy_(value)


def scale_iterations(n: int, scale: float) -> int:
    """`--schedule-scale`: n iterations times `scale`, at least 1 (0 stays 0, e.g. T3 = 0)."""
    return 0 if n == 0 else max(1, round(n * scale))


@dataclass(frozen=True)
class Schedule:
    """EIGEN §4.1's recipe; `scaled(s)` multiplies every iteration count by s."""

    total: int = 25_000  # iterations
    milestones: tuple[int, ...] = (15_000, 20_000)  # iterations where the lr is multiplied by gamma
    gamma: float = 0.1
    lr: float = 0.1  # initial learning rate (a genome's own learning rate replaces it)
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128  # images per iteration
    # Beyond the paper (a final training's `long` recipe, eigen/training/recipes.py); the defaults are its:
    shape: str = "step"  # "step": lr x gamma at each milestone; "cosine": lr x (1 + cos(pi t / total)) / 2
    nesterov: bool = False
    label_smoothing: float = 0.0  # of the cross-entropy with the labels (mimicry's hard term too)
    # The `fast` child recipe's: iterations over which an exponential moving average of the weights
    # halves a step's weight (0: no average). Evaluated, saved and exported is the average.
    ema_half_life: int = 0

    def scaled(self, scale: float) -> "Schedule":
        s = lambda n: scale_iterations(n, scale)
        return replace(self, total=s(self.total), milestones=tuple(s(m) for m in self.milestones),
                       ema_half_life=s(self.ema_half_life))

    @property
    def ema_decay(self) -> float:
        """The weight the average keeps per iteration: 0.5 ** (1 / half-life)."""
        return 0.5 ** (1 / self.ema_half_life) if self.ema_half_life else 0.0

    def lr_at(self, step: int) -> float:
        if self.shape == "cosine":
            return self.lr * 0.5 * (1 + math.cos(math.pi * min(step, self.total) / self.total))
        return self.lr * self.gamma ** sum(step >= m for m in self.milestones)


@dataclass
class TrainResult:
    status: str  # "ok", "diverged", "failed: oom" or "failed: <reason>"
    step: int  # iterations done in total (across calls)
    seconds: float  # wall time of this call
    loss: float  # mean training loss over this call's iterations (nan if none ran)
    graphed: bool  # whether the steps ran as a replayed CUDA graph
    last: LogPoint | None = None  # the measurements at the end of this call (for metrics.csv), if any ran

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict:
        return asdict(self)


class Trainer:
    """Trains `model` on `data` with `schedule`, continuing across calls; see module docstring."""

    def __init__(self, model: torch.nn.Module, data: DeviceData, schedule: Schedule = Schedule(), *,
                 seed: int = 0, teacher_logits: torch.Tensor | None = None, mimicry: Mimicry = Mimicry(),
                 use_graph: bool = True):
        self.data, self.schedule, self.mimicry = data, schedule, mimicry
        self.device = data.device
        self.on_gpu = self.device.type == "cuda"
        self.model = model.to(self.device)
        if self.on_gpu:
            self.model = self.model.to(memory_format=torch.channels_last)
        if teacher_logits is not None and teacher_logits.shape[:1] != (data.num_train,):
            raise ValueError(f"teacher logits cover {teacher_logits.shape[0]} images, the training set "
                             f"{data.num_train}")
        self.teacher_logits = teacher_logits  # (N_train, NUM_VIEWS, K) or None
        self.lr = torch.tensor(schedule.lr, device=self.device)  # read by the optimiser inside the graph
        self._lr_value = schedule.lr
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=self.lr, momentum=schedule.momentum,
                                         weight_decay=schedule.weight_decay, nesterov=schedule.nesterov, fused=True)
        self.order = BatchOrder(data.num_train, schedule.batch_size, seed, self.device)
        self.step = 0
        self.status = "ok"
        self.log_every = max(1, schedule.total // LOG_POINTS)  # iterations between `on_log` points
        self.use_graph = use_graph and self.on_gpu and graphs_off_reason() is None
        self.graph_error: str | None = None  # why capture failed, if it did
        self.capture_seconds: float | None = None  # warm-up steps + capture, synchronised (bench/gpu_check.py)
        self._graph = None
        self._static_idx = torch.zeros(schedule.batch_size, dtype=torch.long, device=self.device)
        self._static_views = torch.zeros(schedule.batch_size, dtype=torch.long, device=self.device)
        self._loss_sum = torch.zeros((), device=self.device)  # summed inside the step, read at checks
        self._window = (0, 0.0, 0.0)  # (step, loss sum, clock) at the previous log point; train() resets it
        # The weight average (`schedule.ema_half_life`): made from the weights as they are when
        # training starts (after weight inheritance or a loaded checkpoint), not as built.
        self.average: torch.nn.Module | None = None
        self._average_pairs: tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]] | None = None

    # -- one step --------------------------------------------------------------------------------------
    def _loss(self) -> torch.Tensor:
        x = self.data.augmented(self._static_idx, self._static_views)
        y = self.data.train_y[self._static_idx]
        if self.on_gpu:
            x = x.contiguous(memory_format=torch.channels_last)
        # No autocast weight-cast cache: a cache that outlives one step is unsafe under graph capture.
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.on_gpu, cache_enabled=False):
            logits = self.model(x)
        smoothing = self.schedule.label_smoothing
        if self.teacher_logits is None:
            return F.cross_entropy(logits.float(), y, label_smoothing=smoothing)
        teacher = self.teacher_logits[self._static_idx, self._static_views]
        return mimicry_loss(logits.float(), y, teacher, self.mimicry, label_smoothing=smoothing)

    def _step(self, zero_grad: bool = True) -> None:
        """Forward, backward and update on the batch in the static index tensors."""
        if zero_grad:
            self.optimizer.zero_grad(set_to_none=True)
        loss = self._loss()
        loss.backward()
        self.optimizer.step()
        if self._average_pairs is not None:
            self._update_average()
        self._loss_sum += loss.detach()

    def _start_average(self) -> None:
        """Make the weight average from the weights as they are now (once; a loaded checkpoint
        brings its own)."""
        if self.schedule.ema_half_life and self.average is None:
            self.average = copy.deepcopy(self.model).requires_grad_(False)
            for p in self.average.parameters():
                p.grad = None
        if self.average is not None and self._average_pairs is None:
            live = list(self.model.parameters()) + list(self.model.buffers())
            kept = list(self.average.parameters()) + list(self.average.buffers())
            floats = [i for i, t in enumerate(live) if t.is_floating_point()]
            counts = [i for i, t in enumerate(live) if not t.is_floating_point()]  # BatchNorm's batch counters
            self._average_pairs = ([kept[i] for i in floats], [live[i] for i in floats],
                                   [kept[i] for i in counts], [live[i] for i in counts])

    @torch.no_grad()
    def _update_average(self) -> None:
        """average <- decay * average + (1 - decay) * weights, BatchNorm's running statistics too,
        in one fused lerp and one fused copy of BatchNorm's batch counters, both captured by a CUDA graph
        with the step (torch.optim.swa_utils' AveragedModel does the same lerp, but checks a device
        counter in Python every call: a host sync per step, which no graph can hold)."""
        kept, live, kept_counts, live_counts = self._average_pairs
        torch._foreach_lerp_(kept, live, 1.0 - self.schedule.ema_decay)
        if kept_counts:
            torch._foreach_copy_(kept_counts, live_counts)

    def _capture(self) -> None:
        """Record `_step` as a CUDA graph; the warm-up iterations before it are real training steps."""
        with SERIAL:
            self._capture_now()

    def _capture_now(self) -> None:
        main = torch.cuda.current_stream(self.device)
        side, capture = _capture_streams(self.device)
        for _ in range(GRAPH_WARMUP):
            # The batch is loaded on this training's own stream: the epoch's order tensors it may
            # allocate then belong to that stream, which reads them for the rest of the epoch (made
            # on the shared side stream, they were freed to its pool at the epoch's end while this
            # stream still read them, and another thread's warm-up could take them).
            self._load_batch(self.step)
            side.wait_stream(main)
            with torch.cuda.stream(side):
                self._step()
            main.wait_stream(side)
            self.step += 1
        # As in PyTorch's whole-network capture recipe: gradients are None going in, so backward
        # writes (not accumulates) them into the graph's own memory on every replay.
        self.optimizer.zero_grad(set_to_none=True)
        graph = torch.cuda.CUDAGraph()
        capture.wait_stream(main)
        # capture_begin/end rather than `torch.cuda.graph`, whose entry synchronises the whole device
        # and empties the allocator's cache: under `--parallel` that stalls every other thread's
        # training once per child. thread_local: work other threads issue on their own streams
        # meanwhile does not invalidate this capture. The stream context is left however the
        # capture ends (a failed capture_end inside `torch.cuda.graph` left the thread on it).
        with torch.cuda.stream(capture):
            graph.capture_begin(capture_error_mode="thread_local")
            try:
                self._step(zero_grad=False)
            finally:
                graph.capture_end()
        main.wait_stream(capture)
        self._graph = graph

    def _load_batch(self, step: int) -> None:
        idx, views = self.order.batch(step)
        self._static_idx.copy_(idx, non_blocking=True)
        self._static_views.copy_(views, non_blocking=True)
        lr = self.schedule.lr_at(step)
        if lr != self._lr_value:
            self.lr.fill_(lr)
            self._lr_value = lr

    # -- public -------------------------------------------------------------------------------------------
    def train(self, until: int, on_progress: Callable[[int, int, float], None] | None = None,
              on_log: Callable[[LogPoint], None] | None = None) -> TrainResult:
        """Train up to iteration `until` (absolute, not a count); failures come back as a status.

        `on_progress(step, until, mean_loss)`, if given, is called about twice a second (on a GPU only
        where the loss is read anyway, every CHECK_EVERY iterations), so a view can show a training
        that takes minutes moving instead of frozen. `on_log(LogPoint)`, if given, is called every
        `log_every` iterations (by iteration, not by time, so a curve's points do not depend on the
        machine); the point at the end of the call comes back in the result as `last` instead, for
        the caller to log with the validation accuracy it then measures."""
        start_step, started = self.step, time.perf_counter()
        told = started
        self._start_average()
        self.model.train()
        self._loss_sum.zero_()
        self._window = (start_step, 0.0, started)  # (step, loss sum, clock) at the previous log point
        try:
            while self.step < until and self.status == "ok":
                cancel.check()  # a --parallel worker whose driver stopped (Ctrl-C, SIGTERM): end now
                if self.use_graph and self._graph is None and until - self.step > GRAPH_WARMUP:
                    self._try_capture()
                self._load_batch(self.step)
                if self._graph is not None:
                    self._graph.replay()
                else:
                    self._step()
                self.step += 1
                checked = self.step % CHECK_EVERY == 0 or self.step == until
                if checked:
                    self._check_finite()
                if on_log is not None and self.step % self.log_every == 0 and self.step < until:
                    on_log(self._log_point(started))
                if on_progress is not None and (checked or not self.on_gpu) and time.perf_counter() - told >= PROGRESS_EVERY:
                    told = time.perf_counter()
                    on_progress(self.step, until, self._loss_sum.item() / (self.step - start_step))
        except torch.cuda.OutOfMemoryError:
            self._release("failed: oom")
        except OSError:
            raise  # metrics.csv on a full disk: the machine's problem, not this network's
        except Exception as e:  # a failed child is a result the search records, not a crash
            message = first_line(e)
            oom = "out of memory" in message or "can't allocate memory" in message
            self._release("failed: oom" if oom else failure_status(e))
        ran = self.step - start_step
        loss = self._loss_sum.item() / ran if ran and self.status == "ok" else math.nan
        last = self._log_point(started) if ran and self.step > self._window[0] else None
        return TrainResult(self.status, self.step, time.perf_counter() - started, loss, self._graph is not None, last)

    def _log_point(self, started: float) -> LogPoint:
        """The mean loss, learning rate and throughput since the previous point (one host sync)."""
        step0, sum0, clock0 = self._window
        now, total = time.perf_counter(), (self._loss_sum.item() if self.status == "ok" else math.nan)
        steps = self.step - step0
        self._window = (self.step, total, now)
        return LogPoint(step=self.step, loss=(total - sum0) / steps, lr=self.schedule.lr_at(self.step - 1),
                        images_per_s=steps * self.schedule.batch_size / max(now - clock0, 1e-9),
                        seconds=now - started)

    def _try_capture(self) -> None:
        started = time.perf_counter()
        try:
            self._capture()
            torch.cuda.current_stream(self.device).synchronize()  # this training's stream only (--parallel)
            self.capture_seconds = time.perf_counter() - started
        except torch.cuda.OutOfMemoryError:
            raise
        except Exception as e:  # capture is an optimisation: fall back to eager, say why
            self.graph_error = f"{type(e).__name__}: {first_line(e)}"[:200]
            turn_graphs_off(self.graph_error)
            self.use_graph = False
            self._graph = None
            torch.cuda.synchronize(self.device)

    def _check_finite(self) -> None:
        if not torch.isfinite(self._loss_sum).item():
            self.status = "diverged"

    def _release(self, status: str) -> None:
        """Drop everything this trainer holds on the GPU, so the next individual has the memory."""
        self.status = status
        self._graph = None
        self.optimizer.state.clear()
        self.model.to("cpu")
        self._average_pairs = None
        if self.average is not None:
            self.average.to("cpu")
        free_cached_memory(self.device, now=status == "failed: oom")

    @torch.no_grad()
    def evaluate(self, split: str = "val") -> float:
        """Accuracy in percent on the validation (or test) set; 0 for a failed or diverged model."""
        if self.status != "ok":
            return 0.0
        return evaluate(self.evaluated_model, self.data, split)

    @property
    def evaluated_model(self) -> torch.nn.Module:
        """The network whose accuracy is the result: the weight average where the schedule keeps
        one (once training began), else the trained weights."""
        return self.average if self.average is not None else self.model

    def state_dict(self) -> dict:
        """Everything needed to continue later: weights, momentum buffers, position in the schedule.

        Under a weight average, "model" holds the average (what was evaluated, and what eval,
        exports and weight inheritance read) and "live" the weights training continues from."""
        state = {"model": self.evaluated_model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "step": self.step, "status": self.status}
        if self.average is not None:
            state["live"] = self.model.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        if "live" in state:
            self.average = copy.deepcopy(self.model).requires_grad_(False)
            self.average.load_state_dict(state["model"])
            self._average_pairs = None
            self.model.load_state_dict(state["live"])
        else:
            self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        match_parameters(self.optimizer)  # resumed on another device: momentum follows the parameters
        for group in self.optimizer.param_groups:  # keep the shared device tensor, not a loaded copy
            group["lr"] = self.lr
        self.step, self.status = state["step"], state["status"]
        self._graph = None  # a graph holds addresses of the old state; capture again


@torch.no_grad()
def evaluate(model: torch.nn.Module, data: DeviceData, split: str = "val") -> float:
    """Accuracy in percent of `model` on `split` ("val" or "test"), unaugmented."""
    return ensemble_accuracy([model], data, split)


@torch.no_grad()
def majority_vote_accuracy(models: list[torch.nn.Module], data: DeviceData, split: str = "val") -> float:
    """Accuracy in percent of a majority vote of the models' predicted classes: Large-Scale
    Evolution's ensemble (its 95.6% is the top 2 by validation, "ensembling was done by majority
    voting"). A tie (two models that disagree) goes to the class with the larger mean softmax."""
    def vote(probabilities: torch.Tensor) -> torch.Tensor:  # (M, B, K) -> (B, K)
        votes = F.one_hot(probabilities.argmax(dim=2), probabilities.shape[2]).sum(dim=0).float()
        return votes + probabilities.mean(dim=0) * 0.5  # the mean softmax < 1 vote: it only breaks ties
    return _accuracy(models, data, split, vote)


@torch.no_grad()
def ensemble_accuracy(models: list[torch.nn.Module], data: DeviceData, split: str = "val") -> float:
    """Accuracy in percent of the mean of the models' softmax outputs (for one model, its own
    accuracy)."""
    return _accuracy(models, data, split, lambda probabilities: probabilities.mean(dim=0))


def _accuracy(models: list[torch.nn.Module], data: DeviceData, split: str, combine) -> float:
    """Accuracy in percent of `combine`((M, B, K) softmax outputs) -> (B, K) scores on `split`.
    Models are put in eval mode and left as they were; correct answers are summed on the device, so
    the whole split costs one host sync."""
    modes = [m.training for m in models]
    for model in models:
        model.eval()
    on_gpu = data.device.type == "cuda"
    correct = torch.zeros((), dtype=torch.long, device=data.device)
    total = 0
    for x, y in data.eval_batches(split):
        if on_gpu:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(data.device.type, dtype=torch.bfloat16, enabled=on_gpu):
            if len(models) == 1:
                scores = models[0](x)  # argmax of the logits: no softmax needed for one model
            else:
                scores = combine(torch.stack([m(x).float().softmax(dim=1) for m in models]))
        correct += (scores.argmax(dim=1) == y).sum()
        total += len(y)
    for model, mode in zip(models, modes):
        model.train(mode)
    return 100.0 * correct.item() / total
