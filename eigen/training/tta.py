"""Test-time augmentation: a model's class probabilities averaged over a few views of each image.

    flip            the image and its mirror (2 views)
    flip-translate  the image shifted by 2 pixels up, down, left and right, and not at all, each also
                    mirrored (10 views; a shift pads with zeros, as the training crops do)

Every view is one the training augmentation can produce (a crop offset within the 4-pixel pad, a
horizontal flip), so the network has seen images like it. TTA is a measurement only, never a
selection: the search and the choice of the final model use plain validation accuracy, and the plain
test accuracy stays the number eigen leads with; `eigen eval --tta` and the duplication's
`test_accuracy_tta` report it beside.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data.device_data import PAD

TTA_SHIFTS = {"flip": ((0, 0),), "flip-translate": ((0, 0), (-2, 0), (2, 0), (0, -2), (0, 2))}
TTA_KINDS = tuple(TTA_SHIFTS)


def tta_views(kind: str) -> list[tuple[int, int, bool]]:
    """The views `kind` averages over: (dy, dx, mirrored)."""
    return [(dy, dx, mirrored) for dy, dx in TTA_SHIFTS[kind] for mirrored in (False, True)]


def view_of(x: torch.Tensor, dy: int, dx: int, mirrored: bool) -> torch.Tensor:
    """Images (B, C, H, W) shifted by (dy, dx) pixels with zeros coming in, mirrored if asked: the
    training view with crop offset (PAD + dy, PAD + dx)."""
    h, w = x.shape[-2:]
    padded = F.pad(x, (PAD, PAD, PAD, PAD))
    view = padded[..., PAD + dy:PAD + dy + h, PAD + dx:PAD + dx + w]
    return view.flip(-1) if mirrored else view


@torch.no_grad()
def tta_probabilities(models: list, data, kind: str, raw_input: bool = False, split: str = "test",
                      batch_size: int = 500) -> torch.Tensor:
    """(N, K) on the CPU: the mean over `kind`'s views and over `models` of the softmax on `split`.
    Eigen's networks see each view preprocessed as in training (bf16 autocast on a GPU); exports
    (`raw_input`) take the view in [0, 1]."""
    x_all, _ = (data.val_x, data.val_y) if split == "val" else (data.test_x, data.test_y)
    if not raw_input:
        for model in models:
            model.eval()
    on_gpu = data.device.type == "cuda"
    views = tta_views(kind)
    out = []
    for start in range(0, len(x_all), batch_size):
        x = x_all[start:start + batch_size]
        total = 0
        for dy, dx, mirrored in views:
            view = view_of(x, dy, dx, mirrored)
            inputs = view.float() / 255 if raw_input else data.normalize(view)
            if on_gpu and not raw_input:
                inputs = inputs.contiguous(memory_format=torch.channels_last)
            with torch.autocast(data.device.type, dtype=torch.bfloat16, enabled=on_gpu and not raw_input):
                total = total + torch.stack([m(inputs).float().softmax(dim=1) for m in models]).mean(dim=0)
        out.append((total / len(views)).float().cpu())
    return torch.cat(out)


def tta_accuracy(models: list, data, kind: str, split: str = "test") -> float:
    """Accuracy in percent of the TTA prediction (eigen's networks)."""
    labels = (data.val_y if split == "val" else data.test_y).cpu()
    return 100.0 * (tta_probabilities(models, data, kind, split=split).argmax(dim=1) == labels).float().mean().item()
