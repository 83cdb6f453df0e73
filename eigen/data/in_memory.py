"""Data given from Python (`eigen.search(data=...)`): arrays or a torch `Dataset`, made into `Splits`.

What a notebook holds, in the two forms PyTorch users have it:

    (x_train, y_train) or (x_train, y_train, x_test, y_test)
        x: uint8 images (N, H, W, 3) as numpy and PIL give them, or float images (N, 3, H, W) in
           [0, 1] as torchvision's `ToTensor` gives them (numpy arrays or torch tensors); greyscale
           (N, H, W), (N, H, W, 1) or (N, 1, H, W) is repeated into three channels
        y: integer class indices (N,), 0 .. classes - 1
    a torch `Dataset` of (image, label)
        each image a PIL image, an (H, W, 3) uint8 array, or a (3, H, W) tensor (uint8, or float in
        [0, 1]); every image the same square size (a `Resize` transform makes them so)

Every image is kept as uint8 (H, W, 3), as every other source is (float images are rounded to the
nearest of 256 levels, which is what a PNG of them would hold), so the search, its augmentation on
the device and its preprocessing are the ones the CLI's datasets get. Validation is held out of the
training images exactly as for CIFAR (`stratified_split`); without test images, a stratified tenth is
held out of the training images as the test set, and a note says so.

Nothing is copied to disk: the run folder records the data's fingerprint (`Splits.fingerprint`), so
`eigen.search(resume=..., data=...)` and `eigen.duplicate(..., data=...)` check they are given the same
data, and a command that is not given it says in one sentence how to pass it (`needs_data`).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import DataError
from ..progress import Tick, ticking
from .datasets import IN_MEMORY, SPLIT_SEED, ImageSet, Splits, stratified_split, validation_size



def needs_data(what: str, fingerprint: str | None, call: str) -> DataError:
    """The sentence for a command that must be given the Python data `what` was made on, and was not."""
    which = f" (fingerprint {fingerprint})" if fingerprint else ""
    return DataError(f"{what} was made on data given from Python{which}, which eigen does not keep on disk; "
                     f"continue from Python with the same data: {call}")


def splits_from(data: Any, classes: Sequence[str] | None = None, image_size: int | None = None,
                progress: Tick | None = None) -> Splits:
    """`data` (see the module's docstring) as checked `Splits`; a `Splits` is returned as it is.
    A Dataset's items are read one by one, with `progress(done, total)` after each (its transforms may
    be slow). Raises DataError, one sentence, for anything the search could not use."""
    if isinstance(data, Splits):
        return data
    if isinstance(data, (str, bytes)) or hasattr(data, "__fspath__"):
        raise DataError(f"data should be arrays or a torch Dataset, got the path {str(data)!r}; a dataset on disk "
                        f"is dataset='cifar10', 'cifar100' or 'imagefolder:PATH' instead of data=")
    if isinstance(data, (tuple, list)):
        if len(data) not in (2, 4):
            raise DataError(f"data should be (x_train, y_train) or (x_train, y_train, x_test, y_test), got a "
                            f"{type(data).__name__} of {len(data)}")
        train = _image_set(data[0], data[1], "x_train", "y_train")
        test = _image_set(data[2], data[3], "x_test", "y_test") if len(data) == 4 else None
    elif hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        train, test = _from_dataset(data, progress), None
        classes = classes if classes is not None else getattr(data, "classes", None)
    else:
        raise DataError(f"data should be (x_train, y_train) arrays or a torch Dataset of (image, label), "
                        f"got {type(data).__name__}")
    return _split(train, test, classes, image_size)


def _split(train: ImageSet, test: ImageSet | None, classes, image_size: int | None) -> Splits:
    if train.x.shape[1] != train.x.shape[2]:
        raise DataError(f"the images are {train.x.shape[1]}x{train.x.shape[2]}; eigen searches square images: "
                        f"resize or crop them to a square first")
    if test is not None and test.x.shape[1:] != train.x.shape[1:]:
        raise DataError(f"the test images are {test.x.shape[1]}x{test.x.shape[2]}, the training images "
                        f"{train.x.shape[1]}x{train.x.shape[2]}; give both the same size")
    if image_size is not None and image_size != train.x.shape[1]:
        raise DataError(f"image_size={image_size}, but the images given are {train.x.shape[1]}x{train.x.shape[2]}; "
                        f"leave image_size out (the arrays' size is used) or resize the arrays")
    labels = np.concatenate([train.y] + ([test.y] if test is not None else []))
    if labels.min() < 0:
        raise DataError(f"the labels must be class indices 0 .. classes - 1, found {labels.min()}")
    if classes is None:  # 0 .. the largest label, each of which must have training images
        classes = [str(k) for k in range(max(int(labels.max()), 0) + 1)]
        missing = sorted(set(range(len(classes))) - set(train.y.tolist()))
        if missing:
            shown = ", ".join(map(str, missing[:5])) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise DataError(f"the training labels run from 0 to {labels.max()} but no image has class {shown}; "
                            f"labels should be class indices 0 .. classes - 1 (pass classes= to name classes "
                            f"without images)")
    classes = [str(c) for c in classes]
    if labels.min() < 0 or labels.max() >= len(classes):
        raise DataError(f"the labels must lie in 0..{len(classes) - 1} ({len(classes)} classes), found "
                        f"{labels.min()}..{labels.max()}")
    if len(classes) < 2:
        raise DataError(f"the labels name {len(classes)} class; a classifier needs at least two")
    notes = []
    if test is None:
        keep, held = stratified_split(train.y, validation_size(len(train), len(classes)), SPLIT_SEED + 1)
        test, train = ImageSet(train.x[held], train.y[held]), ImageSet(train.x[keep], train.y[keep])
        notes.append(f"no test images given: {len(test):,} of the training images are held out as the test set "
                     f"(used once per reported model); pass (x_train, y_train, x_test, y_test) to choose them")
    fit, val = stratified_split(train.y, validation_size(len(train), len(classes)), SPLIT_SEED)
    if len(fit) < 2:
        raise DataError(f"{len(train)} training images leave too few to train on after validation is held out; "
                        f"give more images")
    return Splits(name=IN_MEMORY, classes=tuple(classes), train=ImageSet(train.x[fit], train.y[fit]),
                  val=ImageSet(train.x[val], train.y[val]), test=test, notes=tuple(notes), in_memory=True)


def _image_set(x, y, x_name: str, y_name: str) -> ImageSet:
    images, labels = _as_numpy(x, x_name), _as_numpy(y, y_name)
    if labels.ndim != 1:
        raise DataError(f"{y_name} should be one class index per image (N,), got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{y_name} should hold integer class indices, got {labels.dtype}")
    images = _as_uint8_hwc(images, x_name)
    if len(images) != len(labels):
        raise DataError(f"{x_name} holds {len(images)} images but {y_name} {len(labels)} labels; give one label "
                        f"per image")
    if len(images) == 0:
        raise DataError(f"{x_name} holds no images")
    return ImageSet(np.ascontiguousarray(images), labels.astype(np.int64))


def _as_numpy(value, name: str) -> np.ndarray:
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor (not imported: numpy users need no torch)
        value = value.detach().cpu().numpy()
    if not isinstance(value, np.ndarray):
        try:
            value = np.asarray(value)
        except Exception:
            raise DataError(f"{name} is a {type(value).__name__}, not an array") from None
    return value


def _as_uint8_hwc(x: np.ndarray, name: str) -> np.ndarray:
    """uint8 (N, H, W, 3) from any of the accepted forms; one sentence for the rest."""
    expected = "uint8 images (N, H, W, 3) or float images (N, 3, H, W) in [0, 1]"
    if x.dtype == np.uint8:
        if x.ndim == 3:
            x = x[..., None]
        if x.ndim != 4 or x.shape[3] not in (1, 3):
            raise DataError(f"{name} should hold {expected}; got uint8 of shape {x.shape} (channels last for uint8)")
        return np.repeat(x, 3, axis=3) if x.shape[3] == 1 else x
    if np.issubdtype(x.dtype, np.floating):
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise DataError(f"{name} should hold {expected}; got {x.dtype} of shape {x.shape} (channels first "
                            f"for floats)")
        if not np.isfinite(x).all() or x.min() < 0 or x.max() > 1:
            low, high = np.nanmin(x), np.nanmax(x)
            raise DataError(f"{name} holds floats from {low:g} to {high:g}{' and NaN or infinity' if not np.isfinite(x).all() else ''}; "
                            f"float images must lie in [0, 1] (divide 0..255 pixels by 255, undo any normalisation)")
        x = np.clip(np.rint(x * 255), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
        return np.repeat(x, 3, axis=3) if x.shape[3] == 1 else x
    raise DataError(f"{name} should hold {expected}; got {x.dtype}")


def _from_dataset(dataset, progress: Tick | None) -> ImageSet:
    """Every (image, label) of a map-style Dataset, read once in index order."""
    n = len(dataset)
    if n == 0:
        raise DataError("the Dataset given is empty")
    images, labels = [], []
    for i in ticking(range(n), progress):
        item = dataset[i]
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            raise DataError(f"the Dataset's item {i} is a {type(item).__name__}; each item should be (image, label)")
        image, label = _item_image(item[0], i), _item_label(item[1], i)
        if images and image.shape != images[0].shape:
            raise DataError(f"the Dataset's item {i} is {image.shape[0]}x{image.shape[1]}, item 0 "
                            f"{images[0].shape[0]}x{images[0].shape[1]}; give images of one size (a Resize transform)")
        images.append(image)
        labels.append(label)
    return ImageSet(np.stack(images), np.asarray(labels, dtype=np.int64))


def _item_image(image, i: int) -> np.ndarray:
    """One item's image as (H, W, 3) uint8: a PIL image, an HWC uint8 array, or a CHW tensor."""
    if hasattr(image, "convert") and hasattr(image, "size"):  # a PIL image
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
    name = f"the Dataset's item {i}"
    is_tensor = hasattr(image, "detach")
    array = _as_numpy(image, name)
    if is_tensor and array.dtype == np.uint8 and array.ndim == 3:  # torchvision.io's (C, H, W) uint8
        array = array.transpose(1, 2, 0)
    elif is_tensor and array.ndim == 2:  # (H, W) greyscale
        array = array[None] if np.issubdtype(array.dtype, np.floating) else array
    return _as_uint8_hwc(array[None], name)[0]


def _item_label(label, i: int) -> int:
    if hasattr(label, "item"):
        label = label.item()
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)):
        raise DataError(f"the Dataset's item {i} has label {label!r}; labels should be integer class indices")
    return int(label)
