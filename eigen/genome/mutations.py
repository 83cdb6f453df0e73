"""The two mutation sets (SPEC §4): EIGEN's nine operations and Large-Scale Evolution's eleven.

Each mutation is a small function `(genome, rng, image_size) -> (child, description)` registered under
its paper name. It either returns a valid child that differs from its parent or raises
`NotApplicable` (nothing to act on, or every choice would make the genome invalid); `mutate` then
redraws another operation. Candidate sites are tried in random order, lazily, so a mutation that can
apply somewhere always does. All randomness comes from the `random.Random` passed in.
Every edit goes through `dataclasses.replace`, so a child keeps its parent's learning rate (unless
altered) and `vertex_order` (Large-Scale Evolution's genomes start with add-then-activate).
"""
from __future__ import annotations

import dataclasses
import math
import random
from typing import Callable

from .dna import Genome, Node

EIGEN_CHANNELS = (16, 32, 48, 64, 96)  # EIGEN §3.1, ALTER-NUMBER-OF-CHANNELS
EIGEN_STRIDES = (1, 2)  # EIGEN §3.1, ALTER-STRIDE
EIGEN_KERNELS = ((1, 1), (3, 3))  # EIGEN §3.1, ALTER-FILTER-SIZE

MutationFn = Callable[[Genome, random.Random, int], tuple[Genome, str]]
MUTATION_SETS: dict[str, dict[str, MutationFn]] = {"eigen": {}, "large-scale": {}}


class NotApplicable(Exception):
    """This mutation cannot act on this genome; draw another one."""


def register(name: str, *sets: str) -> Callable[[MutationFn], MutationFn]:
    def add(fn: MutationFn) -> MutationFn:
        for s in sets:
            MUTATION_SETS[s][name] = fn
        return fn
    return add


def mutate(genome: Genome, rng: random.Random, ops: str = "eigen", steps: int = 1,
           image_size: int = 32) -> tuple[Genome, list[str]]:
    """Apply `steps` mutations from the set `ops` in sequence; return the child and what was done.

    Each step draws operations uniformly without replacement until one applies (EIGEN §3.1: an
    operation that cannot apply is redrawn). Some operation always applies (INSERT-CONVOLUTION at
    stride 1 in both sets), so every step applies one; in the Large-Scale set that one may be
    IDENTITY, which leaves the genome as it was (the paper's "keep training" step).
    """
    if ops not in MUTATION_SETS:
        raise ValueError(f"unknown mutation set {ops!r}; choose from {sorted(MUTATION_SETS)}")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    table = MUTATION_SETS[ops]
    names = sorted(table)
    applied: list[str] = []
    for _ in range(steps):
        for name in rng.sample(names, len(names)):
            try:
                genome, what = table[name](genome, rng, image_size)
            except NotApplicable:
                continue
            applied.append(what)
            break
        else:  # pragma: no cover - insert-convolution always applies
            raise RuntimeError(f"no mutation of the {ops!r} set applies to genome {genome.key()}")
    return genome, applied


def step_count(rng: random.Random, max_steps: int) -> int:
    """EIGEN's mutation step size rule: a child receives k ~ U{1..m} mutations."""
    if max_steps < 1:
        raise ValueError(f"the mutation step size must be at least 1, got {max_steps}")
    return rng.randint(1, max_steps)


# -- graph editing helpers --------------------------------------------------------------------------
def _shuffled(rng: random.Random, items) -> list:
    items = list(items)
    rng.shuffle(items)
    return items


def _insert_on_edge(genome: Genome, source: str, consumer: str, make: Callable[[str], Node]) -> tuple[Genome, str]:
    """Put a new node on the edge source -> consumer; `make(id)` builds it (reading `source`)."""
    new_id, genome = genome.fresh_id()
    new = make(new_id)
    nodes = []
    for n in genome.nodes:
        if n.id == consumer:
            nodes.append(new)
            n = dataclasses.replace(n, inputs=tuple(new_id if i == source else i for i in n.inputs))
        nodes.append(n)
    return genome.with_nodes(nodes), new_id


