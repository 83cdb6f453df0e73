"""The builder: a pure function from a genome to a `torch.nn.Module`.

Every node becomes one module in `GenomeNet.layers`, a ModuleDict keyed by node id, so parameter
names carry node ids (`layers.n7.conv.weight`) and a child loads every tensor it shares with its
parent by name and shape (Large-Scale Evolution §3.6). Layer kinds resolve through one registry,
`LAYER_FACTORIES`; the forward pass runs the nodes in the genome's topological order and frees each
activation after its last reader. In the add-then-activate vertex order (Large-Scale Evolution's,
see `Genome`) a conv or identity splits into its `edge` and its `activate`: the edge's output goes
into the sum and the last add of the chain calls the conv's own `activate`, so the BatchNorm stays
named by the conv's id in both orders.

The output node is always the last in that order (every node leads to it; nothing reads it), so the
network splits, with timm's names, into a backbone and a head: `forward_features` runs every node but
the output and returns the feature map the classifier reads; `forward_head` pools it and applies the
linear layer; `reset_classifier` swaps that layer for a fresh one to fine-tune on other classes.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .dna import Genome, Node, Shape


class ConvLayer(nn.Module):
    """Convolution with "same" padding and no bias, then BatchNorm + ReLU when `bn_relu`."""

    def __init__(self, node: Node, in_channels: int):
        super().__init__()
        kh, kw = node.kernel
        self.conv = nn.Conv2d(in_channels, node.out_channels, (kh, kw), stride=node.stride,
                              padding=(kh // 2, kw // 2), bias=False)
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_out", nonlinearity="relu")
        self.bn = nn.BatchNorm2d(node.out_channels) if node.activation == "bn_relu" else None

    def edge(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)

    def activate(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(x)) if self.bn is not None else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activate(self.edge(x))


class IdentityLayer(nn.Module):
    """Large-Scale Evolution's one-to-one vertex: BatchNorm + ReLU, or nothing at all."""

    def __init__(self, node: Node, channels: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels) if node.activation == "bn_relu" else None

    def edge(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def activate(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(x)) if self.bn is not None else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activate(x)


class MaxPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(x, 2, 2)


class Concat(nn.Module):
    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=1)


class ResolvedAdd(nn.Module):
    """Sum of inputs after resolving them to the primary's shape (LS §3.2).

    Channels: zero-padded or truncated to the primary's count. Space: nearest-neighbour resampling
    ("zeroth-order interpolation") to the primary's height and width.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            if x.shape[-2:] != out.shape[-2:]:
                x = F.interpolate(x, size=out.shape[-2:], mode="nearest")
            c = x.shape[1]
            if c > self.channels:
                x = x[:, : self.channels]
            elif c < self.channels:
                x = F.pad(x, (0, 0, 0, 0, 0, self.channels - c))
            out = out + x
        return out


class Classifier(nn.Module):
    """Global average pooling and a linear layer: the whole of EIGEN's starting network."""

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        pooled = x.mean(dim=(2, 3))  # (B, C, H, W) -> (B, C)
        return pooled if pre_logits else self.fc(pooled)  # -> (B, num_classes)


# kind -> factory(node, input shapes, own output shape, num_classes)
LayerFactory = Callable[[Node, list[Shape], Shape, int], nn.Module]
LAYER_FACTORIES: dict[str, LayerFactory] = {
    "conv": lambda node, ins, out, k: ConvLayer(node, ins[0].channels),
    "pool": lambda node, ins, out, k: MaxPool(),
    "identity": lambda node, ins, out, k: IdentityLayer(node, out.channels),
    "concat": lambda node, ins, out, k: Concat(),
    "add": lambda node, ins, out, k: ResolvedAdd(out.channels),
    "output": lambda node, ins, out, k: Classifier(ins[0].channels, k),
}


class GenomeNet(nn.Module):
    """The network a genome describes. Input (B, C, H, W) images, output (B, num_classes) logits.

    timm's backbone interface: `forward(x) == forward_head(forward_features(x))`, `num_features`,
    `num_classes`, `get_classifier()` and `reset_classifier(num_classes)`."""

    def __init__(self, genome: Genome, num_classes: int, image_size: int = 32, in_channels: int = 3):
        super().__init__()
        shapes = genome.validate(image_size).shapes(image_size, in_channels)
        self.input_id = genome.input_id
        self.output_id = genome.output_id
        self.order = [i for i in genome.order if i != genome.input_id]
        self.inputs = {n.id: list(n.inputs) for n in genome.nodes}
        self.layers = nn.ModuleDict({
            i: LAYER_FACTORIES[genome.by_id[i].kind](
                genome.by_id[i], [shapes[j] for j in genome.by_id[i].inputs], shapes[i], num_classes)
            for i in self.order
        })
        # add-then-activate: add id -> the conv/identity whose BN+ReLU follows its sum; those
        # convs/identities run only their edge (both empty in activate-then-add order).
        self.activation_after = dict(genome.activation_after)
        self.edge_only = set(self.activation_after.values())
        # After running order[step], these activations are read by nobody else and can be freed.
        last_reader = {j: i for i in self.order for j in self.inputs[i]}
        self.free_after = {i: [j for j, r in last_reader.items() if r == i] for i in self.order}
        # The backbone is every node but the output, which every node leads to and none reads: it is
        # last in the order, and its one input is the feature map the classifier pools.
        assert self.order[-1] == self.output_id
        self.body = self.order[:-1]
        self.features_id = self.inputs[self.output_id][0]
        self.num_features = shapes[self.features_id].channels  # C of forward_features' (B, C, h, w)
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))  # (B, 3, H, W) -> (B, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) images -> (B, num_features, h, w): the feature map the classifier pools."""
        acts = {self.input_id: x}
        for node_id in self.body:
            layer = self.layers[node_id]
            ins = [acts[j] for j in self.inputs[node_id]]
            y = layer.edge(*ins) if node_id in self.edge_only else layer(*ins)
            if node_id in self.activation_after:
                y = self.layers[self.activation_after[node_id]].activate(y)  # the vertex: sum, then BN+ReLU
            acts[node_id] = y
            for j in self.free_after[node_id]:  # the features are read last by the output: never freed here
                del acts[j]
        return acts[self.features_id]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Features (B, C, h, w) -> logits (B, num_classes), or the pooled (B, C) with `pre_logits`."""
        return self.layers[self.output_id](x, pre_logits=pre_logits)

    def get_classifier(self) -> nn.Module:
        """The final linear layer (nn.Identity after `reset_classifier(0)`)."""
        return self.layers[self.output_id].fc

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh linear layer for `num_classes` classes (timm's semantics: 0 leaves none, and the
        network then returns the pooled features), on the device and dtype of the network's weights;
        the backbone is kept as it is, to fine-tune on another task."""
        like = next(self.parameters(), None)  # read before the old layer goes (a conv's, or the old fc's)
        fc = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        self.layers[self.output_id].fc = fc if like is None else fc.to(device=like.device, dtype=like.dtype)
        self.num_classes = num_classes


def build_model(genome: Genome, num_classes: int, image_size: int = 32, in_channels: int = 3) -> GenomeNet:
    """Validate `genome` for `image_size` inputs and build its network (fresh initial weights)."""
    return GenomeNet(genome, num_classes, image_size, in_channels)
