"""Which executor a command's `--parallel` and `--ray` flags ask for."""
from __future__ import annotations

from ..errors import EigenError
from .local import local_executor


def make_executor(config, trainer, device, worker=None, say=print):
    """The executor for `config.parallel` / `config.ray`: `trainer` trains here; `worker` (a
    `WorkerSpec`) says how a Ray worker builds its own, on its own device."""
    if getattr(config, "ray", None) is None:
        return local_executor(trainer, config.parallel, device)
    if worker is None:
        raise EigenError("--ray trains with eigen's own trainer; this caller supplied another one")
    from .ray_cluster import RayExecutor
    return RayExecutor(worker, address=config.ray, parallel=config.parallel, say=say)


def check_executor(config) -> None:
    """What `--ray` needs, checked before a command writes anything."""
    if getattr(config, "ray", None) is not None:
        from .ray_cluster import require_ray
        require_ray()
