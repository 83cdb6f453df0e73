"""eigen: search image-classifier architectures from scratch on one GPU (EIGEN, Large-Scale Evolution).

The public API: the genome and its JSON form, the two mutation sets, the builder and the cost model.
"""
__version__ = "0.1.0"  # the one place it is written: pyproject.toml reads it from here

from .genome.cost import Cost, cost
from .genome.dna import Genome, GenomeError, Node, initial_genome
from .genome.mutations import MUTATION_SETS, mutate, step_count

__all__ = ["Cost", "Genome", "GenomeError", "MUTATION_SETS", "Node", "build_model", "cost",
           "initial_genome", "mutate", "step_count"]


def __getattr__(name):
    # The builder needs torch; importing it lazily keeps `eigen --help` and the genome tools fast.
    if name == "build_model":
        from .genome.model import build_model
        return build_model
    raise AttributeError(f"module 'eigen' has no attribute {name!r}")
