"""`eigen.load`: a model eigen trained, as a torch module that takes [0, 1] images, from any form
eigen wrote it in, to predict with or to fine-tune.

    import eigen, torch
    model = eigen.load("runs/c10/final")            # eval mode, on the CPU
    probabilities = model(images).softmax(dim=1)    # images: float (B, 3, H, W) in [0, 1]
    model.eigen_cfg.classes                         # what each output is, and the rest of the record
    model.reset_classifier(3)                       # a fresh head, to fine-tune on another task

PATH is found as `eigen eval` finds it (`commands/model_files.py`): a run folder, a final folder,
best.json, genome.json, a checkpoint (.pt) or a model.pt2 export; `pick` as `eval --pick`. The
preprocessing the network was trained with is inside the module, as it is inside model.pt2, read
from the files that keep it (never from the data unless `data_dir` is given: nothing is downloaded
or written).

Why `eigen_cfg` and not timm's `pretrained_cfg` for the record: timm reads `model.pretrained_cfg` as
a dict of data settings (`timm.data.resolve_data_config(model=m)`), and fills in ImageNet's mean and
std where it says none. A typed record under that name would break timm's reader, and one without a
mean and std would have timm normalise the images a second time. So the record is `eigen_cfg` (a
frozen, versioned dataclass), and `pretrained_cfg` is the dict timm expects, saying what is true of
the module: [0, 1] images (mean 0, std 1), resized bilinearly to the input size, no crop.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import DeviceError, EigenError

CFG_VERSION = 1  # EigenCfg's; from_dict refuses others


@dataclass(frozen=True)
class EigenCfg:
    """What a loaded model is (`model.eigen_cfg`): what it takes, what it says, where it came from.

    It describes the files loaded, not what the module becomes: after `reset_classifier` the module
    predicts other classes, and its record still says what it was trained on (as timm's does)."""

    input_size: tuple[int, int, int]  # (3, H, W): float images in [0, 1], the preprocessing is inside
    num_classes: int
    classes: tuple[str, ...] | None  # class names in output order; None where the files do not say
    preprocess: str | None  # "standard" or "gcn-zca" (eigen/data/preprocess.py); None: an export that does not say
    output: str  # "logits", or an ensemble export's "probabilities (mean softmax)"
    genome: dict[str, Any] | None  # the genome's JSON (`eigen.Genome.from_dict`); None for an export
    params: int | None  # trainable parameters of the network (an export's counted, a genome's analytic)
    flops: int | None  # forward FLOPs per image (eigen.cost); None for an export
    val_accuracy: float | None  # percent, where the files say
    test_accuracy: float | None  # percent, where the files say
    dataset: str | None  # as the search was given it (cifar10, imagefolder:PATH, synthetic)
    source: str  # the file or folder loaded (after `pick`)
    individual: str | None = None  # the search's individual it is, or that a final candidate was duplicated from
    candidate: str | None = None  # the final folder's candidate it is (c0, c1, ...)
    version: int = CFG_VERSION

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (tuples as lists)."""
        d = dataclasses.asdict(self)
        d["input_size"] = list(self.input_size)
        d["classes"] = list(self.classes) if self.classes is not None else None
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EigenCfg:
        if data.get("version") != CFG_VERSION:
            raise ValueError(f"an eigen_cfg of version {data.get('version')!r}; this eigen reads version {CFG_VERSION}")
        classes = data.get("classes")
        return cls(**{**data, "input_size": tuple(data["input_size"]),
                      "classes": tuple(classes) if classes is not None else None})

    def timm_cfg(self) -> dict[str, Any]:
        """What timm's `resolve_data_config` reads from `model.pretrained_cfg`: the module takes [0, 1]
        images, so mean 0 and std 1 (timm would otherwise normalise with ImageNet's)."""
        return {"input_size": self.input_size, "num_classes": self.num_classes, "interpolation": "bilinear",
                "mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0), "crop_pct": 1.0, "crop_mode": "center"}


class Exported(nn.Module):
    """A model.pt2 as `eigen.load` returns it: [0, 1] images in, its outputs out.

    A torch.export program is a traced graph, not a GenomeNet: it was traced in eval mode and stays
    so (it cannot train), and it has no backbone to fine-tune; those calls say so in one sentence."""

    def __init__(self, program: nn.Module, path: Path, num_classes: int | None):
        super().__init__()
        self.program = program
        self.path = str(path)
        self.num_classes = num_classes

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.program(images)

    def train(self, mode: bool = True) -> Exported:
        if mode:
            raise EigenError(f"{self.path} is a torch.export program, traced in eval mode, and cannot train; "
                             f"load the final folder it was exported from to fine-tune it")
        self.training = False  # the graph's layers are fixed in eval mode already (torch refuses to set it)
        return self

    def _not_a_network(self, what: str):
        raise EigenError(f"{self.path} is a torch.export program, not eigen's network, so it has no {what}; "
                         f"load the final folder it was exported from (or its genome.json) instead")

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        self._not_a_network("forward_features")

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        self._not_a_network("forward_head")

    def get_classifier(self) -> nn.Module:
        self._not_a_network("classifier to get")

    def reset_classifier(self, num_classes: int) -> None:
        self._not_a_network("classifier to reset")


def load(path: str | os.PathLike, pick: str | None = None, device: str | torch.device = "cpu", *,
         data_dir: str | os.PathLike | None = None) -> nn.Module:
    """The model at `path`, in eval mode on `device`, taking float images (B, 3, H, W) in [0, 1] and
    returning logits (an ensemble export: probabilities), with its record as `model.eigen_cfg`.

    path       a run folder (its final model once duplicated, else its best), a final folder,
               best.json, genome.json, a checkpoint (parent.pt, individuals/<id>.pt,
               final/candidates/<id>.pt) or an export (model.pt2, ensemble.pt2)
    pick       as `eigen eval --pick`: an individual of a run (the model `eigen duplicate RUN --pick
               ID` made of it), or a candidate of a final folder (c0, c1, ...)
    device     "cpu", "cuda", "cuda:1", or a torch.device
    data_dir   only read when the files do not keep the preprocessing (a search's checkpoint, before
               it was duplicated, keeps no standard statistics): where the dataset is, as eval's
               --data-dir, to compute it again from the training split

    Eigen's own networks come back as a GenomeNet behind their preprocessing, with timm's backbone
    interface: `forward_features` (on [0, 1] images), `forward_head`, `reset_classifier`,
    `get_classifier`, `num_features`, `num_classes`. An export (.pt2) is a traced program, not a
    GenomeNet: it predicts, but those methods raise EigenError, and it cannot be put in train mode.
    Anything that is not a model eigen wrote is one sentence (EigenError); nothing is written.
    """
    from .commands.model_files import find_target
    from .commands.pick_paths import picked_path
    device = _device(device)
    path = picked_path(path, pick, "load")
    if path.suffix == ".onnx":
        raise EigenError(f"{path} is an ONNX model and eigen.load returns a torch module; load the model.pt2 "
                         f"beside it, or its final folder")
    target = find_target(path)
    if target.raw_input and not (target.num_classes and target.image_size):
        raise EigenError(f"{path} does not say its classes and image size (no eigen.json inside); load a model "
                         f"exported by `eigen duplicate`, or its final folder")
    size = target.image_size or 32
    (network,) = target.load(torch.device("cpu"), size)
    if target.raw_input:
        model = Exported(network, path, target.num_classes)
        params, flops, genome = sum(p.numel() for p in network.parameters()), None, None
    else:
        model = _normalized(network, target, path, data_dir)
        genome = target.genome
        params, flops = _cost(genome, size, network.num_classes)
    model.eigen_cfg = EigenCfg(
        input_size=(3, size, size), num_classes=target.num_classes if target.raw_input else network.num_classes,
        classes=target.class_names, preprocess=target.preprocess, output=target.output, genome=genome,
        params=params, flops=flops, val_accuracy=target.val_accuracy, test_accuracy=target.test_accuracy,
        dataset=target.dataset, source=str(path), individual=target.individual, candidate=target.candidate)
    model.pretrained_cfg = model.eigen_cfg.timm_cfg()
    return model.to(device).eval()


def _normalized(network: nn.Module, target, path: Path, data_dir) -> nn.Module:
    """An eigen network behind the preprocessing it was trained with: kept in the files, or, with
    `data_dir`, computed again from the training split."""
    from .commands.export import Normalized
    from .commands.model_files import kept_preprocess
    preprocess = kept_preprocess(target)
    if preprocess is None:
        preprocess = _fitted_again(target, path, data_dir)
    return Normalized(network, preprocess)


def _fitted_again(target, path: Path, data_dir) -> nn.Module:
    from .data.datasets import load_splits
    from .data.preprocess import fitted_on
    dataset, kind = target.dataset, target.preprocess
    what = "the per-channel statistics" if kind == "standard" else "the GCN + ZCA whitening"
    if dataset is None:
        raise EigenError(f"{path} does not keep the {kind} preprocessing its network was trained with, nor say "
                         f"which dataset it was trained on; load it from the final folder it came from, which keeps "
                         f"both")
    if data_dir is None:
        raise EigenError(f"{path} does not keep the {kind} preprocessing its network was trained with ({what} of "
                         f"{dataset}'s training split); load the final folder `eigen duplicate` made of it, which "
                         f"keeps it, or pass data_dir= (where {dataset} is, as eval's --data-dir) to compute it "
                         f"again from the data")
    splits = load_splits(dataset, data_dir, target.image_size or 32)
    if target.fingerprint is not None and splits.fingerprint() != target.fingerprint:
        raise EigenError(f"the {dataset} in {data_dir} is not the data {path} was trained on (its training split "
                         f"differs); pass the data_dir that holds the data it was trained on")
    return fitted_on(kind, splits)


def _cost(genome: dict | None, image_size: int, num_classes: int) -> tuple[int | None, int | None]:
    """(params, FLOPs per image) of the genome's network, from eigen's analytic cost model."""
    if genome is None:
        return None, None
    from .genome.cost import cost
    from .genome.dna import Genome
    c = cost(Genome.from_dict(genome, image_size), image_size, num_classes)
    return c.params, c.flops


def _device(device: str | torch.device) -> torch.device:
    """`device` as a torch.device that exists here; one sentence otherwise."""
    from .device import cuda_device
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise DeviceError(f"device={device!r} is not a torch device; pass \"cpu\", \"cuda\", \"cuda:N\" or a "
                          f"torch.device") from None
    if device.type == "cuda":  # "cuda" alone is the first, as torch has it
        return cuda_device(device.index or 0, f"device={str(device)!r}", 'pass device="cpu"')
    return device
