"""An individual of a search: a genome and what its trainings made of it, and how a child is drawn.

Both strategies breed the same way: a child is a mutated copy of its parent (EIGEN: k ~ U{1..m}
mutations of its set; Large-Scale Evolution: one), redrawn while it breaks --max-params / --max-flops.
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field

from ..errors import EigenError
from ..genome.cost import cost
from ..genome.dna import Genome
from ..genome.mutations import mutate
from .events import IndividualView

MAX_DRAWS = 100  # draws per child slot before the limits are declared impossible to meet


@dataclass
class Individual:
    """A child (or the parent) with what it has become so far."""

    id: str
    parent: str | None
    genome: Genome
    mutations: list[str]
    params: int
    flops: int  # forward FLOPs per image
    fitness: dict[str, float] = field(default_factory=dict)  # stage -> fitness (validation accuracy by default)
    accuracy: dict[str, float] = field(default_factory=dict)  # stage -> validation accuracy (%)
    status: str = "ok"
    alive: bool = True
    checkpoint: str | None = None  # weights at its last stage, relative to the run folder
    step: int = 0  # iterations trained

    @property
    def key(self) -> str:
        return self.genome.key()

    def view(self) -> IndividualView:
        """A frozen snapshot for whoever watches the search."""
        return IndividualView(self.id, self.parent, tuple(self.mutations), self.params, self.flops, dict(self.fitness),
                              self.status, self.alive)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["genome"] = self.genome.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict, image_size: int) -> "Individual":
        return cls(**{**d, "genome": Genome.from_dict(d["genome"], image_size)})


def draw_child(parent: Individual, rng: random.Random, ops: str, steps, settings) -> tuple:
    """A mutated copy of `parent` within the settings' --max-params / --max-flops, redrawn while it
    breaks them (at most MAX_DRAWS times): (genome, mutations, cost, how many draws were rejected)."""
    s = settings
    for rejected in range(MAX_DRAWS):
        genome, mutations = mutate(parent.genome, rng, ops, steps(), s.image_size)
        c = cost(genome, s.image_size, s.num_classes)
        if (s.max_params is None or c.params <= s.max_params) and (s.max_flops is None or c.flops <= s.max_flops):
            return genome, mutations, c, rejected
    raise EigenError(f"no child of {parent.id} ({parent.params:,} parameters) within --max-params {s.max_params} / "
                     f"--max-flops {s.max_flops} in {MAX_DRAWS} draws; raise the limits")
