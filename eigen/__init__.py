"""eigen: search image-classifier architectures from scratch on one GPU (EIGEN, Large-Scale Evolution).

The public API (docs/api.md):
    search, duplicate, train_teacher   the commands as functions, settings named as the flags (`eigen/api/`),
                                       returning SearchResult, FinalResult, TeacherResult
    load                               a trained model as a torch module taking [0, 1] images, with its
                                       record `EigenCfg` (`eigen/loading.py`)
    EigenError                         what every problem a user can fix raises, with the CLI's sentence
    Genome, mutate, build_model, cost  the genome and its JSON form, the two mutation sets, the builder
                                       and the cost model
"""
__version__ = "0.1.0"  # the one place it is written: pyproject.toml reads it from here

from .errors import EigenError
from .genome.cost import Cost, cost
from .genome.dna import Genome, GenomeError, Node, initial_genome
from .genome.mutations import MUTATION_SETS, mutate, step_count

_API = ("search", "duplicate", "train_teacher", "SearchResult", "FinalResult", "TeacherResult")
__all__ = ["Cost", "EigenCfg", "EigenError", "FinalResult", "Genome", "GenomeError", "MUTATION_SETS", "Node",
           "SearchResult", "TeacherResult", "build_model", "cost", "duplicate", "initial_genome", "load", "mutate",
           "search", "step_count", "train_teacher"]


def __getattr__(name):
    # The builder and the loader need torch; importing them lazily keeps `eigen --help` and the genome
    # tools fast.
    if name == "build_model":
        from .genome.model import build_model
        return build_model
    if name in ("load", "EigenCfg"):
        from . import loading
        return getattr(loading, name)
    if name in _API:
        from . import api
        return getattr(api, name)
    raise AttributeError(f"module 'eigen' has no attribute {name!r}")
