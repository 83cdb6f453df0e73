"""What a path holds when a model is asked for: one way of finding a trained model and loading it,
shared by `eigen eval` and `eigen.load` (and so saying the same sentences when a path is wrong).

PATH may be
    a run folder (runs/<name>/)           its final model once `eigen duplicate` has finished, else
                                          its best
    a final folder (runs/<name>/final/)   its chosen model; with top_k k, the ensemble (averaged
                                          softmax) of its k best candidates by validation accuracy
    genome.json                           with its weights beside it (model.safetensors or model.pt)
    an eigen checkpoint (.pt)             parent.pt of a search, individuals/<id>.pt,
                                          final/candidates/<id>.pt, ...
    best.json                             a search's best, with the weights it names
    an export                             model.pt2 or ensemble.pt2 (torch.export), or model.onnx (with
                                          onnxruntime)

A `Target` says what the files say about the model (its data, classes, genome, accuracies, where it
came from) and loads its networks onto a device. Eigen's own networks take images as they saw them
in training; the preprocessing between [0, 1] images and their first layer is named by the target
(`preprocess`), and where the files keep it fitted (`kept_preprocess`) it is read without the data:
gcn-zca's whitening in preprocess.pt, the standard statistics in a finished final folder's
metrics.json. Exports carry it inside.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from ..errors import EigenError, first_line
from ..genome.dna import Genome, GenomeError
from ..run_folder.file_types import DuplicationProgress, FinalMetrics, Plan, RunConfig
from ..run_folder.folder import interpreting, read_json
from ..run_folder.portable import resolve_from_file


@dataclass
class Target:
    """A model found at PATH: what it was trained on, and how to load it onto a device."""

    description: str
    load: Callable[[torch.device, int], list[torch.nn.Module]]
    raw_input: bool = False  # exports take [0, 1] images and normalise them themselves
    dataset: str | None = None
    image_size: int | None = None
    num_classes: int | None = None
    notes: list[str] = field(default_factory=list)
    folder: Path | None = None  # where the confusion matrix goes by default: the model's own folder
    # what the network saw of an image in training (eigen/data/preprocess.py); an export has it inside
    # (None: one that does not say which)
    preprocess: str | None = "standard"
    preprocess_from: tuple[Path, ...] = ()  # where a fitted gcn-zca may be kept (else it is fitted again, the same)
    # What else the files say, for `eigen.load`'s record (None where they do not say)
    class_names: tuple[str, ...] | None = None  # in the order of the network's outputs
    genome: dict | None = None  # the genome's JSON (None for an export)
    individual: str | None = None  # the search's individual it is, or a final candidate was duplicated from
    candidate: str | None = None  # the final folder's candidate it is (c0, c1, ...)
    val_accuracy: float | None = None  # percent
    test_accuracy: float | None = None  # percent
    fingerprint: str | None = None  # of the training split it was trained on (Splits.fingerprint)
    statistics: dict | None = None  # the standard preprocessing's mean and std, where a final folder keeps them
    output: str = "logits"  # an ensemble's export says "probabilities (mean softmax)"


def find_target(path: Path, top_k: int = 1) -> Target:
    """What PATH holds; a clear error when it is nothing eigen can evaluate."""
    path = Path(path)
    with interpreting(path, "the model", "pass a final folder, genome.json or checkpoint written by eigen"):
        target = _find_target(path, top_k)
    if target.folder is None:
        target.folder = path if path.is_dir() else path.parent
    return target


def kept_preprocess(target: Target) -> torch.nn.Module | None:
    """The preprocessing `target`'s networks were trained with, as the files beside them keep it
    (checked against the training split they name), or None when only the training data can give it
    again: the standard statistics of a search not yet duplicated, a whitening nobody kept."""
    from ..data.preprocess import Standardize, kept
    if target.preprocess == "standard":
        if target.statistics is None:
            return None
        return Standardize(torch.tensor(target.statistics["mean"]), torch.tensor(target.statistics["std"]))
    found = kept(target.preprocess, target.preprocess_from, target.fingerprint)
    return found[0] if found is not None else None


def _find_target(path: Path, top_k: int) -> Target:
    from .export import is_program, load_onnx, load_program
    if not path.exists():
        raise EigenError(f"{path} does not exist; pass a final folder, genome.json, a checkpoint or an export "
                         f"(model.pt2, model.onnx)")
    if top_k > 1 and not path.is_dir():
        raise EigenError(f"--top-k {top_k} needs a final folder (runs/<name>/final/) holding several models")
    if path.is_dir() and (path / "config.json").exists() and (path / "best.json").exists():
        # A search's run folder: its final model once `eigen duplicate` has finished, else its best.
        if (path / "final" / "metrics.json").exists():
            return _final_folder(path / "final", top_k)
        if top_k > 1:
            raise EigenError(f"--top-k {top_k} needs a final folder; {path} has none yet (run `eigen duplicate "
                             f"{path / 'best.json'}`)")
        return _best_json(path / "best.json")
    if path.is_dir():
        return _final_folder(path, top_k)
    if path.suffix == ".json":
        data = read_json(path, "the model description")
        if isinstance(data, dict) and isinstance(data.get("genome"), dict) and "run" in data:
            return _best_json(path)
        return _genome_json(path, data)
    if is_program(path):
        return _export(path, load_program)
    if path.suffix == ".onnx":
        return _export(path, lambda p, device="cpu": load_onnx(p))
    return _checkpoint(path)


def _final_folder(folder: Path, top_k: int) -> Target:
    from ..training.individual_training import load_model
    if not (folder / "metrics.json").exists():
        hint = ("run `eigen duplicate` again to finish it" if (folder / "plan.json").exists()
                else "pass runs/<name>/final/, written by `eigen duplicate`")
        raise EigenError(f"{folder} holds no metrics.json, so it is not a finished final folder; {hint}")
    metrics = read_json(folder / "metrics.json", "the final metrics", FinalMetrics)
    plan = _quietly(lambda: read_json(folder / "plan.json", "the duplication's plan", Plan)) or {}
    common = {"dataset": metrics["dataset"], "image_size": metrics["image_size"], "num_classes": len(metrics["classes"]),
              "class_names": tuple(metrics["classes"]), "fingerprint": (plan.get("data") or {}).get("fingerprint"),
              "individual": (plan.get("source") or {}).get("id")}
    if top_k == 1:
        target = _genome_json(folder / "genome.json", read_json(folder / "genome.json", "the final genome"))
        model = metrics["model"]
        target.description = f"{folder} ({model['candidate']}, {model['duplication']})"
        target.folder = folder
        target.preprocess, target.preprocess_from = _preprocess_of(metrics), (folder,)
        target.candidate, target.val_accuracy, target.test_accuracy = (model["candidate"], model.get("val_accuracy"),
                                                                       model.get("test_accuracy"))
        for name, value in common.items():
            setattr(target, name, value)
        return target
    plan = read_json(folder / "plan.json", "the duplication's plan", Plan)
    entries = read_json(folder / "state.json", "the duplication's progress", DuplicationProgress)["candidates"]
    trained = [c for c in plan["candidates"]
               if entries[c["id"]]["status"] == "ok" and entries[c["id"]]["step"] >= plan["schedule"]["total"]]
    ranked = sorted(trained, key=lambda c: -entries[c["id"]]["fitness"])[:top_k]
    notes = [] if len(ranked) == top_k else [f"only {len(ranked)} candidates finished training; ensembling those"]
    paths = [folder / "candidates" / f"{c['id']}.pt" for c in ranked]
    return Target(f"{folder} ensemble of {', '.join(c['id'] for c in ranked)}",
                  lambda device, size: [load_model(p, device) for p in paths], notes=notes, folder=folder,
                  preprocess=_preprocess_of(metrics), preprocess_from=(folder,), statistics=_statistics(metrics),
                  output="probabilities (mean softmax)", **common)


def _quietly(read: Callable[[], dict]) -> dict | None:
    """What `read` reads, or None when the file is damaged: for what only describes a model (its
    record), which must not stop eval from measuring a model whose own files are whole."""
    try:
        return read()
    except EigenError:
        return None


def _preprocess_of(metrics: dict) -> str:
    """The preprocessing a final folder's metrics.json says its models were trained with."""
    return (metrics.get("normalization") or {}).get("kind", "standard")


