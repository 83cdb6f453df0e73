"""eigen: search image-classifier architectures from scratch on one GPU (EIGEN, Large-Scale Evolution).

The public API: the genome and its JSON form, the two mutation sets, the builder and the cost model;
`load` for a trained model, as a torch module that takes [0, 1] images (`eigen/loading.py`).
"""
__version__ = "0.1.0"  # the one place it is written: pyproject.toml reads it from here

from .genome.cost import Cost, cost
from .genome.dna import Genome, GenomeError, Node, initial_genome
from .genome.mutations import MUTATION_SETS, mutate, step_count

__all__ = ["Cost", "EigenCfg", "Genome", "GenomeError", "MUTATION_SETS", "Node", "build_model", "cost",
           "initial_genome", "load", "mutate", "step_count"]


def __getattr__(name):
    # The builder and the loader need torch; importing them lazily keeps `eigen --help` and the genome
    # tools fast.
    if name == "build_model":
        from .genome.model import build_model
        return build_model
    if name in ("load", "EigenCfg"):
        from . import loading
        return getattr(loading, name)
    raise AttributeError(f"module 'eigen' has no attribute {name!r}")
