"""`eigen train-teacher` (SPEC §8, EIGEN §3.2): train the DenseNet-BC ensemble, then cache its logits.

Members train one after another with the project's trainer (data on the device, CUDA graphs),
checkpointing every epoch so that a killed run resumes where it stopped, and the command writes
`teachers/<dataset>/`:

    member-<i>.pt        weights and architecture of each member (with its accuracies, GPU-seconds)
    ensemble.json        architecture, recipe, every member's and the ensemble's val/test accuracy
    logits-<key>.pt      the logits cache (`training/teacher.py`)

Recipe (the DenseNet paper's CIFAR recipe on our trainer): SGD, momentum 0.9, weight decay 1e-4,
batch 128, lr 0.1 divided by 10 at 50% and 75% of the epochs, standard C10+/C100+ augmentation.
"""
from __future__ import annotations

import datetime
import gc
import time
from pathlib import Path

import torch

from ..data.device_data import NUM_VIEWS, DeviceData
from ..errors import EigenError
from ..runfolder import (holds_locks, interpreting, load_checkpoint, lock_folder, sweep_temporaries, write_json,
                         write_torch)
from ..training.teacher import build_member, load_member, member_ensemble_accuracy, teacher_logits

WEIGHT_DECAY = 1e-4  # DenseNet's CIFAR recipe


BATCH_SIZE = 128  # images per iteration (the Schedule default)


LR_STEPS = (0.5, 0.75)  # fractions of the epochs where the lr is divided by 10


def teacher_schedule(epochs: int, steps_per_epoch: int):
    from ..training.trainer import Schedule
    total = epochs * steps_per_epoch
    return Schedule(total=total, milestones=tuple(max(1, round(total * f)) for f in LR_STEPS), lr=0.1,
                    weight_decay=WEIGHT_DECAY, batch_size=BATCH_SIZE)


def _architecture(config, num_classes: int) -> dict:
    return {"model": "densenet-bc", "depth": config.depth, "growth": config.growth, "num_classes": num_classes}


