"""What a network sees of an image: the preprocessing between the [0, 1] pixels and its first layer.

    standard   per-channel standardisation with the training split's mean and std (the C10+/C100+
               recipe eigen has always used)
    gcn-zca    EIGEN §4.1's "Global Contrast Normalization (GCN) and ZCA whitening", as the maxout and
               network-in-network papers applied it to CIFAR: each image minus its own mean and scaled
               to a fixed norm (GCN, scale 55), then decorrelated by the ZCA matrix
               W = U diag(1 / sqrt(s + 0.1)) U^T of the GCN'd training images' covariance (U, s)

Both are fitted on the training split only (never validation or test) and are `nn.Module`s of
(B, 3, H, W) float images in [0, 1]: `DeviceData` applies one to every batch on the device, after the
augmentation has gathered the exact view (so the teacher's cached logits of a view are the logits
of what the student sees), and every export carries it inside, so `model.pt2` still takes [0, 1]
images. The standard statistics are recomputed from the data whenever needed (six numbers, exact);
the ZCA matrix (3,072 x 3,072 at 32 x 32) is fitted once and kept as `preprocess.pt` in the run,
final and teacher folders, with the fingerprint of the data it was fitted on.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

FILE = "preprocess.pt"
MAX_ZCA_DIMENSIONS = 3 * 48 * 48  # a 6,912^2 matrix is 191 MB in float32; at 64 x 64 it would be 604 MB
GCN_SCALE = 55.0  # every image's norm after GCN (pylearn2's CIFAR-10 setting)
ZCA_BIAS = 0.1  # added to the covariance's eigenvalues: the noise floor is not blown up


class Standardize(nn.Module):
    """(x - mean) / std per channel, with the training split's statistics."""

    kind = "standard"

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean.reshape(1, 3, 1, 1).float())
        self.register_buffer("std", std.reshape(1, 3, 1, 1).float())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return (images - self.mean) / self.std

    def describe(self) -> dict:
        return {"kind": self.kind, "mean": self.mean.flatten().tolist(), "std": self.std.flatten().tolist()}


class GcnZca(nn.Module):
    """Global contrast normalisation of each image, then ZCA whitening fitted on the training split."""

    kind = "gcn-zca"

    def __init__(self, mean: torch.Tensor, whiten: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean.float())  # (D,): the GCN'd training images' mean
        self.register_buffer("whiten", whiten.float())  # (D, D), symmetric

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        flat = gcn(images.flatten(1).float())
        return ((flat - self.mean) @ self.whiten).view_as(images)

    def describe(self) -> dict:
        return {"kind": self.kind, "gcn_scale": GCN_SCALE, "zca_bias": ZCA_BIAS, "dimensions": int(self.mean.numel()),
                "file": FILE}


def gcn(flat: torch.Tensor) -> torch.Tensor:
    """Each row (an image) minus its mean, scaled to norm GCN_SCALE (a flat image stays flat)."""
    centred = flat - flat.mean(dim=1, keepdim=True)
    return centred * (GCN_SCALE / centred.norm(dim=1, keepdim=True).clamp_min(1e-8))


