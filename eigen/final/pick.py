"""`--pick ID`: any trained individual of a search, instead of its best, as what a command works on.

The best by fitness is one point of the trade-off a search found; a deployer may want another point
of the Pareto front (a smaller network, a faster one). `picked_source` reads that individual out of
the run folder (its history holds every individual's genome and results, its config the data it was
searched on) as the same `Source` a best.json gives, so `eigen duplicate RUN --pick ID` trains it
exactly as it would train the best. Its final folder is `final-<ID>/` beside the best's `final/`, so
finalising several points of a front keeps each; `finalised_folder` is where eval and predict find it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..errors import EigenError
from ..genome.dna import Genome, GenomeError
from ..run_folder.file_types import RunConfig
from ..run_folder.folder import RunFolder, interpreting, read_json
from ..run_folder.portable import resolve_from_file
from ..engine.latency_cache import saved_latency_setting
from ..engine.record import HISTORY_FIX, HistoryRecord
from .plan import Source

CHOOSE = "pick an id from its pareto.json or history.jsonl"


def run_of(path: Path) -> Path:
    """The run folder a --pick refers to: PATH itself, or the run a best.json names."""
    path = Path(path)
    if path.is_dir():
        return path
    if path.is_file():
        with interpreting(path, "the search's best genome", "pass the run folder instead"):
            best = read_json(path, "the search's best genome")
            if not isinstance(best, dict):
                raise ValueError("it is not a mapping")
            run = resolve_from_file(best.get("run"), path)
        if run is not None and run.is_dir():
            return run
        raise EigenError(f"the run folder of {path} is gone, and --pick reads the individual from it; pass the "
                         f"run folder")
    raise EigenError(f"{path} does not exist; pass a run folder (runs/<name>) with --pick")


def finalised_folder(run: Path, pick: str) -> Path:
    """Where `eigen duplicate RUN --pick ID` puts ID's final model (unless --out said otherwise)."""
    return Path(run) / f"final-{pick}"


def picked_source(path: str | Path, pick: str, last_stage_of: Callable[[dict], str],
                  dataset: str | None = None) -> Source:
    """`pick` of the run at `path` (a run folder or its best.json), as a duplication's source.
    `last_stage_of(settings)` is the stage the run's strategy trains an individual to (its config.json's
    settings in; `eigen.strategies`): only an individual trained that far can be picked."""
    folder, config, mine = individual_records(path, pick)
    settings = config["settings"]
    final_stage = last_stage_of(settings)
    done = [r for r in mine if r.stage == final_stage and r.ok]
    if not done:
        last = mine[-1]
        how = (f"its training ended {last.status}" if not last.ok else
               f"it was trained only to {last.stage} (extinguished there)")
        raise EigenError(f"{pick} cannot be finalised: {how}; {CHOOSE} (those trained to {final_stage})")
    record = done[-1]
    raw, genome = individual_genome(folder, config, mine)
    image_size = config["data"]["image_size"]
    data = {"dataset": settings["dataset"], "classes": config["data"]["classes"], "image_size": image_size,
            "fingerprint": str(config["data"]["fingerprint"]), "preprocess": settings.get("preprocess") or "standard"}
    if dataset is not None and dataset != data["dataset"]:
        raise EigenError(f"{folder.path} searched {data['dataset']}, not {dataset}; duplicate {pick} on "
                         f"{data['dataset']} (leave out --dataset)")
    latency = saved_latency_setting(settings)
    best = {"run": str(folder.path.resolve()), "id": pick, "generation": record.generation, "fitness": record.value,
            "fitness_expression": settings.get("fitness", "acc"), "val_accuracy": record.accuracy[record.stage],
            "test_accuracy": None, "params": record.params, "flops": record.flops, "genome": raw,
            "search_cost": _search_cost(folder), "latency": latency, "ms": record.ms}
    return Source(Path(path), best, genome, folder.path, data, latency, picked=True)


def individual_records(path: str | Path, pick: str) -> tuple[RunFolder, RunConfig, list[HistoryRecord]]:
    """The run folder at `path`, its settings, and every history record of individual `pick` (at any
    stage: one extinguished at T1 has records too); one sentence when `pick` is none of its ids."""
    folder = RunFolder(run_of(Path(path)))
    folder.require()
    config = read_json(folder.config, "the run's settings", RunConfig)
    with interpreting(folder.history, "the search's history", HISTORY_FIX):
        records = [HistoryRecord.from_json(line) for line in folder.read_history()]
    mine = [r for r in records if r.id == pick]
    if not mine:
        raise EigenError(f"{pick} is not an individual of {folder.path}; {CHOOSE}")
    return folder, config, mine


def individual_genome(folder: RunFolder, config: RunConfig, mine: list[HistoryRecord]) -> tuple[dict, Genome]:
    """The genome of an individual (its first record that carries it), raw and validated."""
    raw = next((r.genome for r in mine if r.genome is not None), None)
    if raw is None:
        raise EigenError(f"no record of {mine[0].id} in {folder.history} carries its genome; {CHOOSE}")
    try:
        return raw, Genome.from_dict(raw, config["data"]["image_size"])
    except GenomeError as e:
        raise EigenError(f"the genome of {mine[0].id} in {folder.history} is not valid: {e}") from None


def _search_cost(folder: RunFolder) -> dict | None:
    """What the whole search cost (its best.json says, once the search has ended)."""
    if not folder.best.exists():
        return None
    best = read_json(folder.best, "the search's best genome")
    return best.get("search_cost") if isinstance(best, dict) else None
