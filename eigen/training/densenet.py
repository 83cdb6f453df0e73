"""CIFAR-style DenseNet-BC (Huang et al. 2017), the teacher's architecture (EIGEN §4.1, SPEC §8).

torchvision's DenseNet is the ImageNet variant (7x7 stride-2 stem, max pool, four blocks); CIFAR's
has a 3x3 stem of 2k channels, three dense blocks of (depth - 4) / 6 bottleneck layers each
(BN-ReLU-1x1 conv to 4k, BN-ReLU-3x3 conv to k, concatenated), transitions that halve the channels
(compression 0.5) and the resolution, then BN-ReLU, global average pooling and a linear classifier.
DenseNet-BC depth 100, growth 12 has ~0.8M parameters; EIGEN's teacher member (Wide-DenseNet-BC,
depth 40, growth 60) ~4.3M.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def _bn_relu_conv(c_in: int, c_out: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(nn.BatchNorm2d(c_in), nn.ReLU(inplace=True),
                         nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False))


class Bottleneck(nn.Module):
    """BN-ReLU-1x1 (4k) then BN-ReLU-3x3 (k); the k new channels are appended to the input."""

    def __init__(self, c_in: int, growth: int):
        super().__init__()
        self.body = nn.Sequential(_bn_relu_conv(c_in, 4 * growth, 1), _bn_relu_conv(4 * growth, growth, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.body(x)], dim=1)


class Transition(nn.Sequential):
    """BN-ReLU-1x1 conv to half the channels, then 2x2 average pooling."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(_bn_relu_conv(c_in, c_out, 1), nn.AvgPool2d(2))


class DenseNetBC(nn.Module):
    """(B, 3, H, W) images -> (B, num_classes) logits."""

    def __init__(self, depth: int = 40, growth: int = 60, num_classes: int = 10, compression: float = 0.5):
        super().__init__()
        if depth < 10 or (depth - 4) % 6:
            raise ValueError(f"DenseNet-BC depth must be 6n + 4 with n >= 1 (10, 16, 22, 40, 100, ...), got {depth}")
        if growth < 1:
            raise ValueError(f"the growth rate must be at least 1, got {growth}")
        layers_per_block = (depth - 4) // 6  # two convolutions per bottleneck layer
        channels = 2 * growth
        features: list[nn.Module] = [nn.Conv2d(3, channels, 3, padding=1, bias=False)]
        for block in range(3):
            for _ in range(layers_per_block):
                features.append(Bottleneck(channels, growth))
                channels += growth
            if block < 2:
                reduced = int(channels * compression)
                features.append(Transition(channels, reduced))
                channels = reduced
        features += [nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*features)
        self.classifier = nn.Linear(channels, num_classes)
        for m in self.modules():  # the initialisation of the reference implementation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.classifier(F.adaptive_avg_pool2d(x, 1).flatten(1))
