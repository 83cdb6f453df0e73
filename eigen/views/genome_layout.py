"""Where each layer of a genome goes in its drawing: boxes, edge routes and block frames, in points.

A layered (Sugiyama) layout, small enough to own, so that drawing needs neither Graphviz nor any
other new dependency:

    1. layers: each node sits one layer below the deepest of its inputs (the longest path from the
       input). With blocks, every block (EIGEN §3.3: the layers of one map size) holds a run of
       whole layers of its own, so one frame holds it and nothing else. (Where an `add` reads a
       smaller map, as in Large-Scale genomes, two blocks can feed each other; then a block is cut
       into parts, each framed alone, in an order that needs as few parts as it can find.)
    2. an edge that skips layers passes through one invisible lane point per layer it skips, so a
       skip or concat edge runs beside the boxes, never under one;
    3. within a layer, a few barycenter sweeps order the boxes and lanes to cut crossings;
    4. a long network does not shrink: after `max_rows` layers the drawing continues in the next
       column (data flows down each column, columns left to right), and an edge that crosses a
       column break is routed under its column, up the gap and over the next one, in lanes nested
       so that such edges do not cross each other;
    5. within a column, each box moves towards its neighbours (isotonic regression keeps the order
       and the spacing), so a chain is drawn straight and a lane stays a straight line.

Every size here is in points (1/72 inch): a box's text is FONT_SIZE points whatever the genome's
size, and the picture grows instead. The writers (`genome_drawing.py`) only read the result.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Hashable, Sequence

from ..genome.blocks import Block, copies_of_blocks, find_blocks
from ..genome.dna import Genome, Node, Shape

FONT_SIZE = 10.0  # pt, the text in every box, for a 3-node genome as for a 150-node one
FRAME_FONT_SIZE = 9.0  # pt, a block frame's name
TITLE_FONT_SIZE = 12.0  # pt
BOX_HEIGHT = 22.0  # pt
BOX_PADDING = 9.0  # pt, between a box's text and its sides
MIN_BOX_WIDTH = 44.0  # pt
LAYER_GAP = 22.0  # pt, between a layer's boxes and the next layer's
NODE_GAP = 16.0  # pt, between two boxes side by side
LANE_GAP = 11.0  # pt, between a lane (an edge passing a layer) and its neighbour
PORT_STEP = 8.0  # pt, between the ends of two edges on one side of a box
FRAME_PAD = 8.0  # pt, between a frame and the boxes it holds
FRAME_HEADER = 14.0  # pt, the frame's name line, above its first layer
BAND_GAP = 16.0  # pt, between two frames one above the other
COLUMN_GAP = 34.0  # pt, at least, between two columns
WRAP_LANE = 7.0  # pt, between two edges crossing one column break
WRAP_CLEARANCE = 10.0  # pt, from a column to the first edge routed around it
MARGIN = 14.0  # pt, around the picture
TITLE_HEIGHT = 24.0  # pt, the title's line when there is one

# A lane should stay straight and a chain should line up: how hard a neighbour pulls (step 5).
_PULL = {(False, False): 1.0, (True, False): 2.0, (False, True): 2.0, (True, True): 8.0}
_SWEEPS = 6  # barycenter sweeps, down and up (step 3)
_PLACEMENT_ROUNDS = 12  # neighbour-averaging rounds per column (step 5)


@dataclass(frozen=True)
class Box:
    """One node's box: top-left corner, size, and where it sits in the layered order."""

    node: str
    kind: str
    label: str
    x: float
    y: float
    width: float
    height: float
    layer: int  # 0 for the input; an edge always goes to a larger layer
    column: int  # 0 for the first; the reading order is (column, y)
    shape: Shape

    @property
    def center(self) -> tuple[float, float]:
        return (self.x + self.width / 2, self.y + self.height / 2)


