"""The dataset on the training device, augmented there in batches (SPEC §2; airbench-style).

Images stay uint8 on the device. A training batch is named by image indices and *view* indices:
a view is one of the finite set of augmentations the standard C10+/C100+ recipe can produce
(4-pixel zero-pad, a crop offset dy, dx in 0..8, optional horizontal flip), numbered

    view = (dy * 9 + dx) * 2 + flip        # 0 .. 161

so a teacher's logits can be computed once per (image, view) and gathered exactly for the batch a
student sees. The batch order is a pure function of (seed, iteration), so training can stop and
continue anywhere and see the same images as one uninterrupted run.
"""
from __future__ import annotations

import copy

import torch

from ..device import indexed
from .datasets import ImageSet, Splits
from .preprocess import fit

PAD = 4
OFFSETS = 2 * PAD + 1  # crop offsets per axis
NUM_VIEWS = OFFSETS * OFFSETS * 2
CENTER_VIEW = (PAD * OFFSETS + PAD) * 2  # no shift, no flip: the plain image


def view_index(dy: int, dx: int, flip: int) -> int:
    return (dy * OFFSETS + dx) * 2 + flip


def decode_views(views: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """views (B,) -> (dy, dx, flip), each (B,)."""
    return views // 2 // OFFSETS, views // 2 % OFFSETS, views % 2


def _to_nchw(images: ImageSet, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(images.x).to(device).permute(0, 3, 1, 2).contiguous()  # (N, 3, H, W) uint8
    return x, torch.from_numpy(images.y).to(device)


class DeviceData:
    """Train / validation (/ test, on request) tensors on one device, with batched augmentation."""

    def __init__(self, splits: Splits, device: torch.device | str = "cpu", with_test: bool = False,
                 preprocess: torch.nn.Module | str = "standard"):
        self.device = indexed(device)  # `cuda` -> `cuda:0`: the trainers key streams on it
        self.num_classes = splits.num_classes
        self.image_size = splits.image_size
        train_x, self.train_y = _to_nchw(splits.train, self.device)
        self.train_padded = torch.nn.functional.pad(train_x, (PAD, PAD, PAD, PAD))  # (N, 3, H+8, W+8) uint8
        self.val_x, self.val_y = _to_nchw(splits.val, self.device)
        self.test_x, self.test_y = _to_nchw(splits.test, self.device) if with_test else (None, None)
        # What the networks see of an image, fitted on the training images only (see preprocess.py). A
        # fitted one is copied: Module.to moves in place, and the caller's (a WorkerSpec's, another
        # DeviceData's) must stay where it is.
        self.preprocess = (fit(preprocess, train_x) if isinstance(preprocess, str)
                           else copy.deepcopy(preprocess).to(self.device))
        self.fingerprint = splits.fingerprint()
        self._side = torch.arange(self.image_size, device=self.device)

    @property
    def num_train(self) -> int:
        return len(self.train_y)

    def normalize(self, x_uint8: torch.Tensor) -> torch.Tensor:
        """uint8 images (B, 3, H, W) as the networks see them."""
        return self.preprocess(x_uint8.float() / 255)

    def augmented(self, idx: torch.Tensor, views: torch.Tensor) -> torch.Tensor:
        """Normalised float batch (B, 3, H, W) of training images `idx` under augmentations `views`."""
        return self.normalize(self.views_of(idx, views))

    def views_of(self, idx: torch.Tensor, views: torch.Tensor) -> torch.Tensor:
        """uint8 batch (B, 3, H, W) of training images `idx` under augmentations `views` (a teacher
        preprocesses them its own way)."""
        dy, dx, flip = decode_views(views)
        rows = dy[:, None] + self._side  # (B, H)
        cols = torch.where(flip[:, None].bool(), dx[:, None] + self.image_size - 1 - self._side,
                           dx[:, None] + self._side)  # (B, W): a flip reads the crop right to left
        c = torch.arange(3, device=self.device)[None, :, None, None]
        # One gather straight from the padded store: (B, 3, H, W) uint8.
        return self.train_padded[idx[:, None, None, None], c, rows[:, None, :, None], cols[:, None, None, :]]

    def eval_batches(self, split: str, batch_size: int = 1000):
        """(normalised images, labels) batches of the validation or test set, in order."""
        x, y = (self.val_x, self.val_y) if split == "val" else (self.test_x, self.test_y)
        if x is None:
            raise ValueError(f"this DeviceData holds no '{split}' split (use with_test=True)")
        for start in range(0, len(y), batch_size):
            yield self.normalize(x[start:start + batch_size]), y[start:start + batch_size]


class BatchOrder:
    """Which images and views iteration `step` trains on: a pure function of (seed, step).

    Each epoch is a fresh permutation of the training set with a fresh view per image, drawn from a
    generator seeded with (seed, epoch); the last partial batch of an epoch is dropped.
    """

    def __init__(self, num_train: int, batch_size: int, seed: int, device: torch.device):
        if num_train < batch_size:
            raise ValueError(f"batch size {batch_size} is larger than the {num_train} training images")
        self.num_train, self.batch_size, self.seed, self.device = num_train, batch_size, seed, device
        self.steps_per_epoch = num_train // batch_size
        self._epoch, self._perm, self._views = -1, None, None

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, k = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(self.num_train, generator=g).to(self.device)
            self._views = torch.randint(0, NUM_VIEWS, (self.num_train,), generator=g).to(self.device)
            self._epoch = epoch
        sl = slice(k * self.batch_size, (k + 1) * self.batch_size)
        return self._perm[sl], self._views[sl]
