"""Datasets (SPEC §2): load images as uint8 arrays and split train / validation / test.

Sources:
    cifar10, cifar100   `<data_dir>/<name>_{train,test}.npz` (arrays x: N x H x W x 3 uint8, y), the
                        offline layout `../shared/data/unpack.py` writes; otherwise torchvision's
                        CIFAR classes, downloading into `data_dir`.
    imagefolder:PATH    PATH/train/<class>/* and PATH/test/<class>/* (or PATH/val/<class>/* when there
                        is no test/, the layout timm and torchvision users have), resized to `image_size`;
                        its teacher folder is named after the folder and its fingerprint (`identity`).
    synthetic           a small generated problem for tests and smoke runs (see `make_synthetic`).

The search only ever sees train and validation; validation is a stratified slice of the training
set chosen with a fixed seed (the same for every run, so runs are comparable); the test set is
loaded apart and used once per reported model.
"""
from __future__ import annotations

import hashlib
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..progress import Tick, library_bars_quiet_off_terminal, ticking

CIFAR = {"cifar10": 10, "cifar100": 100}
SPLIT_SEED = 0  # fixed: every run of every strategy validates on the same images
DEFAULT_DATA_DIR = "~/.cache/eigen"  # --data-dir's default: where CIFAR is found or downloaded
IN_MEMORY = "arrays"  # what a run on data given from Python (eigen/data/in_memory.py) records: never on disk
MAX_VALIDATION = 5000  # SPEC §2 (5,000 of CIFAR's 50,000); smaller sets hold out a tenth


def data_dir_flag(dataset: str, data_dir: str) -> str:
    """The `--data-dir` a printed next step needs to find this data again: '' where the default
    folder finds it, or where the data does not live in --data-dir (an image folder names its own
    path, synthetic data is generated)."""
    if dataset not in CIFAR or data_dir == DEFAULT_DATA_DIR:
        return ""
    return f" --data-dir {shlex.quote(str(data_dir))}"


@dataclass(frozen=True)
class ImageSet:
    """Images and labels: x (N, H, W, 3) uint8, y (N,) int64."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class Splits:
    name: str
    classes: tuple[str, ...]
    train: ImageSet
    val: ImageSet
    test: ImageSet
    folder: str | None = None  # an image folder's path (None for cifar and synthetic)
    notes: tuple[str, ...] = ()  # what loading did that a user should know (resizing, val/ as test)
    in_memory: bool = False  # given from Python (eigen/data/in_memory.py): nothing on disk names it

    @property
    def identity(self) -> str:
        """What names this data's teacher folder: the dataset, and for an image folder its folder's
        name and fingerprint, and for data given from Python its fingerprint, so two image folders or two
        sets of arrays with the same class count never share a teacher."""
        if self.in_memory:
            return f"{self.name}-{self.fingerprint()[:8]}"
        if self.folder is None:
            return self.name
        return f"{self.name}-{Path(self.folder).name or 'root'}-{self.fingerprint()[:8]}"

    def describe(self) -> str:
        """One line for the start of a command: which data, and how it was split."""
        source = self.folder or ("arrays given from Python" if self.in_memory else self.name)
        return (f"data: {source}, {self.num_classes} classes, "
                f"{self.image_size}x{self.image_size}; {len(self.train):,} training, {len(self.val):,} validation "
                f"(held out of training), {len(self.test):,} test images")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_size(self) -> int:
        return self.train.x.shape[1]

    def fingerprint(self) -> str:
        """Identifies exactly which images are train and validation (for caches keyed on the split)."""
        h = hashlib.sha256()
        for part in (self.train.x, self.train.y, self.val.y):
            h.update(np.ascontiguousarray(part).tobytes())
        return h.hexdigest()[:16]


def load_splits(dataset: str, data_dir: str | os.PathLike = "~/.cache/eigen", image_size: int = 32,
                progress: Tick | None = None) -> Splits:
    """Load `dataset` and split it; raises DataError with a sentence saying what to do. `progress`
    hears (files decoded, files found) while an image folder is decoded."""
    train, test, classes, notes = load_dataset(dataset, data_dir, image_size, progress)
    fit, val = stratified_split(train.y, validation_size(len(train), len(classes)), SPLIT_SEED)
    name = dataset.split(":", 1)[0] if dataset.startswith("imagefolder:") else dataset
    folder = str(Path(dataset.split(":", 1)[1]).expanduser()) if dataset.startswith("imagefolder:") else None
    return Splits(name=name, classes=tuple(classes), train=ImageSet(train.x[fit], train.y[fit]),
                  val=ImageSet(train.x[val], train.y[val]), test=test, folder=folder, notes=tuple(notes))


def validation_size(n_train: int, num_classes: int) -> int:
    return max(num_classes, min(MAX_VALIDATION, n_train // 10))


def stratified_split(labels: np.ndarray, n_val: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation): each class gives validation images in proportion to its size."""
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    share = counts * n_val / len(labels)
    quota = np.floor(share).astype(int)
    for k in np.argsort(-(share - quota), kind="stable")[: n_val - quota.sum()]:  # largest remainders
        quota[k] += 1
    val = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:q] for c, q in zip(classes, quota)])
    val.sort()
    train = np.setdiff1d(np.arange(len(labels)), val)
    return train, val


