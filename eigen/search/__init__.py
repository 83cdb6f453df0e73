"""The search (SPEC §6-7): how a population of genomes is bred, culled and judged.

- `eigen_search.py` — EIGEN's Algorithm 1: children of the parent trained in stages T1/T2/T3.
- `extinction.py` — staged extinction, Eq. 1 and 2: who dies after each stage.
- `succession.py` — rapid succession: the primary (large step) then secondary (small step) phase, plateaus.
- `evolution.py` — Large-Scale Evolution's steady state and the random-search control.
- `fitness.py` — `--fitness`: a linear combination of accuracy, parameters and FLOPs, parsed strictly.
- `spending.py` — the FLOPs and device-seconds a search spent, per generation and in all (LS §3.5).
- `sitting.py` — one sitting's clock and its `--time-budget`.
"""