def _statistics(metrics: dict) -> dict | None:
    """The standard preprocessing's mean and std, as a final folder's metrics.json keeps them."""
    normalization = metrics.get("normalization") or {}
    if normalization.get("kind", "standard") != "standard" or "mean" not in normalization:
        return None
    return {"mean": list(normalization["mean"]), "std": list(normalization["std"])}


def _plan_part(folder: Path, part: str) -> dict:
    """A final folder's plan.json `part`: its "data", or its "source" (the search individual it
    duplicated); {} without a plan."""
    if not (folder / "plan.json").exists():
        return {}
    return read_json(folder / "plan.json", "the duplication's plan", Plan).get(part) or {}


def _final_near(folders: tuple[Path, ...], fingerprint: str | None) -> Path | None:
    """A finished final folder trained on the same training split, among `folders` or inside one of
    them (a run's final/, final-<id>/): it keeps what a search does not, the standard statistics (six
    numbers a search recomputes whenever it loads the data) and the class names. Only with a known
    fingerprint, matched against the final folder's plan: other data, other numbers."""
    if fingerprint is None:
        return None
    for place in folders:
        for final in [place, *sorted(place.glob("final*"))]:
            try:
                if (final / "metrics.json").exists() and _plan_part(final, "data").get("fingerprint") == fingerprint:
                    return final
            except EigenError:  # a damaged neighbour is not this model's problem: look on
                continue
    return None


