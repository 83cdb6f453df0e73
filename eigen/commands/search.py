"""`eigen search`: turn a `SearchConfig` into a run folder, run (or resume) the search, report.

Everything that can fail on bad input (strategy, device, data, teacher, run folder) is checked
before the run folder is created, so a mistake leaves nothing behind but one sentence.
"""
from __future__ import annotations

import collections
import dataclasses
import datetime
import shlex
from dataclasses import dataclass
from pathlib import Path

from ..config import DEFAULT_CHILD_RECIPE, SearchConfig, check_saved_settings, default_preprocess
from ..errors import EigenError, Interrupted, describe_os_error
from ..run_folder.file_types import RunConfig
from ..run_folder.folder import RunFolder, holds_locks, interpreting, read_json, write_json
from ..run_folder.portable import relative_to_file, resolve_from_file, with_relative_paths
from ..engine.events import SearchEvents
from ..engine.record import HistoryRecord
from ..strategies import EngineParts, Strategy, names
from ..strategies import named as strategy_named
from ..training.metrics import MetricsLog
from ..tracking.observers import Tracked, metrics_listeners, trackers_for
from .setup import (check_extras, executor_for, load_data, open_folder, provenance, splits_given,
                    teacher_logits_on)

# Settings of a resumed run come from its config.json, except these, which belong to the sitting.
SITTING_SETTINGS = ("gpu", "data_dir", "time_budget", "max_generations", "deterministic", "tensorboard", "parallel",
                    "ray", "mlflow")
DEFAULT_RUNS = Path("runs")  # only a run here also refreshes runs/best.json (nothing else outside --out is written)


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
            f"--gpu, --data-dir, --time-budget, --max-generations, --tensorboard, --mlflow, --parallel and --ray "
            f"apply to a resumed run)")
    return dataclasses.replace(config, resume=given.resume)


def is_latest_copy_wanted(folder: RunFolder) -> bool:
    """`runs/best.json` (the latest search's answer) is refreshed only for a run in the default `runs/`
    location: beside an --out folder it could replace a file of the user's own."""
    return folder.path.parent.resolve() == DEFAULT_RUNS.resolve()


def open_run(config: SearchConfig, say) -> tuple[RunFolder, SearchConfig, dict | None]:
    """The run folder: a resumed one locked and swept, with the settings it began with (and the
    sitting's own flags), or a new one's path, refused if it already holds a run. Nothing is created."""
    if not config.resume:
        folder = RunFolder(config.out or default_run_dir(config))
        folder.refuse_existing()
        preprocess = config.preprocess or default_preprocess(config.dataset)
        recipe = config.child_recipe or DEFAULT_CHILD_RECIPE
        return folder, dataclasses.replace(config, preprocess=preprocess, child_recipe=recipe), None
    folder = RunFolder(config.resume)
    folder.require()
    open_folder(folder.path, "search")  # before anything is swept or written: one writer per folder
    saved = read_json(folder.config, "the run's settings", RunConfig)
    given = config
    with interpreting(folder.config, "the run's settings",
                      "restore it from a copy, or start a new run with `eigen search --out`"):
        config = resumed_config(saved["settings"], config, say)
        # Mimicry stays as the run began: a teacher trained since then must not change the rules mid-run.
        teacher_then = resolve_from_file(saved["resolved"].get("teacher"), folder.config)
        config = dataclasses.replace(config, no_mimicry=teacher_then is None,
                                     teacher=str(teacher_then) if teacher_then else None)
        saved = {**saved, "data": {**saved["data"], "fingerprint": str(saved["data"]["fingerprint"])}}
    if given.preprocess is not None and given.preprocess != config.preprocess:
        raise EigenError(f"this run was begun with --preprocess {config.preprocess}, and its networks were trained "
                         f"on images preprocessed that way; resume it without --preprocess (or with "
                         f"--preprocess {config.preprocess}), or start a new run with --preprocess {given.preprocess}")
    if given.child_recipe is not None and given.child_recipe != config.child_recipe:
        raise EigenError(f"this run was begun with --child-recipe {config.child_recipe}, and its children's fitness "
                         f"was measured that way; resume it without --child-recipe (or with --child-recipe "
                         f"{config.child_recipe}), or start a new run with --child-recipe {given.child_recipe}")
    return folder, config, saved


