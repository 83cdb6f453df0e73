"""`eigen predict MODEL IMAGE...`: the most probable classes of each image, with their probabilities.

MODEL is a final folder (or the run folder holding it), or an export: model.pt2 / ensemble.pt2
(torch.export) or model.onnx (needs onnxruntime). Exports carry the
class names and image size (eigen.json), and take float images in [0, 1]; images are read as RGB and
resized to the model's size as `imagefolder:` data is in training (bilinear, aspect not kept). A
folder stands for the images directly in it, in name order. Runs on the CPU: a handful of images
does not pay for a device.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..errors import EigenError
from .pick_paths import picked_path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")
BATCH = 256  # images per forward pass


def predict_command(config) -> int:
    path = picked_path(config.model, config.pick, "predict with")
    if config.pick and path.suffix == ".pt":
        raise EigenError(f"candidate {config.pick} of {config.model} is a checkpoint, not an exported model; predict "
                         f"with the final folder's chosen model, or measure the candidate with "
                         f"`eigen eval {config.model} --pick {config.pick}`")
    model, meta, source = load_predictor(path)
    classes, size = meta.get("classes"), meta.get("image_size")
    if not classes or not size:
        raise EigenError(f"{source} does not say its classes and image size (no eigen.json inside); "
                         f"predict with a model exported by `eigen duplicate`")
    given = image_paths(config.images)
    images, paths, resized, unreadable = read_images(given, int(size))
    if not paths:
        raise EigenError(f"no image could be read: {'; '.join(unreadable[:3])}; pass image files (png, jpg, ...)")
    with torch.no_grad():
        scores = torch.cat([model(images[i:i + BATCH]).float() for i in range(0, len(images), BATCH)])
    # An ensemble's export already averages softmax outputs; a single model's gives logits.
    probabilities = scores if str(meta.get("output", "")).startswith("probabilities") else scores.softmax(dim=1)
    k = min(config.top_k, len(classes))
    top = probabilities.topk(k, dim=1)
    predictions = [{"image": str(path), "top": [{"class": classes[c], "probability": round(p, 6)}
                                                for p, c in zip(values.tolist(), indices.tolist())]}
                   for path, values, indices in zip(paths, top.values, top.indices)]
    if config.json:
        print(json.dumps({"model": str(source), "predictions": predictions, "unreadable": unreadable}, indent=1))
    else:
        if resized:
            print(f"{resized} of {len(paths)} images resized to {size}x{size}, the model's input size")
        for p in predictions:
            print(f"{p['image']}: " + ", ".join(f"{t['class']} {100 * t['probability']:.1f}%" for t in p["top"]))
    if unreadable:  # the others are answered; the exit code says not all were
        more = f" and {len(unreadable) - 3} more" if len(unreadable) > 3 else ""
        raise EigenError(f"{len(unreadable)} of {len(given)} files could not be read as images and have no "
                         f"prediction: {'; '.join(unreadable[:3])}{more}")
    return 0


def load_predictor(path: Path):
    """(model taking [0, 1] images, its eigen.json, the file it came from) for a folder or an export."""
    from .export import is_program, load_onnx, load_program
    if not path.exists():
        raise EigenError(f"{path} does not exist; pass a final folder or an export (model.pt2, model.onnx)")
    if path.is_dir():
        final = path / "final" if (path / "final" / "metrics.json").exists() else path
        if (final / "model.pt2").exists():
            return load_predictor(final / "model.pt2")
        raise EigenError(f"{path} holds no exported model (model.pt2); pass a final folder written by "
                         f"`eigen duplicate`, or run it first")
    if is_program(path):
        model, meta = load_program(path)
    elif path.suffix == ".onnx":
        model, meta = load_onnx(path)
    else:
        raise EigenError(f"{path} is not an export eigen can predict with; pass a final folder, model.pt2 or model.onnx")
    return model, meta, path


def image_paths(given: list[str]) -> list[Path]:
    """The image files named, a folder standing for the images directly in it (name order)."""
    paths = []
    for name in given:
        path = Path(name)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise EigenError(f"{path} holds no images ({', '.join(IMAGE_SUFFIXES)})")
            paths += found
        elif path.is_file():
            paths.append(path)
        else:
            raise EigenError(f"{path} does not exist; pass image files or folders of images")
    return paths


def read_images(paths: list[Path], size: int) -> tuple[torch.Tensor, list[Path], int, list[str]]:
    """(N, 3, size, size) floats in [0, 1] of the images that could be read, their paths, how many
    had to be resized, and a reason for each file that could not (`data/images.py`)."""
    from ..data.images import UnreadableImage, read_rgb
    pixels, readable, unreadable, resized = [], [], [], 0
    for path in paths:
        try:
            image, was_resized, _ = read_rgb(path, size)
        except UnreadableImage as e:
            unreadable.append(f"{path} ({e})")
            continue
        pixels.append(image)
        readable.append(path)
        resized += was_resized
    batch = np.stack(pixels) if pixels else np.empty((0, size, size, 3), np.uint8)
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 255, readable, resized, unreadable