def _splice_out(genome: Genome, node_id: str, replacement: str) -> Genome:
    """Remove `node_id`, letting its consumers read `replacement`, then tidy up the graph."""
    nodes = [dataclasses.replace(n, inputs=tuple(replacement if i == node_id else i for i in n.inputs))
             for n in genome.nodes if n.id != node_id]
    return _tidy(genome.with_nodes(nodes))


def _tidy(genome: Genome) -> Genome:
    """Restore the graph invariants after a removal.

    Merge nodes drop repeated inputs; a merge left with one input is spliced out; nodes that no
    longer lead to the output (a branch that only fed a removed merge) are pruned with their weights.
    """
    while True:
        nodes = [dataclasses.replace(n, inputs=tuple(dict.fromkeys(n.inputs))) if n.kind in ("concat", "add") else n
                 for n in genome.nodes]
        genome = genome.with_nodes(nodes)
        lone = next((n for n in genome.nodes if n.kind in ("concat", "add") and len(n.inputs) == 1), None)
        if lone is not None:
            genome = genome.with_nodes(
                dataclasses.replace(n, inputs=tuple(lone.inputs[0] if i == lone.id else i for i in n.inputs))
                for n in genome.nodes if n.id != lone.id)
            continue
        useful = genome.ancestors(genome.output_id) | {genome.output_id, genome.input_id}
        if all(n.id in useful for n in genome.nodes):
            return genome
        genome = genome.with_nodes(n for n in genome.nodes if n.id in useful)


def _nodes_of(genome: Genome, rng: random.Random, kind: str) -> list[Node]:
    found = [n for n in genome.nodes if n.kind == kind]
    if not found:
        raise NotApplicable
    return _shuffled(rng, found)


def _replace_node(genome: Genome, node: Node, **changes) -> Genome:
    new = dataclasses.replace(node, **changes)
    return genome.with_nodes(new if n.id == node.id else n for n in genome.nodes)


def _insert_layer(genome: Genome, rng: random.Random, image_size: int, describe: str,
                  make: Callable[[str, str], Node]) -> tuple[Genome, str]:
    """Insert a single-input layer on a random edge; `make(id, source)` builds it."""
    for source, consumer in _shuffled(rng, genome.edges()):
        child, new_id = _insert_on_edge(genome, source, consumer, lambda i: make(i, source))
        if child.is_valid(image_size):
            return child, f"{describe} {new_id} on {source}->{consumer}"
    raise NotApplicable


def _insert_merge(genome: Genome, rng: random.Random, image_size: int, kind: str,
                  describe: str) -> tuple[Genome, str]:
    """Merge an earlier node into the edge source -> consumer with a new `kind` node (source first)."""
    shapes = genome.shapes(image_size)
    for source, consumer in _shuffled(rng, genome.edges()):
        earlier = sorted(genome.ancestors(source))  # sorted: set order varies between processes
        if kind == "concat":
            earlier = [a for a in earlier if shapes[a].size == shapes[source].size]
        for extra in _shuffled(rng, earlier):
            child, new_id = _insert_on_edge(genome, source, consumer,
                                            lambda i: Node(i, kind, (source, extra)))
            if child.is_valid(image_size):
                return child, f"{describe} {new_id} joins {extra} into {source}->{consumer}"
    raise NotApplicable


def _remove_layer(genome: Genome, rng: random.Random, image_size: int, kind: str,
                  describe: str) -> tuple[Genome, str]:
    """Remove a random `kind` node, its consumers reading its (primary) input instead."""
    for node in _nodes_of(genome, rng, kind):
        child = _splice_out(genome, node.id, node.inputs[0])
        if child.is_valid(image_size):
            return child, f"{describe} {node.id}"
    raise NotApplicable


def _alter_conv(genome: Genome, rng: random.Random, image_size: int, describe: str,
                new_value: Callable[[Node], dict]) -> tuple[Genome, str]:
    """Change a random conv; `new_value(node)` returns the changed fields or {} if it cannot."""
    for node in _nodes_of(genome, rng, "conv"):
        changes = new_value(node)
        if not changes:
            continue
        child = _replace_node(genome, node, **changes)
        if child.is_valid(image_size):
            shown = ", ".join(f"{k}={_show(v)}" for k, v in changes.items())
            return child, f"{describe} {node.id} {shown}"
    raise NotApplicable


