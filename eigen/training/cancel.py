"""Stopping a training that runs in another thread, at its next step.

A Ctrl-C, a SIGTERM or an error in the driver leaves `--parallel` trainings in flight on worker
threads. Left alone, they would keep the process alive to the end of their stage, or (daemon threads
inside torch's C++ code when the interpreter exits) abort it with "terminate called without an
active exception" instead of the command's own last sentence. The executor that owns a thread gives
it a stop event (`watch`); the trainer's loop calls `check()` every iteration, and a set event ends
the training with `Cancelled` (not a failure of the network: nothing is recorded for it, and a
resumed run trains it again from its last checkpoint, as after a kill).
"""
from __future__ import annotations

import threading

_thread = threading.local()


class Cancelled(BaseException):
    """The training was stopped from outside; a BaseException, so no `except Exception` records it as
    the network's failure."""


def watch(stop: threading.Event) -> None:
    """Trainings in the calling thread end at their next step once `stop` is set."""
    _thread.stop = stop


def check() -> None:
    """Raise `Cancelled` if the calling thread's stop event is set (a thread-local read otherwise)."""
    stop = getattr(_thread, "stop", None)
    if stop is not None and stop.is_set():
        raise Cancelled
