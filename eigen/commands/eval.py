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
from pathlib import Path

from ..errors import EigenError, cannot_save, not_writable
from ..views.confusion import write_confusion_plot
from .model_files import find_target
from .pick_paths import picked_path
from .scoring import Scores, score


def eval_command(config) -> int:
    from ..data.datasets import load_splits
    from ..data.device_data import DeviceData
    from ..data.preprocess import prepared
    from ..device import auto_device

    if config.pick:  # a run's finalised individual, or a final folder's candidate (commands/pick_paths.py)
        config = dataclasses.replace(config, path=str(picked_path(config.path, config.pick, "evaluate")), pick=None)
    target = find_target(Path(config.path), config.top_k)  # the same finding as eigen.load's (model_files.py)
    dataset = config.dataset or target.dataset
    if dataset is None:
        raise EigenError(f"cannot tell which dataset {config.path} was trained on; pass --dataset")
    image_size = config.image_size or target.image_size or 32
    # which device it chose is a note: on stderr under --json, whose stdout is the JSON alone (for jq, > f.json)
    note_to = sys.stderr if config.json else sys.stdout
    device = auto_device(config.gpu, say=lambda text: print(f"evaluating {text}", file=note_to, flush=True))
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
