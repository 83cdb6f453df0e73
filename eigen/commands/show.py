"""`eigen show PATH`: a genome as a table of its layers, as JSON, or drawn (issue #32).

PATH is anything that holds a genome:
    genome.json            a final folder's chosen architecture (its size and classes from the
                           metrics.json or plan.json beside it, else --image-size / --classes)
    best.json              a search's answer
    a run folder           its best (best.json); with --pick ID, individual ID of its history
    a final folder         its chosen model (the genome as found, c0, until one is chosen); with
                           --pick cN, that candidate, its repeated blocks named
    a checkpoint (.pt)     best.pt, parent.pt, final/candidates/c2.pt, ...

The table lists the layers in data-flow order with what each costs, the blocks of gene duplication
and the totals (equal to `cost()`); `--json` prints the same as data; `--out FILE` draws it, as
.svg, .png, .pdf or .dot by the suffix (`views/genome_drawing.py`). Anything that is not a genome is
one sentence, and nothing is written.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import EigenError
from ..genome.dna import Genome, GenomeError
from ..run_folder.file_types import FinalMetrics, Plan
from ..run_folder.folder import interpreting, load_checkpoint, read_json

WHAT = "pass a genome.json, best.json, run folder, final folder or checkpoint (.pt) written by eigen"


@dataclass
class Shown:
    """A genome found at PATH, with the size and classes its cost depends on."""

    genome: Genome
    image_size: int
    num_classes: int
    title: str
    copies: dict[int, int] | None = None  # a duplication candidate: block number -> times it appears
    as_found: Genome | None = None  # ... and the genome it duplicates (candidate c0)
    note: str | None = None


def show_command(config) -> int:
    from ..views.genome_drawing import SUFFIXES
    if config.out and Path(config.out).suffix.lower() not in SUFFIXES:
        raise EigenError(f"--out {config.out}: eigen draws {', '.join(SUFFIXES)} (by the file's suffix)")
    shown = find_genome(Path(config.path), config.pick, config.image_size, config.classes)
    from ..views.genome_table import blocks_lines, describe, layers_table
    described = describe(shown.genome, shown.image_size, shown.num_classes)
    if config.out:
        drawn = draw(shown, Path(config.out))
    if config.json:
        print(json.dumps({"source": shown.title, "copies": shown.copies, **described}, indent=1))
    else:
        from ..views.tables import output_console
        console = output_console()
        if shown.note:
            console.print(shown.note, highlight=False)
        console.print(layers_table(described, shown.title))
        for line in blocks_lines(described) + copies_lines(shown):
            console.print(line, highlight=False)
        t = described["totals"]
        console.print(f"totals: {t['layers']} layers, {t['params']:,} parameters, {t['flops']:,} FLOPs per "
                      f"{shown.image_size}×{shown.image_size} image, {shown.num_classes} classes", highlight=False)
        if config.out:
            console.print(f"drawing: {drawn}", highlight=False)
    return 0


def draw(shown: Shown, path: Path) -> Path:
    """The genome drawn to `path`, its blocks framed (a duplication candidate's copies named)."""
    from ..views.genome_drawing import write_drawing
    return write_drawing(shown.genome, path, shown.image_size, shown.num_classes, blocks=frames_of(shown),
                         title=shown.title)


def copies_lines(shown: Shown) -> list[str]:
    """A duplication candidate's added copies, by the genome as found's block numbers ("block 1 of the
    genome as found appears 3 times: copy 2 is n4, copy 3 is n5")."""
    if not shown.copies or shown.as_found is None:
        return []
    from ..genome.blocks import copies_of_blocks
    lines = []
    found = copies_of_blocks(shown.as_found, shown.genome, shown.copies, shown.image_size)
    for number, added in sorted(found.items()):
        named = "; ".join(f"copy {k} is {', '.join(nodes)}" for k, nodes in enumerate(added, start=2))
        lines.append(f"block {number} of the genome as found appears {shown.copies[number]} times: {named}")
    return lines


def frames_of(shown: Shown) -> list:
    """The blocks to frame: a duplication candidate's blocks and their copies, else find_blocks'."""
    from ..genome.blocks import find_blocks
    from ..views.genome_layout import duplication_frames
    if shown.copies and shown.as_found is not None:
        return duplication_frames(shown.as_found, shown.genome, shown.copies, shown.image_size, shown.num_classes)
    return find_blocks(shown.genome, shown.image_size, shown.num_classes)


def find_genome(path: Path, pick: str | None = None, image_size: int | None = None,
                classes: int | None = None) -> Shown:
    """The genome PATH holds (see the module docstring); one sentence when it holds none."""
    if not path.exists():
        raise EigenError(f"{path} does not exist; {WHAT}")
    if path.is_dir():
        if (path / "plan.json").exists():
            return _from_final(path, pick)
        if (path / "config.json").exists():
            return _from_run(path, pick)
        raise EigenError(f"{path} holds no genome (no best.json, plan.json or config.json); {WHAT}")
    if pick:
        raise EigenError(f"--pick {pick} names an individual of a run folder or a candidate of a final folder; "
                         f"pass the folder, not {path.name}")
    if path.suffix == ".pt":
        saved = load_checkpoint(path, "the checkpoint", "pass a checkpoint written by eigen")
        if not isinstance(saved, dict) or "genome" not in saved:
            raise EigenError(f"{path} is not an eigen checkpoint (it holds no genome); {WHAT}")
        with interpreting(path, "the checkpoint's genome", WHAT):
            size, count = int(saved["image_size"]), int(saved["num_classes"])
        return _shown(saved["genome"], size, count, str(path), path)
    if path.suffix != ".json":
        raise EigenError(f"{path} is not a genome, run folder, final folder or checkpoint; {WHAT}")
    data = read_json(path, "the genome")
    if isinstance(data, dict) and "nodes" in data:  # genome.json
        size, count, note = _beside(path, image_size, classes)
        return _shown(data, size, count, str(path), path, note=note)
    if isinstance(data, dict) and isinstance(data.get("genome"), dict):  # best.json
        with interpreting(path, "the search's best genome", WHAT):
            info = data.get("data") or {}
            size = image_size or int(info.get("image_size", 32))
            count = classes or int(info.get("classes", 10))
        return _shown(data["genome"], size, count, f"{path} ({data.get('id', 'best')})", path)
    raise EigenError(f"{path} holds no genome; {WHAT}")


def _from_run(folder: Path, pick: str | None) -> Shown:
    if pick:  # any individual, trained to T3 or not: a drawing costs no training
        from ..final.pick import individual_genome, individual_records
        run, config, mine = individual_records(folder, pick)
        _, genome = individual_genome(run, config, mine)
        with interpreting(run.config, "the run's settings", "rerun the search into a new folder"):
            size, count = int(config["data"]["image_size"]), int(config["data"]["classes"])
        last = mine[-1]
        return Shown(genome, size, count, f"{folder}: {pick} ({last.stage}, {last.status})")
    if not (folder / "best.json").exists():
        raise EigenError(f"{folder} has no best.json yet (no sitting of the search has ended); show one of its "
                         f"individuals with --pick ID (ids in its history.jsonl)")
    return find_genome(folder / "best.json")


def _from_final(folder: Path, pick: str | None) -> Shown:
    plan = read_json(folder / "plan.json", "the duplication's plan", Plan)
    with interpreting(folder / "plan.json", "the duplication's plan", "run eigen duplicate again into a new --out"):
        candidates = {c["id"]: c for c in plan["candidates"]}
        data = plan["data"]
        size = int(data["image_size"])
        count = int(data.get("classes") or len(data["class_names"]))
        as_found = plan["candidates"][0]["genome"]
    note = None
    if pick is None:
        metrics = folder / "metrics.json"
        chosen = None
        if metrics.exists():
            with interpreting(metrics, "the final metrics", "run eigen duplicate again into a new --out"):
                chosen = read_json(metrics, "the final metrics", FinalMetrics)["model"]["candidate"]
        if chosen is None:
            note = f"{folder} has no chosen model yet: this is c0, the genome as found"
        pick = chosen or "c0"
    if pick not in candidates:
        raise EigenError(f"{pick} is not a candidate of {folder}; its candidates are {', '.join(candidates)}")
    c = candidates[pick]
    with interpreting(folder / "plan.json", "the duplication's plan", "run eigen duplicate again into a new --out"):
        copies = {int(b): int(n) for b, n in (c.get("copies") or {}).items()}
    found = _shown(as_found, size, count, "c0", folder / "plan.json").genome
    return _shown(c["genome"], size, count, f"{folder}: {pick} ({c.get('label', pick)})", folder / "plan.json",
                  copies=copies, as_found=found, note=note)


def _beside(path: Path, image_size: int | None, classes: int | None) -> tuple[int, int, str | None]:
    """The image size and classes of a genome.json, from the final folder files beside it."""
    for name, shape in (("metrics.json", FinalMetrics), ("plan.json", Plan)):
        if (path.parent / name).exists():
            info = read_json(path.parent / name, "the files beside the genome", shape)
            with interpreting(path.parent / name, "the files beside the genome", "pass --image-size and --classes"):
                info = info.get("data", info) if name == "plan.json" else info
                size = info.get("image_size")
                count = info.get("classes")
                count = len(count) if isinstance(count, list) else count
            if size and count:
                return image_size or int(size), classes or int(count), None
    if image_size and classes:
        return image_size, classes, None
    return image_size or 32, classes or 10, (f"{path} does not say its image size and classes; costed at "
                                             f"{image_size or 32}×{image_size or 32} and {classes or 10} classes "
                                             f"(--image-size, --classes)")


def _shown(raw, image_size: int, num_classes: int, title: str, source: Path, **extra) -> Shown:
    try:
        genome = Genome.from_dict(raw, image_size)
    except GenomeError as e:
        raise EigenError(f"the genome in {source} is not valid: {e}") from None
    return Shown(genome, image_size, num_classes, title, **extra)
