"""A genome's drawing shows every layer and every edge, reads in data-flow order, keeps its letters
one size from 3 to 150 nodes, and frames each block of gene duplication around exactly its layers."""
import random
import re
import struct
import xml.etree.ElementTree as ET

import pytest

from eigen.errors import EigenError
from eigen.genome.blocks import find_blocks
from eigen.genome.dna import Genome, Node, initial_genome
from eigen.genome.mutations import mutate
from eigen.views.genome_drawing import FONT_SIZE, layout, path_pieces, to_dot, to_svg, write_drawing

SVG = "{http://www.w3.org/2000/svg}"
SIZES = (3, 5, 8, 12, 20, 30, 45, 60, 80, 100, 125, 150)


def grown(nodes: int, seed: int, ops=("eigen", "large-scale")) -> Genome:
    """A random genome of `nodes` nodes: mutations that do not shrink it, until it is that large."""
    rng = random.Random(seed)
    genome = initial_genome()
    while len(genome.nodes) < nodes:
        child, _ = mutate(genome, rng, rng.choice(ops))
        if len(child.nodes) >= len(genome.nodes):
            genome = child
    return genome


def chain(convs: int) -> Genome:
    """input -> `convs` 3x3 convs -> output: the longest drawing for its size."""
    nodes = [Node("n0", "input")]
    for i in range(1, convs + 1):
        nodes.append(Node(f"n{i}", "conv", (f"n{i - 1}",), 32.0, (3, 3), 1, "bn_relu"))
    nodes.append(Node("out", "output", (f"n{convs}",)))
    return Genome(tuple(nodes), next_id=convs + 1).validate()


@pytest.fixture(scope="module")
def drawn():
    """(genome, blocks, layout) for random genomes of every size in SIZES, EIGEN's and mixed sets."""
    cases = []
    for seed, size in enumerate(SIZES):
        ops = ("eigen",) if seed % 2 else ("eigen", "large-scale")
        genome = grown(size, seed, ops)
        blocks = find_blocks(genome)
        cases.append((genome, blocks, layout(genome, blocks=blocks)))
    return cases


def test_every_node_and_edge_is_in_the_svg_and_the_dot(drawn):
    for genome, blocks, drawing in drawn:
        root = ET.fromstring(to_svg(drawing))  # parses as XML
        nodes = [g.get("data-node") for g in root.iter(f"{SVG}g") if g.get("class") == "node"]
        edges = [(p.get("data-from"), p.get("data-to")) for p in root.iter(f"{SVG}path") if p.get("class") == "edge"]
        assert sorted(nodes) == sorted(n.id for n in genome.nodes)
        assert sorted(edges) == sorted(genome.edges())
        dot = to_dot(genome, blocks=blocks)
        assert set(re.findall(r'^\s*"([^"]+)" \[label=', dot, re.M)) == {n.id for n in genome.nodes}
        assert sorted(re.findall(r'^\s*"([^"]+)" -> "([^"]+)";', dot, re.M)) == sorted(genome.edges())
        assert sorted(re.findall(r"subgraph cluster_(\d+)", dot)) == sorted(str(b.number) for b in blocks)


def test_the_drawing_reads_in_data_flow_order_and_each_edge_joins_its_boxes(drawn):
    for genome, _, drawing in drawn:
        box = drawing.box_by_node
        for edge in drawing.edges:
            source, target = box[edge.source], box[edge.target]
            assert source.layer < target.layer
            assert (source.column, source.y) < (target.column, target.y)  # columns left to right, each top down
            (x0, y0), (x1, y1) = edge.points[0], edge.points[-1]
            assert source.x < x0 < source.x + source.width and y0 == source.y + source.height  # leaves the bottom
            assert target.x < x1 < target.x + target.width and y1 == target.y  # arrives on top


def overlap(a, b) -> bool:
    """Whether rectangles (x0, y0, x1, y1) share interior."""
    return a[0] < b[2] - 0.01 and b[0] < a[2] - 0.01 and a[1] < b[3] - 0.01 and b[1] < a[3] - 0.01


def within(a, b) -> bool:
    """Whether rectangle a lies inside rectangle b."""
    return b[0] <= a[0] and a[2] <= b[2] and b[1] <= a[1] and a[3] <= b[3]


def rect(thing) -> tuple[float, float, float, float]:
    return (thing.x, thing.y, thing.x + thing.width, thing.y + thing.height)


