"""Fault injection for the reliability tests: die or fail at a named point, on its n-th visit.

The code calls `point(name)` at the moments a crash would hurt most (mid-write of a file, between a
checkpoint and its history line, at a stage boundary, while the report is drawn). Unless the
environment variable EIGEN_FAULT arms one of them, a point costs one dictionary lookup and does
nothing. EIGEN_FAULT="kill@write#3" SIGKILLs the process at the third visit of "write";
"enospc@write#1" raises the OSError a full disk gives; "term@..." and "hup@..." send the
process SIGTERM or SIGHUP, as a job scheduler or a closed terminal would. Tests use it to kill a real run in every
phase and to check what a user sees; nothing else sets it.
"""
from __future__ import annotations

import errno
import os
import signal

_visits: dict[str, int] = {}


def _armed() -> tuple[str, str, int] | None:
    spec = os.environ.get("EIGEN_FAULT")
    if not spec:
        return None
    action, _, rest = spec.partition("@")
    name, _, count = rest.partition("#")
    return action, name, int(count or 1)


def hit(name: str) -> str | None:
    """Count a visit of `name`; the armed action ("kill", "enospc", "term", "hup") if this visit is the armed one."""
    armed = _armed()
    if armed is None or armed[1] != name:
        return None
    _visits[name] = _visits.get(name, 0) + 1
    return armed[0] if _visits[name] == armed[2] else None


def act(action: str | None, what: str = "") -> None:
    """Carry out an action returned by `hit`."""
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action in ("term", "hup"):
        os.kill(os.getpid(), signal.SIGTERM if action == "term" else signal.SIGHUP)
    elif action == "enospc":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), what or None)


def point(name: str, what: str = "") -> None:
    """A place where an armed fault strikes."""
    act(hit(name), what)