def _kept_near(folders: tuple[Path, ...], fingerprint: str | None, num_classes: int) -> dict:
    """The Target fields a final folder of the same data fills in for a search's model: the standard
    statistics and the class names ({} without one)."""
    final = _final_near(folders, fingerprint)
    if final is None:
        return {}
    try:
        statistics = _statistics(read_json(final / "metrics.json", "the final metrics", FinalMetrics))
        names = _plan_part(final, "data").get("class_names")
    except EigenError:
        return {}
    return {"statistics": statistics, "class_names": tuple(names) if names and len(names) == num_classes else None}


def _genome_json(path: Path, data) -> Target:
    from .export import load_weights, model_from, weights_file
    weights = weights_file(path.parent)
    if weights is None:
        raise EigenError(f"no weights beside {path} (model.safetensors or model.pt); a genome alone has not been trained")
    beside = path.parent / "metrics.json"
    metrics = read_json(beside, "the final metrics", FinalMetrics) if beside.exists() else {}
    _genome(data, path, metrics.get("image_size", 32))  # a broken genome fails here, before any data is read
    state = load_weights(weights)
    classes = _classes_of(state, path)

    def load(device, size):
        return [model_from(_genome(data, path, size), state, classes, size).to(device)]
    names = metrics.get("classes")
    return Target(f"{path} with {weights.name}", load, dataset=metrics.get("dataset"),
                  image_size=metrics.get("image_size"), num_classes=classes, preprocess=_preprocess_of(metrics),
                  preprocess_from=(path.parent,), genome=data, statistics=_statistics(metrics),
                  class_names=tuple(names) if names and len(names) == classes else None)


def _best_json(path: Path) -> Target:
    from ..final.plan import read_source
    from ..training.individual_training import load_model
    source = read_source(path)
    weights = resolve_from_file(source.best.get("weights"), path)  # relative to best.json, or absolute (older runs)
    if weights is None or not weights.exists():
        raise EigenError(f"the weights {path} names ({source.best.get('weights')}) are gone; evaluate a final folder "
                         f"or a checkpoint instead")
    near = (source.run,) if source.run is not None else ()
    fingerprint = source.data.get("fingerprint")
    return Target(f"{source.best['id']} of {path}", lambda device, size: [load_model(weights, device)],
                  dataset=source.data["dataset"], image_size=source.data["image_size"],
                  num_classes=source.data["classes"], preprocess=source.data.get("preprocess", "standard"),
                  preprocess_from=near, genome=source.genome.to_dict(), individual=source.best["id"],
                  val_accuracy=source.best.get("val_accuracy"), test_accuracy=source.best.get("test_accuracy"),
                  fingerprint=fingerprint, **_kept_near(near, fingerprint, source.data["classes"]))


