"""The DNA (SPEC §3-4): what an architecture is, how it changes and what it costs.

- `dna.py` — the genome: a DAG of layer nodes with stable ids, JSON in and out, a canonical key.
- `mutations.py` — EIGEN's nine operations and Large-Scale Evolution's eleven, one function each.
- `cost.py` — parameters and FLOPs counted from the genome, without building it.
- `model.py` — the builder, genome -> `torch.nn.Module` (imported lazily: it needs torch).
- `inheritance.py` — a child's weights taken from its parent by node id and shape (LS §3.6).
- `blocks.py` — gene duplication's blocks and the candidates that repeat them (EIGEN §3.3).

Nothing here imports torch at import time, so genome tools stay fast.
"""
from .dna import SCHEMA_VERSION, Genome, GenomeError, Node, Shape, initial_genome

__all__ = ["SCHEMA_VERSION", "Genome", "GenomeError", "Node", "Shape", "initial_genome"]
