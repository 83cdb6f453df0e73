"""Turning `--gpu N` into a torch device, with a clear message when it cannot be had."""
from __future__ import annotations

import os

import torch

from .errors import DeviceError


def use_deterministic() -> None:
    """`--deterministic`: the same network trained twice on one GPU gives the same digits.

    Without it cuDNN may pick a different (non-deterministic) algorithm per call, so retraining a
    child can differ in the last digits; recorded results are reused exactly either way. Ops with no
    deterministic CUDA kernel (max-pool and adaptive-pool backward among them) warn instead of
    failing (`warn_only`), so a search never dies for it; cuBLAS needs its workspace fixed, which
    must happen before its first use.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def indexed(device: torch.device | str) -> torch.device:
    """`device` with its index: an index-less `cuda` becomes `cuda:N` of the current device.

    Everything downstream keys on the device (the warm-up and capture streams, the worker streams,
    `torch.cuda.set_device`, which refuses an index-less device), so a device is made whole once,
    where it is resolved: `torch.device("cuda")` and `cuda:0` are then one device, not two."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return device


def device_flag(gpu: int | None) -> str:
    """The `--gpu` flag a printed command needs to run on the device this one used ('' for the
    default, GPU 0), so that a next step printed after a CPU run also runs on the CPU."""
    return "" if gpu in (0, None) else f" --gpu {gpu}"


def auto_device(gpu: int | None, say) -> torch.device:
    """For light commands (eval): `--gpu N` as given, or by default the first GPU if there is one,
    else the CPU; `say` is told which, so a default never fails for want of a GPU."""
    if gpu is not None:
        return resolve_device(gpu)
    device = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    say(f"on {torch.cuda.get_device_name(0)} (cuda:0)" if device.type == "cuda"
        else "on the CPU (no CUDA GPU here; --gpu N chooses one)")
    return device


def resolve_device(gpu: int) -> torch.device:
    """`--gpu -1` is the CPU; `--gpu N` must name a CUDA device that exists."""
    if gpu == -1:
        return torch.device("cpu")
    if gpu < -1:
        raise DeviceError(f"--gpu {gpu} is not a device: use a CUDA index (0, 1, ...) or -1 for the CPU")
    return cuda_device(gpu, f"--gpu {gpu}", "use --gpu -1 to run on the CPU")


def cuda_device(index: int, said: str, on_cpu: str) -> torch.device:
    """CUDA device `index`, if this machine has it; else a DeviceError that names the request as the
    user made it (`said`: "--gpu 3", "device='cuda:3'") and says how to run on the CPU (`on_cpu`)."""
    if not torch.cuda.is_available():
        raise DeviceError(f"{said} asks for CUDA, but this machine has no usable CUDA GPU "
                          f"(torch {torch.__version__}); {on_cpu}")
    count = torch.cuda.device_count()
    if index >= count:
        raise DeviceError(f"{said} does not exist: this machine has {count} CUDA device(s), "
                          f"numbered 0..{count - 1}")
    return torch.device("cuda", index)