def search_schedule(config: SearchConfig):
    """How each individual trains: the strategy's own schedule (EIGEN §4.1's, or Large-Scale
    Evolution's), as --child-recipe has it (eigen/training/recipes.py)."""
    from ..training.recipes import child_schedule
    return child_schedule(config.child_recipe, strategy_named(config.strategy).schedule(config))


def teacher_of(config: SearchConfig, splits) -> tuple[Path | None, str]:
    """The teacher a mimicking strategy (EIGEN) learns from; none for the others, which learn from
    the labels alone."""
    if strategy_named(config.strategy).mimicry:
        from ..training.teacher import find_teacher
        return find_teacher(config, splits)
    return None, (f"{config.strategy}: every individual learns from the labels alone, as in Large-Scale Evolution "
                  f"(no mimicry), and inherits its parent's weights")


def ignored_settings(config: SearchConfig) -> str | None:
    """A note naming the settings given that belong to other strategies ("--t1 (eigen's) ignored:
    --strategy regularized does not read it"), so a flag that does nothing is not taken for one that works."""
    strategy, defaults = strategy_named(config.strategy), SearchConfig()
    owners: dict[str, list[str]] = {}  # a setting -> every other strategy that reads it (child_steps: three)
    for owner in names():
        if owner != config.strategy:
            for name in strategy_named(owner).own_settings:
                if name not in strategy.own_settings:
                    owners.setdefault(name, []).append(owner)
    given = [(name, who) for name, who in owners.items() if getattr(config, name) != getattr(defaults, name)]
    if not given:
        return None
    said = lambda who: f"{who[0]}'s" if len(who) == 1 else f"{', '.join(who[:-1])} and {who[-1]}'s"
    flags = ", ".join(f"--{name.replace('_', '-')} ({said(who)})" for name, who in given)
    return f"{flags} ignored: --strategy {config.strategy} does not read {'it' if len(given) == 1 else 'them'}"


def begin_run(folder: RunFolder, config: SearchConfig, splits, schedule, teacher: Path | None, mimicry_note: str,
              device) -> None:
    """A new run folder: created, locked, and its config.json written (every resolved setting)."""
    folder.create()
    open_folder(folder.path, "search")
    folder.refuse_existing()  # another process may have begun this folder since the first check
    write_json(folder.config, {
        "command": "search",
        "settings": dataclasses.asdict(config),
        "resolved": {"population": config.resolved_population(),
                     **strategy_named(config.strategy).resolved(config, schedule),
                     "schedule": dataclasses.asdict(schedule), "mimicry": teacher is not None,
                     "mimicry_note": mimicry_note,
                     "teacher": relative_to_file(teacher, folder.config)},
        "data": {"dataset": splits.name, "classes": splits.num_classes, "image_size": splits.image_size,
                 "train": len(splits.train), "val": len(splits.val), "test": len(splits.test),
                 "fingerprint": splits.fingerprint(), **class_names(splits)},
        **provenance(device),
    })


def class_names(splits) -> dict:
    """{"class_names": [...]} for data given from Python, whose names nothing on disk keeps (a named
    dataset's come with it): what a resumed search and a duplication given the same arrays name them."""
    return {"class_names": list(splits.classes)} if splits.in_memory else {}


def with_latency_device(config: SearchConfig, device) -> SearchConfig:
    """--latency-device resolved (the search's own device by default) and checked, before the run
    folder is created; a run that times nothing keeps None."""
    from ..engine.latency_cache import times_latency
    from ..training.latency import latency_device
    if not times_latency(config.fitness, config.max_ms):
        return config
    chosen = latency_device(config.latency_device or str(device))
    return dataclasses.replace(config, latency_device=str(chosen))


