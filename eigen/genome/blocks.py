"""Gene duplication (EIGEN §3.3, Fig. 1): a genome's blocks, and genomes that repeat whole blocks.

A *block* is every layer whose activation has one spatial size (EIGEN: "the block includes the layers
with activation map that have the same W and H"), listed input side first. The input and output
nodes belong to no block. A block's layers include its *entry* layers: the pooling or strided
convolutions that bring the larger map down to the block's size.

Repeating a block inserts a copy right after it, wired exactly like the original, except that the
copy is fed by the block's output where the original was fed by the stream coming in:

    - inside the copy, every edge between two block layers becomes an edge between their copies, so
      concatenations and skips inside the block keep their shape;
    - wherever the original reads the stream entering the block (the maps its entry layers bring
      down, or the image itself for a block at the input size), the copy reads the block's output;
    - the copy runs at the block's own resolution: an entry pooling layer has nothing to do there
      and is left out, an entry convolution keeps its filters but gets stride 1;
    - any other outside input (a long skip into an `add`, from a map of another size) is read by the
      copy too, unchanged;
    - every layer that read the block's output now reads the copy's.

So a repeated block adds exactly the block's layers once more, and every spatial size stays what it
was. When the block's input and output have the same channel count, its parameter count doubles
and no other layer changes. A block whose output is wider than its input (one that concatenates
the stream it receives, like a dense block) widens it again with each copy, so the layers reading
its output read a wider map, as they would after one more dense block. A block can be repeated only when it has one output (one layer that later layers
read) and at least one convolution; `Block.reason` says why not otherwise.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterator

from .cost import cost, cost_by_node
from .dna import Genome, GenomeError


@dataclass(frozen=True)
class Block:
    number: int  # 1, 2, ... from the input side
    size: tuple[int, int]  # height, width of every activation in the block
    nodes: tuple[str, ...]  # node ids, in the genome's topological order
    exit: str | None  # the one layer later layers read (None when there are several)
    entry_sources: tuple[str, ...]  # outside nodes whose maps enter the block
    params: int  # trainable parameters of the block's layers
    reason: str | None = None  # why the block cannot be repeated; None when it can

    @property
    def repeatable(self) -> bool:
        return self.reason is None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def find_blocks(genome: Genome, image_size: int | tuple[int, int] = 32, num_classes: int = 10) -> list[Block]:
    """The blocks of `genome`, input side first (empty for the trivial input -> output genome)."""
    shapes = genome.shapes(image_size)
    node_costs = cost_by_node(genome, image_size, num_classes)
    layers = [i for i in genome.order if i not in (genome.input_id, genome.output_id)]
    groups: dict[tuple[int, int], list[str]] = {}
    for node_id in layers:
        groups.setdefault(shapes[node_id].size, []).append(node_id)
    blocks = []
    for number, (size, members) in enumerate(groups.items(), start=1):
        inside = set(members)
        exits = [i for i in members if any(c not in inside for c in genome.consumers[i])]
        sources = _entry_sources(genome, members, shapes, size)
        reason = None
        if not any(genome.by_id[i].kind == "conv" for i in members):
            reason = "it holds no convolution"
        elif len(exits) != 1:
            reason = f"later layers read it at {len(exits)} places ({', '.join(exits)})"
        elif (wide := _misfit_entry(genome, members, shapes, size)) is not None:
            reason = f"the filter of its entry layer {wide} is too large for its own {size[0]}x{size[1]} maps"
        blocks.append(Block(number, size, tuple(members), exits[0] if len(exits) == 1 else None, tuple(sources),
                            sum(node_costs[i].params for i in members), reason))
    return blocks


def _entry_sources(genome: Genome, members: list[str], shapes, size: tuple[int, int]) -> list[str]:
    """Outside nodes the block's stream comes from: read by an entry layer, or of the block's size."""
    inside = set(members)
    sources: list[str] = []
    for node_id in members:
        node = genome.by_id[node_id]
        for i in node.inputs:
            if i in inside or i in sources:
                continue
            if _is_entry(genome, node_id, shapes, size) or shapes[i].size == size:
                sources.append(i)
    return sources


def _misfit_entry(genome: Genome, members: list[str], shapes, size: tuple[int, int]) -> str | None:
    """An entry convolution whose filter could not run at stride 1 on the block's maps (see genome.py)."""
    for node_id in members:
        node = genome.by_id[node_id]
        if node.kind == "conv" and _is_entry(genome, node_id, shapes, size):
            if node.kernel[0] > 2 * size[0] - 1 or node.kernel[1] > 2 * size[1] - 1:
                return node_id
    return None


def _is_entry(genome: Genome, node_id: str, shapes, size: tuple[int, int]) -> bool:
    """A pooling layer or strided convolution that brings a larger map down to the block's size."""
    node = genome.by_id[node_id]
    return node.kind in ("pool", "conv") and shapes[node.inputs[0]].size != size


