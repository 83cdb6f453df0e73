"""How a final model and a teacher are trained: `eigen duplicate --final-recipe paper|long` and
`eigen train-teacher --recipe fast|densenet`.

    paper  EIGEN §4.1, what every child of the search trains with: SGD, momentum 0.9, batch 128,
           weight decay 5e-4, 25,000 iterations at the genome's learning rate, divided by 10 after
           15,000 and 20,000
    long   what the field retrains a found network with (the DARTS family, airbench): three times
           the iterations (75,000, about 213 epochs of CIFAR's 45,000 training images), the learning
           rate on a cosine from the genome's down to zero, Nesterov momentum and label smoothing 0.1

Only the final training takes `long`: the search's fitness stays the paper's, so a search's results
and the papers' stay comparable. Mimicry is kept either way when a teacher exists. The shape of
`long` (cosine, Nesterov, smoothing) was chosen by measurement against the paper's at equal budgets
(docs/BENCHMARKS.md, "Final recipe"); its length is the field's habit of training the final model
longer, which the CPU cannot measure.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from .trainer import Schedule

FINAL_RECIPES = {
    "paper": Schedule(),
    "long": Schedule(total=75_000, milestones=(), shape="cosine", nesterov=True, label_smoothing=0.1),
}


def final_schedule(recipe: str, scale: float) -> Schedule:
    """The final training's schedule under `--schedule-scale`."""
    return FINAL_RECIPES[recipe].scaled(scale)


@dataclass(frozen=True)
class TeacherRecipe:
    """How each DenseNet-BC member of a teacher trains (`eigen train-teacher --recipe`)."""

    epochs: int  # the default of --epochs under this recipe
    batch_size: int
    nesterov: bool
    shape: str = "step"  # "step": lr / 10 at each of `lr_steps` (fractions of the epochs); "cosine"
    lr_steps: tuple[float, ...] = (0.5, 0.75)
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4  # DenseNet's CIFAR setting
    label_smoothing: float = 0.0

    def schedule(self, epochs: int, steps_per_epoch: int) -> Schedule:
        total = epochs * steps_per_epoch
        milestones = () if self.shape == "cosine" else tuple(max(1, round(total * f)) for f in self.lr_steps)
        return Schedule(total=total, milestones=milestones, lr=self.lr, momentum=self.momentum,
                        weight_decay=self.weight_decay, batch_size=self.batch_size, shape=self.shape,
                        nesterov=self.nesterov, label_smoothing=self.label_smoothing)

    def describe(self, name: str, epochs: int) -> dict:
        """What ensemble.json records."""
        return {"name": name, **{k: v for k, v in asdict(self).items() if k != "epochs"}, "epochs": epochs}


TEACHER_RECIPES = {
    # The default, for a search meant to end in about an hour: DenseNet-BC's batch and Nesterov, which
    # beat batch 128 without Nesterov by 7.8 points in the same CPU time (docs/BENCHMARKS.md, "Teacher
    # recipe"), at two thirds of its epochs
    "fast": TeacherRecipe(epochs=200, batch_size=64, nesterov=True),
    # DenseNet-BC's own (Huang et al. 2017, §4.2): batch 64, Nesterov, 300 epochs, lr / 10 at 50% and 75%
    "densenet": TeacherRecipe(epochs=300, batch_size=64, nesterov=True),
}
BEFORE_RECIPES = "batch-128"  # members trained before the choice: batch 128, steps at 50% and 75%, no Nesterov
