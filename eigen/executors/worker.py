"""How a worker on another machine builds its own trainer (`--ray`): the recipe, not the objects.

A `WorkerSpec` carries what a training needs besides its own inputs (the splits as numpy arrays,
the schedule, the teacher's logits on the CPU) and builds, on the worker's device, the same trainer
the driver would use: `TorchIndividuals` for a search or a duplication, `MemberTrainer` for the
teacher. The data and the logits are loaded onto the device once per worker, not once per training.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any


@dataclass
class WorkerSpec:
    kind: str  # "individuals" (search, duplication) or "members" (train-teacher)
    splits: Any  # eigen.data.datasets.Splits: numpy arrays, cheap to send once
    schedule: Any  # eigen.training.trainer.Schedule
    teacher_logits: Any = None  # torch.Tensor (N_train, views, K) on the CPU, or None
    keep_optimizer: bool = True
    deterministic: bool = False
    preprocess: Any = "standard"  # "standard", or a fitted module (on the CPU): see eigen/data/preprocess.py

    @classmethod
    def individuals(cls, splits, schedule, teacher_logits=None, *, keep_optimizer=True, deterministic=False,
                    preprocess="standard"):
        logits = None if teacher_logits is None else teacher_logits.cpu()
        return cls("individuals", splits, schedule, logits, keep_optimizer, deterministic, _on_cpu(preprocess))

    @classmethod
    def members(cls, splits, schedule, *, deterministic=False, preprocess="standard"):
        return cls("members", splits, schedule, deterministic=deterministic, preprocess=_on_cpu(preprocess))

    def build(self, device):
        """The trainer, with the data (and logits) on `device`."""
        from ..data.device_data import DeviceData
        if self.deterministic:
            from ..device import use_deterministic
            use_deterministic()
        data = DeviceData(self.splits, device, preprocess=self.preprocess)
        if self.kind == "members":
            from ..training.members import MemberTrainer
            return MemberTrainer(data, self.schedule)
        from ..training.individual_training import TorchIndividuals
        logits = None if self.teacher_logits is None else self.teacher_logits.to(device)
        return TorchIndividuals(data, self.schedule, teacher_logits=logits, keep_optimizer=self.keep_optimizer)


def _on_cpu(preprocess):
    """A CPU copy to send (Module.cpu moves in place: the driver's own must stay on its device)."""
    return preprocess if isinstance(preprocess, str) else copy.deepcopy(preprocess).cpu()
