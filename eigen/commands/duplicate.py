"""`eigen duplicate`: gene duplication and the final model (SPEC §9, EIGEN §3.3).

Reads a search's best.json (or, with `--pick ID`, that individual of the run: `eigen/final/pick.py`),
finds the blocks of its genome, ranks the candidates that repeat whole blocks
(`duplication.candidates`; the genome as found is always candidate c0, so the report compares the
parent with its duplicates under one recipe), trains each from scratch on the full schedule with
mimicry, picks the best by the search's fitness (validation accuracy unless --fitness said otherwise),
measures its test accuracy once and exports it.
The final folder (`runs/<name>/final/` unless `--out` says otherwise) holds:

    plan.json                the settings, the blocks and every candidate's genome (written first)
    state.json               each candidate's progress and validation accuracy, rewritten atomically
                             after every chunk of training
    candidates/<id>.pt       each candidate's checkpoint (weights, optimiser, place in the schedule)
    genome.json, model.safetensors, model.pt2 (model.onnx)   the chosen model (see export.py)
    ensemble.pt2             with --top-k above 1: the best k candidates, averaged softmax
    metrics.csv              every candidate's learning curve (see training/metrics.py)
    metrics.json             accuracies, parameters, FLOPs, GPU-seconds of every phase (written last)

Each candidate trains in `CHUNKS` pieces with a checkpoint after each; running the same command again
continues where a kill or the time budget stopped it, and ends with the same models. The domain
(reading the search's answer, planning the candidates, training them) is `eigen/final/`; this is the
command: its steps, in order.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from ..config import DuplicateConfig
from ..data.datasets import data_dir_flag
from ..errors import EigenError
from ..executors.threads import THREADS_FIELD
from ..final.duplication import Duplication, DuplicationEvents
from ..final.pick import finalised_folder, picked_source
from ..final.plan import PLAN_FIX, Source, check_plan_shape, check_same_plan, make_plan, read_source
from ..run_folder.file_types import Plan
from ..run_folder.folder import holds_locks, interpreting, read_json, write_json
from ..run_folder.portable import resolve_from_file
from ..strategies import last_stage_of
from ..training.metrics import MetricsLog
from .setup import check_extras, executor_for, load_data, open_folder, splits_given, teacher_logits_on


def final_folder(config: DuplicateConfig, source: Source) -> Path:
    if config.out:
        return Path(config.out)
    if config.pick:
        return finalised_folder(source.run, config.pick)
    if source.run is None:
        raise EigenError(f"the run folder of {source.path} ({source.best.get('run')}) is gone; "
                         f"pass --out to say where the final model goes")
    return source.run / "final"


def saved_plan(config: DuplicateConfig, source: Source, folder: Path) -> tuple[dict | None, DuplicateConfig, list[str]]:
    """The plan a final folder was begun with (None for a new one), checked against this command
    before any data is read; a continued duplication keeps the teacher it began with."""
    plan_path = folder / "plan.json"
    if folder.is_dir():
        open_folder(folder, "duplicate")  # one writer per folder, before it is read, swept or written
    if not plan_path.exists():
        return None, config, []
    plan = read_json(plan_path, "the duplication's plan", Plan)
    with interpreting(plan_path, "the duplication's plan", PLAN_FIX):
        check_same_plan(plan, config, source, folder)
        check_plan_shape(plan)
    notes = []
    if config.no_mimicry or config.teacher:
        notes.append("continuing: the final folder keeps the mimicry it began with (--teacher / --no-mimicry ignored)")
    teacher_then = resolve_from_file(plan["teacher"], plan_path)
    config = dataclasses.replace(config, no_mimicry=teacher_then is None,
                                 teacher=str(teacher_then) if teacher_then else None)
    return plan, config, notes


def begin_plan(folder: Path, plan: dict, device) -> None:
    """A new final folder: created, locked, and its plan written before any training (with the
    intra-op thread count its CPU trainings use, which a continued duplication keeps)."""
    import torch
    open_folder(folder, "duplicate", create=True)
    plan["device"] = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    plan[THREADS_FIELD] = torch.get_num_threads()
    write_json(folder / "plan.json", plan)


@dataclass(frozen=True)
class DuplicateOutcome:
    """Where a duplication's sitting left its final folder: finished (metrics.json written), or stopped
    by its time budget with the candidates checkpointed (the same call continues it)."""

    folder: Path
    finished: bool
    stopped: str  # "done", or why the sitting ended before every candidate was trained


@holds_locks
def duplicate_command(config: DuplicateConfig, progress=None, individuals=None) -> int:
    """`run_duplicate` as a command that returns its exit code, with `progress` and `individuals`
    replaced (the tests drive a duplication this way; the CLI goes through `eigen.duplicate`)."""
    run_duplicate(config, progress=progress, individuals=individuals)
    return 0


@holds_locks
def run_duplicate(config: DuplicateConfig, *, given=None, classes=None, progress=None, individuals=None,
                  quiet: bool = False) -> DuplicateOutcome:
    """The duplication `config` describes (new or continued), on the data `given` from Python when the
    search was made on such data (named as the search named it unless `classes` says); `quiet` shows
    nothing and prints no summary."""
    from ..data.device_data import DeviceData
    from ..data.preprocess import keep_preprocess, prepared
    from ..device import resolve_device
    from ..executors.worker import WorkerSpec
    from ..training.individual_training import TorchIndividuals
    from ..training.recipes import final_schedule
    from ..training.teacher import find_teacher
    from ..views.duplicate_progress import make_duplicate_progress

    check_extras(config)
    source = (picked_source(config.best, config.pick, last_stage_of, config.dataset) if config.pick
              else read_source(config.best, config.dataset))
    # The search's preprocessing unless told otherwise (a search before --preprocess existed: standard)
    config = dataclasses.replace(config, preprocess=config.preprocess or source.data.get("preprocess", "standard"))
    folder = final_folder(config, source)
    plan, config, notes = saved_plan(config, source, folder)
    device = resolve_device(config.gpu)
    schedule = final_schedule(config.final_recipe, config.schedule_scale)
    if given is not None:
        given = splits_given(given, classes or source.data.get("class_names"), quiet=quiet)
    splits = load_data(source.data["dataset"], config.data_dir, source.data["image_size"], schedule.batch_size,
                       source.data["fingerprint"], source.path, given,
                       call=f"eigen.duplicate({str(config.best)!r}, data=...)", quiet=quiet)
    teacher, mimicry_note = find_teacher(config, splits)
    notes += [splits.describe(), *splits.notes, mimicry_note]
    if plan is None:
        plan = make_plan(config, source, splits, schedule, teacher, mimicry_note, folder / "plan.json")
    done = (folder / "metrics.json").exists()
    begun = (folder / "plan.json").exists()  # gcn-zca: the final folder's, else the search's, else fitted
    preprocess = prepared(config.preprocess, splits, folder if begun else None,
                          (source.run,) if source.run is not None else ())
    data = DeviceData(splits, device, with_test=True, preprocess=preprocess)
    teacher_logits = teacher_logits_on(teacher if not done else None, data, quiet)
    if not begun:
        begin_plan(folder, plan, device)
        keep_preprocess(preprocess, folder, splits)

    worker = None
    if individuals is None:
        individuals = TorchIndividuals(data, schedule, teacher_logits=teacher_logits, stage="final",
                                       metrics=MetricsLog(folder, config.tensorboard))
        worker = WorkerSpec.individuals(splits, schedule, teacher_logits, deterministic=config.deterministic,
                                        preprocess=preprocess)
    progress = progress or (DuplicationEvents() if quiet else make_duplicate_progress())
    try:
        with executor_for(config, individuals, device, worker, say=progress.note, record=plan) as executor:
            duplication = Duplication(folder, plan, individuals, progress, config.time_budget, executor)
            for note in notes:
                progress.note(note)
            reason = duplication.run()
    finally:
        progress.close()
    if reason != "done":
        if not quiet:
            print(f"stopped ({reason}) with {sum(duplication.finished(c) for c in duplication.candidates)} of "
                  f"{len(duplication.candidates)} candidates trained; run the same command to continue", flush=True)
        return DuplicateOutcome(folder, False, reason)
    from .duplicate_finish import finish
    finish(duplication, data, config.top_k, source, onnx=config.onnx, quiet=quiet,
           data_flag=data_dir_flag(source.data["dataset"], config.data_dir))
    return DuplicateOutcome(folder, True, reason)
