"""`eigen search`: turn a `SearchConfig` into a run folder, run (or resume) the search, report.

Everything that can fail on bad input (strategy, device, data, teacher, run folder) is checked
before the run folder is created, so a mistake leaves nothing behind but one sentence.
"""
from __future__ import annotations

import collections
import dataclasses
import datetime
import shlex
from pathlib import Path

from ..config import SearchConfig, check_saved_settings
from ..errors import DataError, EigenError, Interrupted
from ..executors.choose import check_executor
from ..portable import relative_to_file, resolve_from_file, with_relative_paths
from ..runfolder import (RunFolder, git_commit, holds_locks, interpreting, lock_folder, read_json, sweep_temporaries,
                         versions, write_json)
from ..search.record import HistoryRecord
from ..training.metrics import MetricsLog, tensorboard_missing
from ..search.events import SearchEvents
from ..views.search_progress import make_progress

# Settings of a resumed run come from its config.json, except these, which belong to the sitting.
SITTING_SETTINGS = ("gpu", "data_dir", "time_budget", "max_generations", "deterministic", "tensorboard", "parallel",
                    "ray")
DEFAULT_RUNS = Path("runs")  # only a run here also refreshes runs/best.json (nothing else outside --out is written)


def stage_ends(config: SearchConfig) -> tuple[int, int, int]:
    """Iterations at the end of T1, T2 and T3, after --schedule-scale."""
    from ..training.trainer import scale_iterations
    t1, t2, t3 = (scale_iterations(n, config.schedule_scale) for n in (config.t1, config.t2, config.t3))
    return (t1, t1 + t2, t1 + t2 + t3)


def default_run_dir(config: SearchConfig) -> Path:
    dataset = config.dataset.split(":", 1)[0]
    return DEFAULT_RUNS / f"{dataset}-{config.strategy}-{datetime.datetime.now():%Y%m%d-%H%M%S}"


def resumed_config(saved: dict, given: SearchConfig, say) -> SearchConfig:
    """The run's own settings, plus the sitting's device, data folder, time budget and generations."""
    known = {f.name for f in dataclasses.fields(SearchConfig)}
    if not isinstance(saved, dict) or set(saved) - known:
        unknown = ", ".join(sorted(set(saved) - known)) if isinstance(saved, dict) else "not a mapping"
        raise EigenError(f"the run's config.json holds settings this eigen does not know ({unknown}); it was "
                         f"written by another eigen version or edited by hand, so it cannot be resumed here")
    if "elitist" not in saved:  # begun by eigen 0.1, whose only rule kept the parent unless beaten
        saved = {**saved, "elitist": True}
        say("resuming a run begun by eigen 0.1: it keeps that version's parent rule (--elitist: the parent "
            "changes only when a child beats it)")
    check_saved_settings(SearchConfig, saved)  # a hand-edited value fails here, as one sentence
    config = SearchConfig(**saved)
    defaults = SearchConfig()
    ignored = []
    for f in dataclasses.fields(SearchConfig):
        value = getattr(given, f.name)
        if f.name == "resume" or value == getattr(defaults, f.name):
            continue
        if f.name in SITTING_SETTINGS:
            config = dataclasses.replace(config, **{f.name: value})
        elif value != getattr(config, f.name):
            ignored.append("--" + f.name.replace("_", "-"))
    if ignored:
        say(f"resuming: {', '.join(ignored)} ignored (the run keeps its own settings; only "
            f"--gpu, --data-dir, --time-budget, --max-generations, --tensorboard, --parallel and --ray apply to a "
            f"resumed run)")
    return dataclasses.replace(config, resume=given.resume)


def train_teacher_hint(splits, config) -> str:
    """The `eigen train-teacher` command that trains the teacher `find_teacher` looks for, with every
    flag it needs to run as printed: the image folder's path, the image size, data folder, device."""
    from ..device import device_flag
    dataset = f"imagefolder:{splits.folder}" if splits.folder is not None else splits.name
    words = f"eigen train-teacher --dataset {shlex.quote(dataset)}"
    if splits.image_size != 32:
        words += f" --image-size {splits.image_size}"
    if splits.name in ("cifar10", "cifar100") and config.data_dir != "~/.cache/eigen":
        words += f" --data-dir {shlex.quote(config.data_dir)}"
    return words + device_flag(config.gpu)


