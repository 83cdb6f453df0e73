"""The search strategies, one module each, registered by name (`registry.py`).

- `eigen.py` — EIGEN's Algorithm 1 (generations, staged extinction, succession, mimicry).
- `large_scale.py` — Large-Scale Evolution: tournaments of two in a steady state.
- `random_search.py` — its control: the steady state with a coin for selection.
- `regularized.py` — regularized (aging) evolution: the best of S sampled breeds, the oldest dies.
- `steady.py` — what the steady-state strategies share (population, training, views, plots).

Importing this package registers them all; `named(name)` gives one, `names()` lists them.
"""
from . import eigen, large_scale, random_search, regularized  # noqa: F401  (each registers itself)
from .registry import (EngineParts, Strategy, last_stage_of, named, names, of_settings, register,  # noqa: F401
                       settings_for)
