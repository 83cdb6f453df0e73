"""How a child, a final model and a teacher are trained: `eigen search --child-recipe paper|fast`,
`eigen duplicate --final-recipe paper|long|fast` and `eigen train-teacher --recipe fast|densenet`.

    paper  EIGEN §4.1, what every child of the search trains with by default: SGD, momentum 0.9,
           batch 128, weight decay 5e-4, 25,000 iterations at the genome's learning rate, divided by
           10 after 15,000 and 20,000 (T1 / T2 / T3 = 5,000 / 15,000 / 5,000)
    fast   the paper's iterations, batch, weight decay and steps, plus three of the CIFAR-10 speed
           records' tricks that fit any evolved graph (airbench, Jordan 2024): Nesterov momentum,
           label smoothing 0.1, and an exponential moving average of the weights (half-life 2% of
           the schedule: 500 iterations at the paper's length) that is what gets evaluated, saved
           and exported, so a child's fitness after T1 is read off averaged weights rather than the
           noisy ones of a learning rate of 0.1. Left out: airbench's whitening first layer (eigen
           already whitens the input with GCN + ZCA on CIFAR, and a first layer is the genome's to
           evolve), identity (Dirac) initialisation (it needs a deep plain stack of equal widths;
           a search's first generations are shallow, and concatenations and pools break the
           identity), derandomised flips (the augmentation views are fixed by the teacher's logits
           cache, one logit per view), Lookahead (a second weight average beside the EMA), TTA for
           fitness (it doubles every evaluation and changes what fitness measures). Measured against
           `paper` at equal iterations in docs/BENCHMARKS.md, "Child recipe".
    long   what the field retrains a found network with (the DARTS family, airbench): three times
           the iterations (75,000, about 213 epochs of CIFAR's 45,000 training images), the learning
           rate on a cosine from the genome's down to zero, Nesterov momentum and label smoothing 0.1

Only the final training takes `long`; a search's children train `paper` unless `--child-recipe fast`
says otherwise, so by default a search's results and the papers' stay comparable. Mimicry is kept
either way when a teacher exists. The shape of `long` (cosine, Nesterov, smoothing) was chosen by
measurement against the paper's at equal budgets (docs/BENCHMARKS.md, "Final recipe"); its length
is the field's habit of training the final model longer, which the CPU cannot measure.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from .trainer import Schedule

CHILD_RECIPES = ("paper", "fast")  # `eigen search --child-recipe`'s choices (config.py repeats them: it cannot import torch)

EMA_SHARE = 0.02  # fast: the weight average's half-life as a share of the schedule's iterations


def child_schedule(recipe: str, schedule: Schedule) -> Schedule:
    """A search child's schedule under `recipe`: the strategy's own `schedule` (EIGEN's T1 + T2 + T3,
    or Large-Scale Evolution's, already under --schedule-scale) as it is for `paper`, with fast's
    additions for `fast`."""
    if recipe == "paper":
        return schedule
    if recipe == "fast":
        return replace(schedule, nesterov=True, label_smoothing=0.1,
                       ema_half_life=max(1, round(EMA_SHARE * schedule.total)))
    raise ValueError(f"unknown child recipe {recipe!r}; choose from {', '.join(CHILD_RECIPES)}")


FINAL_RECIPES = {
    "paper": Schedule(),
    "long": Schedule(total=75_000, milestones=(), shape="cosine", nesterov=True, label_smoothing=0.1),
    "fast": child_schedule("fast", Schedule()),
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
