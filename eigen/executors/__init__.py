"""Where trainings run (SPEC §10): one at a time, several at once on one device, or on a Ray cluster.

The search, Large-Scale Evolution, duplication and the teacher hand their independent trainings
(`work.Training`) to an executor through `work.run_all` and record each result as it finishes.
`local` runs them in this process (`--parallel K`); `ray_cluster` on Ray actors, one per GPU
(`--ray [ADDRESS]`).
"""
from .local import InlineExecutor, ThreadedExecutor, local_executor
from .work import Executor, Training, run_all

__all__ = ["Executor", "InlineExecutor", "ThreadedExecutor", "Training", "local_executor", "run_all"]
