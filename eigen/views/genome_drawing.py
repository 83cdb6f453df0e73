"""A drawing of a genome, as the EIGEN paper draws its networks: one labelled box per layer
("3×3 conv, 64, /2"), every edge (skips and concat inputs included) drawn, each block of gene
duplication (§3.3, Fig. 1) framed and named.

    layout(genome, ...)            where everything goes (`genome_layout.py`), in points
    to_svg(layout)                 hand-written SVG: each node a <g data-node=...>, each edge a
                                   <path data-from=... data-to=...>, so a test or a script can find them
    to_dot(genome, ...)            Graphviz text for those who render with Graphviz (never needed here)
    write_drawing(genome, path)    .svg, .dot, .png or .pdf by the file's suffix; written atomically

The PNG and the PDF are drawn with matplotlib from the same layout as the SVG, one point of the
layout to one point of the figure, so the text is FONT_SIZE points whatever the genome's size: a
long network makes a larger picture, never smaller letters.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Sequence
from xml.sax.saxutils import escape, quoteattr

from ..errors import EigenError
from ..genome.blocks import Block
from ..genome.dna import Genome
from ..run_folder.folder import write_bytes
from .genome_layout import (FONT_SIZE, FRAME_FONT_SIZE, MARGIN, TITLE_FONT_SIZE, Box, Edge, Frame, Layout, block_label,
                            layout, node_label, text_width)

__all__ = ["KIND_COLOURS", "SUFFIXES", "Box", "Edge", "Frame", "Layout", "layout", "node_label", "path_pieces",
           "to_dot", "to_svg", "write_drawing"]

# Paul Tol's "light" scheme: told apart with every common colour-vision deficiency, and black text
# reads on each. The label names the kind as well, so the colour is never the only cue.
KIND_COLOURS = {
    "input": "#DDDDDD",  # pale grey
    "conv": "#77AADD",  # light blue
    "pool": "#EE8866",  # orange
    "identity": "#EEDD88",  # light yellow
    "concat": "#44BB99",  # mint
    "add": "#FFAABB",  # pink
    "output": "#BBCC33",  # pear
}
TEXT_COLOUR = "#111111"
BOX_BORDER = "#333333"
EDGE_COLOUR = "#4D4D4D"
EDGE_WIDTH = 1.1  # pt
FRAME_FILL = "#F4F4F4"
FRAME_BORDER = "#9A9A9A"
FRAME_TEXT = "#4D4D4D"
BOX_ROUNDING = 3.0  # pt, corner radius of a box
FRAME_ROUNDING = 8.0  # pt, corner radius of a frame
ARROW_LENGTH, ARROW_HALF_WIDTH = 6.0, 3.0  # pt
FONT_FAMILY = "DejaVu Sans, Helvetica, Arial, sans-serif"
PNG_DPI = 150  # dots per inch, lowered only where a huge genome would pass MAX_PIXELS on a side
MAX_PIXELS = 16000
SUFFIXES = (".svg", ".dot", ".png", ".pdf")


def path_pieces(points: Sequence[tuple[float, float]]) -> list[tuple[tuple[float, float], ...]]:
    """An edge's polyline as pieces: (start, end) for a straight one, (start, control, control, end)
    for a step that moves across and down, drawn as an S-curve that leaves and arrives vertically."""
    pieces = []
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if abs(x0 - x1) < 0.01 or abs(y0 - y1) < 0.01:
            pieces.append(((x0, y0), (x1, y1)))
        else:
            middle = (y0 + y1) / 2
            pieces.append(((x0, y0), (x0, middle), (x1, middle), (x1, y1)))
    return pieces


# -- SVG ----------------------------------------------------------------------------------------------
def to_svg(drawing: Layout) -> str:
    """The layout as an SVG document (text stays text: searchable, and editable on a slide)."""
    def n(value: float) -> str:
        return f"{value:.1f}".rstrip("0").rstrip(".")

    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<svg xmlns="http://www.w3.org/2000/svg" width="{n(drawing.width)}pt" height="{n(drawing.height)}pt" '
           f'viewBox="0 0 {n(drawing.width)} {n(drawing.height)}" font-family={quoteattr(FONT_FAMILY)}>',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" '
           f'markerWidth="{n(ARROW_LENGTH)}" markerHeight="{n(2 * ARROW_HALF_WIDTH)}" orient="auto">'
           f'<path d="M0,0 L10,5 L0,10 z" fill="{EDGE_COLOUR}"/></marker></defs>',
           f'<rect width="{n(drawing.width)}" height="{n(drawing.height)}" fill="white"/>']
    if drawing.title:
        out.append(f'<text class="title" x="{n(_title_x())}" y="{n(_title_y())}" font-size="{n(TITLE_FONT_SIZE)}" '
                   f'font-weight="bold" fill="{TEXT_COLOUR}">{escape(drawing.title)}</text>')
    out.append('<g class="frames">')
    for f in drawing.frames:
        out.append(f'<rect class="frame" data-block="{f.block}" x="{n(f.x)}" y="{n(f.y)}" '
                   f'width="{n(f.width)}" height="{n(f.height)}" rx="{n(FRAME_ROUNDING)}" fill="{FRAME_FILL}" '
                   f'stroke="{FRAME_BORDER}" stroke-width="1"/>')
    out.append('</g>\n<g class="edges" fill="none" stroke="{}" stroke-width="{}">'.format(EDGE_COLOUR, EDGE_WIDTH))
    for e in drawing.edges:
        d = []
        for piece in path_pieces(e.points):
            if not d:
                d.append(f"M{n(piece[0][0])},{n(piece[0][1])}")
            d.append(("L" if len(piece) == 2 else "C") + " ".join(f"{n(x)},{n(y)}" for x, y in piece[1:]))
        out.append(f'<path class="edge" data-from={quoteattr(e.source)} data-to={quoteattr(e.target)} '
                   f'd="{" ".join(d)}" marker-end="url(#arrow)"/>')
    out.append('</g>\n<g class="nodes">')
    for b in drawing.boxes:
        cx, cy = b.center
        out.append(f'<g class="node" data-node={quoteattr(b.node)} data-kind="{b.kind}">'
                   f'<title>{escape(_tooltip(b))}</title>'
                   f'<rect x="{n(b.x)}" y="{n(b.y)}" width="{n(b.width)}" height="{n(b.height)}" '
                   f'rx="{n(BOX_ROUNDING)}" fill="{KIND_COLOURS.get(b.kind, "#FFFFFF")}" stroke="{BOX_BORDER}" '
                   f'stroke-width="0.8"/>'
                   f'<text x="{n(cx)}" y="{n(cy + 0.35 * drawing.font_size)}" font-size="{n(drawing.font_size)}" '
                   f'text-anchor="middle" fill="{TEXT_COLOUR}">{escape(b.label)}</text></g>')
    out.append('</g>\n<g class="frame-labels">')
    for f in drawing.frames:  # above the edges, on a plate of the frame's colour, so no lane crosses one
        x, y = _frame_label_at(f)
        plate = text_width(f.label, FRAME_FONT_SIZE) + 4
        out.append(f'<rect x="{n(x - 2)}" y="{n(y - FRAME_FONT_SIZE)}" width="{n(plate)}" '
                   f'height="{n(FRAME_FONT_SIZE * 1.3)}" fill="{FRAME_FILL}"/>'
                   f'<text data-block="{f.block}" x="{n(x)}" y="{n(y)}" '
                   f'font-size="{n(FRAME_FONT_SIZE)}" fill="{FRAME_TEXT}">{escape(f.label)}</text>')
    out.append("</g>\n</svg>\n")
    return "\n".join(out)


def _tooltip(b: Box) -> str:
    """What a viewer shows on hovering a box: the node's id and its map ("n3: conv, 64 channels of 16×16")."""
    maps = f"{b.shape.channels} channels of {b.shape.height}×{b.shape.width}"
    return f"{b.node}: {b.kind}, " + (f"reads {maps}" if b.kind == "output" else maps)


