"""`eigen eval PATH`: the test accuracy of a trained model, whichever form it is in.

PATH may be
    a final folder (runs/<name>/final/)   its chosen model; with --top-k k, the ensemble (averaged
                                          softmax) of its k best candidates by validation accuracy
    genome.json                           with its weights beside it (model.safetensors or model.pt)
    an eigen checkpoint (.pt)             parent.pt of a search, final/candidates/<id>.pt, ...
    best.json                             a search's best, with the weights it names
    an export                             model.pt2 or ensemble.pt2 (torch.export), or model.onnx (with
                                          onnxruntime)

The dataset and image size are the ones the model was trained on, read from the files beside it or
inside it; `--dataset` evaluates on another dataset with the same classes. Besides top-1 it reports
top-5 and the accuracy of every class, draws the confusion matrix (confusion-<model>-<dataset>.png and
.svg beside the model, or `--confusion PATH`), and with `--json` prints all of it as one JSON object.
"""
from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from ..errors import EigenError, cannot_save, first_line, not_writable
from ..genome.dna import Genome, GenomeError
from ..run_folder.file_types import DuplicationProgress, FinalMetrics, Plan, RunConfig
from ..run_folder.folder import interpreting, read_json
from ..run_folder.portable import resolve_from_file
from ..views.confusion import write_confusion_plot
from .pick_paths import picked_path
from .scoring import Scores, score


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
    preprocess: str = "standard"  # what the network saw of an image in training (eigen/data/preprocess.py)
    preprocess_from: tuple[Path, ...] = ()  # where a fitted gcn-zca may be kept (else it is fitted again, the same)


def eval_command(config) -> int:
    from ..data.datasets import load_splits
    from ..data.device_data import DeviceData
    from ..data.preprocess import prepared
    from ..device import auto_device

    if config.pick:  # a run's finalised individual, or a final folder's candidate (commands/pick_paths.py)
        config = dataclasses.replace(config, path=str(picked_path(config.path, config.pick, "evaluate")), pick=None)
    with interpreting(config.path, "the model", "pass a final folder, genome.json or checkpoint written by eigen"):
        target = find_target(Path(config.path), config.top_k)
    dataset = config.dataset or target.dataset
    if dataset is None:
        raise EigenError(f"cannot tell which dataset {config.path} was trained on; pass --dataset")
    image_size = config.image_size or target.image_size or 32
    device = auto_device(config.gpu, say=lambda text: print(f"evaluating {text}", flush=True))
    splits = load_splits(dataset, config.data_dir, image_size)
    if target.num_classes is not None and target.num_classes != splits.num_classes:
        raise EigenError(f"{config.path} predicts {target.num_classes} classes, {dataset} has {splits.num_classes}; "
                         f"evaluate it on the dataset it was trained on")
    preprocess = "standard" if target.raw_input else prepared(target.preprocess, splits, None, target.preprocess_from)
    data = DeviceData(splits, device, with_test=True, preprocess=preprocess)
    models = target.load(device, image_size)
    scores = Scores(score(models, data, target.raw_input), data.test_y.cpu(), list(splits.classes))
    tta = None
    if config.tta:
        from ..training.tta import tta_probabilities, tta_views
        augmented = Scores(tta_probabilities(models, data, config.tta, target.raw_input), data.test_y.cpu(),
                           list(splits.classes))
        tta = {"kind": config.tta, "views": len(tta_views(config.tta)), "top1": augmented.top_k(1),
               "top5": augmented.top_k(5)}
    png = Path(config.confusion) if config.confusion else target.folder / confusion_name(config, splits.name)
    unsaved = _draw_confusion(scores, png, f"{target.description}\nconfusion on the {len(data.test_y):,} "
                                           f"{splits.name} test images")
    files = ({"png": None, "svg": None, "error": unsaved} if unsaved
             else {"png": str(png), "svg": str(png.with_suffix(".svg"))})
    result = {"model": target.description, "dataset": splits.name, "test_images": len(data.test_y),
              "top1": scores.top_k(1), "top5": scores.top_k(5), "per_class": scores.per_class(),
              "confusion": {**files, "matrix": scores.confusion().tolist(), "rows": "true class",
                            "columns": "predicted class"},
              "tta": tta, "notes": target.notes}
    if config.json:
        print(json.dumps(result, indent=1))
    else:
        for note in target.notes:
            print(note)
        print(f"{target.description}: test accuracy {result['top1']:.2f}% (top-5 {result['top5']:.2f}%) on the "
              f"{len(data.test_y):,} {splits.name} test images")
        if tta:
            print(f"with test-time augmentation ({tta['kind']}, {tta['views']} views): {tta['top1']:.2f}% "
                  f"(top-5 {tta['top5']:.2f}%)")
        print(per_class_line(result["per_class"]))
        if unsaved is None:
            print(f"confusion matrix: {png} (and .svg)")
    if unsaved and config.confusion:  # the picture asked for by name: the command did not do all it was told
        raise EigenError(unsaved)
    if unsaved:  # beside the model by default: the accuracy is the answer, the picture a note (on stderr)
        print(f"note: {unsaved}", file=sys.stderr)
    return 0