def record_answer(search, folder: RunFolder, config: SearchConfig, splits) -> dict:
    """Test accuracy (and a steady state's ensemble) measured once, then best.json written with the
    data it was searched on, so `eigen duplicate` needs nothing but this file (also as runs/best.json)."""
    search.measure_test()
    best = {**search.best(), "data": {"dataset": config.dataset, "classes": splits.num_classes,
                                      "image_size": splits.image_size, "fingerprint": splits.fingerprint(),
                                      "preprocess": config.preprocess, **class_names(splits)}}
    write_json(folder.best, with_relative_paths(best, ("run", "weights"), folder.best))  # the folder may move
    write_json(folder.pareto, search.pareto())
    if is_latest_copy_wanted(folder):
        latest = folder.path.parent / "best.json"  # runs/best.json: the latest search's answer
        write_json(latest, with_relative_paths(best, ("run", "weights"), latest))
    return best


@dataclass(frozen=True)
class SearchOutcome:
    """Where a search's sitting left its run folder, and why it stopped (what best.json, pareto.json and
    the report do not say); `eigen.search` reads the rest from the folder."""

    folder: Path
    stopped: str  # "converged", "max generations", "time budget", ...


@holds_locks
def search_command(config: SearchConfig, progress: SearchEvents | None = None, individuals=None,
                   measure_latency=None) -> int:
    """`run_search` as a command that returns its exit code, with `progress`, `individuals` and
    `measure_latency` replaced (the tests and bench/ drive a search this way; the CLI goes through
    `eigen.search`)."""
    run_search(config, progress=progress, individuals=individuals, measure_latency=measure_latency)
    return 0


@holds_locks
def run_search(config: SearchConfig, *, given=None, classes=None, progress=None, individuals=None,
               measure_latency=None, quiet: bool = False) -> SearchOutcome:
    """The search `config` describes (new or resumed), on the data `given` from Python (see
    eigen/data/in_memory.py; a resumed run's class names are the ones it recorded unless `classes`
    says) or on its dataset; `quiet` shows nothing and prints no summary."""
    notes: list[str] = []
    folder, config, saved = open_run(config, notes.append)
    if given is not None:
        given = splits_given(given, classes or (saved["data"].get("class_names") if saved else None), quiet=quiet)
    try:
        return _search_in(folder, config, saved, notes, progress, individuals, measure_latency, given, quiet)
    except BrokenPipeError:  # the reader of stdout went away: the CLI stops quietly
        raise
    except OSError as e:  # a full disk: one sentence, with the command that continues this run
        again = f"run `{resume_command(folder, config)}` to continue" if folder.config.exists() else None
        raise EigenError(describe_os_error(e, "search", again)) from None