def channel_stats(x_uint8: torch.Tensor, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and (unbiased) std of uint8 images (N, 3, H, W) as fractions of 255, each
    (1, 3, 1, 1) float32, computed `chunk` images at a time in float64.

    A float copy of the whole training set would cost 4 bytes per pixel at once (~0.55 GB for CIFAR,
    far more for a large image folder) on the device that also has to hold the networks.
    """
    n = x_uint8.shape[0] * x_uint8.shape[2] * x_uint8.shape[3]  # values per channel
    total = torch.zeros(3, dtype=torch.float64, device=x_uint8.device)
    squares = torch.zeros(3, dtype=torch.float64, device=x_uint8.device)
    for start in range(0, x_uint8.shape[0], chunk):
        part = x_uint8[start:start + chunk].to(torch.float64).div_(255)
        total += part.sum(dim=(0, 2, 3))
        squares += part.square().sum(dim=(0, 2, 3))
    mean = total / n
    var = (squares - n * mean.square()) / max(n - 1, 1)
    return (mean.float().view(1, 3, 1, 1), var.clamp_min(0).sqrt().float().view(1, 3, 1, 1))


def fit_gcn_zca(x_uint8: torch.Tensor, chunk: int = 2048) -> GcnZca:
    """The GCN + ZCA preprocessing of training images (N, 3, H, W) uint8: covariance accumulated
    `chunk` images at a time in float64 (on their device), eigendecomposed in float64 on the CPU
    (the same matrix whichever device the data is on)."""
    d = x_uint8[0].numel()
    total = torch.zeros(d, dtype=torch.float64, device=x_uint8.device)
    products = torch.zeros(d, d, dtype=torch.float64, device=x_uint8.device)
    for start in range(0, x_uint8.shape[0], chunk):
        part = gcn(x_uint8[start:start + chunk].flatten(1).to(torch.float64).div_(255))
        total += part.sum(dim=0)
        products += part.T @ part
    n = x_uint8.shape[0]
    mean = total / n
    covariance = ((products - n * torch.outer(mean, mean)) / max(n - 1, 1)).cpu()
    values, vectors = torch.linalg.eigh(covariance)
    whiten = (vectors * (values.clamp_min(0) + ZCA_BIAS).rsqrt()) @ vectors.T
    return GcnZca(mean.cpu(), whiten)


def fit(kind: str, train_x_uint8: torch.Tensor) -> nn.Module:
    """`kind`'s preprocessing fitted on the training images (N, 3, H, W) uint8, on their device."""
    if kind == "standard":
        return Standardize(*channel_stats(train_x_uint8)).to(train_x_uint8.device)
    if kind == "gcn-zca":
        return fit_gcn_zca(train_x_uint8).to(train_x_uint8.device)
    raise ValueError(f"unknown preprocessing {kind!r}; choose standard or gcn-zca")


def save(module: nn.Module, folder: Path, fingerprint: str) -> Path:
    """Keep a fitted preprocessing in `folder` (atomically), with the data it was fitted on."""
    from ..run_folder.folder import write_torch
    path = Path(folder) / FILE
    write_torch(path, {"kind": module.kind, "state": {k: v.cpu() for k, v in module.state_dict().items()},
                       "fingerprint": fingerprint})
    return path


def load(path: Path, fingerprint: str | None = None) -> nn.Module:
    """A preprocessing kept by `save`; with `fingerprint`, refused unless fitted on that data."""
    from ..errors import EigenError
    from ..run_folder.folder import interpreting, load_checkpoint
    fix = f"remove {path} to fit it again on the training split"
    saved = load_checkpoint(path, "the preprocessing", fix)
    with interpreting(path, "the preprocessing", fix):
        kind, state = saved["kind"], saved["state"]
        module = (Standardize(state["mean"], state["std"]) if kind == "standard"
                  else GcnZca(state["mean"], state["whiten"]) if kind == "gcn-zca" else None)
        if module is None:
            raise ValueError(f"its kind {kind!r} is neither standard nor gcn-zca")
    if fingerprint is not None and saved.get("fingerprint") != fingerprint:
        raise EigenError(f"{path} was fitted on other data (fingerprint {saved.get('fingerprint')}, this data's is "
                         f"{fingerprint}); {fix}, or pass the data it was fitted on")
    return module


def prepared(kind: str, splits, folder: Path | None, sources: tuple[Path, ...] = ()) -> nn.Module | str:
    """What `DeviceData(splits, preprocess=...)` takes for `kind`: "standard" as it is (recomputed
    on the device, exact and cheap); gcn-zca read from `folder` or the first of `sources` that holds
    it (fitted on this data: the fingerprint is checked), else fitted on the training split (on the
    CPU, in float64) and kept in `folder`."""
    if kind == "standard":
        return kind
    dimensions = 3 * splits.image_size ** 2
    if dimensions > MAX_ZCA_DIMENSIONS:
        from ..errors import EigenError
        raise EigenError(f"--preprocess gcn-zca at {splits.image_size}x{splits.image_size} would whiten with a "
                         f"{dimensions:,} x {dimensions:,} matrix ({4 * dimensions ** 2 / 1e9:.1f} GB); use "
                         f"--preprocess standard, or --image-size 48 or less")
    fingerprint = splits.fingerprint()
    found = kept(kind, ([folder] if folder is not None else []) + list(sources), fingerprint)
    if found is not None:
        module, place = found
        if folder is not None and place != Path(folder):
            save(module, folder, fingerprint)
        return module
    module = fitted_on(kind, splits)
    if folder is not None:
        save(module, folder, fingerprint)
    return module


def fitted_on(kind: str, splits) -> nn.Module:
    """`kind`'s preprocessing fitted on the training split of `splits`, on the CPU."""
    return fit(kind, torch.from_numpy(splits.train.x).permute(0, 3, 1, 2).contiguous())


def kept(kind: str, places, fingerprint: str | None = None) -> tuple[nn.Module, Path] | None:
    """`kind`'s preprocessing as the first of `places` that keeps one (preprocess.pt) holds it, and
    that place; None when none does. With `fingerprint`, a kept one fitted on other data is refused
    (`load`); without it (a model loaded with no data at hand, whose files do not say), any is taken."""
    for place in places:
        path = Path(place) / FILE
        if path.exists():
            module = load(path, fingerprint)
            if module.kind == kind:
                return module, Path(place)
    return None


def keep_preprocess(preprocess: nn.Module | str, folder: Path, splits) -> None:
    """Keep a fitted gcn-zca in a folder just begun (standard is recomputed, nothing to keep)."""
    if not isinstance(preprocess, str):
        save(preprocess, folder, splits.fingerprint())