def load_dataset(dataset: str, data_dir, image_size: int,
                 progress: Tick | None = None) -> tuple[ImageSet, ImageSet, list[str], list[str]]:
    """(train, test, class names, notes for the user)."""
    if dataset in CIFAR:
        return (*_load_cifar(dataset, Path(data_dir).expanduser()), [])
    if dataset.startswith("imagefolder:"):
        return _load_image_folder(Path(dataset.split(":", 1)[1]).expanduser(), image_size, progress)
    if dataset == "synthetic":
        return (*make_synthetic(image_size=image_size), [])
    if dataset == IN_MEMORY:
        raise DataError("the dataset 'arrays' is data given from Python (eigen.search(data=...)), which eigen does "
                        "not keep on disk; pass the same data again from Python, or use cifar10, cifar100, "
                        "imagefolder:PATH or synthetic")
    raise DataError(f"unknown dataset '{dataset}': use cifar10, cifar100, imagefolder:PATH or synthetic")


def _load_cifar(name: str, folder: Path) -> tuple[ImageSet, ImageSet, list[str]]:
    npz = [folder / f"{name}_{split}.npz" for split in ("train", "test")]
    if all(p.exists() for p in npz):
        sets, classes = [], None
        for p in npz:
            try:
                with np.load(p) as z:
                    x, y = z["x"], z["y"].astype(np.int64)
                    classes = [str(c) for c in z["classes"]] if "classes" in z else classes
            except Exception as e:  # zipfile, KeyError, ValueError...: all mean a bad file
                raise DataError(f"{p} is not a readable {name} file ({type(e).__name__}: {e}); "
                                f"delete it and recreate it with unpack.py, or let eigen download {name}") from None
            if x.ndim != 4 or x.shape[3] != 3 or x.dtype != np.uint8 or len(x) != len(y):
                raise DataError(f"{p} should hold x (N, H, W, 3) uint8 and y (N,), got x {x.shape} {x.dtype}, "
                                f"y {y.shape}")
            sets.append(ImageSet(x, y))
        classes = classes or [str(k) for k in range(CIFAR[name])]
        _check_labels(sets, len(classes), str(folder))
        return sets[0], sets[1], classes
    return _download_cifar(name, folder)


def _download_cifar(name: str, folder: Path) -> tuple[ImageSet, ImageSet, list[str]]:
    import torchvision
    import torchvision.datasets.utils
    cls = torchvision.datasets.CIFAR10 if name == "cifar10" else torchvision.datasets.CIFAR100
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with library_bars_quiet_off_terminal(torchvision.datasets.utils):  # its download bar, in a log
            parts = [cls(root=str(folder), train=train, download=True) for train in (True, False)]
    except Exception as e:
        raise DataError(f"could not get {name} into {folder} ({type(e).__name__}: {e}); on an offline machine put "
                        f"{name}_train.npz and {name}_test.npz there (arrays x, y) or pass --data-dir") from None
    sets = [ImageSet(np.asarray(p.data, dtype=np.uint8), np.asarray(p.targets, dtype=np.int64)) for p in parts]
    return sets[0], sets[1], list(parts[0].classes)