def _title_x() -> float:
    return MARGIN


def _title_y() -> float:
    return MARGIN + TITLE_FONT_SIZE


def _frame_label_at(f: Frame) -> tuple[float, float]:
    """The baseline start of a frame's name: its top-left corner, inside."""
    return (f.x + 6, f.y + 4 + FRAME_FONT_SIZE)


# -- DOT ----------------------------------------------------------------------------------------------
def to_dot(genome: Genome, image_size: int | tuple[int, int] = 32, num_classes: int = 10,
           blocks: Sequence[Block] | None = None, title: str | None = None) -> str:
    """The genome as Graphviz text (`dot -Tsvg`), with the same labels and colours, and each block
    a `subgraph cluster_N` so that Graphviz frames it too."""
    shapes = genome.shapes(image_size)

    def q(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

    def declare(node_id: str, indent: str) -> str:
        node = genome.by_id[node_id]
        return (f"{indent}{q(node_id)} [label={q(node_label(node, shapes[node_id], num_classes))}, "
                f"fillcolor={q(KIND_COLOURS.get(node.kind, '#FFFFFF'))}];")

    lines = ["digraph genome {",
             '  graph [rankdir=TB, fontname="Helvetica", nodesep=0.25, ranksep=0.3'
             + (f", label={q(title)}, labelloc=t, fontsize={TITLE_FONT_SIZE:g}" if title else "") + "];",
             f'  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize={FONT_SIZE:g}, '
             f'color={q(BOX_BORDER)}, height=0.3];',
             f"  edge [color={q(EDGE_COLOUR)}, arrowsize=0.6];"]
    framed = set()
    for block in blocks or []:
        lines += [f"  subgraph cluster_{block.number} {{",
                  f'    label={q(block_label(block))}; labeljust=l; style="rounded,filled"; '
                  f"fillcolor={q(FRAME_FILL)}; color={q(FRAME_BORDER)}; fontsize={FRAME_FONT_SIZE:g};"]
        lines += [declare(i, "    ") for i in block.nodes]
        lines.append("  }")
        framed.update(block.nodes)
    lines += [declare(i, "  ") for i in genome.order if i not in framed]
    lines += [f"  {q(u)} -> {q(v)};" for u, v in genome.edges()]
    lines.append("}")
    return "\n".join(lines) + "\n"


# -- PNG and PDF --------------------------------------------------------------------------------------
def _figure(drawing: Layout):
    """The layout drawn on a matplotlib Figure (no pyplot: no global state, no display), one point
    of the layout to one point of the figure."""
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyBboxPatch, PathPatch, Polygon
    from matplotlib.path import Path as MplPath

    fig = Figure(figsize=(drawing.width / 72, drawing.height / 72))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, drawing.width)
    ax.set_ylim(drawing.height, 0)  # y grows downwards, as in the layout and the SVG
    ax.axis("off")
    for f in drawing.frames:
        ax.add_patch(FancyBboxPatch((f.x, f.y), f.width, f.height,
                                    boxstyle=f"round,pad=0,rounding_size={FRAME_ROUNDING}", facecolor=FRAME_FILL,
                                    edgecolor=FRAME_BORDER, linewidth=1, zorder=1))
    for e in drawing.edges:
        vertices, codes = [], []
        for piece in path_pieces(e.points):
            if not vertices:
                vertices.append(piece[0])
                codes.append(MplPath.MOVETO)
            vertices += piece[1:]
            codes += [MplPath.LINETO] if len(piece) == 2 else [MplPath.CURVE4] * 3
        tip, before = _arrow_base(vertices)
        vertices[-1] = before  # the line stops where the arrowhead begins
        ax.add_patch(PathPatch(MplPath(vertices, codes), facecolor="none", edgecolor=EDGE_COLOUR,
                               linewidth=EDGE_WIDTH, zorder=2, capstyle="butt"))
        ax.add_patch(Polygon(_arrowhead(tip, before), closed=True, facecolor=EDGE_COLOUR, edgecolor="none", zorder=2))
    for b in drawing.boxes:
        ax.add_patch(FancyBboxPatch((b.x, b.y), b.width, b.height, boxstyle=f"round,pad=0,rounding_size={BOX_ROUNDING}",
                                    facecolor=KIND_COLOURS.get(b.kind, "#FFFFFF"), edgecolor=BOX_BORDER,
                                    linewidth=0.8, zorder=3))
        ax.text(*b.center, b.label, ha="center", va="center", fontsize=drawing.font_size, color=TEXT_COLOUR,
                zorder=4, parse_math=False)
    for f in drawing.frames:
        ax.text(*_frame_label_at(f), f.label, ha="left", va="baseline", fontsize=FRAME_FONT_SIZE, color=FRAME_TEXT,
                zorder=5, parse_math=False,
                bbox={"boxstyle": "square,pad=0.15", "facecolor": FRAME_FILL, "edgecolor": "none"})
    if drawing.title:
        ax.text(_title_x(), _title_y(), drawing.title, ha="left", va="baseline", fontsize=TITLE_FONT_SIZE,
                fontweight="bold", color=TEXT_COLOUR, parse_math=False)
    return fig