def repeat_block(genome: Genome, block: Block, times: int, image_size: int | tuple[int, int] = 32) -> Genome:
    """`genome` with `block` appearing `times` times in a row (1 = unchanged); see the module docstring."""
    if times < 1:
        raise ValueError(f"a block appears at least once, got times={times}")
    if times == 1:
        return genome
    if not block.repeatable:
        raise GenomeError(f"block {block.number} cannot be repeated: {block.reason}")
    shapes = genome.shapes(image_size)
    inside = set(block.nodes)
    downstream = [c for c in genome.consumers[block.exit] if c not in inside]
    sources = set(block.entry_sources)
    current_exit = block.exit
    after = block.nodes[-1]  # new layers go right after the block (or after the previous copy)
    for _ in range(times - 1):
        mapping: dict[str, str] = {}
        copies = []
        for node_id in block.nodes:
            node = genome.by_id[node_id]
            entry = _is_entry(genome, node_id, shapes, block.size)
            if entry and node.kind == "pool":
                mapping[node_id] = current_exit  # nothing to pool at the block's own resolution
                continue
            new_id, genome = genome.fresh_id()
            inputs = tuple(mapping[i] if i in inside else current_exit if i in sources else i for i in node.inputs)
            stride = 1 if entry else node.stride
            copies.append(dataclasses.replace(node, id=new_id, inputs=inputs, stride=stride))
            mapping[node_id] = new_id
        new_exit = mapping[block.exit]
        nodes = []
        for node in genome.nodes:
            if node.id in downstream:
                node = dataclasses.replace(node, inputs=tuple(new_exit if i == current_exit else i for i in node.inputs))
            nodes.append(node)
            if node.id == after:
                nodes.extend(copies)
        genome = genome.with_nodes(nodes)
        current_exit, after = new_exit, copies[-1].id
    return genome.validate(image_size)


def duplicate(genome: Genome, copies: dict[int, int], image_size: int | tuple[int, int] = 32) -> Genome:
    """`genome` with block number b appearing copies[b] times (blocks not named appear once)."""
    blocks = {b.number: b for b in find_blocks(genome, image_size)}
    unknown = set(copies) - set(blocks)
    if unknown:
        raise GenomeError(f"the genome has no block {sorted(unknown)[0]} (it has {len(blocks)})")
    # Last block first: repeating a block rewires only layers after it, so earlier blocks stay as found.
    for number in sorted(copies, reverse=True):
        genome = repeat_block(genome, blocks[number], copies[number], image_size)
    return genome


def copies_of_blocks(source: Genome, duplicated: Genome, copies: dict[int, int],
                     image_size: int | tuple[int, int] = 32) -> dict[int, list[tuple[str, ...]]]:
    """Which layers of `duplicated` (`duplicate(source, copies)`) are the copies of each block:
    block number -> one tuple of node ids per added copy, in order. `repeat_block` keeps every
    node id of the source and inserts each copy's new layers right after the block (or the copy
    before), so the new layers that follow a block's last layer in the node list are its copies,
    each the same number of layers."""
    blocks = find_blocks(source, image_size)
    block_of = {node: b.number for b in blocks for node in b.nodes}
    added: dict[int, list[str]] = {number: [] for number, times in copies.items() if times > 1}
    current = None
    for node in duplicated.nodes:
        if node.id in source.by_id:
            current = block_of.get(node.id)
        elif current in added:
            added[current].append(node.id)
    found = {}
    for number, nodes in added.items():
        size = len(nodes) // (copies[number] - 1)
        found[number] = [tuple(nodes[k * size:(k + 1) * size]) for k in range(copies[number] - 1)]
    return found


@dataclass(frozen=True)
class Candidate:
    id: str  # "c0" is the genome as found
    copies: dict[int, int]  # block number -> times it appears (only blocks repeated)
    genome: Genome
    params: int
    flops: int

    @property
    def label(self) -> str:
        """'as found' or 'block 2 x2, block 3 x3'."""
        if not self.copies:
            return "as found"
        return ", ".join(f"block {b} x{n}" for b, n in sorted(self.copies.items()))

    def to_dict(self) -> dict:
        return {"id": self.id, "copies": {str(b): n for b, n in self.copies.items()}, "label": self.label,
                "params": self.params, "flops": self.flops, "key": self.genome.key(),
                "genome": self.genome.to_dict()}


def candidates(genome: Genome, *, max_copies: int = 3, max_params: int | None = None, limit: int = 8,
               image_size: int | tuple[int, int] = 32, num_classes: int = 10) -> list[Candidate]:
    """Up to `limit` genomes repeating whole blocks (each 1..max_copies times), ranked.

    The ranking puts the genome as found first, then the fewest added copies, then the fewest
    parameters: the nearest variations of what the search found are tried before larger jumps.
    Genomes above `max_params` are left out (the one as found included).
    """
    repeatable = [b.number for b in find_blocks(genome, image_size, num_classes) if b.repeatable]
    chosen: list[Candidate] = []
    seen: set[str] = set()
    for added in range((max_copies - 1) * len(repeatable) + 1):
        level = []
        for extra in _spread(added, len(repeatable), max_copies - 1):
            copies = {b: 1 + e for b, e in zip(repeatable, extra) if e}
            child = duplicate(genome, copies, image_size)
            c = cost(child, image_size, num_classes)
            if max_params is None or c.params <= max_params:
                level.append((c.params, tuple(sorted(copies.items())), copies, child, c.flops))
        if not level:
            break  # a copy always adds parameters: every larger combination is over the limit too
        for params, _, copies, child, flops in sorted(level, key=lambda t: t[:2]):
            if len(chosen) == limit:
                return chosen
            if (key := child.key()) not in seen:
                seen.add(key)
                chosen.append(Candidate(f"c{len(chosen)}", copies, child, params, flops))
    return chosen


def _spread(total: int, slots: int, most: int) -> Iterator[tuple[int, ...]]:
    """Every way to put `total` extra copies into `slots` blocks, at most `most` in each."""
    if slots == 0:
        if total == 0:
            yield ()
        return
    for first in range(min(total, most) + 1):
        for rest in _spread(total - first, slots - 1, most):
            yield (first, *rest)