def _load_image_folder(root: Path, image_size: int,
                       progress: Tick | None = None) -> tuple[ImageSet, ImageSet, list[str], list[str]]:
    from torchvision.datasets import ImageFolder

    from .images import UnreadableImage, read_rgb
    sets, classes, notes = [], None, []
    held_out = "test"
    if not (root / "test").is_dir() and (root / "val").is_dir():
        held_out = "val"  # timm / torchvision layout: val/ is the held-out split
        notes.append(f"{root} has no test/: its val/ is the test set (used once per reported model); "
                     f"validation is held out of train/")
    resized = reshaped = 0
    unreadable: list[tuple[str, str]] = []  # (path, why) of the files left out
    total = 0
    for split in ("train", held_out):
        folder = root / split
        if not folder.is_dir():
            raise DataError(f"image folder {root} needs a '{split}/' subfolder with one folder per class "
                            f"(or 'val/' in place of 'test/')")
        try:
            found = ImageFolder(str(folder))
        except (FileNotFoundError, RuntimeError):
            raise DataError(f"{folder} holds no images in class folders (one folder of images per class)") from None
        if classes is not None and found.classes != classes:
            raise DataError(f"{root}: train/ and {held_out}/ have different class folders "
                            f"({len(classes)} vs {len(found.classes)})")
        classes = found.classes
        total += len(found.samples)
        pixels, labels, bad = [], [], []
        for path, label in ticking(found.samples, progress, total - len(found.samples), total):  # test/'s join later
            try:
                image, was_resized, not_square = read_rgb(path, image_size)
            except UnreadableImage as e:  # one bad download must not cost the whole folder
                bad.append((path, str(e)))
                continue
            pixels.append(image)
            labels.append(label)
            resized += was_resized
            reshaped += not_square and was_resized
        if not pixels:
            raise DataError(f"none of the {len(found.samples)} files in {folder} could be read as an image "
                            f"({bad[0][0]}: {bad[0][1]}); put images there")
        unreadable += bad
        sets.append(ImageSet(np.stack(pixels), np.asarray(labels, dtype=np.int64)))
    if len(classes) < 2:
        raise DataError(f"{root}/train has {len(classes)} class folder; a classifier needs at least two")
    if unreadable:
        named = "; ".join(f"{path} ({why})" for path, why in unreadable[:3])
        more = f"; and {len(unreadable) - 3} more" if len(unreadable) > 3 else ""
        notes.append(f"{len(unreadable)} of the {total} files in {root} could not be read and are left out: "
                     f"{named}{more}; remove or replace them to use them")
    if resized:
        kept = sum(len(s) for s in sets)
        squashed = f", {reshaped:,} of them not square (their aspect ratio is changed, not cropped)" if reshaped else ""
        notes.append(f"{resized:,} of the {kept:,} images in {root} are resized to {image_size}x{image_size}"
                     f"{squashed}; --image-size sets the size")
    return sets[0], sets[1], classes, notes


def _check_labels(sets: list[ImageSet], num_classes: int, where: str) -> None:
    for s in sets:
        if len(s) == 0:
            raise DataError(f"{where}: a split is empty")
        if s.y.min() < 0 or s.y.max() >= num_classes:
            raise DataError(f"{where}: labels must lie in 0..{num_classes - 1}, found {s.y.min()}..{s.y.max()}")


def make_synthetic(n_train: int = 3000, n_test: int = 600, colours: int = 4, image_size: int = 32,
                   seed: int = 0) -> tuple[ImageSet, ImageSet, list[str]]:
    """A small problem that a conv net solves and a linear model on average colour cannot.

    Class = (colour, stripe orientation): 2 * `colours` classes. Each image is a noisy colour with
    horizontal or vertical stripes at a random phase and period. Global average pooling of the raw
    image sees only the colour, so EIGEN's trivial start tops out near 50%; one convolution reads
    the orientation and can reach ~100%.
    """
    rng = np.random.default_rng(seed)
    palette = rng.uniform(0.2, 0.8, size=(colours, 3))
    classes = [f"colour{c}-{'horizontal' if o == 0 else 'vertical'}" for c in range(colours) for o in range(2)]

    def draw(n):
        y = rng.integers(0, 2 * colours, size=n)
        colour, orientation = y // 2, y % 2
        pos = np.arange(image_size)
        period = rng.integers(3, 6, size=n)[:, None]
        phase = rng.integers(0, 6, size=n)[:, None]
        wave = (((pos[None, :] + phase) // period) % 2) * 2.0 - 1.0  # (n, S): +-1 stripes
        stripes = np.where(orientation[:, None, None] == 0, wave[:, :, None], wave[:, None, :])  # (n, S, S)
        img = palette[colour][:, None, None, :] + 0.15 * stripes[..., None] + rng.normal(0, 0.08, (n, image_size, image_size, 3))
        return ImageSet(np.clip(img * 255, 0, 255).astype(np.uint8), y.astype(np.int64))

    return draw(n_train), draw(n_test), classes