@holds_locks
def train_teacher_command(config, say=print) -> int:
    """`eigen train-teacher`: train (or finish training) the ensemble, evaluate it, cache its logits."""
    from tqdm import tqdm

    from ..data.datasets import load_splits
    from ..device import resolve_device
    from ..training.trainer import Trainer, evaluate

    device = resolve_device(config.gpu)
    splits = load_splits(config.dataset, config.data_dir, config.image_size)
    folder = Path(config.out or Path("teachers") / splits.identity)  # what `eigen search` looks for
    for line in (splits.describe(), *splits.notes):
        say(line)
    arch = _architecture(config, splits.num_classes)
    try:
        build_member(arch)
    except ValueError as e:
        raise EigenError(str(e)) from None
    if len(splits.train) < BATCH_SIZE:
        raise EigenError(f"{config.dataset} has {len(splits.train)} training images, fewer than one batch ({BATCH_SIZE})")
    data = DeviceData(splits, device, with_test=True)
    folder.mkdir(parents=True, exist_ok=True)
    lock_folder(folder, "train-teacher")  # one writer per folder, before anything is swept or written
    sweep_temporaries(folder)  # left by a kill mid-write
    steps_per_epoch = data.num_train // BATCH_SIZE
    schedule = teacher_schedule(config.epochs, steps_per_epoch)
    started = time.monotonic()
    members = []
    for i in range(config.members):
        path = folder / f"member-{i}.pt"
        if path.exists():
            saved = load_checkpoint(path, f"teacher member {i}", f"remove it to train member {i} again")
            if not isinstance(saved, dict) or not {"architecture", "epochs", "model", "val_accuracy"} <= set(saved):
                raise EigenError(f"{path} is not a teacher member eigen wrote; remove it to train member {i} again")
            if saved["architecture"] == arch and saved["epochs"] == config.epochs:
                say(f"member {i}: already trained ({saved['val_accuracy']:.2f}% validation), kept")
                members.append(saved)
                continue
            raise EigenError(f"{path} holds a different teacher ({saved['architecture']}, {saved['epochs']} epochs); "
                             f"use another --out or remove {folder}")
        partial = folder / f"member-{i}.partial.pt"
        torch.manual_seed(config.seed * 1000 + i)
        trainer = Trainer(build_member(arch), data, schedule, seed=config.seed * 1000 + i)
        seconds = 0.0
        if partial.exists():
            state = load_checkpoint(partial, f"the half-trained member {i}",
                                    f"remove it to start member {i} again", map_location=device)
            with interpreting(partial, f"the half-trained member {i}", f"remove it to start member {i} again"):
                trainer.load_state_dict(state["trainer"])
                seconds = float(state["seconds"])
        epochs = tqdm(range(trainer.step // steps_per_epoch, config.epochs), desc=f"member {i}", unit="epoch",
                      initial=trainer.step // steps_per_epoch, total=config.epochs)
        for epoch in epochs:
            if config.time_budget is not None and time.monotonic() - started >= config.time_budget:
                say(f"time budget spent: member {i} stopped after epoch {epoch}; run the same command to continue")
                return 0
            result = trainer.train(until=(epoch + 1) * steps_per_epoch)
            if not result.ok:
                raise EigenError(f"teacher member {i} stopped at epoch {epoch + 1}: {result.status}")
            seconds += result.seconds
            write_torch(partial, {"trainer": trainer.state_dict(), "seconds": seconds})
            epochs.set_postfix(loss=f"{result.loss:.3f}")
        model = trainer.model
        saved = {"architecture": arch, "epochs": config.epochs, "model": model.state_dict(),
                 "val_accuracy": evaluate(model, data, "val"), "test_accuracy": evaluate(model, data, "test"),
                 "gpu_seconds": seconds, "images_per_second": config.epochs * steps_per_epoch * BATCH_SIZE / max(seconds, 1e-9)}
        write_torch(path, saved)
        partial.unlink(missing_ok=True)
        say(f"member {i}: {saved['val_accuracy']:.2f}% validation, {saved['test_accuracy']:.2f}% test, "
            f"{seconds:.0f} s")
        members.append(saved)
        del trainer, model  # the next member needs the device's memory, not this one's leftovers
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()

    models = [load_member(m, device) for m in members]
    summary = {
        "architecture": arch, "recipe": {"epochs": config.epochs, "batch_size": BATCH_SIZE, "lr": 0.1,
                                         "lr_steps": LR_STEPS, "weight_decay": WEIGHT_DECAY, "momentum": 0.9},
        "params_per_member": sum(p.numel() for p in models[0].parameters()),
        "members": [{"file": f"member-{i}.pt", "val_accuracy": m["val_accuracy"], "test_accuracy": m["test_accuracy"],
                     "gpu_seconds": round(m["gpu_seconds"], 1), "images_per_second": round(m["images_per_second"])}
                    for i, m in enumerate(members)],
        "ensemble": {"val_accuracy": member_ensemble_accuracy(models, data, "val"),
                     "test_accuracy": member_ensemble_accuracy(models, data, "test")},
        "data": {"dataset": splits.name, "fingerprint": data.fingerprint, "classes": splits.num_classes},
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    write_json(folder / "ensemble.json", summary)
    say(f"ensemble of {len(models)}: {summary['ensemble']['val_accuracy']:.2f}% validation, "
        f"{summary['ensemble']['test_accuracy']:.2f}% test -> {folder}/ensemble.json")
    started = time.monotonic()
    teacher_logits(folder, data)
    cache_seconds = time.monotonic() - started
    write_json(folder / "ensemble.json", {**summary, "logits_cache_seconds": round(cache_seconds, 1)})  # the cost
    say(f"logits of {data.num_train} images x {NUM_VIEWS} views cached in {cache_seconds:.1f} s")
    return 0
