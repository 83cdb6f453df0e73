"""Which executor a command's `--parallel` and `--ray` flags ask for."""
from __future__ import annotations

import shlex

from ..errors import EigenError
from .local import local_executor


def make_executor(config, trainer, device, worker=None, say=print, threads: int | None = None):
    """The executor for `config.parallel` / `config.ray`: `trainer` trains here; `worker` (a
    `WorkerSpec`) says how a Ray worker builds its own, on its own device; every training, wherever
    it runs, with `threads` intra-op threads (the run's count, threads.py; None: the caller's now)."""
    if getattr(config, "ray", None) is None:
        return local_executor(trainer, config.parallel, device, threads)
    if worker is None:
        raise EigenError("--ray trains with eigen's own trainer; this caller supplied another one")
    from .ray_cluster import RayExecutor
    return RayExecutor(worker, address=config.ray, parallel=config.parallel, say=say, threads=threads)


def check_executor(config, say=print) -> None:
    """What `--ray` needs, checked before a command writes anything: Ray installed, and a cluster to
    join reachable (joined now; a local one is started when the trainings begin)."""
    if getattr(config, "ray", None) is not None:
        from .ray_cluster import connect, require_ray
        require_ray()
        if config.ray != "local":
            connect(config.ray, say)


def executor_flags(config) -> str:
    """The `--parallel` / `--ray` flags a printed next command needs to train where this one did (a
    resumed Large-Scale run keeps its number of events in flight only if it is given the same K)."""
    flags = f" --parallel {config.parallel}" if config.parallel != 1 else ""
    if config.ray == "local":
        flags += " --ray"
    elif config.ray is not None:
        flags += f" --ray {shlex.quote(config.ray)}"
    return flags