@dataclass(frozen=True)
class Edge:
    """One edge of the genome as a polyline. A segment that moves both across and down is drawn as
    an S-curve with vertical ends (see `genome_drawing.path_pieces`); the last point is the arrow's tip."""

    source: str
    target: str
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Frame:
    """A rounded rectangle around one block's boxes, or around one part of them: one column's share
    when the block runs on into the next column, or one part of a block cut in parts (step 1)."""

    block: int  # Block.number
    label: str
    x: float
    y: float
    width: float
    height: float
    column: int


@dataclass(frozen=True)
class Layout:
    """Everything a writer draws, in points, y growing downwards (as in SVG); nothing left to compute."""

    boxes: tuple[Box, ...]  # in the reading order: column by column, top to bottom
    edges: tuple[Edge, ...]  # in the genome's edge order
    frames: tuple[Frame, ...]
    width: float  # pt
    height: float  # pt
    title: str | None = None
    font_size: float = FONT_SIZE  # pt, every box's text

    @property
    def box_by_node(self) -> dict[str, Box]:
        return {b.node: b for b in self.boxes}


# -- labels -------------------------------------------------------------------------------------------
def node_label(node: Node, shape: Shape, num_classes: int) -> str:
    """The layer as the EIGEN paper's figures name it: "3×3 conv, 64, /2", "2×2 max pool", ..."""
    if node.kind == "input":
        return f"input {shape.height}×{shape.width}×{shape.channels}"
    if node.kind == "conv":
        text = f"{node.kernel[0]}×{node.kernel[1]} conv, {node.out_channels}"
        if node.stride != 1:
            text += f", /{node.stride}"
        return text + (" (linear)" if node.activation == "linear" else "")
    if node.kind == "pool":
        return "2×2 max pool"
    if node.kind == "identity":
        return "identity" + (" (linear)" if node.activation == "linear" else "")
    if node.kind == "output":
        return f"avg pool, fc {num_classes}"
    return node.kind  # concat, add


def block_label(block: Block, part: int = 1, parts: int = 1) -> str:
    """"block 2, 16×16", or "block 2, 16×16 (part 1 of 3)" for a block drawn in parts (step 1); a
    frame that names itself (a `NamedFrame`: a duplicated block's copy) keeps its own name."""
    text = getattr(block, "label", None) or f"block {block.number}, {block.size[0]}×{block.size[1]}"
    return text + (f" (part {part} of {parts})" if parts > 1 else "")


@dataclass(frozen=True)
class NamedFrame:
    """A frame to draw that is not one of `find_blocks`' blocks: a copy of a duplicated block.
    `number` must differ from every other frame's."""

    number: int
    size: tuple[int, int]
    nodes: tuple[str, ...]
    label: str


def duplication_frames(source: Genome, duplicated: Genome, copies: dict[int, int],
                       image_size: int | tuple[int, int] = 32, num_classes: int = 10) -> list:
    """The frames of a duplication candidate (EIGEN Fig. 1): each block of the genome as found, and
    each added copy of a block framed apart, "block 2, copy 2 of 3"."""
    blocks = find_blocks(source, image_size, num_classes)
    present = set(duplicated.by_id)
    added = copies_of_blocks(source, duplicated, copies, image_size)
    frames: list = []
    extra = max((b.number for b in blocks), default=0)
    for b in blocks:
        times = copies.get(b.number, 1)
        own = tuple(n for n in b.nodes if n in present)
        name = f"block {b.number}, {b.size[0]}×{b.size[1]}" + (f", copy 1 of {times}" if times > 1 else "")
        frames.append(NamedFrame(b.number, b.size, own, name))
        for k, nodes in enumerate(added.get(b.number, []), start=2):
            extra += 1
            frames.append(NamedFrame(extra, b.size, nodes, f"block {b.number}, copy {k} of {times}"))
    return frames


def text_width(text: str, size: float) -> float:
    """The width of `text` in DejaVu Sans (matplotlib's font; Helvetica is narrower), rounded up:
    a box sized by it holds its label in every viewer."""
    narrow, wide = " ,.:;()/|!iljtf1'", "×mwMW%"
    return size * sum(0.34 if c in narrow else 0.86 if c in wide else 0.64 for c in text)


