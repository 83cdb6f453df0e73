"""SIGTERM and SIGHUP stop a command the way Ctrl-C does.

Job schedulers stop a job with SIGTERM (Slurm, Kubernetes, `timeout`; Slurm sends SIGKILL seconds
later) and a closed terminal or a dropped ssh session sends SIGHUP. Python's default for both is to
die on the spot, silently: no resume hint, and the user cannot tell a stopped run from a crashed one.
While a command runs, both raise KeyboardInterrupt in the main thread instead, so every long command
stops where it is (mid-step: the grace period is short), through the same paths as Ctrl-C: files are
only ever replaced whole, the command prints how to continue, and the exit code is the one a shell
reports for the signal (128 + its number), so a scheduler still sees a job that was stopped.
"""
from __future__ import annotations

import contextlib
import signal
import threading

from .errors import NotPosix

if not hasattr(signal, "SIGHUP"):  # Windows: one sentence saying so, not an AttributeError below
    raise NotPosix("SIGHUP")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)

_received: int | None = None  # the signal that stopped the command in progress (None: Ctrl-C, or none yet)


def _interrupt(signum, frame) -> None:
    global _received
    _received = signum
    raise KeyboardInterrupt


@contextlib.contextmanager
def stop_signals_as_interrupts():
    """While inside, SIGTERM and SIGHUP raise KeyboardInterrupt (in the main thread, where Python
    runs signal handlers); the handlers before are back afterwards. A signal the process was told
    to ignore stays ignored: `nohup eigen search ... &` must survive the terminal closing."""
    global _received
    _received = None
    if threading.current_thread() is not threading.main_thread():  # the Python API from a thread: leave them
        yield
        return
    previous = {s: signal.signal(s, _interrupt) for s in STOP_SIGNALS
                if signal.getsignal(s) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def how_stopped() -> tuple[str, int]:
    """What stopped the command ("interrupted" for Ctrl-C, "stopped by SIGTERM", ...) and the exit code
    a shell reports for it."""
    if _received is None:
        return "interrupted", 128 + signal.SIGINT
    return f"stopped by {signal.Signals(_received).name}", 128 + _received