def _checkpoint(path: Path) -> Target:
    from ..training.individual_training import load_model
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise EigenError(f"{path} is not an eigen checkpoint ({type(e).__name__}: {first_line(e)})") from None
    if not isinstance(saved, dict) or not {"genome", "num_classes", "image_size", "trainer"} <= set(saved):
        raise EigenError(f"{path} is not an eigen checkpoint (it holds no genome and weights)")
    # parent.pt, best.pt: in the run folder; individuals/*.pt and candidates/*.pt: one below it
    data: dict = {}
    for folder in (path.parent, path.parent.parent):
        if (folder / "config.json").exists():  # a run: the dataset as the search was given it (imagefolder:PATH)
            config = read_json(folder / "config.json", "the run's settings", RunConfig)
            data = {**(config.get("data") or {}), "dataset": (config.get("settings") or {}).get("dataset")}
            break
        if (folder / "plan.json").exists():  # a final folder
            data = _plan_part(folder, "data")
            break
    final = path.parent.parent
    candidate = path.stem if path.parent.name == "candidates" and (final / "plan.json").exists() else None
    # a search names them <id>.pt (steady state) or <id>-<stage>.pt (EIGEN's stages)
    individual = path.stem.split("-")[0] if path.parent.name == "individuals" else None
    val = test = None
    if candidate is not None:
        individual = _plan_part(final, "source").get("id")
        val, test = _candidate_accuracies(final, candidate)
    near = (path.parent, path.parent.parent)
    kept = _kept_near(near, data.get("fingerprint"), saved["num_classes"])
    names = kept.get("class_names") or data.get("class_names")  # an unfinished final folder's plan has them
    return Target(str(path), lambda device, size: [load_model(path, device)], dataset=data.get("dataset"),
                  image_size=saved["image_size"], num_classes=saved["num_classes"],
                  preprocess=str(saved.get("preprocess", "standard")), preprocess_from=near,
                  genome=saved["genome"], individual=individual, candidate=candidate, val_accuracy=val,
                  test_accuracy=test, fingerprint=data.get("fingerprint"), statistics=kept.get("statistics"),
                  class_names=tuple(names) if names and len(names) == saved["num_classes"] else None)


def _candidate_accuracies(folder: Path, candidate: str) -> tuple[float | None, float | None]:
    """(validation, test) accuracy of a final folder's candidate, as its metrics.json says (the test
    accuracy is measured for the chosen candidate only); (None, None) before it is finished."""
    if not (folder / "metrics.json").exists():
        return None, None
    metrics = read_json(folder / "metrics.json", "the final metrics", FinalMetrics)
    val = next((c.get("val_accuracy") for c in metrics.get("candidates", []) if c.get("id") == candidate), None)
    chosen = metrics.get("model") or {}
    return val, chosen.get("test_accuracy") if chosen.get("candidate") == candidate else None


def _export(path: Path, load) -> Target:
    """A model.pt2 or model.onnx: it takes [0, 1] images; eigen.json inside says the rest."""
    _, meta = load(path)  # checks it loads before any data is read
    classes = meta.get("classes")
    return Target(str(path), lambda device, size: [load(path, device)[0]], raw_input=True,
                  dataset=meta.get("dataset"), image_size=meta.get("image_size"),
                  num_classes=len(classes) if classes else None, class_names=tuple(classes) if classes else None,
                  candidate=meta.get("candidate"), test_accuracy=meta.get("test_accuracy"),
                  output=meta.get("output", "logits"), preprocess=meta.get("preprocess") or _kind_beside(path))


def _kind_beside(path: Path) -> str | None:
    """The preprocessing an export without the word has inside, as the final folder it sits in says
    (None when it cannot tell: the export works all the same, it takes [0, 1] images)."""
    metrics = _quietly(lambda: read_json(path.parent / "metrics.json", "the final metrics", FinalMetrics))
    return _preprocess_of(metrics) if metrics is not None else None


def _genome(data, path: Path, image_size: int) -> Genome:
    try:
        return Genome.from_dict(data, image_size)
    except GenomeError as e:
        raise EigenError(f"{path} is not a valid genome: {e}") from None


def _classes_of(state: dict, path: Path) -> int:
    """The class count, from the classifier's weight (the only `fc.weight` in a genome's network)."""
    heads = [v for k, v in state.items() if k.endswith(".fc.weight")]
    if len(heads) != 1:
        raise EigenError(f"the weights beside {path} are not those of an eigen network (no single classifier)")
    return heads[0].shape[0]
