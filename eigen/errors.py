"""User-facing errors: each carries one sentence that names the problem and what to do about it.

The CLI prints the message and exits with code 2; it never shows a traceback for these.
"""

import errno
import platform
from pathlib import Path


class EigenError(Exception):
    """A problem the user can fix (bad input, missing data, no GPU); the message says how."""


class DataError(EigenError):
    """A dataset that cannot be found, read or used."""


class DeviceError(EigenError):
    """A requested device that does not exist or cannot be used."""


class InternalError(Exception):
    """A bug in eigen, not something the user did: a file eigen wrote itself and expected to find is
    not there. Not an `EigenError` (whose advice the user can follow) nor an `OSError` (whose advice
    is to check the disk): the CLI says it is a bug to report, and exits 70 (EX_SOFTWARE)."""

    def __init__(self, what: str):
        super().__init__(f"internal error: {what}; this is a bug in eigen, not a problem with your data or disk: "
                         f"please report it with the run folder's state.json and history.jsonl")


def own_file_missing(path, what: str) -> InternalError:
    """The error for a file eigen wrote and expected to read back, but which is not there."""
    return InternalError(f"{path} ({what}) should exist, eigen wrote it, but it is not there")


class Interrupted(KeyboardInterrupt):
    """Ctrl-C inside a command that can continue: `how` says how (the CLI prints it, exit code 130)."""

    def __init__(self, how: str):
        super().__init__(how)
        self.how = how


class NotPosix(ImportError):
    """eigen imported where there is no POSIX (Windows): raised on import by the module that needs what
    is missing (`fcntl`'s folder locks, SIGHUP), so the user reads why and what to do instead of a bare
    "No module named 'fcntl'" from deep inside; the CLI prints it and exits 2."""

    def __init__(self, missing: str):
        super().__init__(f"eigen needs a POSIX system (Linux or macOS) for its folder locks and stop signals, "
                         f"and {platform.system() or 'this system'} has no {missing}; on Windows, run eigen in WSL")


def first_line(error: BaseException) -> str:
    """The first line of an error's message ('' if it has none): what a one-sentence message quotes."""
    text = str(error)
    return text.splitlines()[0] if text else ""


def describe_os_error(error: OSError, command: str, again: str | None = None) -> str:
    """One sentence for a failed read or write (full disk, no permission, ...), saying what to do;
    `again` is how to continue (a search knows its `--resume` command).

    Every file eigen writes goes through a temporary file and a rename, so a write that fails leaves
    the previous version in place: the sentence can promise that nothing already written was lost.
    """
    where = f" ({error.filename})" if error.filename else ""
    again = again or f"run the same `eigen {command}` command again to continue"
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"the disk is full{where}; free some space, then {again} (nothing already written was lost)"
    if not_writable(error):
        return f"no permission to read or write{where}; choose a writable --out or fix the permissions"
    return f"{error.strerror or error}{where}; check the path and the disk, then {again}"


def not_writable(error: OSError) -> bool:
    """Whether `error` says the place cannot be written (permissions, a read-only file system)."""
    return error.errno in (errno.EACCES, errno.EPERM, errno.EROFS)


def cannot_save(error: OSError, what: str, instead: str) -> str:
    """One sentence for a picture or report that could not be saved where it goes by default, with
    what to pass `instead` (the results themselves were printed already)."""
    where = Path(error.filename).parent if error.filename else None
    reason = (error.strerror or str(error)).lower()
    return f"{what} could not be saved{f' in {where}' if where else ''} ({reason}); {instead}"