def _arrow_base(vertices: list[tuple[float, float]]) -> tuple[tuple[float, float], tuple[float, float]]:
    """The arrow's tip (the path's end) and the point ARROW_LENGTH before it, along the last direction."""
    tip = vertices[-1]
    previous = next((v for v in reversed(vertices[:-1]) if v != tip), (tip[0], tip[1] - 1))
    dx, dy = tip[0] - previous[0], tip[1] - previous[1]
    length = max((dx * dx + dy * dy) ** 0.5, 1e-9)
    return tip, (tip[0] - dx / length * ARROW_LENGTH, tip[1] - dy / length * ARROW_LENGTH)


def _arrowhead(tip, base) -> list[tuple[float, float]]:
    dx, dy = tip[0] - base[0], tip[1] - base[1]
    length = max((dx * dx + dy * dy) ** 0.5, 1e-9)
    px, py = -dy / length * ARROW_HALF_WIDTH, dx / length * ARROW_HALF_WIDTH
    return [tip, (base[0] + px, base[1] + py), (base[0] - px, base[1] - py)]


def _rendered(drawing: Layout, fmt: str) -> bytes:
    fig = _figure(drawing)
    buffer = io.BytesIO()
    dpi = min(PNG_DPI, MAX_PIXELS * 72 / max(drawing.width, drawing.height))
    with warnings.catch_warnings():  # a title in a script the font lacks draws boxes, not console noise
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)
        fig.savefig(buffer, format=fmt, dpi=dpi, facecolor="white")
    return buffer.getvalue()


# -- files --------------------------------------------------------------------------------------------
def write_drawing(genome: Genome, path: str | Path, image_size: int | tuple[int, int] = 32, num_classes: int = 10,
                  blocks: Sequence[Block] | None = None, title: str | None = None) -> Path:
    """Draw `genome` into `path`, the format chosen by its suffix (SUFFIXES); returns the path.
    The suffix is checked before anything is drawn or written, and the file appears whole or not at all."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise EigenError(f"cannot draw a genome into '{path.name}': the file name must end in "
                         f"{', '.join(SUFFIXES[:-1])} or {SUFFIXES[-1]}")
    if suffix == ".dot":
        data = to_dot(genome, image_size, num_classes, blocks, title).encode()
    else:
        drawing = layout(genome, image_size, num_classes, blocks, title)
        data = to_svg(drawing).encode() if suffix == ".svg" else _rendered(drawing, suffix[1:])
    write_bytes(path, data)
    return path
