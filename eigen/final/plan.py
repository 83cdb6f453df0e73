"""What a duplication trains (SPEC §9): the search's answer, read and checked, and the plan.

`read_source` reads a search's best.json (one sentence for every problem); `make_plan` splits its
genome into blocks, ranks the candidates that repeat whole blocks (`genome.blocks.candidates`;
the genome as found is always c0) and writes what `plan.json` holds; `check_same_plan` and
`check_plan_shape` keep a final folder to the duplication it began with.
"""
from __future__ import annotations

import datetime
from dataclasses import asdict, dataclass
from pathlib import Path

from ..run_folder import json_types
from ..errors import EigenError
from ..genome.blocks import candidates, find_blocks
from ..genome.cost import cost
from ..genome.dna import Genome, GenomeError
from ..run_folder.file_types import Answer, Plan, RunConfig
from ..run_folder.folder import RunFolder, checked, git_commit, interpreting, read_json, versions
from ..run_folder.portable import relative_to_file, resolve_from_file
from ..engine.fitness import Fitness

PLAN_VERSION = 2  # 2: final trainings seeded apart from the search's; candidates chosen by the search's fitness
CHUNKS = 5  # checkpoints per candidate: a kill costs at most a fifth of one training
PLAN_SETTINGS = ("seed", "schedule_scale", "max_copies", "max_params", "candidates", "preprocess",
                 "final_recipe")  # fixed once planned
BEFORE_SETTINGS = {"preprocess": "standard", "final_recipe": "paper"}  # what a plan from before a setting used


PLAN_FIX = "pass --out to start afresh elsewhere (or remove the final folder)"


@dataclass(frozen=True)
class Source:
    """What a search's best.json says, checked."""

    path: Path
    best: dict
    genome: Genome
    run: Path | None  # the search's run folder, if it is still there
    data: dict  # dataset (as the search was given it), classes, image_size, fingerprint
    latency: dict | None = None  # where the search timed its genomes ({device, batch}), if it did
    picked: bool = False  # `--pick`: an individual of the run chosen by the user, not its best


def read_source(path: str | Path, dataset: str | None = None) -> Source:
    """Read and check best.json; every problem is one sentence saying what to do."""
    with interpreting(path, "the search's best genome", "pass a best.json written by `eigen search` "
                      "(runs/<name>/best.json holds the same as runs/best.json)"):
        return _read_source(Path(path), dataset)


def _read_source(path: Path, dataset: str | None) -> Source:
    path = Path(path)
    if path.is_dir():  # a run folder stands for its best.json, as it does for eval, show and --pick
        if not RunFolder(path).best.is_file():
            raise EigenError(f"{path} holds no best.json, so it is not a search's run folder; pass the "
                             f"best.json a search wrote (runs/<name>/best.json, or runs/best.json for the latest search)")
        path = RunFolder(path).best
    if not path.is_file():
        raise EigenError(f"{path} does not exist; pass the best.json a search wrote "
                         f"(runs/<name>/best.json, or runs/best.json for the latest search)")
    best = read_json(path, "the search's best genome")
    if not isinstance(best, dict) or not isinstance(best.get("genome"), dict):
        raise EigenError(f"{path} is not a best.json written by `eigen search` (it holds no genome)")
    checked(best, Answer, path, "the search's best genome")
    run = resolve_from_file(best.get("run"), path)
    run = run if run is not None and run.is_dir() else None
    data = best.get("data")
    if data is None and run is not None and (run / "config.json").exists():
        saved = read_json(run / "config.json", "the search's settings", RunConfig)
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
    return Source(path, best, genome, run, data, best.get("latency"))


def chunk_ends(total: int, chunks: int = CHUNKS) -> list[int]:
    return sorted({max(1, round(total * k / chunks)) for k in range(1, chunks + 1)})


