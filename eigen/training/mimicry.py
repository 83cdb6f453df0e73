"""Mimicry (EIGEN §3.2, Eq. 3): a student learns from the labels and from a teacher's softened logits.

The trainer calls `mimicry_loss` at every step when it is given the teacher's logits; the logits
themselves are cached by `training/teacher.py`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Mimicry:
    """Eq. 3 of EIGEN: (1 - alpha) CE(y, softmax(s)) + alpha T^2 CE(softmax(t / T), softmax(s / T))."""

    temperature: float = 5.0
    alpha: float = 0.9


def mimicry_loss(student: torch.Tensor, labels: torch.Tensor, teacher: torch.Tensor,
                 mimicry: Mimicry = Mimicry(), label_smoothing: float = 0.0) -> torch.Tensor:
    """Mean over the batch of Eq. 3; student and teacher are (B, K) logits, labels (B,). With
    `label_smoothing` (a final training's `long` recipe) the hard term's labels are smoothed."""
    T, alpha = mimicry.temperature, mimicry.alpha
    hard = F.cross_entropy(student, labels, label_smoothing=label_smoothing)
    soft_targets = F.softmax(teacher.float() / T, dim=1)
    soft = -(soft_targets * F.log_softmax(student.float() / T, dim=1)).sum(dim=1).mean()
    return (1 - alpha) * hard + alpha * T * T * soft