# -- the layout ---------------------------------------------------------------------------------------
def layout(genome: Genome, image_size: int | tuple[int, int] = 32, num_classes: int = 10,
           blocks: Sequence[Block] | None = None, title: str | None = None,
           max_rows: int | None = None) -> Layout:
    """Lay out `genome` (steps 1-5 of the module docstring). `blocks` (from `find_blocks`) are framed
    and named; `max_rows` (layers per column) defaults to 14 to 22, more for a longer network so the
    picture stays roughly as wide as it is high."""
    shapes = genome.shapes(image_size)
    labels = {n.id: node_label(n, shapes[n.id], num_classes) for n in genome.nodes}
    widths = _box_widths(genome, labels)
    groups = _groups(genome, blocks or [])
    layer_of = _layers(genome, groups)
    layers, preds, succs, chains = _with_lanes(genome, layer_of)
    _order(layers, preds, succs)
    group_of_layer = [groups.group_of[next(k for k in keys if not isinstance(k, tuple))] for keys in layers]
    entering = [sum(len(preds[k]) for k in keys) for keys in layers]
    columns = _columns(group_of_layer, entering, groups.framed, max_rows, max(widths.values()))
    placed = _Placement(layers, preds, succs, widths, columns, group_of_layer, groups, title)
    boxes = sorted((Box(n.id, n.kind, labels[n.id], placed.x[n.id] - widths[n.id] / 2, placed.top[layer_of[n.id]],
                        widths[n.id], BOX_HEIGHT, layer_of[n.id], placed.column_of_layer[layer_of[n.id]], shapes[n.id])
                    for n in genome.nodes), key=lambda b: (b.column, b.y, b.x))
    edges = tuple(Edge(u, v, placed.route(chains[(u, v)])) for u, v in genome.edges())
    width = max(placed.width, 1.1 * text_width(title, TITLE_FONT_SIZE) + 2 * MARGIN if title else 0.0)  # bold
    return Layout(tuple(boxes), edges, tuple(placed.frames), width, placed.height, title)


def _box_widths(genome: Genome, labels: dict[str, str]) -> dict[str, float]:
    """One width for every layer box (a tidy column), and its own narrower one for each concat/add."""
    def fit(node_id: str) -> float:
        return float(max(MIN_BOX_WIDTH, math.ceil(text_width(labels[node_id], FONT_SIZE) + 2 * BOX_PADDING)))
    merges = {n.id for n in genome.nodes if n.kind in ("concat", "add")}
    layer_width = max(fit(n.id) for n in genome.nodes if n.id not in merges)
    return {n.id: fit(n.id) if n.id in merges else layer_width for n in genome.nodes}


@dataclass(frozen=True)
class _Groups:
    """Which nodes share a run of layers (step 1): a block, a part of one, or a lone node."""

    order: tuple[tuple[str, ...], ...]  # node ids of each group, groups in data-flow order
    group_of: dict[str, int]  # node id -> index in `order`
    framed: dict[int, tuple[int, str]]  # group index -> (block number, frame name); others are unframed


