"""The teacher (SPEC §8, EIGEN §3.2): a DenseNet-BC ensemble and its exact cached logits.

`eigen train-teacher` trains `--members` DenseNet-BC models with the project's trainer (data on the
device, CUDA graphs), one after another, checkpointing every epoch so that a killed run resumes
where it stopped, and writes `teachers/<dataset>/`:

    member-<i>.pt        weights and architecture of each member (with its accuracies, GPU-seconds)
    ensemble.json        architecture, recipe, every member's and the ensemble's val/test accuracy
    logits-<key>.pt      the cache below

Recipe (the DenseNet paper's CIFAR recipe on our trainer): SGD, momentum 0.9, weight decay 1e-4,
batch 128, lr 0.1 divided by 10 at 50% and 75% of the epochs, standard C10+/C100+ augmentation.

Running the ensemble next to every student would cost more than training the students, so its
logits are computed once for every training image under every augmentation view (9 x 9 crop
offsets x 2 flips = 162; the finite set `DeviceData.augmented` can produce), averaged over the
members, stored fp16 as (N_train, 162, K), and gathered per batch by (image, view): each student
sees the teacher's output for exactly the image it trains on. The cache's key covers the data split,
the members' weights, the augmentation and the class count; a stale cache is rebuilt.
"""
from __future__ import annotations

import datetime
import hashlib
import time
from pathlib import Path

import torch

from .densenet import DenseNetBC
from .device_data import NUM_VIEWS, PAD, DeviceData
from .errors import EigenError
from .runfolder import read_json, sweep_temporaries, write_json, write_torch

WEIGHT_DECAY = 1e-4  # DenseNet's CIFAR recipe
BATCH_SIZE = 128  # images per iteration (the Schedule default)
LR_STEPS = (0.5, 0.75)  # fractions of the epochs where the lr is divided by 10


def teacher_schedule(epochs: int, steps_per_epoch: int):
    from .train import Schedule
    total = epochs * steps_per_epoch
    return Schedule(total=total, milestones=tuple(max(1, round(total * f)) for f in LR_STEPS), lr=0.1,
                    weight_decay=WEIGHT_DECAY, batch_size=BATCH_SIZE)


def _architecture(config, num_classes: int) -> dict:
    return {"model": "densenet-bc", "depth": config.depth, "growth": config.growth, "num_classes": num_classes}


def build_member(arch: dict) -> DenseNetBC:
    return DenseNetBC(arch["depth"], arch["growth"], arch["num_classes"])


def train_teacher_command(config, say=print) -> int:
    """`eigen train-teacher`: train (or finish training) the ensemble, evaluate it, cache its logits."""
    from tqdm import tqdm

    from .data import load_splits
    from .device import resolve_device
    from .train import Trainer, evaluate

    device = resolve_device(config.gpu)
    splits = load_splits(config.dataset, config.data_dir, config.image_size)
    folder = Path(config.out or Path("teachers") / splits.name)
    arch = _architecture(config, splits.num_classes)
    try:
        build_member(arch)
    except ValueError as e:
        raise EigenError(str(e)) from None
    if len(splits.train) < BATCH_SIZE:
        raise EigenError(f"{config.dataset} has {len(splits.train)} training images, fewer than one batch ({BATCH_SIZE})")
    data = DeviceData(splits, device, with_test=True)
    folder.mkdir(parents=True, exist_ok=True)
    sweep_temporaries(folder)  # left by a kill mid-write
    steps_per_epoch = data.num_train // BATCH_SIZE
    schedule = teacher_schedule(config.epochs, steps_per_epoch)
    started = time.monotonic()
    members = []
    for i in range(config.members):
        path = folder / f"member-{i}.pt"
        if path.exists():
            saved = torch.load(path, map_location="cpu", weights_only=True)
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
            state = torch.load(partial, map_location=device, weights_only=True)
            trainer.load_state_dict(state["trainer"])
            seconds = state["seconds"]
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

    models = [_loaded(m, device) for m in members]
    summary = {
        "architecture": arch, "recipe": {"epochs": config.epochs, "batch_size": BATCH_SIZE, "lr": 0.1,
                                         "lr_steps": LR_STEPS, "weight_decay": WEIGHT_DECAY, "momentum": 0.9},
        "params_per_member": sum(p.numel() for p in models[0].parameters()),
        "members": [{"file": f"member-{i}.pt", "val_accuracy": m["val_accuracy"], "test_accuracy": m["test_accuracy"],
                     "gpu_seconds": round(m["gpu_seconds"], 1), "images_per_second": round(m["images_per_second"])}
                    for i, m in enumerate(members)],
        "ensemble": {"val_accuracy": _ensemble_accuracy(models, data, "val"),
                     "test_accuracy": _ensemble_accuracy(models, data, "test")},
        "data": {"dataset": splits.name, "fingerprint": data.fingerprint, "classes": splits.num_classes},
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    write_json(folder / "ensemble.json", summary)
    say(f"ensemble of {len(models)}: {summary['ensemble']['val_accuracy']:.2f}% validation, "
        f"{summary['ensemble']['test_accuracy']:.2f}% test -> {folder}/ensemble.json")
    started = time.monotonic()
    teacher_logits(folder, data)
    say(f"logits of {data.num_train} images x {NUM_VIEWS} views cached in {time.monotonic() - started:.1f} s")
    return 0


def _loaded(saved: dict, device) -> torch.nn.Module:
    model = build_member(saved["architecture"])
    model.load_state_dict(saved["model"])
    return model.to(device).eval()


@torch.no_grad()
def _ensemble_logits(models, x: torch.Tensor) -> torch.Tensor:
    on_gpu = x.device.type == "cuda"
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=on_gpu):
        return torch.stack([m(x).float() for m in models]).mean(dim=0)


