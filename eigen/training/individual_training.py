"""Training one individual of a search up to a stage boundary, from one checkpoint to the next.

The search never holds a model between stages: each call builds the network, loads the checkpoint of
the previous stage (or starts fresh), trains to the iteration `until`, measures validation accuracy
and writes the new checkpoint. Because a checkpoint holds the weights, the momentum buffers and the
position in the schedule, and the batch order is a pure function of (seed, iteration), a run that is
killed and resumed trains every individual exactly as an uninterrupted run would.

`IndividualTrainer` is the seam the search is tested through: a scripted implementation can stand in
for `TorchIndividuals` so that the loop's rules are checked without training anything.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import torch

from ..errors import first_line, own_file_missing
from ..genome.dna import Genome
from ..genome.inheritance import inherit
from ..genome.model import build_model
from ..run_folder.folder import interpreting, load_checkpoint, write_torch
from .job import StageResult, Training, failure_status
from .metrics import training_name
from .mimicry import Mimicry
from .trainer import (Trainer, announce_graphs_off, evaluate, free_cached_memory, graphs_off_reason,
                      majority_vote_accuracy, seeded)


class IndividualTrainer(Protocol):
    def train(self, training: Training, on_progress=None) -> StageResult:
        """Train `training.what` (a genome) to iteration `training.until`, from `start_from`'s
        checkpoint or from scratch (starting from the matching weights of `inherit_from` if one is
        given), saving to `save_to`; `on_progress(step, until, loss)`, if given, hears how the
        training goes while it runs."""

    def test_accuracy(self, checkpoint: Path) -> float:
        """Test accuracy in percent of the model in `checkpoint` (touches the test set)."""

    def vote_accuracies(self, checkpoints: list[Path], splits: tuple[str, ...]) -> dict[str, float]:
        """Accuracy in percent of the majority vote of the models in `checkpoints`, on each split."""


def training_seed(run_seed: int, genome: Genome, purpose: str = "search") -> int:
    """The seed of an individual's initial weights and batch order: the same genome in the same run
    always trains the same way, which is what lets a recorded result stand in for training it again.

    The final trainings of `eigen duplicate` (purpose "final") draw from another stream: with the
    search's seed, the genome as found would replay the very run that selection picked for its luck,
    while every duplicated candidate got a fresh draw, a comparison biased against duplication."""
    salt = "" if purpose == "search" else f"{purpose}:"
    digest = hashlib.sha256(f"{run_seed}:{salt}{genome.key()}".encode()).hexdigest()
    return int(digest[:8], 16) & 0x7FFFFFFF


class TorchIndividuals:
    """The real thing: `eigen.train.Trainer` on data that lives on the device."""

    def __init__(self, data, schedule, *, teacher_logits=None, mimicry=None, use_graph: bool = True,
                 keep_optimizer: bool = True, say=lambda text: None, metrics=None, stage: str = "train"):
        self.data, self.schedule = data, schedule
        self.metrics, self.stage = metrics, stage  # a MetricsLog for metrics.csv; the stage its rows name
        self.teacher_logits, self.mimicry = teacher_logits, mimicry or Mimicry()
        self.use_graph = use_graph
        # A checkpoint that will only be inherited from, never continued, needs no momentum buffers.
        self.keep_optimizer = keep_optimizer
        self.say = say  # told once, when a failed capture turns CUDA graphs off for the process

    def _build(self, genome: Genome, seed: int):
        model = seeded(seed, lambda: build_model(genome, self.data.num_classes, self.data.image_size))
        schedule = replace(self.schedule, lr=genome.learning_rate)  # the genome's own learning rate
        return Trainer(model, self.data, schedule, seed=seed, teacher_logits=self.teacher_logits,
                       mimicry=self.mimicry, use_graph=self.use_graph)

    def train(self, training: Training, on_progress=None) -> StageResult:
        genome, seed, until = training.what, training.seed, training.until
        start_from, save_to, inherit_from = training.start_from, training.save_to, training.inherit_from
        started = time.perf_counter()
        trainer = None
        inherited = 0
        graphed, graph_error, status = False, None, None
        log = self.metrics.training(*training_name(save_to, self.stage)) if self.metrics is not None else None
        for path, what in ((start_from, "the checkpoint to continue"), (inherit_from, "the parent's weights to inherit")):
            if path is not None and not Path(path).exists():
                raise own_file_missing(path, what)  # a bug in the caller, not this network's result
        try:
            trainer = self._build(genome, seed)
            if start_from is not None:
                trainer.load_state_dict(torch.load(start_from, map_location=self.data.device,
                                                   weights_only=True)["trainer"])
            elif inherit_from is not None:
                parent = torch.load(inherit_from, map_location=self.data.device, weights_only=True)
                inherited = len(inherit(trainer.model, parent["trainer"]["model"]))
            first = trainer.step
            result = trainer.train(until=until, on_progress=on_progress, on_log=log)
            graphed, graph_error = result.graphed, graphs_off_reason() if self.data.device.type == "cuda" else None
            if trainer.graph_error is not None and announce_graphs_off():
                self.say(f"warning: CUDA graph capture failed ({trainer.graph_error}); every training from now on "
                         f"runs eager (slower, same results), and the history records which ones did")
            fitness = trainer.evaluate("val") if result.ok else 0.0
            if log is not None:
                log.end(result.last, fitness if result.ok else None)
            if result.ok:
                state = trainer.state_dict()
                if not self.keep_optimizer:  # only ever inherited from: the weights evaluated are enough
                    del state["optimizer"]
                    state.pop("live", None)
                write_torch(save_to, checkpoint(genome, self.data, state))
            status, step, iterations = result.status, result.step, result.step - first
        except torch.cuda.OutOfMemoryError:
            status, fitness, step, iterations = "failed: oom", 0.0, 0, 0
        except OSError:
            raise  # a full disk or a lost file is the machine's problem, not this network's: stop the run
        except Exception as e:  # a network that cannot even be built or loaded is a result, not a crash
            status, fitness, step, iterations = failure_status(e), 0.0, 0, 0
        finally:
            if log is not None:
                log.close()
            del trainer
            free_cached_memory(self.data.device, now=status == "failed: oom")
        return StageResult(status, fitness, step, iterations, time.perf_counter() - started, inherited,
                           graphed, graph_error)

    def test_accuracy(self, checkpoint_path: Path) -> float:
        model = load_model(checkpoint_path, self.data.device)
        return evaluate(model, self.data, "test")

    def vote_accuracies(self, checkpoints: list[Path], splits: tuple[str, ...]) -> dict[str, float]:
        models = [load_model(path, self.data.device) for path in checkpoints]  # loaded once for every split
        return {split: majority_vote_accuracy(models, self.data, split) for split in splits}


def checkpoint(genome: Genome, data, trainer_state: dict) -> dict:
    """What a checkpoint holds: the genome beside the weights, so it can always be rebuilt."""
    return {"genome": genome.to_dict(), "num_classes": data.num_classes, "image_size": data.image_size,
            "preprocess": data.preprocess.kind, "trainer": trainer_state}


def load_model(path: Path, device="cpu"):
    """Rebuild the network saved in a checkpoint, with its trained weights, on `device`."""
    fix = "restore it from a copy, or train it again"
    saved = load_checkpoint(path, "the model's weights", fix, map_location=device)
    with interpreting(path, "the model's weights", fix):  # a checkpoint of another shape or network
        genome = Genome.from_dict(saved["genome"], saved["image_size"])
        model = build_model(genome, saved["num_classes"], saved["image_size"]).to(device)
        if torch.device(device).type == "cuda":  # as it trained: evaluation feeds channels_last batches
            model = model.to(memory_format=torch.channels_last)
        try:
            model.load_state_dict(saved["trainer"]["model"])
        except RuntimeError as e:  # weights of another network: torch's "Error(s) in loading state_dict"
            raise ValueError(first_line(e)) from None
    return model