def _show(value) -> str:
    if isinstance(value, tuple):
        return "x".join(map(str, value))
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _pick_other(rng: random.Random, options, current):
    others = [o for o in options if o != current]
    return rng.choice(others) if others else None


def _around(rng: random.Random, value: int) -> int:
    """An integer 'at random around' value (LS §3.2): uniform in [value/2, 2*value], never value itself.

    Used on the log2 of strides and on the half-width of filters, whose natural start is 0, so the
    upper end is at least value + 1.
    """
    low, high = value // 2, max(2 * value, value + 1)
    return rng.choice([v for v in range(low, high + 1) if v != value])


# -- EIGEN set (EIGEN §3.1) -------------------------------------------------------------------------
@register("insert-convolution", "eigen")
def eigen_insert_convolution(genome, rng, image_size):
    """Adds a 3x3, 32-channel, stride-1, BN+ReLU conv on a random edge; sizes are unchanged."""
    return _insert_layer(genome, rng, image_size, "insert-convolution",
                         lambda i, src: Node(i, "conv", (src,), 32.0, (3, 3), 1, "bn_relu"))


@register("insert-concatenation", "eigen")
def eigen_insert_concatenation(genome, rng, image_size):
    """Concatenates an earlier node of the same spatial size into a later edge; no cycle is made."""
    return _insert_merge(genome, rng, image_size, "concat", "insert-concatenation")


@register("insert-pooling", "eigen")
def eigen_insert_pooling(genome, rng, image_size):
    """Adds a 2x2 stride-2 max pool on a random edge where every size stays >= 1 and concats agree."""
    return _insert_layer(genome, rng, image_size, "insert-pooling", lambda i, src: Node(i, "pool", (src,)))


@register("remove-convolution", "eigen", "large-scale")
def remove_convolution(genome, rng, image_size):
    """Removes a conv whose removal keeps the genome valid; its consumers read its input."""
    return _remove_layer(genome, rng, image_size, "conv", "remove-convolution")


@register("remove-concatenation", "eigen")
def eigen_remove_concatenation(genome, rng, image_size):
    """Removes a concat, keeping its first input; a branch that only fed it goes with it."""
    return _remove_layer(genome, rng, image_size, "concat", "remove-concatenation")


@register("remove-pooling", "eigen")
def eigen_remove_pooling(genome, rng, image_size):
    """Removes a pool whose removal keeps every concat's inputs the same size."""
    return _remove_layer(genome, rng, image_size, "pool", "remove-pooling")


@register("alter-number-of-channels", "eigen")
def eigen_alter_channels(genome, rng, image_size):
    """Sets a conv's channels to another value of {16, 32, 48, 64, 96}."""
    return _alter_conv(genome, rng, image_size, "alter-number-of-channels",
                       lambda n: {"channels": float(_pick_other(rng, EIGEN_CHANNELS, n.out_channels))})


@register("alter-stride", "eigen")
def eigen_alter_stride(genome, rng, image_size):
    """Sets a conv's stride to the other value of {1, 2} where the sizes stay valid."""
    def change(n):
        stride = _pick_other(rng, EIGEN_STRIDES, n.stride)
        return {"stride": stride} if stride is not None else {}
    return _alter_conv(genome, rng, image_size, "alter-stride", change)


@register("alter-filter-size", "eigen")
def eigen_alter_filter_size(genome, rng, image_size):
    """Sets a conv's kernel to the other of {1x1, 3x3}."""
    def change(n):
        kernel = _pick_other(rng, EIGEN_KERNELS, n.kernel)
        return {"kernel": kernel} if kernel is not None else {}
    return _alter_conv(genome, rng, image_size, "alter-filter-size", change)


