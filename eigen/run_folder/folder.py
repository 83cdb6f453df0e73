"""The run folder (SPEC §7): the interface between commands, written so that a kill never corrupts it.

    runs/<name>/config.json      every resolved setting, versions, git commit, data fingerprint
    runs/<name>/history.jsonl    append-only, one record per individual per stage
    runs/<name>/state.json       where the search stands, rewritten at every stage boundary
    runs/<name>/parent.pt        weights of the current parent (with its genome)
    runs/<name>/best.pt          weights of the best individual ever (the search's answer)
    runs/<name>/individuals/     checkpoints of the generation in flight (deleted as it ends)
    runs/<name>/best.json        the best genome, its fitness, test accuracy, weights path
    runs/<name>/report/          PNG plots

Every whole-file write goes to a temporary file in the same folder, is flushed to disk, then renamed
over the target (`os.replace` is atomic on POSIX), so a reader sees the old file or the new one,
never half of one; the folder is then fsynced so that a power loss keeps the rename. Written files get
the permissions a plain `open()` would give (0666 less the umask), so colleagues on a shared server
can read them. The history is appended a line at a time; a line cut short by a kill is dropped on
the next read.

One process writes a folder at a time: every command that writes one holds `FolderLock` on it for
its whole life (`fcntl.flock`, which the kernel drops when the process dies, so a kill -9 never
leaves a stale lock), and a second process is told who holds it.
"""
from __future__ import annotations

import contextlib
import contextvars
import datetime
import functools
import json
import os
import pickle
import platform
import shlex
import shutil
import socket
import subprocess
import tempfile
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Callable, Iterator

from .. import faults
from ..errors import EigenError, NotPosix, first_line, own_file_missing

try:
    import fcntl  # flock, the folder lock below
except ModuleNotFoundError:  # Windows: one sentence saying so, not a bare "No module named 'fcntl'"
    raise NotPosix("fcntl") from None


class RunFolderError(EigenError):
    """A run folder that is missing, unreadable or not what the command expects."""


def _umask() -> int:
    """The process's umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_folder(folder: Path) -> None:
    """Make a rename or a new file in `folder` survive a power loss (best effort where the file
    system cannot open folders)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_atomic(path: Path, write: Callable[[Any], None], binary: bool) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:  # a read-only folder: name the file the user knows, not the temporary
        raise named(e, path, instead_of=e.filename) from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; the user's umask decides, as for open()
        with os.fdopen(fd, "wb" if binary else "w") as f:
            write(f)
            faults.point("write", str(path))  # the reliability tests die or fill the disk here
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise named(e, path, instead_of=tmp) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)


def named(error: OSError, path: Path | str, instead_of: str | None = None) -> OSError:
    """`error` naming `path`, the file being written, where the system named none (a write to an
    open file) or named `instead_of` (a temporary the user never asked for): the sentence for a
    full disk or a read-only folder says where."""
    if error.errno is None or error.filename not in (None, instead_of):
        return error
    return type(error)(error.errno, error.strerror, str(path))


def write_json(path: Path, data: Any) -> None:
    """Atomically write `data` as indented JSON."""
    _write_atomic(Path(path), lambda f: f.write(json.dumps(data, indent=1) + "\n"), binary=False)


def write_torch(path: Path, obj: Any) -> None:
    """Atomically `torch.save` `obj`. Serialised in memory first and written as bytes: torch's own
    writer turns a full disk into a RuntimeError ("unexpected pos ..."), which a training would
    report as its own failure; a plain write says ENOSPC, and the command stops with the reason."""
    write_bytes(path, torch_bytes(obj))


def torch_bytes(obj: Any) -> bytes:
    """`obj` as `torch.save` writes it."""
    import io

    import torch
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def write_bytes(path: Path, data: bytes) -> None:
    """Atomically write `data` (a checkpoint, an export, a picture, serialised in memory)."""
    _write_atomic(Path(path), lambda f: f.write(data), binary=True)


def disk_full(folder: Path | str, margin: int = 1 << 20) -> bool:
    """Whether the file system holding `folder` has less than `margin` bytes left for this user:
    what a library writer's own error (ONNX's, say, not an OSError) most likely meant."""
    try:
        stat = os.statvfs(folder)
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < margin


def full_disk_error(path: Path | str) -> OSError:
    """The OSError a full disk gives, for a write whose library said something else."""
    import errno
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def copy_atomic(source: Path, target: Path) -> None:
    """Copy `source` over `target` so that `target` is never half-written. Every source is a file
    eigen wrote (a checkpoint becoming parent.pt or best.pt): one that is missing is eigen's bug."""
    def copy(f) -> None:
        try:
            with open(source, "rb") as read:
                shutil.copyfileobj(read, f)
        except FileNotFoundError:
            raise own_file_missing(source, f"the weights to copy to {Path(target).name}") from None
    _write_atomic(Path(target), copy, binary=True)


