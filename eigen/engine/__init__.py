"""The search (SPEC §6-7): how a population of genomes is bred, culled and judged.

- `eigen_search.py` — EIGEN's Algorithm 1: children of the parent trained in stages T1/T2/T3.
- `extinction.py` — staged extinction, Eq. 1 and 2: who dies after each stage.
- `succession.py` — rapid succession: the primary (large step) then secondary (small step) phase, plateaus.
- `steady_state.py` — the steady-state engine that large-scale, random and regularized evolution share
  (`Evolution`; each strategy in `strategies/` gives its selection rule), with events in flight.
- `search_run.py` — `SearchRun`, the core every strategy holds: state, history, spending, fitness, the answer.
- `record.py` — `HistoryRecord`, one typed line of history.jsonl.
- `individual.py` — an individual and how a child is drawn within the limits.
- `events.py` — what a search tells whoever watches it, with frozen snapshots (the views implement it).
- `fitness.py` — `--fitness`: a linear combination of accuracy, parameters and FLOPs, parsed strictly.
- `latency_cache.py` — a run's measured latencies, one per genome key, kept in latency.jsonl.
- `pareto.py` — the Pareto front: accuracy against parameters, FLOPs and latency.
- `rank_agreement.py` — how well one ranking predicts another (Kendall's τ), the evidence that selection works.
- `spending.py` — the FLOPs and device-seconds a search spent, per generation and in all (LS §3.5).
- `sitting.py` — one sitting's clock and its `--time-budget`.
"""
