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
never half of one. The history is appended a line at a time; a line cut short by a kill is dropped
on the next read.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable

from . import faults
from .errors import EigenError


class RunFolderError(EigenError):
    """A run folder that is missing, unreadable or not what the command expects."""


def _write_atomic(path: Path, write: Callable[[Any], None], binary: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w") as f:
            write(f)
            faults.point("write", str(path))  # the reliability tests die or fill the disk here
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    """Atomically write `data` as indented JSON."""
    _write_atomic(Path(path), lambda f: f.write(json.dumps(data, indent=1) + "\n"), binary=False)


def write_torch(path: Path, obj: Any) -> None:
    """Atomically `torch.save` `obj`."""
    import torch
    _write_atomic(Path(path), lambda f: torch.save(obj, f), binary=True)


def copy_atomic(source: Path, target: Path) -> None:
    """Copy `source` over `target` so that `target` is never half-written."""
    _write_atomic(Path(target), lambda f: shutil.copyfileobj(open(source, "rb"), f), binary=True)


def sweep_temporaries(folder: Path) -> int:
    """Remove the temporary files a killed write leaves behind (`.name.*tmp*`); the files they were
    to replace are whole. Returns how many were removed."""
    removed = 0
    for path in Path(folder).rglob(".*"):
        if path.is_file() and ".tmp" in path.name:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise RunFolderError(f"{path} does not exist: {what} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunFolderError(f"{path} is not valid JSON ({e}); {what} cannot be read") from None


def versions() -> dict[str, str]:
    """Versions that decide whether a run can be reproduced."""
    import numpy
    import torch
    import torchvision

    from . import __version__
    return {"eigen": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "numpy": numpy.__version__}


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

    def exists(self) -> bool:
        return self.state.exists() or self.config.exists()

    def refuse_existing(self) -> None:
        """A new run never writes into a folder that holds one (checked early, before any work)."""
        if self.exists():
            raise RunFolderError(f"{self.path} already holds a run; continue it with "
                                 f"`eigen search --resume {self.path}` or choose another --out")

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
                records.append(json.loads(line))
            except json.JSONDecodeError:
                raise RunFolderError(f"{self.history} line {number} is not valid JSON; the history was "
                                     f"edited or damaged, so this run cannot be resumed") from None
        return records