def make_plan(config, source: Source, splits, schedule, teacher: Path | None,
              mimicry_note: str, plan_path: Path) -> dict:
    """plan.json's contents; the paths it holds are relative to `plan_path`, so the folder can move."""
    size, classes = splits.image_size, splits.num_classes
    blocks = find_blocks(source.genome, size, classes)
    chosen = candidates(source.genome, max_copies=config.max_copies, max_params=config.max_params,
                        limit=config.candidates, image_size=size, num_classes=classes)
    if not chosen:
        raise EigenError(f"the genome alone has {cost(source.genome, size, classes).params:,} parameters, above "
                         f"--max-params {config.max_params:,}; raise the limit")
    expression = source.best.get("fitness_expression", "acc")
    timed = _timed(chosen, expression, source, size, classes)
    return {
        "version": PLAN_VERSION, "command": "duplicate", "best": relative_to_file(source.path, plan_path),
        "source": {**{k: source.best.get(k) for k in ("id", "fitness", "val_accuracy", "test_accuracy", "params", "flops",
                                                      "search_cost")},
                   "run": relative_to_file(source.run, plan_path), "picked": source.picked},
        "fitness_expression": expression, "latency": source.latency if timed else None,
        "source_key": source.genome.key(),
        "settings": {name: getattr(config, name) for name in PLAN_SETTINGS},
        "teacher": relative_to_file(teacher, plan_path), "mimicry_note": mimicry_note,
        "schedule": asdict(schedule), "chunk_ends": chunk_ends(schedule.total),
        "data": {**source.data, "class_names": list(splits.classes), "val": len(splits.val)},
        "blocks": [b.to_dict() for b in blocks],
        "candidates": [{**c.to_dict(), "latency": latency} for c, latency in zip(chosen, timed)],
        "versions": versions(), "git_commit": git_commit(),
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
    }


def _timed(chosen: list, expression: str, source: Source, size: int, classes: int) -> list:
    """Each candidate's latency, measured now where the search measured its genomes, when the fitness
    that chooses among them uses ms (else None for each: nothing is timed)."""
    if not Fitness.parse(expression).uses_latency:
        return [None] * len(chosen)
    if not source.latency:
        raise EigenError(f"--fitness '{expression}' uses ms, and {source.path} does not say where the search "
                         f"measured latency; duplicate a best.json written by this eigen")
    from ..training.latency import latency_device, measure_latency
    device = latency_device(source.latency["device"])
    return [measure_latency(c.genome, size, classes, device, source.latency["batch"]) for c in chosen]


def check_same_plan(plan: dict, config, source: Source, folder: Path) -> None:
    """A final folder continues only the duplication it was started with."""
    if plan.get("version") != PLAN_VERSION:
        raise EigenError(f"{folder}/plan.json has version {plan.get('version')}, this eigen reads {PLAN_VERSION}; "
                         f"pass --out to start afresh elsewhere")
    if plan["source_key"] != source.genome.key():
        raise EigenError(f"{folder} holds the duplication of another genome ({plan['source']['id']} of "
                         f"{plan['source']['run']}); pass --out to write this one elsewhere")
    saved = {**BEFORE_SETTINGS, **plan["settings"]}
    differing = [f"--{name.replace('_', '-')} {saved[name]}" for name in PLAN_SETTINGS
                 if saved[name] != getattr(config, name)]
    if differing:
        raise EigenError(f"{folder} was started with {', '.join(differing)}; give the same to continue it, "
                         f"or pass --out to start afresh elsewhere")


# What the training reads of a plan, part by part ("" is the plan itself): its types are Plan's.
PLAN_NEEDS = {"": ("candidates", "chunk_ends", "schedule", "settings", "data"), "schedule": ("total",),
              "settings": ("seed",), "data": ("dataset", "class_names", "image_size")}


def check_plan_shape(plan: dict) -> None:
    """Read every part of a saved plan the training reads, so a damaged one fails here (as a
    sentence, see `interpreting`) and not halfway through training."""
    json_types.check(plan, Plan)  # every field's type, as the file's TypedDict declares it
    for part, keys in PLAN_NEEDS.items():
        mapping = plan[part] if part else plan
        for key in keys:
            if key not in mapping:
                raise KeyError(f"{part}.{key}" if part else key)
    if not plan["candidates"]:
        raise ValueError("it lists no candidates")
    for c in plan["candidates"]:
        for key in ("id", "params", "flops"):
            if key not in c:
                raise KeyError(f"candidates' {key}")
        Genome.from_dict(c["genome"], plan["data"]["image_size"])