def test_no_box_overlaps_another_and_no_edge_runs_under_a_box(drawn):
    for _, _, drawing in drawn:
        boxes = [rect(b) for b in drawing.boxes]
        assert not any(overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
        for edge in drawing.edges:
            for piece in path_pieces(edge.points):  # a piece lies within the hull of its points
                xs, ys = [p[0] for p in piece], [p[1] for p in piece]
                hull = (min(xs), min(ys), max(xs), max(ys))
                if hull[0] == hull[2]:  # a vertical line: give it a hair of width
                    hull = (hull[0] - 0.02, hull[1], hull[2] + 0.02, hull[3])
                if hull[1] == hull[3]:
                    hull = (hull[0], hull[1] - 0.02, hull[2], hull[3] + 0.02)
                assert not any(overlap(hull, b) for b in boxes), (edge.source, edge.target)
        assert all(0 <= r[0] and r[2] <= drawing.width and 0 <= r[1] and r[3] <= drawing.height for r in boxes)


def svg_font_sizes(drawing) -> set[str]:
    root = ET.fromstring(to_svg(drawing))
    return {t.get("font-size") for g in root.iter(f"{SVG}g") if g.get("class") == "node" for t in g.iter(f"{SVG}text")}


def test_text_keeps_its_size_and_a_long_network_folds_into_columns():
    small, large = layout(grown(5, 1)), layout(chain(148))
    assert svg_font_sizes(small) == svg_font_sizes(large) == {f"{FONT_SIZE:g}"}
    assert {b.height for b in small.boxes} == {b.height for b in large.boxes}
    columns = {}
    for b in large.boxes:
        columns.setdefault(b.column, []).append(b)
    assert len(columns) >= 5 and max(len(c) for c in columns.values()) <= 24
    assert large.width * large.height > 20 * small.width * small.height  # the picture grows instead
    crossing = [e for e in large.edges if large.box_by_node[e.source].column != large.box_by_node[e.target].column]
    assert len(crossing) == len(columns) - 1  # the chain goes on, column to column


def test_each_block_is_framed_around_exactly_its_layers(drawn):
    for genome, blocks, drawing in drawn:
        root = ET.fromstring(to_svg(drawing))
        assert len([r for r in root.iter(f"{SVG}rect") if r.get("class") == "frame"]) == len(drawing.frames)
        for block in blocks:
            frames = [f for f in drawing.frames if f.block == block.number]
            assert frames and all(f.label.startswith(f"block {block.number}, {block.size[0]}×{block.size[1]}")
                                  for f in frames)
            inside = {b.node for b in drawing.boxes for f in frames if within(rect(b), rect(f))}
            assert inside == set(block.nodes)
            touching = {b.node for b in drawing.boxes for f in frames if overlap(rect(b), rect(f))}
            assert touching == set(block.nodes)
        frames = [rect(f) for f in drawing.frames]
        assert not any(overlap(a, b) for i, a in enumerate(frames) for b in frames[i + 1:])
    assert not layout(drawn[0][0]).frames  # no blocks passed: no frames


def test_layers_are_named_as_the_paper_names_them():
    nodes = (Node("i", "input"), Node("c", "conv", ("i",), 64.0, (3, 3), 2, "linear"),
             Node("p", "pool", ("c",)), Node("d", "conv", ("p",), 31.6, (1, 1), 1, "bn_relu"),
             Node("j", "concat", ("p", "d")), Node("e", "identity", ("j",), activation="bn_relu"),
             Node("a", "add", ("e", "c")), Node("o", "output", ("a",)))
    labels = {b.node: b.label for b in layout(Genome(nodes).validate(), num_classes=100).boxes}
    assert labels == {"i": "input 32×32×3", "c": "3×3 conv, 64, /2 (linear)", "p": "2×2 max pool",
                      "d": "1×1 conv, 32", "j": "concat", "e": "identity", "a": "add", "o": "avg pool, fc 100"}


def test_odd_node_ids_and_titles_are_escaped():
    genome = Genome((Node('a<&"\'>', "input"), Node("b\\n", "output", ('a<&"\'>',)))).validate()
    drawing = layout(genome, title='<"fits"> & $x$')
    root = ET.fromstring(to_svg(drawing))
    assert [p.get("data-from") for p in root.iter(f"{SVG}path") if p.get("class") == "edge"] == ['a<&"\'>']
    assert '<"fits"> & $x$' in [t.text for t in root.iter(f"{SVG}text")]
    dot = to_dot(genome, title='say "hi"')
    assert '"a<&\\"\'>" -> "b\\\\n";' in dot and 'label="say \\"hi\\""' in dot


def test_the_suffix_picks_the_format_and_an_unknown_one_writes_nothing(tmp_path):
    genome = grown(12, 3, ("eigen",))
    blocks = find_blocks(genome)
    with pytest.raises(EigenError, match=r"\.svg, \.dot, \.png or \.pdf"):
        write_drawing(genome, tmp_path / "genome.jpg", blocks=blocks)
    assert list(tmp_path.iterdir()) == []
    png = write_drawing(genome, tmp_path / "genome.png", blocks=blocks, title="a genome").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk: the figure is the layout, at 150 dpi
    drawing = layout(genome, blocks=blocks, title="a genome")
    assert abs(width - drawing.width / 72 * 150) <= 2 and abs(height - drawing.height / 72 * 150) <= 2
    assert write_drawing(genome, tmp_path / "genome.PDF").read_bytes().startswith(b"%PDF")
    ET.fromstring(write_drawing(genome, tmp_path / "genome.svg", blocks=blocks).read_text())
    assert write_drawing(genome, tmp_path / "genome.dot").read_text().startswith("digraph genome {")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["genome.PDF", "genome.dot", "genome.png", "genome.svg"]


def test_the_same_genome_draws_the_same_svg():
    genome = grown(40, 7)
    assert to_svg(layout(genome, blocks=find_blocks(genome))) == to_svg(layout(genome, blocks=find_blocks(genome)))
