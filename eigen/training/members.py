"""Training one teacher member, a chunk of epochs at a time: train-teacher's `IndividualTrainer`.

A member's partial checkpoint (`member-<i>.partial.pt`) holds its trainer's whole state and the
device-seconds spent so far; each call continues it to the iteration `until` and writes it again,
so an executor can run the members side by side (or on other machines) and a killed run resumes
at the last chunk written.
"""
from __future__ import annotations

import time
import torch

from ..run_folder.folder import write_torch
from .job import StageResult, Training
from .teacher import build_member
from .trainer import Trainer, free_cached_memory, seeded


class MemberTrainer:
    """Trains DenseNet-BC members on data that lives on the device (the DenseNet CIFAR recipe)."""

    def __init__(self, data, schedule):
        self.data, self.schedule = data, schedule

    def train(self, training: Training, on_progress=None) -> StageResult:
        """Continue the member in `training.start_from` (or a fresh one from its seed) to iteration
        `training.until`; the result's fitness is 0 (the caller evaluates the finished member)."""
        arch, seed, until, start_from = training.what, training.seed, training.until, training.start_from
        save_to = training.save_to
        started = time.perf_counter()
        trainer = Trainer(seeded(seed, lambda: build_member(arch)), self.data, self.schedule, seed=seed)
        try:
            seconds = 0.0
            if start_from is not None:
                state = torch.load(start_from, map_location=self.data.device, weights_only=True)
                trainer.load_state_dict(state["trainer"])
                seconds = float(state["seconds"])
            first = trainer.step
            result = trainer.train(until=until, on_progress=on_progress)
            if result.ok:
                write_torch(save_to, {"trainer": trainer.state_dict(), "seconds": seconds + result.seconds,
                                      "loss": result.loss})
            return StageResult(result.status, 0.0, result.step, result.step - first, time.perf_counter() - started,
                               graphed=result.graphed, graph_error=trainer.graph_error)
        finally:
            del trainer  # the next member needs the device's memory, not this one's leftovers
            free_cached_memory(self.data.device)
