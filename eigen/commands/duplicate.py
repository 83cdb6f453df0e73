"""`eigen duplicate`: gene duplication and the final model (SPEC §9, EIGEN §3.3).

Reads a search's best.json, finds the blocks of its genome, ranks the candidates that repeat whole
blocks (`duplication.candidates`; the genome as found is always candidate c0, so the report compares
the parent with its duplicates under one recipe), trains each from scratch on the full schedule with
mimicry, picks the best by validation accuracy, measures its test accuracy once and exports it.
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
continues where a kill or the time budget stopped it, and ends with the same models.
"""
from __future__ import annotations

import dataclasses
import datetime
from dataclasses import asdict
from dataclasses import dataclass
from pathlib import Path

from ..config import DuplicateConfig
from ..errors import DataError, EigenError
from ..genome.dna import Genome, GenomeError
from ..portable import relative_to_file, resolve_from_file
from ..runfolder import (git_commit, holds_locks, interpreting, lock_folder, read_json, sweep_temporaries, versions,
                         write_json)
from ..search.fitness import Fitness
from ..search.sitting import Sitting
from ..training.metrics import MetricsLog, tensorboard_missing
from .export import onnx_missing

PLAN_VERSION = 2  # 2: final trainings seeded apart from the search's; candidates chosen by the search's fitness
CHUNKS = 5  # checkpoints per candidate: a kill costs at most a fifth of one training
PLAN_SETTINGS = ("seed", "schedule_scale", "max_copies", "max_params", "candidates")  # fixed once planned


PLAN_FIX = "pass --out to start afresh elsewhere (or remove the final folder)"


@dataclass(frozen=True)
class Source:
    """What a search's best.json says, checked."""

    path: Path
    best: dict
    genome: Genome
    run: Path | None  # the search's run folder, if it is still there
    data: dict  # dataset (as the search was given it), classes, image_size, fingerprint


def read_source(path: str | Path, dataset: str | None = None) -> Source:
    """Read and check best.json; every problem is one sentence saying what to do."""
    with interpreting(path, "the search's best genome", "pass a best.json written by `eigen search` "
                      "(runs/<name>/best.json holds the same as runs/best.json)"):
        return _read_source(Path(path), dataset)


def _read_source(path: Path, dataset: str | None) -> Source:
    path = Path(path)
    if not path.is_file():
        raise EigenError(f"{path} does not exist; pass the best.json a search wrote "
                         f"(runs/<name>/best.json, or runs/best.json for the latest search)")
    best = read_json(path, "the search's best genome")
    if not isinstance(best, dict) or not isinstance(best.get("genome"), dict):
        raise EigenError(f"{path} is not a best.json written by `eigen search` (it holds no genome)")
    run = resolve_from_file(best.get("run"), path)
    run = run if run is not None and run.is_dir() else None
    data = best.get("data")
    if data is None and run is not None and (run / "config.json").exists():
        saved = read_json(run / "config.json", "the search's settings")
        data = {"dataset": saved["settings"]["dataset"], **{k: saved["data"][k] for k in
                                                             ("classes", "image_size", "fingerprint")}}
    if not isinstance(data, dict) or not {"dataset", "classes", "image_size", "fingerprint"} <= set(data):
        raise EigenError(f"{path} does not say which dataset it was searched on, and its run folder is gone; "
                         f"pass a best.json written by `eigen search`")
    try:
        genome = Genome.from_dict(best["genome"], data["image_size"])
    except GenomeError as e:
        raise EigenError(f"the genome in {path} is not valid: {e}") from None
    if not isinstance(best.get("fitness_expression", "acc"), str):
        raise ValueError("its fitness_expression is not text")
    Fitness.parse(best.get("fitness_expression", "acc"))  # the final choice uses it: a bad one fails now, naming the file
    if dataset is not None and dataset != data["dataset"]:
        raise EigenError(f"{path} comes from a search on {data['dataset']}, not {dataset}; duplicate it on "
                         f"{data['dataset']} (leave out --dataset) or search {dataset} first")
    return Source(path, best, genome, run, data)


def final_folder(config: DuplicateConfig, source: Source) -> Path:
    if config.out:
        return Path(config.out)
    if source.run is None:
        raise EigenError(f"the run folder of {source.path} ({source.best.get('run')}) is gone; "
                         f"pass --out to say where the final model goes")
    return source.run / "final"