def _groups(genome: Genome, blocks: Sequence[Block]) -> _Groups:
    """Without blocks, one group. With them, each block is a group and every other node (the input,
    the output) one of its own, in a topological order of the edges between them. Groups on a cycle
    (edges each way between them) are cut into runs instead: their nodes in a topological order
    that stays in one group while it can, each run of one group a group of its own."""
    if not blocks:
        return _Groups((genome.order,), {i: 0 for i in genome.order}, {})
    owner: dict[str, Hashable] = {i: i for i in genome.order}
    block_by_key: dict[Hashable, Block] = {}
    for block in blocks:
        for node_id in block.nodes:
            if node_id not in owner:
                raise ValueError(f"block {block.number} names node {node_id!r}, which the genome does not have")
            owner[node_id] = ("block", block.number)
        block_by_key[("block", block.number)] = block
    keys = list(dict.fromkeys(owner[i] for i in genome.order))
    links = {k: set() for k in keys}
    for u, v in genome.edges():
        if owner[u] != owner[v]:
            links[owner[u]].add(owner[v])
    components = _strongly_connected(keys, links)
    component_of = {k: c for c, members in enumerate(components) for k in members}
    first_seen = {c: min(keys.index(k) for k in members) for c, members in enumerate(components)}
    between = {c: {component_of[t] for k in members for t in links[k]} - {c} for c, members in enumerate(components)}
    runs: list[tuple[Hashable, list[str]]] = []
    for c in _topological(list(range(len(components))), between, first_seen):
        members = [i for i in genome.order if component_of[owner[i]] == c]
        for node_id in _fewest_switches(genome, members, owner):
            if runs and runs[-1][0] == owner[node_id]:
                runs[-1][1].append(node_id)
            else:
                runs.append((owner[node_id], [node_id]))
    parts = {k: sum(1 for key, _ in runs if key == k) for k in block_by_key}
    framed, seen = {}, {k: 0 for k in block_by_key}
    for g, (key, _) in enumerate(runs):
        if key in block_by_key:
            seen[key] += 1
            framed[g] = (block_by_key[key].number, block_label(block_by_key[key], seen[key], parts[key]))
    group_of = {i: g for g, (_, members) in enumerate(runs) for i in members}
    return _Groups(tuple(tuple(m) for _, m in runs), group_of, framed)


def _fewest_switches(genome: Genome, members: list[str], owner: dict[str, Hashable]) -> list[str]:
    """`members` (given in topological order) in a topological order that takes the next node from
    the group of the last one while one is ready, else the earliest ready one."""
    inside = set(members)
    position = {i: p for p, i in enumerate(members)}
    waiting = {i: sum(1 for j in set(genome.by_id[i].inputs) if j in inside) for i in members}
    ready = [i for i in members if waiting[i] == 0]
    order: list[str] = []
    while ready:
        same = [i for i in ready if order and owner[i] == owner[order[-1]]]
        pick = min(same or ready, key=position.__getitem__)
        ready.remove(pick)
        order.append(pick)
        for c in genome.consumers[pick]:
            if c in inside:
                waiting[c] -= 1
                if waiting[c] == 0:
                    ready.append(c)
    return order


def _strongly_connected(keys: list, links: dict) -> list[list]:
    """Tarjan's strongly connected components, iteratively (a genome may be deeper than the recursion limit)."""
    index: dict = {}
    low: dict = {}
    on_stack: set = set()
    stack: list = []
    components: list[list] = []
    for root in keys:
        if root in index:
            continue
        work = [(root, iter(sorted(links[root], key=keys.index)))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(component)
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(links[child], key=keys.index))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return components


def _topological(items: list[int], after: dict[int, set[int]], priority: dict[int, int]) -> list[int]:
    """`items` so that each comes before those in `after[item]`; ties broken by `priority`."""
    pending = {i: 0 for i in items}
    for i in items:
        for j in after[i]:
            pending[j] += 1
    ready = sorted((i for i in items if pending[i] == 0), key=priority.__getitem__)
    order = []
    while ready:
        i = ready.pop(0)
        order.append(i)
        for j in after[i]:
            pending[j] -= 1
            if pending[j] == 0:
                bisect.insort(ready, j, key=priority.__getitem__)
    return order


def _layers(genome: Genome, groups: _Groups) -> dict[str, int]:
    """Step 1: the longest path from the input, each group starting below the one before it."""
    layer: dict[str, int] = {}
    start = 0
    for members in groups.order:
        for node_id in members:  # in the genome's topological order
            layer[node_id] = max([start] + [layer[i] + 1 for i in genome.by_id[node_id].inputs])
        start = max(layer[i] for i in members) + 1
    return layer


Key = Hashable  # a node id (str), or a lane point (source, target, layer)


