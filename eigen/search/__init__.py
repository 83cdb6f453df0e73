"""The search (SPEC §6-7): how a population of genomes is bred, culled and judged.

- `eigen_search.py` — EIGEN's Algorithm 1: children of the parent trained in stages T1/T2/T3.
- `extinction.py` — staged extinction, Eq. 1 and 2: who dies after each stage.
- `succession.py` — rapid succession: the primary (large step) then secondary (small step) phase, plateaus.
- `evolution.py` — Large-Scale Evolution's steady state and the random-search control: `tournament`,
  `evolve_serial` (the loop as the paper tells it), `EventWindow` (K events in flight).
- `run.py` — `SearchRun`, the core both strategies hold: state, history, spending, fitness, the answer.
- `record.py` — `HistoryRecord`, one typed line of history.jsonl.
- `individual.py` — an individual and how a child is drawn within the limits.
- `events.py` — what a search tells whoever watches it, with frozen snapshots (the views implement it).
- `fitness.py` — `--fitness`: a linear combination of accuracy, parameters and FLOPs, parsed strictly.
- `spending.py` — the FLOPs and device-seconds a search spent, per generation and in all (LS §3.5).
- `sitting.py` — one sitting's clock and its `--time-budget`.
"""