class Duplication:
    """Trains the planned candidates, chunk by chunk, in a final folder; see the module docstring."""

    def __init__(self, folder: Path, plan: dict, individuals, progress=None, time_budget: float | None = None,
                 executor=None):
        from ..executors.local import InlineExecutor
        from ..views.duplicate_progress import DuplicateProgress
        self.folder, self.plan, self.individuals = Path(folder), plan, individuals
        self.executor = executor or InlineExecutor(individuals)  # where the candidates train (SPEC §10)
        self._until: dict[str, int] = {}  # candidate id -> the end of the chunk queued or in training
        from ..training.job import FailureWatch
        self.progress = progress or DuplicateProgress()
        self.failures = FailureWatch(self.progress.note)
        self.sitting = Sitting(time_budget)
        self.candidates = plan["candidates"]
        self.total = plan["schedule"]["total"]
        self.chunk_ends = plan["chunk_ends"]
        self.image_size = plan["data"]["image_size"]
        self.fitness = Fitness.parse(plan.get("fitness_expression", "acc"))  # the search's; chooses the final model
        if self.state_path.exists():
            self.state = read_json(self.state_path, "the duplication's progress")
            with interpreting(self.state_path, "the duplication's progress",
                              "remove it to train every candidate again, or pass --out to start afresh elsewhere"):
                for c in self.candidates:  # every entry the loop reads, checked before any training
                    entry = self.state["candidates"][c["id"]]
                    entry["step"], entry["seconds"] = int(entry["step"]), float(entry["seconds"])
                    str(entry["status"]), list(entry["curve"]), dict(self.state["tests"])
        else:
            self.state = {"version": PLAN_VERSION, "candidates": {
                c["id"]: {"step": 0, "status": "ok", "fitness": None, "seconds": 0.0, "curve": []}
                for c in self.candidates}, "tests": {}}

    state_path = property(lambda self: self.folder / "state.json")

    def checkpoint(self, candidate: dict) -> Path:
        return self.folder / "candidates" / f"{candidate['id']}.pt"

    def entry(self, candidate: dict) -> dict:
        return self.state["candidates"][candidate["id"]]

    def finished(self, candidate: dict) -> bool:
        entry = self.entry(candidate)
        return entry["status"] != "ok" or entry["step"] >= self.total

    def iterations_left(self) -> int:
        return sum(self.total - self.entry(c)["step"] for c in self.candidates if not self.finished(c))

    def save(self) -> None:
        write_json(self.state_path, self.state)

    def run(self) -> str:
        """Train every candidate to the end of the schedule; 'done', or 'time budget' if it ran out.

        Candidates train side by side on the executor (`--parallel`, `--ray`), each chunk by chunk:
        a finished chunk is recorded in state.json and the candidate's next chunk is queued."""
        from ..executors.work import Training, run_all
        from ..training.individual import training_seed
        self.progress.started(self)
        seed = self.plan["settings"]["seed"]
        genomes = {c["id"]: Genome.from_dict(c["genome"], self.image_size) for c in self.candidates}

        def next_chunk(candidate: dict):
            entry, path = self.entry(candidate), self.checkpoint(candidate)
            if entry["step"] and not path.exists():  # weights gone: start this candidate again
                entry.update(step=0, fitness=None, curve=[])
            until = next(end for end in self.chunk_ends if end > entry["step"])
            genome = genomes[candidate["id"]]
            return Training(genome, training_seed(seed, genome, "final"), until, save_to=path,
                            start_from=path if entry["step"] else None)

        def started(candidate: dict):
            self.progress.chunk_started(self, candidate, self._until[candidate["id"]])

        def finished(candidate: dict, result):
            entry = self.entry(candidate)
            entry["status"], entry["seconds"] = result.status, entry["seconds"] + result.seconds
            if result.ok:
                entry["step"], entry["fitness"] = result.step, result.fitness
                entry["curve"].append([result.step, result.fitness])
            else:
                entry["fitness"] = 0.0
            self.save()
            self.progress.chunk_finished(self, candidate, entry, result.seconds)
            self.failures.saw(candidate["id"], result.status)
            return [] if self.finished(candidate) else [self._queued(candidate, next_chunk(candidate))]

        queue = [self._queued(c, next_chunk(c)) for c in self.candidates if not self.finished(c)]
        everything = run_all(self.executor, queue, on_done=finished, on_start=started,
                             may_start=lambda: not self.sitting.spent())
        return "done" if everything else "time budget"

    def _queued(self, candidate: dict, training):
        self._until[candidate["id"]] = training.until
        return candidate, training

    def ranked(self) -> list[dict]:
        """Trained candidates, best fitness first (the search's `--fitness`, validation accuracy by
        default; ties: the earlier, smaller candidate)."""
        trained = [c for c in self.candidates if self.entry(c)["status"] == "ok" and self.entry(c)["step"] >= self.total]
        return sorted(trained, key=lambda c: -self.fitness_of(c))

    def fitness_of(self, candidate: dict) -> float:
        """The candidate's fitness from its validation accuracy (the entry's "fitness" is that accuracy)."""
        return self.fitness(self.entry(candidate)["fitness"], candidate["params"], candidate["flops"])

    def measured_once(self, name: str, measure) -> float:
        """A test accuracy, measured the first time it is asked for and remembered after that."""
        if name not in self.state["tests"]:
            self.state["tests"][name] = measure()
            self.save()
        return self.state["tests"][name]