def _with_lanes(genome: Genome, layer_of: dict[str, int]):
    """Step 2: the layers' contents, each edge a chain of keys one layer apart."""
    depth = max(layer_of.values()) + 1
    layers: list[list[Key]] = [[] for _ in range(depth)]
    for node_id in genome.order:
        layers[layer_of[node_id]].append(node_id)
    preds: dict[Key, list[Key]] = {i: [] for i in genome.order}
    succs: dict[Key, list[Key]] = {i: [] for i in genome.order}
    chains: dict[tuple[str, str], list[Key]] = {}
    for u, v in genome.edges():
        chain: list[Key] = [u] + [(u, v, k) for k in range(layer_of[u] + 1, layer_of[v])] + [v]
        for lane in chain[1:-1]:
            layers[lane[2]].append(lane)
            preds[lane], succs[lane] = [], []
        for a, b in zip(chain, chain[1:]):
            succs[a].append(b)
            preds[b].append(a)
        chains[(u, v)] = chain
    return layers, preds, succs, chains


def _order(layers: list[list[Key]], preds: dict, succs: dict) -> None:
    """Step 3: reorder each layer in place by the mean position of its neighbours, sweeping down
    then up, and keep the order with the fewest crossings."""
    def crossings() -> int:
        position = {k: i for keys in layers for i, k in enumerate(keys)}
        total = 0
        for keys in layers[:-1]:
            seen: list[int] = []
            for a, b in sorted((position[a], position[b]) for a in keys for b in succs[a]):
                total += len(seen) - bisect.bisect_right(seen, b)
                bisect.insort(seen, b)
        return total

    def sweep(indices, neighbours) -> None:
        for li in indices:
            position = {k: i for i, k in enumerate(layers[li - 1 if neighbours is preds else li + 1])}
            current = {k: i for i, k in enumerate(layers[li])}

            def centre(k):
                near = [position[n] for n in neighbours[k]]
                return sum(near) / len(near) if near else current[k]
            layers[li].sort(key=lambda k: (centre(k), current[k]))

    best, best_order = crossings(), [list(keys) for keys in layers]
    for _ in range(_SWEEPS):
        if best == 0:
            break
        sweep(range(1, len(layers)), preds)
        sweep(range(len(layers) - 2, -1, -1), succs)
        count = crossings()
        if count < best:
            best, best_order = count, [list(keys) for keys in layers]
    layers[:] = best_order


