"""Weight inheritance (Large-Scale Evolution §3.6 and S1): a child starts from its parent's weights
wherever a layer is unchanged.

Tensor names carry node ids (`layers.n7.conv.weight`, `layers.n7.bn.running_mean`), and a child keeps
its parent's node ids, so "the same layer" is "the same name". Every tensor of the child's network
(parameters and BatchNorm statistics alike, as the paper restores the moving averages too) whose name
is in the parent's weights with the same shape is copied; every other tensor keeps its fresh
initialisation. IDENTITY and ALTER-LEARNING-RATE children therefore inherit everything (they train
on), RESET-WEIGHTS children nothing (the mutation renames every node), and a FILTER-SIZE child
everything but the one convolution it changed.
"""
from __future__ import annotations

import torch


@torch.no_grad()
def inherit(model: torch.nn.Module, parent_weights: dict[str, torch.Tensor]) -> list[str]:
    """Copy into `model` every tensor of `parent_weights` with a matching name and shape; return the names."""
    copied = []
    for name, tensor in model.state_dict(keep_vars=True).items():
        source = parent_weights.get(name)
        if source is not None and source.shape == tensor.shape:
            tensor.copy_(source.to(device=tensor.device, dtype=tensor.dtype))
            copied.append(name)
    return copied
