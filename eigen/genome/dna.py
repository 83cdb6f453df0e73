"""The genome (the "DNA"): an immutable DAG of layer nodes, its JSON form, its key and its checks.

A genome is data, never code. Everything else (the builder, the cost model, the mutations, the run
folder) reads it; nothing rebuilds an architecture any other way. Node ids are stable: a child keeps
its parent's ids, and new nodes get fresh ones from `next_id`, so a child can load the weights of
every layer it shares with its parent (Large-Scale Evolution §3.6).

Node kinds (SPEC §3), with the fields each one carries:

    input     the image; no inputs.
    conv      one input; channels (stored as a float, built as max(1, round(channels)), so that the
              Large-Scale set's small multiplicative steps can accumulate), kernel (height, width: odd),
              stride (a power of two), activation ("bn_relu" or "linear"). "Same" padding, so the
              output size is ceil(size / stride). A kernel may be at most 2 * size - 1 (larger ones
              hold weights that only ever see padding) and the stride below 2 * size.
    pool      one input; 2x2 max pooling, stride 2 (output size floor(size / 2)).
    identity  one input; activation only ("bn_relu" or "linear"). Large-Scale Evolution's
              INSERT-ONE-TO-ONE inserts it: a vertex joined by an identity edge.
    concat    two or more distinct inputs of the same spatial size; channels add up.
    add       two or more distinct inputs; the first (primary) decides channels and size, the others
              are zero-padded or truncated in channels and nearest-resampled in space (LS §3.2).
    output    one input; global average pooling and a linear classifier.

Genome fields besides the nodes: `learning_rate`, `next_id` and `vertex_order`, where a conv's or an
identity's BN+ReLU goes when an `add` reads it (see `Genome`). `vertex_order` was added within schema
version 1 and is written only when it is not the default, so a genome saved before it reads back,
keys and builds as it was trained.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar, Iterable, Mapping

from ..errors import EigenError

SCHEMA_VERSION = 1
KINDS = ("input", "conv", "pool", "identity", "concat", "add", "output")
ACTIVATIONS = ("bn_relu", "linear")
MERGE_KINDS = ("concat", "add")
SINGLE_INPUT_KINDS = ("conv", "pool", "identity", "output")
DEFAULT_LEARNING_RATE = 0.1  # EIGEN §4.1 and LS §3.3 both start at 0.1
ACTIVATE_THEN_ADD = "activate-then-add"  # EIGEN's order, and every genome saved without the field
ADD_THEN_ACTIVATE = "add-then-activate"  # Large-Scale Evolution's (§3.2, S1)
VERTEX_ORDERS = (ACTIVATE_THEN_ADD, ADD_THEN_ACTIVATE)

# Which optional fields each kind must carry; every other optional field must be absent.
_FIELDS_BY_KIND = {
    "input": (),
    "conv": ("channels", "kernel", "stride", "activation"),
    "pool": (),
    "identity": ("activation",),
    "concat": (),
    "add": (),
    "output": (),
}
_OPTIONAL_FIELDS = ("channels", "kernel", "stride", "activation")


class GenomeError(EigenError, ValueError):
    """A genome that cannot be used; the message names the offending node or field."""


@dataclass(frozen=True)
class Node:
    """One layer of the network. `inputs` is ordered: for `add` the first input is the primary."""

    id: str
    kind: str
    inputs: tuple[str, ...] = ()
    channels: float | None = None  # conv: output channels (float, see module docstring)
    kernel: tuple[int, int] | None = None  # conv: (height, width), odd
    stride: int | None = None  # conv: a power of two
    activation: str | None = None  # conv, identity: "bn_relu" | "linear"

    @property
    def out_channels(self) -> int:
        """The channel count the builder uses for a conv: the stored float, rounded half up, >= 1."""
        return max(1, math.floor(self.channels + 0.5))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "kind": self.kind, "inputs": list(self.inputs)}
        for name in _FIELDS_BY_KIND.get(self.kind, ()):
            value = getattr(self, name)
            d[name] = list(value) if name == "kernel" else value
        return d


@dataclass(frozen=True)
class Shape:
    """Activation shape of one node for one image: channels, height, width."""

    channels: int
    height: int
    width: int

    @property
    def size(self) -> tuple[int, int]:
        return (self.height, self.width)


@dataclass(frozen=True)
class Genome:
    """An architecture plus its learning rate. Immutable: mutations return new genomes.

    `vertex_order` says where the BN+ReLU of a conv or identity goes when an `add` sums it with
    skips. "activate-then-add" (EIGEN's, and the default): on the conv's output, before the sum.
    "add-then-activate" (Large-Scale Evolution's vertex, §3.2 and S1: a vertex sums its incoming
    edges, then activates): after the sum, at the last add of `activation_after`'s chain. The
    parameters stay the conv's (`layers.<conv id>.bn`), so a child inherits them whether or not a
    skip was added, and the cost is the same in both orders (the sum has the conv's shape).

    Schema note: the JSON key `vertex_order` is optional within schema version 1, written only when
    not the default, and part of `key()` only then; a genome saved before it existed (every EIGEN
    genome, and Large-Scale runs before issue #30) reads back with the old order, the same key and
    the network it was trained as. An older eigen refuses a genome that has it ("unknown field").
    """

    nodes: tuple[Node, ...]
    learning_rate: float = DEFAULT_LEARNING_RATE
    next_id: int = 0  # the next fresh node id is f"n{next_id}"
    vertex_order: str = ACTIVATE_THEN_ADD  # one of VERTEX_ORDERS; mutations copy it to the child

    # `from_dict` checks every field itself, naming the node (`json_types.check` only asks for a mapping)
    CHECKS_ITSELF: ClassVar[bool] = True

    # -- structure -------------------------------------------------------------------------------
    @cached_property
    def by_id(self) -> dict[str, Node]:
        return {n.id: n for n in self.nodes}

    @cached_property
    def input_id(self) -> str:
        return next(n.id for n in self.nodes if n.kind == "input")

    @cached_property
    def output_id(self) -> str:
        return next(n.id for n in self.nodes if n.kind == "output")

    @cached_property
    def consumers(self) -> dict[str, tuple[str, ...]]:
        """node id -> ids of the nodes that read it (each once, in node order)."""
        out: dict[str, list[str]] = {n.id: [] for n in self.nodes}
        for n in self.nodes:
            for i in dict.fromkeys(n.inputs):
                out[i].append(n.id)
        return {k: tuple(v) for k, v in out.items()}

    @cached_property
    def order(self) -> tuple[str, ...]:
        """Node ids in a topological order (stable: ties keep node order). Needs an acyclic graph."""
        pending = {n.id: len(set(n.inputs)) for n in self.nodes}
        ready = [n.id for n in self.nodes if pending[n.id] == 0]
        position = {n.id: i for i, n in enumerate(self.nodes)}
        order: list[str] = []
        while ready:
            ready.sort(key=position.__getitem__, reverse=True)
            node_id = ready.pop()
            order.append(node_id)
            for c in self.consumers[node_id]:
                pending[c] -= 1
                if pending[c] == 0:
                    ready.append(c)
        if len(order) != len(self.nodes):
            stuck = next(n.id for n in self.nodes if pending[n.id] > 0 and _on_cycle(self, n.id))
            raise GenomeError(f"the genome has a cycle through node '{stuck}'")
        return tuple(order)

    @cached_property
    def activation_after(self) -> dict[str, str]:
        """add id -> the conv or identity whose BN+ReLU it applies after its sum; {} unless the
        order is add-then-activate.

        Large-Scale Evolution's vertex is here a BN+ReLU conv (or identity) p with the chain of adds
        that follow it: p's one reader is an add whose primary is p, that add's one reader is
        another add whose primary it is, and so on. p and the chain's inner adds pass the raw sum
        on; the last add activates it. A node with any other reader ends the chain there, because
        that reader sees the node's value, which is then the activated one.
        """
        if self.vertex_order != ADD_THEN_ACTIVATE:
            return {}
        moved: dict[str, str] = {}
        for node in self.nodes:
            if node.kind not in ("conv", "identity") or node.activation != "bn_relu":
                continue
            site = node.id
            while (len(self.consumers[site]) == 1 and self.by_id[self.consumers[site][0]].kind == "add"
                   and self.by_id[self.consumers[site][0]].inputs[0] == site):
                site = self.consumers[site][0]
            if site != node.id:
                moved[site] = node.id
        return moved

    def ancestors(self, node_id: str) -> set[str]:
        """Every node with a path to `node_id` (not including it)."""
        seen: set[str] = set()
        stack = list(self.by_id[node_id].inputs)
        while stack:
            i = stack.pop()
            if i not in seen:
                seen.add(i)
                stack.extend(self.by_id[i].inputs)
        return seen

    def descendants(self, node_id: str) -> set[str]:
        """Every node reachable from `node_id` (not including it)."""
        seen: set[str] = set()
        stack = list(self.consumers[node_id])
        while stack:
            i = stack.pop()
            if i not in seen:
                seen.add(i)
                stack.extend(self.consumers[i])
        return seen

    def edges(self) -> list[tuple[str, str]]:
        """(source, consumer) pairs, each once, in node order."""
        return [(i, n.id) for n in self.nodes for i in dict.fromkeys(n.inputs)]

    # -- shapes, checks ----------------------------------------------------------------------------
    def shapes(self, image_size: int | tuple[int, int] = 32, in_channels: int = 3) -> dict[str, Shape]:
        """Activation shape of every node for one image; raises GenomeError naming a bad node."""
        height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
        shapes: dict[str, Shape] = {}
        for node_id in self.order:
            node = self.by_id[node_id]
            ins = [shapes[i] for i in node.inputs]
            shape = _infer_shape(node, ins, Shape(in_channels, height, width))
            if shape.height < 1 or shape.width < 1:
                raise GenomeError(
                    f"node '{node_id}' ({node.kind}) shrinks the activation to "
                    f"{shape.height}x{shape.width}, below 1x1 (input image {height}x{width})"
                )
            shapes[node_id] = shape
        return shapes

    def validate(self, image_size: int | tuple[int, int] = 32) -> "Genome":
        """Check everything a builder relies on; return self, or raise GenomeError naming the node."""
        _check_fields(self)
        _check_graph(self)
        self.shapes(image_size)
        return self

    def is_valid(self, image_size: int | tuple[int, int] = 32) -> bool:
        try:
            self.validate(image_size)
        except GenomeError:
            return False
        return True

    # -- identity ----------------------------------------------------------------------------------
    def key(self) -> str:
        """Canonical hash of the architecture and learning rate, independent of node ids and order.

        Two genomes with the same key build the same function family and train the same way, so a
        search never trains the same key twice. Computed as a Merkle hash: each node's digest covers
        its kind, its built parameters and the digests of its inputs in order.
        """
        digests: dict[str, str] = {}
        for node_id in self.order:
            node = self.by_id[node_id]
            parts = [node.kind]
            if node.kind == "conv":
                parts += [str(node.out_channels), f"{node.kernel[0]}x{node.kernel[1]}",
                          str(node.stride), node.activation]
            elif node.kind == "identity":
                parts.append(node.activation)
            parts += [digests[i] for i in node.inputs]
            digests[node_id] = hashlib.sha256("|".join(parts).encode()).hexdigest()
        top = f"{digests[self.output_id]}|lr={self.learning_rate:.6g}"
        if self.vertex_order != ACTIVATE_THEN_ADD:  # only then: the keys of older genomes stay as they were
            top += f"|order={self.vertex_order}"
        return hashlib.sha256(top.encode()).hexdigest()[:16]

    # -- JSON ----------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "learning_rate": self.learning_rate,
                             "next_id": self.next_id}
        if self.vertex_order != ACTIVATE_THEN_ADD:  # absent means the default (schema note above)
            d["vertex_order"] = self.vertex_order
        d["nodes"] = [n.to_dict() for n in self.nodes]
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], image_size: int | tuple[int, int] = 32) -> "Genome":
        """Parse and validate; every problem becomes a GenomeError that says what and where."""
        return _parse_genome(data).validate(image_size)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_json(cls, text: str, image_size: int | tuple[int, int] = 32) -> "Genome":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise GenomeError(f"the genome is not valid JSON ({e})") from None
        return cls.from_dict(data, image_size)

    # -- editing helpers (used by mutations) ---------------------------------------------------------
    def fresh_id(self) -> tuple[str, "Genome"]:
        """A new node id, and the genome with its counter advanced."""
        return f"n{self.next_id}", dataclasses.replace(self, next_id=self.next_id + 1)

    def with_nodes(self, nodes: Iterable[Node]) -> "Genome":
        return dataclasses.replace(self, nodes=tuple(nodes))


def initial_genome(learning_rate: float = DEFAULT_LEARNING_RATE,
                   vertex_order: str = ACTIVATE_THEN_ADD) -> Genome:
    """EIGEN's (and Large-Scale Evolution's) trivial start: input -> global pool + classifier.

    Large-Scale Evolution starts with `vertex_order=ADD_THEN_ACTIVATE`, which every child inherits.
    """
    return Genome(
        nodes=(Node("n0", "input"), Node("n1", "output", ("n0",))),
        learning_rate=learning_rate,
        next_id=2,
        vertex_order=vertex_order,
    )


# ---------------------------------------------------------------------------------------------------
def _infer_shape(node: Node, ins: list[Shape], image: Shape) -> Shape:
    if node.kind == "input":
        return image
    if node.kind == "conv":
        src = ins[0]
        kh, kw = node.kernel
        if kh > 2 * src.height - 1 or kw > 2 * src.width - 1:
            raise GenomeError(f"node '{node.id}' (conv): a {kh}x{kw} kernel on a {src.height}x{src.width} input "
                              f"has weights that never touch a pixel (at most {2 * src.height - 1}x{2 * src.width - 1})")
        if node.stride >= 2 * max(src.height, src.width):
            raise GenomeError(f"node '{node.id}' (conv): stride {node.stride} is beyond its "
                              f"{src.height}x{src.width} input (a stride of {max(src.height, src.width)} already gives 1x1)")
        return Shape(node.out_channels, -(-src.height // node.stride), -(-src.width // node.stride))
    if node.kind == "pool":
        return Shape(ins[0].channels, ins[0].height // 2, ins[0].width // 2)
    if node.kind in ("identity", "output", "add"):
        return ins[0]
    if node.kind == "concat":
        sizes = {s.size for s in ins}
        if len(sizes) > 1:
            listed = ", ".join(f"'{i}' {s.height}x{s.width}" for i, s in zip(node.inputs, ins))
            raise GenomeError(f"concat node '{node.id}' joins inputs of different sizes: {listed}")
        return Shape(sum(s.channels for s in ins), ins[0].height, ins[0].width)
    raise GenomeError(f"node '{node.id}' has unknown kind '{node.kind}'")


def _on_cycle(genome: Genome, node_id: str) -> bool:
    return node_id in genome.descendants(node_id)


def _check_fields(genome: Genome) -> None:
    if not (isinstance(genome.learning_rate, (int, float)) and not isinstance(genome.learning_rate, bool)
            and math.isfinite(genome.learning_rate) and genome.learning_rate > 0):
        raise GenomeError(f"learning_rate must be a positive number, got {genome.learning_rate!r}")
    if genome.vertex_order not in VERTEX_ORDERS:
        raise GenomeError(f"vertex_order must be one of {VERTEX_ORDERS}, got {genome.vertex_order!r}")
    for node in genome.nodes:
        where = f"node '{node.id}' ({node.kind})"
        if node.kind not in KINDS:
            raise GenomeError(f"node '{node.id}' has unknown kind '{node.kind}' (known: {', '.join(KINDS)})")
        wanted = _FIELDS_BY_KIND[node.kind]
        for name in _OPTIONAL_FIELDS:
            present = getattr(node, name) is not None
            if name in wanted and not present:
                raise GenomeError(f"{where} is missing '{name}'")
            if name not in wanted and present:
                raise GenomeError(f"{where} must not have '{name}'")
        if node.kind == "conv":
            c = node.channels
            if isinstance(c, bool) or not isinstance(c, (int, float)) or not math.isfinite(c) or c <= 0:
                raise GenomeError(f"{where}: channels must be a positive number, got {c!r}")
            k = node.kernel
            if (len(k) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 or v % 2 == 0
                                    for v in k)):
                raise GenomeError(f"{where}: kernel must be two odd positive integers, got {list(k)!r}")
            s = node.stride
            if isinstance(s, bool) or not isinstance(s, int) or s < 1 or s & (s - 1):
                raise GenomeError(f"{where}: stride must be a power of two (1, 2, 4, ...), got {s!r}")
        if node.activation is not None and node.activation not in ACTIVATIONS:
            raise GenomeError(f"{where}: activation must be one of {ACTIVATIONS}, got {node.activation!r}")


def _check_graph(genome: Genome) -> None:
    ids = [n.id for n in genome.nodes]
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise GenomeError(f"node id '{i}' is used twice")
        seen.add(i)
    for kind in ("input", "output"):
        count = sum(n.kind == kind for n in genome.nodes)
        if count != 1:
            raise GenomeError(f"a genome needs exactly one '{kind}' node, found {count}")
    for node in genome.nodes:
        for i in node.inputs:
            if i not in genome.by_id:
                raise GenomeError(f"node '{node.id}' reads from '{i}', which does not exist")
            if genome.by_id[i].kind == "output":
                raise GenomeError(f"node '{node.id}' reads from the output node '{i}'")
        n_in = len(node.inputs)
        if node.kind == "input" and n_in:
            raise GenomeError(f"the input node '{node.id}' cannot have inputs")
        if node.kind in SINGLE_INPUT_KINDS and n_in != 1:
            raise GenomeError(f"node '{node.id}' ({node.kind}) needs exactly one input, has {n_in}")
        if node.kind in MERGE_KINDS:
            if n_in < 2:
                raise GenomeError(f"node '{node.id}' ({node.kind}) needs at least two inputs, has {n_in}")
            if len(set(node.inputs)) != n_in:
                raise GenomeError(f"node '{node.id}' ({node.kind}) lists the same input twice")
    genome.order  # raises on a cycle
    reachable = genome.descendants(genome.input_id) | {genome.input_id}
    useful = genome.ancestors(genome.output_id) | {genome.output_id}
    for node in genome.nodes:
        if node.id not in reachable:
            raise GenomeError(f"node '{node.id}' ({node.kind}) cannot be reached from the input")
        if node.id not in useful:
            raise GenomeError(f"node '{node.id}' ({node.kind}) does not lead to the output")


def _parse_genome(data: Any) -> Genome:
    if not isinstance(data, Mapping):
        raise GenomeError(f"a genome must be a JSON object, got {type(data).__name__}")
    version = data.get("schema_version")
    if version is None:
        raise GenomeError("the genome has no 'schema_version'")
    if version != SCHEMA_VERSION:
        newer = isinstance(version, int) and version > SCHEMA_VERSION
        raise GenomeError(
            f"genome schema_version {version!r} is not supported (this eigen reads version {SCHEMA_VERSION})"
            + ("; upgrade eigen to read it" if newer else "")
        )
    unknown = set(data) - {"schema_version", "learning_rate", "next_id", "vertex_order", "nodes"}
    if unknown:
        raise GenomeError(f"the genome has unknown field(s): {', '.join(sorted(unknown))}")
    for name in ("learning_rate", "next_id", "nodes"):
        if name not in data:
            raise GenomeError(f"the genome is missing '{name}'")
    next_id = data["next_id"]
    if isinstance(next_id, bool) or not isinstance(next_id, int) or next_id < 0:
        raise GenomeError(f"next_id must be a non-negative integer, got {next_id!r}")
    if not isinstance(data["nodes"], list):
        raise GenomeError("'nodes' must be a list")
    nodes = tuple(_parse_node(raw, k) for k, raw in enumerate(data["nodes"]))
    for node in nodes:
        if node.id.startswith("n") and node.id[1:].isdigit() and int(node.id[1:]) >= next_id:
            raise GenomeError(f"node id '{node.id}' is not below next_id {next_id}; fresh ids would collide")
    return Genome(nodes=nodes, learning_rate=data["learning_rate"], next_id=next_id,
                  vertex_order=data.get("vertex_order", ACTIVATE_THEN_ADD))


def _parse_node(raw: Any, index: int) -> Node:
    if not isinstance(raw, Mapping):
        raise GenomeError(f"nodes[{index}] must be an object, got {type(raw).__name__}")
    node_id = raw.get("id")
    if not isinstance(node_id, str) or not node_id or not node_id.isidentifier():
        raise GenomeError(f"nodes[{index}] needs an 'id' made of letters, digits and '_', got {node_id!r}")
    where = f"node '{node_id}'"
    unknown = set(raw) - {"id", "kind", "inputs", *_OPTIONAL_FIELDS}
    if unknown:
        raise GenomeError(f"{where} has unknown field(s): {', '.join(sorted(unknown))}")
    kind = raw.get("kind")
    if not isinstance(kind, str):
        raise GenomeError(f"{where} needs a 'kind' string, got {kind!r}")
    inputs = raw.get("inputs", [])
    if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
        raise GenomeError(f"{where}: 'inputs' must be a list of node ids, got {inputs!r}")
    kernel = raw.get("kernel")
    if kernel is not None:
        if not isinstance(kernel, list):
            raise GenomeError(f"{where}: kernel must be a list [height, width], got {kernel!r}")
        kernel = tuple(kernel)
    return Node(id=node_id, kind=kind, inputs=tuple(inputs), channels=raw.get("channels"),
                kernel=kernel, stride=raw.get("stride"), activation=raw.get("activation"))