def find_teacher(config: SearchConfig, splits) -> tuple[Path | None, str]:
    """The teacher folder to mimic, or None and a sentence saying why there is none. The default
    folder is teachers/<the data's identity>: an image folder's teacher is its own."""
    if config.no_mimicry:
        return None, "mimicry off (--no-mimicry)"
    folder = Path(config.teacher) if config.teacher else Path("teachers") / splits.identity
    if config.teacher and not (folder / "ensemble.json").exists():
        raise EigenError(f"--teacher {folder} is not a teacher folder (no ensemble.json); train one with "
                         f"`{train_teacher_hint(splits, config)}` or pass --no-mimicry")
    if not (folder / "ensemble.json").exists():
        return None, (f"mimicry off: no teacher for this data in {folder}/; train one with "
                      f"`{train_teacher_hint(splits, config)}` (or pass --no-mimicry to say so)")
    return folder, f"mimicry on: every child learns from the teacher in {folder}/ (Eq. 3, T = 5, alpha = 0.9)"


def is_latest_copy_wanted(folder: RunFolder) -> bool:
    """`runs/best.json` (the latest search's answer) is refreshed only for a run in the default `runs/`
    location: beside an --out folder it could replace a file of the user's own."""
    return folder.path.parent.resolve() == DEFAULT_RUNS.resolve()