def chunk_ends(total: int, chunks: int = CHUNKS) -> list[int]:
    return sorted({max(1, round(total * k / chunks)) for k in range(1, chunks + 1)})


def make_plan(config: DuplicateConfig, source: Source, splits, schedule, teacher: Path | None,
              mimicry_note: str, plan_path: Path) -> dict:
    """plan.json's contents; the paths it holds are relative to `plan_path`, so the folder can move."""
    from ..genome.cost import cost
    from ..genome.duplication import candidates, find_blocks
    size, classes = splits.image_size, splits.num_classes
    blocks = find_blocks(source.genome, size, classes)
    chosen = candidates(source.genome, max_copies=config.max_copies, max_params=config.max_params,
                        limit=config.candidates, image_size=size, num_classes=classes)
    if not chosen:
        raise EigenError(f"the genome alone has {cost(source.genome, size, classes).params:,} parameters, above "
                         f"--max-params {config.max_params:,}; raise the limit")
    return {
        "version": PLAN_VERSION, "command": "duplicate", "best": relative_to_file(source.path, plan_path),
        "source": {**{k: source.best.get(k) for k in ("id", "fitness", "val_accuracy", "test_accuracy", "params", "flops",
                                                      "search_cost")},
                   "run": relative_to_file(source.run, plan_path)},
        "fitness_expression": source.best.get("fitness_expression", "acc"),
        "source_key": source.genome.key(),
        "settings": {name: getattr(config, name) for name in PLAN_SETTINGS},
        "teacher": relative_to_file(teacher, plan_path), "mimicry_note": mimicry_note,
        "schedule": asdict(schedule), "chunk_ends": chunk_ends(schedule.total),
        "data": {**source.data, "class_names": list(splits.classes), "val": len(splits.val)},
        "blocks": [b.to_dict() for b in blocks],
        "candidates": [c.to_dict() for c in chosen],
        "versions": versions(), "git_commit": git_commit(),
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
    }


def check_same_plan(plan: dict, config: DuplicateConfig, source: Source, folder: Path) -> None:
    """A final folder continues only the duplication it was started with."""
    if plan.get("version") != PLAN_VERSION:
        raise EigenError(f"{folder}/plan.json has version {plan.get('version')}, this eigen reads {PLAN_VERSION}; "
                         f"pass --out to start afresh elsewhere")
    if plan["source_key"] != source.genome.key():
        raise EigenError(f"{folder} holds the duplication of another genome ({plan['source']['id']} of "
                         f"{plan['source']['run']}); pass --out to write this one elsewhere")
    differing = [f"--{name.replace('_', '-')} {plan['settings'][name]}" for name in PLAN_SETTINGS
                 if plan["settings"][name] != getattr(config, name)]
    if differing:
        raise EigenError(f"{folder} was started with {', '.join(differing)}; give the same to continue it, "
                         f"or pass --out to start afresh elsewhere")


def check_plan_shape(plan: dict) -> None:
    """Read every part of a saved plan the training reads, so a damaged one fails here (as a
    sentence, see `interpreting`) and not halfway through training."""
    if not isinstance(plan["candidates"], list) or not plan["candidates"]:
        raise ValueError("it lists no candidates")
    image_size = int(plan["data"]["image_size"])
    for c in plan["candidates"]:
        Genome.from_dict(c["genome"], image_size)
        str(c["id"]), int(c["params"]), int(c["flops"])
    [int(end) for end in plan["chunk_ends"]]
    int(plan["schedule"]["total"]), int(plan["settings"]["seed"])
    str(plan["data"]["dataset"]), list(plan["data"]["class_names"])


