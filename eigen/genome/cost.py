"""Analytic cost of a genome: parameters and forward FLOPs per image, without building a model.

Mirrors each layer's `__init__` in `model.py` (pycls-style `complexity()`); a test holds it equal to
the built model's parameter count. FLOPs count every floating-point operation of one forward pass
for one image, a multiply-add being two:

    conv      2 * Cin * Cout * kh * kw * Hout * Wout   (+ 3 per output element with BN+ReLU:
              BN's scale and shift at inference, then ReLU)
    identity  3 per element with BN+ReLU, else 0
    pool      3 per output element (the max of four values)
    concat    0 (a copy)
    add       1 per element for each non-primary input (resampling and padding are copies)
    output    H * W * C for the average pool, then 2 * C * classes + classes for the linear layer

Both vertex orders cost the same: in add-then-activate a conv's BN+ReLU moves after the sum of an
`add` whose output has the conv's shape, so it keeps its parameters and its 3 FLOPs per element.

Training costs about three forward passes per image (forward, and twice that backward); Large-Scale
Evolution §3.5 accounting multiplies these figures by the images seen.
"""
from __future__ import annotations

from dataclasses import dataclass

from .dna import Genome


@dataclass(frozen=True)
class Cost:
    params: int  # trainable parameters (BatchNorm running statistics are buffers, not counted)
    flops: int  # forward FLOPs for one image

    def to_dict(self) -> dict[str, int]:
        return {"params": self.params, "flops": self.flops}


def cost(genome: Genome, image_size: int = 32, num_classes: int = 10, in_channels: int = 3) -> Cost:
    """Parameters and per-image forward FLOPs of `build_model(genome, num_classes)` at this size."""
    parts = cost_by_node(genome, image_size, num_classes, in_channels).values()
    return Cost(params=sum(c.params for c in parts), flops=sum(c.flops for c in parts))


def cost_by_node(genome: Genome, image_size: int = 32, num_classes: int = 10,
                 in_channels: int = 3) -> dict[str, Cost]:
    """The cost of each node's layer, by node id (what a block of layers costs is a sum of these)."""
    shapes = genome.validate(image_size).shapes(image_size, in_channels)
    costs = {}
    for node in genome.nodes:
        params = flops = 0
        out = shapes[node.id]
        ins = [shapes[i] for i in node.inputs]
        elements = out.channels * out.height * out.width
        if node.kind == "conv":
            kh, kw = node.kernel
            params += ins[0].channels * out.channels * kh * kw
            flops += 2 * ins[0].channels * out.channels * kh * kw * out.height * out.width
            if node.activation == "bn_relu":
                params += 2 * out.channels
                flops += 3 * elements
        elif node.kind == "identity" and node.activation == "bn_relu":
            params += 2 * out.channels
            flops += 3 * elements
        elif node.kind == "pool":
            flops += 3 * elements
        elif node.kind == "add":
            flops += (len(ins) - 1) * elements
        elif node.kind == "output":
            src = ins[0]
            params += src.channels * num_classes + num_classes
            flops += src.channels * src.height * src.width + 2 * src.channels * num_classes + num_classes
        costs[node.id] = Cost(params=params, flops=flops)
    return costs


def training_flops(flops: int, batch_size: int, iterations: int, evaluated: int) -> int:
    """What training a network of `flops` forward FLOPs per image costs (Large-Scale Evolution §3.5):
    forward + backward ~ 3 forward passes per training image, `iterations` batches of `batch_size`,
    plus one forward pass per image `evaluated` (the validation set, once per evaluation)."""
    return 3 * flops * batch_size * iterations + flops * evaluated