# -- Large-Scale Evolution set (LS §3.2 and supplement S1) ------------------------------------------
@register("alter-learning-rate", "large-scale")
def ls_alter_learning_rate(genome, rng, image_size):
    """Multiplies the learning rate by 2**U(-1, 1) (uniform in log scale, S1)."""
    factor = 2.0 ** rng.uniform(-1.0, 1.0)
    child = dataclasses.replace(genome, learning_rate=genome.learning_rate * factor)
    return child, f"alter-learning-rate x{factor:.3f} -> {child.learning_rate:.4g}"


@register("identity", "large-scale")
def ls_identity(genome, rng, image_size):
    """Changes nothing: with weight inheritance the child simply trains longer."""
    return genome, "identity"


@register("reset-weights", "large-scale")
def ls_reset_weights(genome, rng, image_size):
    """Gives every node after the input a fresh id, so no weight can be inherited from the parent."""
    renamed = {}
    for n in genome.nodes:
        if n.id != genome.input_id:
            renamed[n.id], genome = genome.fresh_id()
    nodes = [dataclasses.replace(n, id=renamed.get(n.id, n.id),
                                 inputs=tuple(renamed.get(i, i) for i in n.inputs)) for n in genome.nodes]
    return genome.with_nodes(nodes), "reset-weights"


@register("insert-convolution", "large-scale")
def ls_insert_convolution(genome, rng, image_size):
    """Adds a 3x3 conv on a random edge: stride 1 or 2, channels = its input's, random activation."""
    shapes = genome.shapes(image_size)
    stride = rng.choice((1, 2))
    activation = rng.choice(("bn_relu", "linear"))
    return _insert_layer(genome, rng, image_size, "insert-convolution",
                         lambda i, src: Node(i, "conv", (src,), float(shapes[src].channels), (3, 3),
                                             stride, activation))


@register("alter-stride", "large-scale")
def ls_alter_stride(genome, rng, image_size):
    """Moves a conv's log2 stride to a value around it (powers of two only) where sizes stay valid."""
    return _alter_conv(genome, rng, image_size, "alter-stride",
                       lambda n: {"stride": 2 ** _around(rng, int(math.log2(n.stride)))})


@register("alter-number-of-channels", "large-scale")
def ls_alter_channels(genome, rng, image_size):
    """Multiplies a conv's (float) channels by U(0.5, 2): half to twice, all values possible."""
    return _alter_conv(genome, rng, image_size, "alter-number-of-channels",
                       lambda n: {"channels": n.channels * rng.uniform(0.5, 2.0)})


@register("filter-size", "large-scale")
def ls_filter_size(genome, rng, image_size):
    """Moves a conv's height or width (at random) to another odd size around the current one."""
    def change(n):
        axis = rng.randrange(2)
        kernel = list(n.kernel)
        kernel[axis] = 2 * _around(rng, kernel[axis] // 2) + 1
        return {"kernel": tuple(kernel)}
    return _alter_conv(genome, rng, image_size, "filter-size", change)


@register("insert-one-to-one", "large-scale")
def ls_insert_one_to_one(genome, rng, image_size):
    """Adds an identity vertex (BN+ReLU or linear, at random) on a random edge; sizes are unchanged."""
    activation = rng.choice(("bn_relu", "linear"))
    return _insert_layer(genome, rng, image_size, "insert-one-to-one",
                         lambda i, src: Node(i, "identity", (src,), activation=activation))


@register("add-skip", "large-scale")
def ls_add_skip(genome, rng, image_size):
    """Adds an identity skip from an earlier node into a later edge, through a new `add` node."""
    return _insert_merge(genome, rng, image_size, "add", "add-skip")


@register("remove-skip", "large-scale")
def ls_remove_skip(genome, rng, image_size):
    """Removes one skip (a non-primary input) of an `add` node; a lone add is spliced out."""
    for node in _nodes_of(genome, rng, "add"):
        for skip in _shuffled(rng, node.inputs[1:]):
            child = _tidy(_replace_node(genome, node, inputs=tuple(i for i in node.inputs if i != skip)))
            if child.is_valid(image_size):
                return child, f"remove-skip {skip}->{node.id}"
    raise NotApplicable