@holds_locks
def search_command(config: SearchConfig, progress: SearchEvents | None = None, individuals=None) -> int:
    """Run `eigen search`; `progress` and `individuals` can be replaced (tests, the Python API)."""
    notes: list[str] = []
    saved = None
    if config.tensorboard and tensorboard_missing():
        raise EigenError(tensorboard_missing())
    if config.resume:
        folder = RunFolder(config.resume)
        folder.require()
        lock_folder(folder.path, "search")  # before anything is swept or written: one writer per folder
        sweep_temporaries(folder.path)  # left by a kill mid-write
        saved = read_json(folder.config, "the run's settings")
        with interpreting(folder.config, "the run's settings",
                          "restore it from a copy, or start a new run with `eigen search --out`"):
            config = resumed_config(saved["settings"], config, notes.append)
            # Mimicry stays as the run began: a teacher trained since then must not change the rules mid-run.
            teacher_then = resolve_from_file(saved["resolved"].get("teacher"), folder.config)
            config = dataclasses.replace(config, no_mimicry=teacher_then is None,
                                         teacher=str(teacher_then) if teacher_then else None)
            fingerprint_then = str(saved["data"]["fingerprint"])
    else:
        folder = RunFolder(config.out or default_run_dir(config))
        folder.refuse_existing()
    evolving = config.strategy != "eigen"  # large-scale or random: steady state, see evolution.py
    check_executor(config, notes.append)
    if evolving and config.resolved_population() < 2:
        raise EigenError(f"--population {config.population} is too small for --strategy {config.strategy}: "
                         f"a tournament needs two individuals")

    import torch

    from ..data.datasets import load_splits
    from ..data.device_data import DeviceData
    from ..device import resolve_device
    from ..executors.choose import make_executor
    from ..executors.worker import WorkerSpec
    from ..search.eigen_search import EigenSearch, EigenSettings
    from ..training.individual import TorchIndividuals
    from ..training.trainer import Schedule

    device = resolve_device(config.gpu)
    splits = load_splits(config.dataset, config.data_dir, config.image_size)
    if evolving:
        from ..search.evolution import child_schedule
        schedule = child_schedule(config.child_steps, config.schedule_scale)
    else:
        schedule = Schedule().scaled(config.schedule_scale)
    if len(splits.train) < schedule.batch_size:
        raise DataError(f"{config.dataset} has {len(splits.train)} training images, fewer than one batch "
                        f"({schedule.batch_size}); add images")
    if saved is not None and fingerprint_then != splits.fingerprint():
        raise DataError(f"the data in {config.data_dir} is not the data {folder.path} was searched on "
                        f"(fingerprint {splits.fingerprint()} vs {fingerprint_then}); "
                        f"pass the original --data-dir")
    if evolving:
        teacher, mimicry_note = None, (f"{config.strategy}: every individual learns from the labels alone, as in "
                                       f"Large-Scale Evolution (no mimicry), and inherits its parent's weights")
    else:
        teacher, mimicry_note = find_teacher(config, splits)
    notes += [splits.describe(), *splits.notes, mimicry_note]
    data = DeviceData(splits, device, with_test=True) if individuals is None or teacher else None
    teacher_logits = None
    if teacher is not None:
        from ..training.teacher import teacher_logits as load_teacher_logits
        teacher_logits = load_teacher_logits(teacher, data, say=lambda text: print(text, flush=True))

    if saved is None:
        folder.create()
        lock_folder(folder.path, "search")
        folder.refuse_existing()  # another process may have begun this folder since the check above
        write_json(folder.config, {
            "command": "search",
            "settings": dataclasses.asdict(config),
            "resolved": {"population": config.resolved_population(),
                         "stage_ends": None if evolving else stage_ends(config),
                         "child_steps": schedule.total if evolving else None,
                         "schedule": dataclasses.asdict(schedule), "mimicry": teacher is not None,
                         "mimicry_note": mimicry_note,
                         "teacher": relative_to_file(teacher, folder.config)},
            "data": {"dataset": splits.name, "classes": splits.num_classes, "image_size": splits.image_size,
                     "train": len(splits.train), "val": len(splits.val), "test": len(splits.test),
                     "fingerprint": splits.fingerprint()},
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "versions": versions(), "git_commit": git_commit(),
            "created": datetime.datetime.now().isoformat(timespec="seconds"),
        })

    worker = None
    if individuals is None:
        individuals = TorchIndividuals(data, schedule, teacher_logits=teacher_logits, keep_optimizer=not evolving,
                                       say=lambda text: progress.note(text),  # once, if CUDA graphs are turned off
                                       metrics=MetricsLog(folder.path, config.tensorboard))
        worker = WorkerSpec.individuals(splits, schedule, teacher_logits, keep_optimizer=not evolving,
                                        deterministic=config.deterministic)
    if evolving:
        from ..search.evolution import Evolution, EvolutionSettings
        from ..views.evolution_progress import make_evolution_progress
        settings = EvolutionSettings(
            strategy=config.strategy, population=config.resolved_population(), child_steps=schedule.total,
            max_generations=config.max_generations, max_params=config.max_params, max_flops=config.max_flops,
            time_budget=config.time_budget, seed=config.seed, image_size=splits.image_size,
            num_classes=splits.num_classes, batch_size=schedule.batch_size, num_val=len(splits.val),
            fitness=config.fitness, top_k=config.top_k)
        progress = progress or make_evolution_progress()
        make_search = lambda: Evolution(settings, individuals, folder, progress, executor)
    else:
        settings = EigenSettings(
            population=config.resolved_population(), primary_step=config.primary_step,
            secondary_step=config.secondary_step, stage_ends=stage_ends(config), p=config.p, q=config.q,
            plateau_delta=config.plateau_delta, plateau_patience=config.plateau_patience,
            max_generations=config.max_generations, max_params=config.max_params, max_flops=config.max_flops,
            time_budget=config.time_budget, seed=config.seed, image_size=splits.image_size,
            num_classes=splits.num_classes, batch_size=schedule.batch_size, num_val=len(splits.val),
            inherit_weights=config.inherit_weights, elitist=config.elitist, fitness=config.fitness)
        progress = progress or make_progress()
        make_search = lambda: EigenSearch(settings, individuals, folder, progress, executor)
    try:
        executor = make_executor(config, individuals, device, worker, say=progress.note)
    except BaseException:
        progress.close()
        raise
    try:
        for note in notes:
            progress.note(note)
        search = make_search()
        try:
            reason = search.run()
        except KeyboardInterrupt:
            raise Interrupted(f"continue with `{resume_command(folder, config)}`") from None
        search.measure_test()
        if evolving:
            search.measure_ensemble()
        # With the data it was searched on, so `eigen duplicate` needs nothing but this file.
        best = {**search.best(), "data": {"dataset": config.dataset, "classes": splits.num_classes,
                                          "image_size": splits.image_size, "fingerprint": splits.fingerprint()}}
        write_json(folder.best, with_relative_paths(best, ("run", "weights"), folder.best))  # the folder may move
        if is_latest_copy_wanted(folder):
            latest = folder.path.parent / "best.json"  # runs/best.json: the latest search's answer
            write_json(latest, with_relative_paths(best, ("run", "weights"), latest))
        report_note = _try_report(folder)
    finally:
        executor.close()
        progress.close()
    _print_summary(search, reason, best, report_note, folder, config)
    return 0