def _search_in(folder: RunFolder, config: SearchConfig, saved: dict | None, notes: list[str], progress,
               individuals, measure_latency, given, quiet: bool) -> SearchOutcome:
    from ..data.device_data import DeviceData
    from ..data.preprocess import keep_preprocess, prepared
    from ..device import resolve_device
    from ..executors.worker import WorkerSpec
    from ..training.individual_training import TorchIndividuals

    check_extras(config, notes.append)  # --tensorboard and --ray: a resumed run's come from this sitting
    strategy = strategy_named(config.strategy)
    strategy.check(config)
    if saved is None and (ignored := ignored_settings(config)):
        notes.append(ignored)
    device = resolve_device(config.gpu)
    config = with_latency_device(config, device)
    schedule = search_schedule(config)
    splits = load_data(config.dataset, config.data_dir, config.image_size, schedule.batch_size,
                       saved["data"]["fingerprint"] if saved else None, folder.path, given,
                       call=f"eigen.search(resume={str(folder.path)!r}, data=...)", quiet=quiet)
    teacher, mimicry_note = teacher_of(config, splits)
    notes += [splits.describe(), *splits.notes, mimicry_note]
    # gcn-zca: fitted once on the training split, then kept in the run folder (read back on resume)
    preprocess = prepared(config.preprocess, splits, folder.path if saved else None)
    data = DeviceData(splits, device, with_test=True, preprocess=preprocess) if individuals is None or teacher else None
    teacher_logits = teacher_logits_on(teacher, data, quiet)
    if saved is None:
        begin_run(folder, config, splits, schedule, teacher, mimicry_note, device)
        keep_preprocess(preprocess, folder.path, splits)

    worker = None
    trackers = trackers_for(config, folder.path, say=lambda text: progress.note(text))  # --tensorboard, --mlflow
    if individuals is None:
        individuals = TorchIndividuals(data, schedule, teacher_logits=teacher_logits, keep_optimizer=strategy.keeps_optimizer,
                                       say=lambda text: progress.note(text),  # once, if CUDA graphs are turned off
                                       metrics=MetricsLog(folder.path, config.tensorboard, metrics_listeners(trackers)))
        worker = WorkerSpec.individuals(splits, schedule, teacher_logits, keep_optimizer=strategy.keeps_optimizer,
                                        deterministic=config.deterministic, preprocess=preprocess)
    if progress is None:
        progress = strategy.events() if quiet else strategy.progress()
    if trackers:  # they hear the search's events beside the view
        progress = Tracked(progress, trackers)
    try:
        with executor_for(config, individuals, device, worker, say=progress.note, record=saved) as executor:
            for note in notes:
                progress.note(note)
            search = strategy.engine(config, EngineParts(splits, schedule, individuals, folder, progress, executor,
                                                         measure_latency))
            try:  # Ctrl-C, SIGTERM or SIGHUP (see stop_signals.py), up to the last picture of the report
                reason = search.run()
                best = record_answer(search, folder, config, splits)
                report_note = _try_report(folder)
            except KeyboardInterrupt:
                raise Interrupted(f"continue with `{resume_command(folder, config)}`") from None
    finally:
        progress.close()
    if not quiet:
        _print_summary(strategy, search, reason, best, report_note, folder, config)
    return SearchOutcome(folder.path, reason)


def resume_command(folder: RunFolder, config: SearchConfig, max_generations: int | None = None) -> str:
    """The command that continues this run on the device it used (with a higher --max-generations
    when that limit is what stopped it); for a run on data given from Python, the Python call."""
    from ..data.datasets import data_dir_flag
    from ..data.in_memory import IN_MEMORY
    from ..device import device_flag
    from ..executors.choose import executor_flags
    if config.dataset == IN_MEMORY:
        more = (f", gpu={config.gpu}" if config.gpu != 0 else "") + (
            f", max_generations={max_generations}" if max_generations else "")
        return f"eigen.search(resume={str(folder.path)!r}, data=...{more})"
    more = f" --max-generations {max_generations}" if max_generations else ""
    data = data_dir_flag(config.dataset, config.data_dir)
    return f"eigen search --resume {shlex.quote(str(folder.path))}{data}{device_flag(config.gpu)}{executor_flags(config)}{more}"


def duplicate_command_for(folder: RunFolder, config: SearchConfig, pick: str | None = None) -> str:
    """`eigen duplicate` of this run's best (or, with `pick`, of that individual), on its device and at
    its --schedule-scale (a scaled-down smoke search is followed by a scaled-down final training, not
    25,000 iterations per candidate), and, after a `--child-recipe fast` search, with the same recipe
    (so the genome as found, candidate c0, trains as the search measured it); for a run on data
    given from Python, the Python call."""
    from ..data.datasets import data_dir_flag
    from ..data.in_memory import IN_MEMORY
    from ..device import device_flag
    from ..executors.choose import executor_flags
    if config.dataset == IN_MEMORY:
        given = (f", gpu={config.gpu}" if config.gpu != 0 else "") + (
            f", schedule_scale={config.schedule_scale:g}" if config.schedule_scale != 1.0 else "") + (
            ", final_recipe='fast'" if config.child_recipe == "fast" else "")
        which = f"{str(folder.path)!r}, pick={pick!r}" if pick else repr(str(folder.best))
        return f"eigen.duplicate({which}, data=...{given})"
    scale = f" --schedule-scale {config.schedule_scale:g}" if config.schedule_scale != 1.0 else ""
    recipe = " --final-recipe fast" if config.child_recipe == "fast" else ""
    which = f"{shlex.quote(str(folder.path))} --pick {pick}" if pick else shlex.quote(str(folder.best))
    data = data_dir_flag(config.dataset, config.data_dir)
    return f"eigen duplicate {which}{data}{device_flag(config.gpu)}{executor_flags(config)}{scale}{recipe}"


