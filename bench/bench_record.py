"""What every benchmark writes beside its figures: the command, the date, torch and the device.

    record = bench_record(device, genome="six-conv-1.15m", images_per_s=...)
    save_record(record, args.out)        # JSON, when --out is given
"""
from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

import torch


def bench_record(device: torch.device, **fields) -> dict:
    return dict(command=" ".join(sys.argv), date=datetime.date.today().isoformat(), torch=torch.__version__,
                device=torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu", **fields)


def accuracy_summary(runs: list[dict]) -> dict:
    """Validation and test accuracy of `runs` (one per seed) as "mean +- std" (std 0 for one run)."""
    accuracy = torch.tensor([[r["val_accuracy"], r["test_accuracy"]] for r in runs])
    spread = accuracy.std(dim=0) if len(runs) > 1 else torch.zeros(2)
    mean = accuracy.mean(dim=0)
    return {"val": f"{mean[0]:.2f} +- {spread[0]:.2f}", "test": f"{mean[1]:.2f} +- {spread[1]:.2f}"}


def save_record(record: dict, out: str | None) -> None:
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(record, indent=1))