def resume_command(folder: RunFolder, config: SearchConfig, max_generations: int | None = None) -> str:
    """The command that continues this run on the device it used (with a higher --max-generations
    when that limit is what stopped it)."""
    from ..device import device_flag
    from ..executors.choose import executor_flags
    more = f" --max-generations {max_generations}" if max_generations else ""
    return f"eigen search --resume {folder.path}{device_flag(config.gpu)}{executor_flags(config)}{more}"


def duplicate_command_for(folder: RunFolder, config: SearchConfig) -> str:
    """`eigen duplicate` of this run, on its device and at its --schedule-scale (a scaled-down smoke
    search is followed by a scaled-down final training, not 25,000 iterations per candidate)."""
    from ..device import device_flag
    from ..executors.choose import executor_flags
    scale = f" --schedule-scale {config.schedule_scale:g}" if config.schedule_scale != 1.0 else ""
    return f"eigen duplicate {folder.best}{device_flag(config.gpu)}{executor_flags(config)}{scale}"


def _try_report(folder: RunFolder) -> str:
    """Draw the report; a plotting problem must not cost the user a finished search."""
    from ..views.report import write_report
    try:
        paths = write_report(folder)
    except Exception as e:  # the run folder is complete without the plots
        return f"the report could not be drawn ({type(e).__name__}: {e}); try `eigen report {folder.path}`"
    return f"report: {paths[0].parent}/"


def _print_summary(search, reason: str, best: dict, report_note: str, folder: RunFolder, config: SearchConfig) -> None:
    from ..search.eigen_search import EigenSearch
    from ..views.report import device_hours, evolution_table, output_console, summary_table
    console = output_console()
    state = search.state
    eigen = isinstance(search, EigenSearch)
    if state.generations:
        console.print((summary_table if eigen else evolution_table)(state.to_dict()))
    test = f", test {best['test_accuracy']:.2f}%" if best["test_accuracy"] is not None else ""
    done = f"{len(state.generations)} generation(s)" if eigen else f"{state.born} starting individuals and {state.events} events"
    custom = best["fitness_expression"] != "acc"
    fitness = f"fitness {best['fitness']:.3f} ({best['fitness_expression']}), " if custom else ""
    console.print(f"search stopped ({reason}) after {done}; best: {best['id']} {fitness}"
                  f"validation {best['val_accuracy']:.2f}%{test}, {best['params']:,} parameters", highlight=False)
    spent = best["search_cost"]
    unit = device_hours(read_json(folder.config, "the run's settings").get("device"))
    console.print(f"cost: {spent['flops'] / 1e15:.3g} PFLOPs of training and validation, "
                  f"{spent['seconds'] / 3600:.3g} {unit} (LS §3.5 accounting)", highlight=False)
    ensemble = best.get("population_ensemble")
    if ensemble:
        console.print(f"ensemble of the best {ensemble['k']} living ({', '.join(ensemble['members'])}), majority "
                      f"vote: validation {ensemble['val_accuracy']:.2f}%, test {ensemble['test_accuracy']:.2f}%",
                      highlight=False)
    # "diverged", "failed: oom", "failed: RuntimeError" (the message itself is in the history)
    records = search.core.records
    failed = collections.Counter(":".join(r.status.split(":")[:2]) for r in records if not r.ok)
    if failed:
        console.print(f"{sum(failed.values())} training(s) did not finish: "
                      + ", ".join(f"{n} {status}" for status, n in failed.most_common())
                      + f" (details in {folder.history})", highlight=False)
    eager = eager_summary(records)
    if eager:
        console.print(eager, highlight=False)
    console.print(report_note, highlight=False)
    if reason == "max generations":
        more = len(state.generations) + (config.max_generations or 1)
        console.print(f"continue with: {resume_command(folder, config, more)}", highlight=False)
    elif reason != "converged":
        console.print(f"continue with: {resume_command(folder, config)}", highlight=False)
    console.print(f"next: {duplicate_command_for(folder, config)}", highlight=False)


def eager_summary(records: list[HistoryRecord]) -> str | None:
    """"12 of 40 trainings ran eager: <reason>" when CUDA graphs were turned off for some trainings
    (None when every training ran graphed, or graphs were never in play, as on the CPU)."""
    trained = [r for r in records if r.graphed is not None and not r.reused_from]
    reasons = collections.Counter(r.graph_error for r in trained if not r.graphed and r.graph_error)
    if not reasons:
        return None
    eager = sum(not r.graphed for r in trained)
    return (f"{eager} of {len(trained)} trainings ran eager: " + "; ".join(reasons)
            + " (CUDA graphs were turned off after this failure; the results stand, only slower)")
