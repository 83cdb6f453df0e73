"""The data (SPEC §2): datasets read into uint8 splits, and the store that lives on the device.

- `datasets.py` — CIFAR-10/100, image folders and synthetic data; the stratified validation split.
- `device_data.py` — the splits on the device, augmented there (crop offsets x flips = 162 views).
"""
from .datasets import ImageSet, Splits, load_splits

__all__ = ["ImageSet", "Splits", "load_splits"]
