"""A genome as a table of its layers (`eigen show`): what each layer is, what it reads, what it
makes, and what it costs, in data-flow order, with the blocks of gene duplication (EIGEN §3.3).

The parameters and FLOPs of each row come from `cost_by_node`, the same function `cost()` sums, so
the totals are the genome's cost exactly (a test checks it on many random genomes). `describe()`
is the same content as plain data for `--json`.
"""
from __future__ import annotations

from rich import box
from rich.table import Table

from ..genome.blocks import find_blocks
from ..genome.cost import cost, cost_by_node
from ..genome.dna import Genome
from .genome_layout import node_label


def describe(genome: Genome, image_size: int, num_classes: int) -> dict:
    """Every layer in topological order, the blocks and the totals, as JSON-ready data."""
    shapes = genome.validate(image_size).shapes(image_size)
    costs = cost_by_node(genome, image_size, num_classes)
    blocks = find_blocks(genome, image_size, num_classes)
    block_of = {node: b.number for b in blocks for node in b.nodes}
    layers = []
    for node_id in genome.order:
        node, shape, c = genome.by_id[node_id], shapes[node_id], costs[node_id]
        out = [1, 1, num_classes] if node.kind == "output" else [shape.height, shape.width, shape.channels]
        layers.append({"id": node_id, "kind": node.kind, "label": node_label(node, shape, num_classes),
                       "channels": node.out_channels if node.kind == "conv" else None,
                       "kernel": list(node.kernel) if node.kernel else None, "stride": node.stride,
                       "activation": node.activation, "inputs": list(node.inputs), "output": out,
                       "params": c.params, "flops": c.flops, "block": block_of.get(node_id)})
    total = cost(genome, image_size, num_classes)
    return {"image_size": image_size, "classes": num_classes, "learning_rate": genome.learning_rate,
            "vertex_order": genome.vertex_order, "key": genome.key(), "layers": layers,
            "blocks": [{"number": b.number, "size": list(b.size), "nodes": list(b.nodes), "params": b.params,
                        "repeatable": b.repeatable, "reason": b.reason} for b in blocks],
            "totals": {"layers": len(layers), "params": total.params, "flops": total.flops}}


def layers_table(described: dict, title: str) -> Table:
    """The layers, one row each, blocks named in their own column; totals in the footer."""
    table = Table(title=title, header_style="bold", box=box.SIMPLE_HEAD, show_footer=True, pad_edge=False)
    totals = described["totals"]
    columns = [("id", "left", f"{totals['layers']} layers"), ("layer", "left", ""), ("block", "right", ""),
               ("kernel", "right", ""), ("stride", "right", ""), ("channels", "right", ""), ("inputs", "left", ""),
               ("output H×W×C", "right", ""), ("params", "right", f"{totals['params']:,}"),
               ("FLOPs", "right", f"{totals['flops']:,}")]
    for name, justify, footer in columns:
        table.add_column(name, justify=justify, footer=footer, no_wrap=name != "inputs")
    for layer in described["layers"]:
        kernel = "×".join(map(str, layer["kernel"])) if layer["kernel"] else ""
        table.add_row(layer["id"], layer["label"], str(layer["block"] or ""), kernel, str(layer["stride"] or ""),
                      str(layer["channels"] or ""), ", ".join(layer["inputs"]),
                      "×".join(map(str, layer["output"])), f"{layer['params']:,}", f"{layer['flops']:,}")
    return table


def blocks_lines(described: dict) -> list[str]:
    """One line per block of gene duplication: its size, layers, parameters, whether it can repeat."""
    lines = []
    for b in described["blocks"]:
        repeat = "repeatable" if b["repeatable"] else f"not repeatable: {b['reason']}"
        layers = f"{len(b['nodes'])} layer" + ("s" if len(b["nodes"]) != 1 else "")
        lines.append(f"block {b['number']} ({b['size'][0]}×{b['size'][1]}): {layers} "
                     f"({', '.join(b['nodes'])}), {b['params']:,} parameters, {repeat}")
    return lines or ["no blocks (the genome has no layer between its input and its classifier)"]