def sweep_temporaries(folder: Path) -> int:
    """Remove the temporary files a killed write leaves behind (`.name.*tmp*`); the files they were
    to replace are whole. Returns how many were removed."""
    removed = 0
    for path in Path(folder).rglob(".*"):
        if path.is_file() and ".tmp" in path.name:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def read_json(path: Path, what: str, shape: Any = None) -> Any:
    """The parsed file; with `shape` (a type from `file_types.py`), every field's type checked too."""
    data = _parsed(path, what)
    return data if shape is None else checked(data, shape, path, what)


def checked(data: Any, shape: Any, path: Path, what: str) -> Any:
    """`data`, read from `path`, if every field has its type in `shape`; else one sentence."""
    from .json_types import ShapeError, check
    try:
        check(data, shape)
    except ShapeError as e:
        raise RunFolderError(f"{path} is damaged or was edited by hand ({e}), so {what} cannot be read; "
                             f"restore it from a copy, or run the command that wrote it again") from None
    return data


def _parsed(path: Path, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise RunFolderError(f"{path} does not exist: {what} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunFolderError(f"{path} is not valid JSON ({e}); {what} cannot be read") from None
    except RecursionError:
        raise RunFolderError(f"{path} is nested too deeply to be JSON eigen wrote; {what} cannot be read") from None


# What interpreting a file of the wrong shape raises: a missing key, a list where a mapping belongs,
# a string where a number belongs, an unknown field passed to a dataclass, a short list.
SHAPE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)


def _shape_problem(error: BaseException) -> str:
    from .json_types import ShapeError
    if isinstance(error, ShapeError):  # it names the field and says what it should be
        return first_line(error)[:200]
    if isinstance(error, KeyError):
        return f"it lacks {error.args[0]!r}" if error.args else "a key is missing"
    text = first_line(error) or type(error).__name__
    return f"{type(error).__name__}: {text}"[:160]


@contextlib.contextmanager
def interpreting(path: Path | str, what: str, fix: str) -> Iterator[None]:
    """Turn the error that interpreting a damaged or hand-edited file raises into one sentence naming
    the file, what is wrong and what to do (`fix`).

    The readers stay schema-agnostic: whatever keys a file's version holds, a file that parsed but is
    not what the code expects (a key dropped, a value of the wrong type, a list instead of a mapping)
    surfaces as KeyError / TypeError / ValueError / AttributeError / IndexError while it is read, and
    becomes a `RunFolderError` here instead of a traceback. Nothing is written on that path: every
    read site wraps only reading.
    """
    try:
        yield
    except EigenError as e:
        if Path(path).name in str(e):
            raise
        # A check deeper down (a genome inside the file that no longer validates, say) that cannot
        # know which file it was reading: name the file, or the user cannot find what to fix.
        raise RunFolderError(f"{path} is damaged or was edited by hand ({e}), so {what} cannot be read; "
                             f"{fix}") from None
    except SHAPE_ERRORS as e:
        raise RunFolderError(f"{path} is damaged or was edited by hand ({_shape_problem(e)}), so {what} cannot "
                             f"be read; {fix}") from None


def load_checkpoint(path: Path | str, what: str, fix: str, map_location="cpu") -> Any:
    """`torch.load` of a checkpoint eigen wrote, with one sentence for an empty, truncated or foreign
    file instead of the unpickler's traceback."""
    import torch
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise RunFolderError(f"{path} does not exist: {what} is missing; {fix}") from None
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, *SHAPE_ERRORS) as e:
        problem = first_line(e)[:120] or type(e).__name__
        raise RunFolderError(f"{path} is not a readable checkpoint ({type(e).__name__}: {problem}), so {what} "
                             f"cannot be read; {fix}") from None


# -- one writer per folder -------------------------------------------------------------------------------
LOCK_NAME = ".eigen.lock"


class FolderBusy(RunFolderError):
    """Another process holds the folder's lock."""


class FolderLock:
    """An exclusive `flock` on `<folder>/.eigen.lock`, held while a command writes the folder.

    The kernel releases a flock when its process dies, so a killed command never leaves a stale lock;
    the file only says who holds it (pid, host, since when) for the message a second process gives.
    On release the file is removed while still locked, and `acquire` checks that the file it locked
    is still the one at the path, so a process that opened the old file just before it was removed
    cannot believe it holds the lock.
    """

    def __init__(self, folder: Path | str, command: str):
        self.folder, self.command = Path(folder), command
        self.path = self.folder / LOCK_NAME
        self.fd: int | None = None

    def acquire(self) -> "FolderLock":
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 1000).decode(errors="replace").strip() or "another process"
                os.close(fd)
                raise FolderBusy(f"{self.folder} is in use by {holder}; wait for it to finish (or stop it), "
                                 f"since two processes writing one folder would corrupt it") from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the holder removed the file between our open and our lock: take the new one
        since = datetime.datetime.now().isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.write(fd, f"`eigen {self.command}` (pid {os.getpid()} on {socket.gethostname()}, since {since})\n".encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self.fd)  # closing drops the flock
            self.fd = None


