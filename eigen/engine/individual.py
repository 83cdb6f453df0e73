"""An individual of a search: a genome and what its trainings made of it, and how a child is drawn.

Both strategies breed the same way: a child is a mutated copy of its parent (EIGEN: k ~ U{1..m}
mutations of its set; Large-Scale Evolution: one), redrawn while it breaks --max-params / --max-flops / --max-ms.
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field

from ..errors import EigenError
from ..genome.cost import cost
from ..genome.dna import Genome
from ..genome.mutations import mutate
from ..training.latency import Latency
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
    latency: Latency | None = None  # measured forward time, when the run scores or limits it (issue #31)

    @property
    def key(self) -> str:
        return self.genome.key()

    @property
    def ms(self) -> float | None:
        """Measured milliseconds per forward pass (None when this run does not measure latency)."""
        return self.latency["ms"] if self.latency else None

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


def draw_child(parent: Individual, rng: random.Random, ops: str, steps, settings, latency_of=None) -> tuple:
    """A mutated copy of `parent` within the settings' --max-params / --max-flops / --max-ms, redrawn
    while it breaks them (at most MAX_DRAWS times): (genome, mutations, cost, how many draws were
    rejected, latency). `latency_of(genome)` measures (once per key) when the run scores or limits
    latency; the cheap limits are checked first, so a draw they reject is never timed."""
    s = settings
    for rejected in range(MAX_DRAWS):
        genome, mutations = mutate(parent.genome, rng, ops, steps(), s.image_size)
        c = cost(genome, s.image_size, s.num_classes)
        if (s.max_params is not None and c.params > s.max_params) or (s.max_flops is not None and c.flops > s.max_flops):
            continue
        latency = latency_of(genome) if latency_of is not None else None
        if s.max_ms is None or latency["ms"] <= s.max_ms:
            return genome, mutations, c, rejected, latency
    timed = f" ({parent.ms:.3g} ms)" if parent.ms is not None else ""
    raise EigenError(f"no child of {parent.id} ({parent.params:,} parameters{timed}) within --max-params "
                     f"{s.max_params} / --max-flops {s.max_flops} / --max-ms {s.max_ms} in {MAX_DRAWS} draws; "
                     f"raise the limits")