@torch.no_grad()
def _ensemble_accuracy(models, data: DeviceData, split: str) -> float:
    correct = total = 0
    for x, y in data.eval_batches(split):
        correct += (_ensemble_logits(models, x).argmax(1) == y).sum().item()
        total += len(y)
    return 100.0 * correct / total


def _teacher_fingerprint(folder: Path, ensemble: dict) -> str:
    h = hashlib.sha256()
    for member in ensemble["members"]:
        h.update((folder / member["file"]).read_bytes())
    return h.hexdigest()[:16]


def cache_key(folder: Path, ensemble: dict, data: DeviceData) -> str:
    """What the cached logits depend on: the split, the members' weights, the views, the classes."""
    parts = [data.fingerprint, _teacher_fingerprint(folder, ensemble), f"pad={PAD}", f"views={NUM_VIEWS}",
             f"classes={data.num_classes}"]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def teacher_logits(folder: Path, data: DeviceData, say=lambda text: None, batch_size: int = 1024) -> torch.Tensor:
    """The ensemble's mean logits (N_train, NUM_VIEWS, K) fp16 on `data.device`; built once, then cached."""
    folder = Path(folder)
    ensemble = read_json(folder / "ensemble.json", "the teacher's description")
    classes = ensemble["architecture"]["num_classes"]
    if classes != data.num_classes:
        raise EigenError(f"the teacher in {folder} predicts {classes} classes, the data has {data.num_classes}; "
                         f"train a teacher for this dataset with `eigen train-teacher --dataset ...`")
    key = cache_key(folder, ensemble, data)
    path = folder / f"logits-{key}.pt"
    if path.exists():
        cached = torch.load(path, map_location="cpu", weights_only=True)
        if cached["key"] == key and tuple(cached["logits"].shape) == (data.num_train, NUM_VIEWS, classes):
            return cached["logits"].to(data.device)
    say(f"building the teacher's logits cache ({data.num_train} images x {NUM_VIEWS} views)")
    for stale in folder.glob("logits-*.pt"):
        stale.unlink()
    models = [_loaded(torch.load(folder / m["file"], map_location="cpu", weights_only=True), data.device)
              for m in ensemble["members"]]
    logits = torch.empty(data.num_train, NUM_VIEWS, classes, dtype=torch.float16, device=data.device)
    for view in range(NUM_VIEWS):
        for start in range(0, data.num_train, batch_size):
            idx = torch.arange(start, min(start + batch_size, data.num_train), device=data.device)
            x = data.augmented(idx, torch.full_like(idx, view))
            logits[idx, view] = _ensemble_logits(models, x).half()
    write_torch(path, {"key": key, "logits": logits.cpu()})
    return logits