@holds_locks
def duplicate_command(config: DuplicateConfig, progress=None, individuals=None) -> int:
    """Run `eigen duplicate`; `progress` and `individuals` can be replaced (tests, the Python API)."""
    from ..executors.choose import check_executor
    from ..views.duplicate_progress import make_duplicate_progress
    from .search import find_teacher

    check_executor(config)
    if config.tensorboard and tensorboard_missing():
        raise EigenError(tensorboard_missing())
    if config.onnx and onnx_missing():
        raise EigenError(onnx_missing())
    source = read_source(config.best, config.dataset)
    folder = final_folder(config, source)
    plan_path = folder / "plan.json"
    if folder.is_dir():
        lock_folder(folder, "duplicate")  # one writer per folder, before it is read, swept or written
    saved_plan = read_json(plan_path, "the duplication's plan") if plan_path.exists() else None
    if saved_plan is not None:
        with interpreting(plan_path, "the duplication's plan", PLAN_FIX):
            check_same_plan(saved_plan, config, source, folder)  # before any data is read
            check_plan_shape(saved_plan)
        sweep_temporaries(folder)  # left by a kill mid-write
    notes = []
    if saved_plan is not None and (config.no_mimicry or config.teacher):
        notes.append("continuing: the final folder keeps the mimicry it began with (--teacher / --no-mimicry ignored)")
    if saved_plan is not None:  # the teacher stays as the duplication began
        teacher_then = resolve_from_file(saved_plan["teacher"], plan_path)
        config = dataclasses.replace(config, no_mimicry=teacher_then is None,
                                     teacher=str(teacher_then) if teacher_then else None)

    import torch

    from ..data.datasets import load_splits
    from ..data.device_data import DeviceData
    from ..device import resolve_device
    from ..executors.choose import make_executor
    from ..executors.worker import WorkerSpec
    from ..training.individual import TorchIndividuals
    from ..training.trainer import Schedule

    device = resolve_device(config.gpu)
    splits = load_splits(source.data["dataset"], config.data_dir, source.data["image_size"])
    if splits.fingerprint() != source.data["fingerprint"]:
        raise DataError(f"the {splits.name} data in {config.data_dir} is not the data {source.path} was searched on "
                        f"(fingerprint {splits.fingerprint()} vs {source.data['fingerprint']}); pass the search's --data-dir")
    schedule = Schedule().scaled(config.schedule_scale)
    if len(splits.train) < schedule.batch_size:
        raise DataError(f"{splits.name} has {len(splits.train)} training images, fewer than one batch "
                        f"({schedule.batch_size}); add images")
    teacher, mimicry_note = find_teacher(config, splits)
    notes += [splits.describe(), *splits.notes, mimicry_note]
    plan = saved_plan if saved_plan is not None else make_plan(config, source, splits, schedule, teacher, mimicry_note, plan_path)
    done = (folder / "metrics.json").exists()

    data = DeviceData(splits, device, with_test=True)
    teacher_logits = None
    if teacher is not None and not done:
        from ..training.teacher import teacher_logits as load_teacher_logits
        teacher_logits = load_teacher_logits(teacher, data, say=lambda text: print(text, flush=True))
    if saved_plan is None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise EigenError(f"cannot create {folder} ({e.strerror}); pass a writable --out") from None
        lock_folder(folder, "duplicate")
        plan["device"] = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
        write_json(plan_path, plan)

    worker = None
    if individuals is None:
        individuals = TorchIndividuals(data, schedule, teacher_logits=teacher_logits, stage="final",
                                       metrics=MetricsLog(folder, config.tensorboard))
        worker = WorkerSpec.individuals(splits, schedule, teacher_logits, deterministic=config.deterministic)
    progress = progress or make_duplicate_progress()
    try:
        executor = make_executor(config, individuals, device, worker, say=progress.note)
    except BaseException:
        progress.close()
        raise
    duplication = Duplication(folder, plan, individuals, progress, config.time_budget, executor)
    try:
        for note in notes:
            progress.note(note)
        reason = duplication.run()
    finally:
        executor.close()
        progress.close()
    if reason != "done":
        print(f"stopped ({reason}) with {sum(duplication.finished(c) for c in duplication.candidates)} of "
              f"{len(duplication.candidates)} candidates trained; run the same command to continue", flush=True)
        return 0
    from .final import finish
    finish(duplication, data, config.top_k, source, onnx=config.onnx)
    return 0