def _draw_confusion(scores, png: Path, title: str) -> str | None:
    """Draw the confusion matrix; None, or the sentence saying why it could not be saved (a model on a
    read-only share, a full disk: the accuracy is the answer and is printed anyway)."""
    try:
        write_confusion_plot(scores.confusion().numpy(), scores.classes, png, title)
    except OSError as e:
        instead = "pass --confusion PATH to draw it elsewhere" if not_writable(e) else "free some space, then run eval again"
        return cannot_save(e, "the confusion matrix", instead)
    return None


def confusion_name(config, dataset: str) -> str:
    """confusion-<model>-<dataset>.png: one file per model and dataset, so evaluating the ensemble or
    a checkpoint beside the final model never overwrites its picture."""
    path = Path(config.path)
    model = path.stem if path.is_file() else (f"top{config.top_k}" if config.top_k > 1 else "model")
    return f"confusion-{model}-{dataset}.png".replace(":", "-").replace("/", "-")


def per_class_line(per_class: dict[str, float | None]) -> str:
    """Every class's accuracy, worst first (the five worst and best when there are more than 12)."""
    ranked = sorted(((a, c) for c, a in per_class.items() if a is not None))
    show = lambda items: ", ".join(f"{c} {a:.1f}%" for a, c in items)
    if len(ranked) <= 12:
        return f"per class (worst first): {show(ranked)}"
    return f"per class: worst {show(ranked[:5])}; best {show(ranked[-5:])} (all in --json)"


def find_target(path: Path, top_k: int = 1) -> Target:
    """What PATH holds; a clear error when it is nothing eigen can evaluate."""
    target = _find_target(path, top_k)
    if target.folder is None:
        target.folder = path if path.is_dir() else path.parent
    return target


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
    common = {"dataset": metrics["dataset"], "image_size": metrics["image_size"], "num_classes": len(metrics["classes"])}
    if top_k == 1:
        target = _genome_json(folder / "genome.json", read_json(folder / "genome.json", "the final genome"))
        target.description = f"{folder} ({metrics['model']['candidate']}, {metrics['model']['duplication']})"
        target.folder = folder
        target.preprocess, target.preprocess_from = _preprocess_of(metrics), (folder,)
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
                  preprocess=_preprocess_of(metrics), preprocess_from=(folder,), **common)


def _preprocess_of(metrics: dict) -> str:
    """The preprocessing a final folder's metrics.json says its models were trained with."""
    return (metrics.get("normalization") or {}).get("kind", "standard")


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
    return Target(f"{path} with {weights.name}", load, dataset=metrics.get("dataset"),
                  image_size=metrics.get("image_size"), num_classes=classes, preprocess=_preprocess_of(metrics),
                  preprocess_from=(path.parent,))


def _best_json(path: Path) -> Target:
    from ..training.individual_training import load_model
    from .duplicate import read_source
    source = read_source(path)
    weights = resolve_from_file(source.best.get("weights"), path)  # relative to best.json, or absolute (older runs)
    if weights is None or not weights.exists():
        raise EigenError(f"the weights {path} names ({source.best.get('weights')}) are gone; evaluate a final folder "
                         f"or a checkpoint instead")
    return Target(f"{source.best['id']} of {path}", lambda device, size: [load_model(weights, device)],
                  dataset=source.data["dataset"], image_size=source.data["image_size"],
                  num_classes=source.data["classes"], preprocess=source.data.get("preprocess", "standard"),
                  preprocess_from=(source.run,) if source.run is not None else ())


def _checkpoint(path: Path) -> Target:
    from ..training.individual_training import load_model
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise EigenError(f"{path} is not an eigen checkpoint ({type(e).__name__}: {first_line(e)})") from None
    if not isinstance(saved, dict) or not {"genome", "num_classes", "image_size", "trainer"} <= set(saved):
        raise EigenError(f"{path} is not an eigen checkpoint (it holds no genome and weights)")
    dataset = None
    for settings_file, read in ((path.parent / "config.json", lambda d: d["settings"]["dataset"]),
                                (path.parent.parent / "plan.json", lambda d: d["data"]["dataset"])):
        if settings_file.exists():
            try:
                dataset = read(read_json(settings_file, "the run's settings", RunConfig))
                break
            except (KeyError, TypeError):
                continue
    # parent.pt, best.pt: in the run folder; individuals/*.pt and candidates/*.pt: one below it
    return Target(str(path), lambda device, size: [load_model(path, device)], dataset=dataset,
                  image_size=saved["image_size"], num_classes=saved["num_classes"],
                  preprocess=str(saved.get("preprocess", "standard")), preprocess_from=(path.parent, path.parent.parent))


def _export(path: Path, load) -> Target:
    """A model.pt2 or model.onnx: it takes [0, 1] images; eigen.json inside says the rest."""
    _, meta = load(path)  # checks it loads before any data is read
    classes = meta.get("classes")
    return Target(str(path), lambda device, size: [load(path, device)[0]], raw_input=True,
                  dataset=meta.get("dataset"), image_size=meta.get("image_size"),
                  num_classes=len(classes) if classes else None)


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
