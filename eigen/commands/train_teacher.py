"""`eigen train-teacher` (SPEC §8, EIGEN §3.2): train the DenseNet-BC ensemble, then cache its logits.

Members train with the project's trainer (data on the device, CUDA graphs) on the command's
executor: one after another by default, side by side with `--parallel K`, on a Ray cluster with
`--ray`. Each trains in chunks of about 1/40 of its epochs, checkpointing after each, so that a
killed run resumes where it stopped; the command writes
`teachers/<dataset>/`:

    member-<i>.pt        weights and architecture of each member (with its accuracies, GPU-seconds)
    ensemble.json        architecture, recipe, every member's and the ensemble's val/test accuracy
    logits-<key>.pt      the logits cache (`training/teacher.py`)

Recipe (the DenseNet paper's CIFAR recipe on our trainer): SGD, momentum 0.9, weight decay 1e-4,
batch 128, lr 0.1 divided by 10 at 50% and 75% of the epochs, standard C10+/C100+ augmentation.
"""
from __future__ import annotations

import dataclasses
import datetime
import time
from dataclasses import dataclass
from pathlib import Path

from ..config import default_preprocess
from ..data.device_data import NUM_VIEWS, DeviceData
from ..data.preprocess import prepared
from ..errors import EigenError
from ..executors.threads import THREADS_FIELD
from ..progress import Bar, counting
from ..run_folder.folder import holds_locks, interpreting, load_checkpoint, write_json, write_torch
from ..training.recipes import BEFORE_RECIPES, TEACHER_RECIPES
from ..training.teacher import build_member, load_member, member_ensemble_accuracy, teacher_logits
from .setup import check_extras, executor_for, load_data, open_folder



def _chunk(arch: dict, config, i: int, step: int, steps_per_epoch: int, partial: Path):
    """Member i's next chunk of epochs, from iteration `step` (a fresh member at 0): about 40 chunks
    per member, each ending with the partial checkpoint a killed run resumes from."""
    from ..executors.work import Training
    epochs = max(1, round(config.epochs / 40))
    epoch = step // steps_per_epoch
    end = min(config.epochs, epoch + epochs)
    return Training(arch, config.seed * 1000 + i, end * steps_per_epoch, save_to=partial,
                    start_from=partial if step else None)


def _architecture(config, num_classes: int) -> dict:
    return {"model": "densenet-bc", "depth": config.depth, "growth": config.growth, "num_classes": num_classes,
            "preprocess": config.preprocess, "recipe": config.recipe}


def members_to_train(folder: Path, arch: dict, config, steps_per_epoch: int, say) -> tuple[dict, list, dict]:
    """What the folder already holds: (members trained, the trainings still to run, the epoch each of
    those starts at). A member trained to the end is kept; a half-trained one continues where a kill
    left it; one of another architecture or length is refused."""
    members: dict[int, dict] = {}
    queue = []
    first_epoch: dict[int, int] = {}  # where each member still to train starts (0, or where a kill left it)
    for i in range(config.members):
        path = folder / f"member-{i}.pt"
        if path.exists():
            saved = load_checkpoint(path, f"teacher member {i}", f"remove it to train member {i} again")
            if not isinstance(saved, dict) or not {"architecture", "epochs", "model", "val_accuracy"} <= set(saved):
                raise EigenError(f"{path} is not a teacher member eigen wrote; remove it to train member {i} again")
            before = {"preprocess": "standard", "recipe": BEFORE_RECIPES}  # members from before the choices
            if {**before, **saved["architecture"]} == arch and saved["epochs"] == config.epochs:
                say(f"member {i}: already trained ({saved['val_accuracy']:.2f}% validation), kept")
                members[i] = saved
                continue
            raise EigenError(f"{path} holds a different teacher ({saved['architecture']}, {saved['epochs']} epochs); "
                             f"use another --out or remove {folder}")
        partial = folder / f"member-{i}.partial.pt"
        step = 0
        if partial.exists():
            state = load_checkpoint(partial, f"the half-trained member {i}", f"remove it to start member {i} again")
            with interpreting(partial, f"the half-trained member {i}", f"remove it to start member {i} again"):
                step = int(state["trainer"]["step"])
                float(state["seconds"])
        queue.append((i, _chunk(arch, config, i, step, steps_per_epoch, partial)))
        first_epoch[i] = step // steps_per_epoch
    return members, queue, first_epoch


