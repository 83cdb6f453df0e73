"""Training (SPEC §5, §8): one network on the paper's recipe, and the teacher it may imitate.

- `trainer.py` — the recipe, CUDA graphs, failures as results; training never prints.
- `mimicry.py` — EIGEN Eq. 3, the loss that learns from a teacher's softened logits.
- `individual_training.py` — one individual of a search, trained from checkpoint to checkpoint, seeded by its genome.
- `densenet.py` — the CIFAR DenseNet-BC of the teacher ensemble.
- `teacher.py` — the teacher's members and their exact logits cache.
"""