def front_ends(pareto: dict, best: str | None) -> list[dict]:
    """The two ends of the front (smallest, most accurate) that are not the best itself, each with
    which end it is: the examples of `--pick` the summary prints."""
    from ..engine.pareto import ends
    found = ends(pareto)
    named = zip(found, ("smallest", "most accurate") if len(found) == 2 else ("only",))
    return [{**p, "which": which} for p, which in named if p["id"] != best and best not in p["twins"]]


def latency_summary(latencies, seconds: float) -> str | None:
    """"latency: 41 networks timed on cpu at batch 1, 0.21 s each, 1.3% of the search's device time"."""
    if latencies is None or not latencies.by_key:
        return None
    import statistics
    costs = [entry["seconds"] for entry in latencies.by_key.values()]
    share = f", {100 * sum(costs) / seconds:.2g}% of the training's device time" if seconds > 0 else ""
    return (f"latency: {len(costs)} networks timed on {latencies.device} at batch {latencies.batch}, "
            f"{statistics.median(costs):.2g} s each (median){share}; kept in {latencies.path}")


def _try_report(folder: RunFolder) -> str:
    """Draw the report; a plotting problem must not cost the user a finished search."""
    from .report import run_report
    try:
        paths = run_report(folder)
    except OSError:  # a full disk: the command says so, and how to continue
        raise
    except Exception as e:  # the run folder is complete without the plots
        return f"the report could not be drawn ({type(e).__name__}: {e}); try `eigen report {shlex.quote(str(folder.path))}`"
    return f"report: {paths[-1]} (and the plots beside it)"


def _print_summary(strategy: Strategy, search, reason: str, best: dict, report_note: str, folder: RunFolder,
                   config: SearchConfig) -> None:
    from ..views.pareto_view import pareto_table
    from ..views.tables import device_hours, output_console
    console = output_console()
    state = search.state
    if state.generations:
        console.print(strategy.closing_table(state.to_dict()))
    pareto = search.pareto()
    if pareto["front"]:
        console.print(pareto_table(pareto))
    test = f", test {best['test_accuracy']:.2f}%" if best["test_accuracy"] is not None else ""
    done = strategy.done(state.to_dict())
    custom = best["fitness_expression"] != "acc"
    fitness = f"fitness {best['fitness']:.3f} ({best['fitness_expression']}), " if custom else ""
    console.print(f"search stopped ({reason}) after {done}; best: {best['id']} {fitness}"
                  f"validation {best['val_accuracy']:.2f}%{test}, {best['params']:,} parameters", highlight=False)
    spent = best["search_cost"]
    unit = device_hours(read_json(folder.config, "the run's settings", RunConfig).get("device"))
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
    latency = latency_summary(search.core.latencies, spent["seconds"])
    if latency:
        console.print(latency, highlight=False)
    console.print(report_note, highlight=False)
    if reason == "max generations":
        more = len(state.generations) + (config.max_generations or 1)
        console.print(f"continue with: {resume_command(folder, config, more)}", highlight=False)
    elif reason != "converged":
        console.print(f"continue with: {resume_command(folder, config)}", highlight=False)
    console.print(f"next: {duplicate_command_for(folder, config)}", highlight=False)
    for end in front_ends(pareto, best["id"]):
        console.print(f"  or finalise the {end['which']} point of the front ({end['id']}: {end['params']:,} parameters, "
                      f"validation {end['val_accuracy']:.2f}%): {duplicate_command_for(folder, config, end['id'])}",
                      highlight=False)


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