def finished_member(folder: Path, i: int, arch: dict, config, data, device, steps_per_epoch: int) -> dict:
    """Member i trained to the end: evaluated once, saved as member-<i>.pt, its partial checkpoint gone."""
    from ..training.trainer import evaluate
    partial = folder / f"member-{i}.partial.pt"
    state = load_checkpoint(partial, f"the half-trained member {i}", f"remove it to start member {i} again",
                            map_location=device)
    model = load_member({"architecture": arch, "model": state["trainer"]["model"]}, device)
    seconds = float(state["seconds"])
    saved = {"architecture": arch, "epochs": config.epochs, "model": model.state_dict(),
             "val_accuracy": evaluate(model, data, "val"), "test_accuracy": evaluate(model, data, "test"),
             "gpu_seconds": seconds,
             "images_per_second": config.epochs * steps_per_epoch * TEACHER_RECIPES[config.recipe].batch_size
             / max(seconds, 1e-9)}
    write_torch(folder / f"member-{i}.pt", saved)
    partial.unlink(missing_ok=True)
    return saved


def write_ensemble(folder: Path, arch: dict, config, members: list[dict], splits, data, device, say,
                   quiet: bool = False) -> None:
    """ensemble.json (every member's and the ensemble's accuracy, the recipe), then the logits cache."""
    import torch

    from ..training.trainer import free_cached_memory
    free_cached_memory(device)
    models = [load_member(m, device) for m in members]
    summary = {
        "architecture": arch, "preprocess": config.preprocess,
        "recipe": TEACHER_RECIPES[config.recipe].describe(config.recipe, config.epochs),
        "params_per_member": sum(p.numel() for p in models[0].parameters()),
        "members": [{"file": f"member-{i}.pt", "val_accuracy": m["val_accuracy"], "test_accuracy": m["test_accuracy"],
                     "gpu_seconds": round(m["gpu_seconds"], 1), "images_per_second": round(m["images_per_second"])}
                    for i, m in enumerate(members)],
        "ensemble": {"val_accuracy": member_ensemble_accuracy(models, data, "val"),
                     "test_accuracy": member_ensemble_accuracy(models, data, "test")},
        "data": {"dataset": splits.name, "fingerprint": data.fingerprint, "classes": splits.num_classes},
        THREADS_FIELD: torch.get_num_threads(),  # this sitting's: a continued teacher trains with its own
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    write_json(folder / "ensemble.json", summary)
    say(f"ensemble of {len(models)}: {summary['ensemble']['val_accuracy']:.2f}% validation, "
        f"{summary['ensemble']['test_accuracy']:.2f}% test -> {folder}/ensemble.json")
    started = time.monotonic()
    with counting("teacher's logits cache", "views", quiet=quiet) as tick:
        teacher_logits(folder, data, progress=tick)
    cache_seconds = time.monotonic() - started
    write_json(folder / "ensemble.json", {**summary, "logits_cache_seconds": round(cache_seconds, 1)})  # the cost
    say(f"logits of {data.num_train} images x {NUM_VIEWS} views cached in {cache_seconds:.1f} s")


@dataclass(frozen=True)
class TeacherOutcome:
    """Where a teacher's sitting left its folder: finished (ensemble.json written, logits cached), or
    stopped by its time budget with each member checkpointed (the same call continues it)."""

    folder: Path
    finished: bool


@holds_locks
def train_teacher_command(config, say=print) -> int:
    """`run_train_teacher` as a command that returns its exit code (the tests drive it this way; the
    CLI goes through `eigen.train_teacher`)."""
    run_train_teacher(config, say=say)
    return 0


@holds_locks
def run_train_teacher(config, *, given=None, say=print, quiet: bool = False) -> TeacherOutcome:
    """`eigen train-teacher`: train (or finish training) the ensemble, evaluate it and cache its logits,
    on its dataset or on the data `given` from Python (`Splits`; its folder is then
    teachers/arrays-<fingerprint>/, where a search on the same data looks)."""
    from ..device import resolve_device
    from ..executors.work import run_all
    from ..executors.worker import WorkerSpec
    from ..training.members import MemberTrainer

    if quiet:  # nothing shown: no sentence, no bar
        say = lambda text: None
    check_extras(config, say)
    recipe = TEACHER_RECIPES[config.recipe]
    config = dataclasses.replace(config, preprocess=config.preprocess or default_preprocess(config.dataset),
                                 epochs=config.epochs or recipe.epochs)
    device = resolve_device(config.gpu)
    splits = load_data(config.dataset, config.data_dir, config.image_size, recipe.batch_size, given=given,
                       quiet=quiet)
    folder = Path(config.out or Path("teachers") / splits.identity)  # what `eigen search` looks for
    for line in (splits.describe(), *splits.notes):
        say(line)
    arch = _architecture(config, splits.num_classes)
    try:
        build_member(arch)
    except ValueError as e:
        raise EigenError(str(e)) from None
    open_folder(folder, "train-teacher", create=True)  # one writer per folder, before anything is swept or written
    preprocess = prepared(config.preprocess, splits, folder)  # gcn-zca: kept in the folder, the logits cache reads it
    data = DeviceData(splits, device, with_test=True, preprocess=preprocess)
    steps_per_epoch = data.num_train // recipe.batch_size
    schedule = recipe.schedule(config.epochs, steps_per_epoch)
    started = time.monotonic()
    members, queue, first_epoch = members_to_train(folder, arch, config, steps_per_epoch, say)
    bars = {i: Bar(f"member {i}", config.epochs, "epochs", initial=first_epoch[i], position=n, quiet_for=0,
                   quiet=quiet)
            for n, (i, _) in enumerate(queue)}  # a bar each on a terminal, a line a minute each in a log

    def finished(i: int, result) -> list:
        if not result.ok:
            raise EigenError(f"teacher member {i} stopped before epoch {result.step // steps_per_epoch + 1}: "
                             f"{result.status}")
        bars[i].update(result.step // steps_per_epoch)
        if result.step < config.epochs * steps_per_epoch:
            return [(i, _chunk(arch, config, i, result.step, steps_per_epoch, folder / f"member-{i}.partial.pt"))]
        members[i] = saved = finished_member(folder, i, arch, config, data, device, steps_per_epoch)
        bars[i].close()
        seconds = saved["gpu_seconds"]
        took = f"{seconds:.1f}" if seconds < 10 else f"{seconds:.0f}"  # a tiny member trains in under a second
        say(f"member {i}: {saved['val_accuracy']:.2f}% validation, {saved['test_accuracy']:.2f}% test, "
            f"{took} s of training")
        return []

    def on_progress(i, step, until, loss):
        bars[i].update(step // steps_per_epoch, note=f"loss {loss:.3f}")

    worker = WorkerSpec.members(splits, schedule, deterministic=config.deterministic, preprocess=preprocess)
    try:
        with executor_for(config, MemberTrainer(data, schedule), device, worker, say=say) as executor:
            everything = run_all(executor, queue, on_done=finished, on_progress=on_progress,
                                 may_start=lambda: config.time_budget is None
                                 or time.monotonic() - started < config.time_budget)
    finally:
        for bar in bars.values():
            bar.close()
    if not everything:
        done = ", ".join(f"member {i} after epoch {bars[i].n}" for i in sorted(bars) if i not in members)
        say(f"time budget spent: stopped {done}; run the same command to continue")
        return TeacherOutcome(folder, False)
    write_ensemble(folder, arch, config, [members[i] for i in range(config.members)], splits, data, device, say,
                   quiet)
    return TeacherOutcome(folder, True)