_held: contextvars.ContextVar[list | None] = contextvars.ContextVar("eigen_held_locks", default=None)


def holds_locks(function: Callable) -> Callable:
    """Decorate a command function: the folder locks it takes (`lock_folder`) are held until it
    returns or raises, and released then (a command called twice in one process, as the tests and
    the Python API do, must not find its own lock)."""

    @functools.wraps(function)
    def run(*args, **kwargs):
        if _held.get() is not None:  # called from inside another command: its locks cover this
            return function(*args, **kwargs)
        held: list[FolderLock] = []
        token = _held.set(held)
        try:
            return function(*args, **kwargs)
        finally:
            _held.reset(token)
            for lock in reversed(held):
                lock.release()
    return run


def lock_folder(folder: Path | str, command: str) -> FolderLock | None:
    """Take the folder's lock for the rest of the running command (see `holds_locks`); a folder this
    command already holds is not locked twice. Outside a command the lock lasts until the process ends."""
    held = _held.get()
    folder = Path(folder)
    if held is not None and any(lock.folder.resolve() == folder.resolve() for lock in held):
        return None
    lock = FolderLock(folder, command).acquire()
    if held is not None:
        held.append(lock)
    return lock


def versions() -> dict[str, str]:
    """Versions that decide whether a run can be reproduced. torchvision's is read from its package
    metadata: importing it only to ask costs ~2 s, and a search on arrays never needs it otherwise."""
    import numpy
    import torch

    from .. import __version__
    try:
        vision = version("torchvision")
    except PackageNotFoundError:
        vision = "not installed"
    return {"eigen": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "torchvision": vision, "numpy": numpy.__version__}


def git_commit() -> str | None:
    """The commit of the eigen checkout in use (with '+dirty' for local changes), if it is one."""
    source = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True,
                                timeout=5)
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=source,
                               capture_output=True, text=True, timeout=5)
        return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


class RunFolder:
    """Paths and safe reads/writes of one run folder."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    config = property(lambda self: self.path / "config.json")
    history = property(lambda self: self.path / "history.jsonl")
    state = property(lambda self: self.path / "state.json")
    parent_weights = property(lambda self: self.path / "parent.pt")
    best_weights = property(lambda self: self.path / "best.pt")
    individuals = property(lambda self: self.path / "individuals")
    best = property(lambda self: self.path / "best.json")
    report = property(lambda self: self.path / "report")
    pareto = property(lambda self: self.path / "pareto.json")

    def exists(self) -> bool:
        return self.state.exists() or self.config.exists()

    def refuse_existing(self) -> None:
        """A new run never writes into a folder that holds one (checked early, before any work)."""
        if self.exists():
            raise RunFolderError(f"{self.path} already holds a run; continue it with "
                                 f"`eigen search --resume {shlex.quote(str(self.path))}` or choose another --out")

    def create(self) -> None:
        self.refuse_existing()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RunFolderError(f"cannot create the run folder {self.path} ({e.strerror}); "
                                 f"choose a writable --out") from None

    def require(self) -> None:
        """Fail with one sentence unless this is a run folder a command can read."""
        if not self.path.is_dir():
            raise RunFolderError(f"{self.path} is not a folder; pass a run folder such as runs/<name>")
        if not self.config.exists():
            raise RunFolderError(f"{self.path} holds no config.json, so it is not an eigen run folder")

    # -- history ---------------------------------------------------------------------------------
    def append_history(self, record: dict) -> None:
        """Append one record as one line, on disk before this returns."""
        line = json.dumps(record, separators=(",", ":")) + "\n"
        try:
            self._append(line)
        except OSError as e:
            raise named(e, self.history) from None

    def _append(self, line: str) -> None:
        with open(self.history, "a") as f:
            action = faults.hit("history-line")
            if action:  # the reliability tests: die with half a line written
                f.write(line[: len(line) // 2])
                f.flush()
                faults.act(action, str(self.history))
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def read_history(self) -> list[dict]:
        """Every complete record; a last line cut short by a kill is removed from the file."""
        if not self.history.exists():
            return []
        raw = self.history.read_bytes()
        try:
            raw.decode()
        except UnicodeDecodeError as e:
            raise RunFolderError(f"{self.history} is not text (byte {e.start} is not UTF-8); the history was "
                                 f"damaged, so this run cannot be resumed") from None
        end = raw.rfind(b"\n") + 1
        if end < len(raw):  # a torn last line: drop it so the next append starts clean
            with open(self.history, "r+b") as f:
                f.truncate(end)
            raw = raw[:end]
        records = []
        for number, line in enumerate(raw.decode().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise json.JSONDecodeError("not an object", line, 0)
                records.append(record)
            except (json.JSONDecodeError, RecursionError):
                raise RunFolderError(f"{self.history} line {number} is not a JSON record; the history was "
                                     f"edited or damaged, so this run cannot be resumed") from None
        return records