def _columns(group_of_layer: list[int], entering: list[int], framed: dict, max_rows: int | None,
             box_width: float) -> list[int]:
    """Step 4: the first layer of each column. Columns are about balanced; within 60% to 120% of
    its share, a column ends where fewest edges cross the break (`entering[l]`: edges into layer l),
    best where a framed block ends, so that few edges go round and few blocks are cut in two."""
    depth = len(group_of_layer)
    if max_rows is None:  # about as wide as high: depth / rows columns of ~(box + gap) pt, rows of ~44 pt
        column_width = box_width + COLUMN_GAP + 40
        max_rows = min(22, max(14, math.ceil(math.sqrt(depth * column_width / (BOX_HEIGHT + LAYER_GAP) / 1.4))))
    rows = math.ceil(depth / math.ceil(depth / max(1, max_rows)))
    slack = max(2, rows // 5)  # a column may run this much longer to end with its block
    starts = [0]
    while depth - starts[-1] > rows + slack:
        nominal = starts[-1] + rows

        def cost(b: int, nominal: int = nominal) -> float:  # an edge going round: 1, a block cut: 2, a row off: 1/4
            ends_block = group_of_layer[b] != group_of_layer[b - 1] and (
                group_of_layer[b - 1] in framed or group_of_layer[b] in framed)
            return entering[b] + (0 if ends_block else 2) + abs(b - nominal) / 4
        window = range(starts[-1] + math.ceil(0.6 * rows), min(depth - 1, nominal + slack) + 1)
        starts.append(min(window, key=lambda b: (cost(b), -b)))
    return starts


def _simplified(points: list[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """`points` without repeats, nor middle points of straight vertical or horizontal runs."""
    out: list[tuple[float, float]] = []
    for p in points:
        if out and p == out[-1]:
            continue
        if len(out) >= 2 and ((out[-2][0] == out[-1][0] == p[0]) or (out[-2][1] == out[-1][1] == p[1])):
            out[-1] = p
        else:
            out.append(p)
    return tuple(out)


def _isotonic(targets: list[float], weights: list[float]) -> list[float]:
    """The non-decreasing sequence closest to `targets` in weighted squares (pool adjacent violators)."""
    pools: list[list[float]] = []  # [weighted sum, weight, count]
    for t, w in zip(targets, weights):
        pools.append([t * w, w, 1])
        while len(pools) > 1 and pools[-2][0] / pools[-2][1] > pools[-1][0] / pools[-1][1]:
            s, w2, c = pools.pop()
            pools[-1][0] += s
            pools[-1][1] += w2
            pools[-1][2] += c
    out: list[float] = []
    for s, w, c in pools:
        out.extend([s / w] * c)
    return out


class _Placement:
    """Steps 4 and 5: coordinates of every box, lane point and frame, and the routes between them."""

    def __init__(self, layers, preds, succs, widths, column_starts, group_of_layer, groups: _Groups, title):
        self.layers, self.preds, self.succs = layers, preds, succs
        self.group_of_layer, self.framed = group_of_layer, groups.framed
        self.width_of = {k: widths.get(k, 0.0) if not isinstance(k, tuple) else 0.0 for keys in layers for k in keys}
        self.layer_of = {k: li for li, keys in enumerate(layers) for k in keys}
        self.index_in_layer = {k: i for keys in layers for i, k in enumerate(keys)}
        bounds = list(column_starts) + [len(layers)]
        self.spans = [(bounds[c], bounds[c + 1]) for c in range(len(column_starts))]
        self.column_of_layer = [c for c, (lo, hi) in enumerate(self.spans) for _ in range(lo, hi)]
        # the segments across each column break, left to right (the ports' order: see `_port`)
        self.crossing = [sorted(((a, b) for a in layers[hi - 1] for b in succs[a]),
                                key=lambda s: (self.index_in_layer[s[0]], self.index_in_layer[s[1]]))
                         for _, hi in self.spans[:-1]]
        pad = FRAME_PAD if groups.framed else 0.0
        deepest_wrap = max((len(c) for c in self.crossing), default=0)
        top = MARGIN + (TITLE_HEIGHT if title else 0.0)
        top += WRAP_CLEARANCE + deepest_wrap * WRAP_LANE if deepest_wrap else 0.0  # room to go over a column
        self.x: dict[Key, float] = {}
        self.top: list[float] = [0.0] * len(layers)
        self.frames: list[Frame] = []
        self.gap_lane: list[float] = []  # x of the first (leftmost) lane in each column break
        self.column_bottom: list[float] = []
        left = MARGIN + pad
        for c, (lo, hi) in enumerate(self.spans):
            names = [groups.framed[g][1] for g in set(group_of_layer[lo:hi]) if g in groups.framed]
            least = max([text_width(n + " (continued)", FRAME_FONT_SIZE) + 12 - 2 * pad for n in names], default=0.0)
            width = self._place_column(lo, hi, left, least)
            self._stack_column(c, lo, hi, top, left, width, group_of_layer, groups, pad)
            if c < len(self.crossing):
                lanes = len(self.crossing[c])
                self.gap_lane.append(left + width + pad + WRAP_CLEARANCE)
                left += width + 2 * pad + max(COLUMN_GAP, 2 * WRAP_CLEARANCE + (lanes - 1) * WRAP_LANE)
            else:
                left += width + pad
        self.width = left + MARGIN
        wraps_below = [b + WRAP_CLEARANCE + len(c) * WRAP_LANE for b, c in zip(self.column_bottom, self.crossing)]
        self.height = max(self.column_bottom + wraps_below) + MARGIN
        self.column_top = top

    def _place_column(self, lo: int, hi: int, left: float, least: float) -> float:
        """Step 5 for the layers lo..hi-1: x of every key; returns the column's width."""
        def gap(a, b) -> float:
            lanes = isinstance(a, tuple) or isinstance(b, tuple)
            return (self.width_of[a] + self.width_of[b]) / 2 + (LANE_GAP if lanes else NODE_GAP)

        def pack(keys, targets, weights):
            offsets = [0.0]
            for a, b in zip(keys, keys[1:]):
                offsets.append(offsets[-1] + gap(a, b))
            fitted = _isotonic([t - o for t, o in zip(targets, offsets)], weights)
            for k, f, o in zip(keys, fitted, offsets):
                self.x[k] = f + o

        for li in range(lo, hi):
            keys = self.layers[li]
            pack(keys, [0.0] * len(keys), [1.0] * len(keys))
            centre = (self.x[keys[0]] + self.x[keys[-1]]) / 2
            for k in keys:
                self.x[k] -= centre
        for round_ in range(_PLACEMENT_ROUNDS):
            for li in (range(lo, hi) if round_ % 2 == 0 else range(hi - 1, lo - 1, -1)):
                keys = self.layers[li]
                targets, weights = [], []
                for k in keys:
                    near = [(self.x[n], _PULL[(isinstance(k, tuple), isinstance(n, tuple))])
                            for n in self.preds[k] + self.succs[k] if lo <= self.layer_of[n] < hi]
                    pull = sum(w for _, w in near)
                    targets.append(sum(x * w for x, w in near) / pull if near else self.x[k])
                    weights.append(pull if near else 0.01)
                pack(keys, targets, weights)
        self._straighten(lo, hi, gap)
        keys = [k for li in range(lo, hi) for k in self.layers[li]]
        low = min(self.x[k] - self.width_of[k] / 2 for k in keys)
        high = max(self.x[k] + self.width_of[k] / 2 for k in keys)
        shift = left - low + max(0.0, least - (high - low)) / 2
        for k in keys:
            self.x[k] += shift
        return max(high - low, least)

    def _straighten(self, lo: int, hi: int, gap) -> None:
        """Put each run of keys that follow one another one to one (a lane, a plain chain of layers)
        on one vertical line wherever their neighbours leave room, on a few where they do not."""
        runs = []
        for li in range(lo, hi):
            for k in self.layers[li]:
                starts_run = not (len(self.preds[k]) == 1 and self.layer_of[self.preds[k][0]] >= lo
                                  and len(self.succs[self.preds[k][0]]) == 1)
                if starts_run:
                    run = [k]
                    while (len(self.succs[run[-1]]) == 1 and self.layer_of[self.succs[run[-1]][0]] < hi
                           and len(self.preds[self.succs[run[-1]][0]]) == 1):
                        run.append(self.succs[run[-1]][0])
                    if len(run) > 1:
                        runs.append(run)

        def room(k) -> tuple[float, float]:
            keys, i = self.layers[self.layer_of[k]], self.index_in_layer[k]
            left = self.x[keys[i - 1]] + gap(keys[i - 1], k) if i > 0 else -math.inf
            right = self.x[keys[i + 1]] - gap(k, keys[i + 1]) if i + 1 < len(keys) else math.inf
            return left, right

        def settle(piece, low, high) -> None:
            xs = sorted(self.x[k] for k in piece)
            for k in piece:
                self.x[k] = min(high, max(low, xs[len(xs) // 2]))

        for _ in range(3):
            for run in runs:
                piece, low, high = [], -math.inf, math.inf
                for k in run:
                    left, right = room(k)
                    if piece and max(low, left) > min(high, right):
                        settle(piece, low, high)
                        piece, low, high = [], -math.inf, math.inf
                    piece.append(k)
                    low, high = max(low, left), min(high, right)
                settle(piece, low, high)

    def _stack_column(self, c, lo, hi, top, left, width, group_of_layer, groups: _Groups, pad) -> None:
        """The y of each layer of column c, with room for frames and their names; the frames."""
        y = top
        start = lo
        for li in range(lo, hi):
            group = group_of_layer[li]
            if li == lo:
                y += (FRAME_HEADER + FRAME_PAD) if group in groups.framed else 0.0
            elif group != group_of_layer[li - 1]:  # a frame ends, or one begins: room for both
                y += BOX_HEIGHT + max(LAYER_GAP, (FRAME_PAD if group_of_layer[li - 1] in groups.framed else 0.0)
                                      + BAND_GAP + ((FRAME_HEADER + FRAME_PAD) if group in groups.framed else 0.0))
            else:
                y += BOX_HEIGHT + LAYER_GAP
            self.top[li] = y
            if li == hi - 1 or group_of_layer[li + 1] != group:
                if group in groups.framed:
                    number, label = groups.framed[group]
                    if start == lo and lo > 0 and group_of_layer[lo - 1] == group:
                        label += " (continued)"
                    frame_top = self.top[start] - FRAME_HEADER - FRAME_PAD
                    self.frames.append(Frame(number, label, left - pad, frame_top,
                                             width + 2 * pad, y + BOX_HEIGHT + FRAME_PAD - frame_top, c))
                start = li + 1
        last_group = group_of_layer[hi - 1]
        self.column_bottom.append(y + BOX_HEIGHT + (pad if last_group in groups.framed else 0.0))

    # -- routes ---------------------------------------------------------------------------------------
    def _port(self, key: Key, other: Key, outgoing: bool) -> float:
        """The x where the edge to (or from) `other` leaves (enters) `key`: a box's edges are spread
        along its side in the order of the boxes at their other ends, so that none hides another."""
        if isinstance(key, tuple):
            return self.x[key]
        ends = self.succs[key] if outgoing else self.preds[key]
        if len(ends) == 1:
            return self.x[key]
        ranked = sorted(ends, key=lambda n: (self.column_of_layer[self.layer_of[n]], self.index_in_layer[n]))
        step = min(PORT_STEP, 0.7 * self.width_of[key] / (len(ends) - 1))
        return self.x[key] + (ranked.index(other) - (len(ends) - 1) / 2) * step

    def route(self, chain: list[Key]) -> tuple[tuple[float, float], ...]:
        """The polyline of one edge through its lane points; across a column break it goes down into
        the space under the column, right into the gap, up over the next column and down into it."""
        first = chain[0]
        points = [(self._port(first, chain[1], True), self.top[self.layer_of[first]] + BOX_HEIGHT)]
        for a, b in zip(chain, chain[1:]):
            la, lb = self.layer_of[a], self.layer_of[b]
            enter = self._port(b, a, False)
            ca = self.column_of_layer[la]
            if self.column_of_layer[lb] != ca:
                # k = 0, the leftmost, goes round outermost below and in the gap, innermost above
                n, k = len(self.crossing[ca]), self.crossing[ca].index((a, b))
                below = self.column_bottom[ca] + WRAP_CLEARANCE + (n - 1 - k) * WRAP_LANE
                lane = self.gap_lane[ca] + (n - 1 - k) * WRAP_LANE
                above = self.column_top - WRAP_CLEARANCE - k * WRAP_LANE
                x0 = points[-1][0]
                points += [(x0, below), (lane, below), (lane, above), (enter, above)]
            elif self.group_of_layer[la] != self.group_of_layer[lb]:  # bend between the frames, not in a header
                below = self.top[la] + BOX_HEIGHT + (FRAME_PAD if self.group_of_layer[la] in self.framed else 0.0)
                above = self.top[lb] - ((FRAME_HEADER + FRAME_PAD) if self.group_of_layer[lb] in self.framed else 0.0)
                points += [(points[-1][0], below), (enter, above)]
            points.append((enter, self.top[lb]))
            if isinstance(b, tuple):
                points.append((enter, self.top[lb] + BOX_HEIGHT))
        return _simplified(points)
