"""Paths inside the JSON files of a run folder, stored so that the folder can move.

A run folder is copied from a GPU server, renamed or moved; a file that names another by its
absolute path then points at nothing. So every path a file stores is relative to the folder of the
file that names it (`best.json`'s `"weights": "parent.pt"`, `runs/best.json`'s
`"weights": "cifar10-eigen-.../parent.pt"`), and is resolved against that file's folder when read.
Absolute paths written by earlier versions are still read as they are.
"""
from __future__ import annotations

import os
from pathlib import Path


def relative_to_file(path: str | os.PathLike | None, file: str | os.PathLike) -> str | None:
    """`path` as the file `file` should store it: relative to `file`'s folder, with `/` separators."""
    if path is None:
        return None
    start = Path(file).resolve().parent
    return Path(os.path.relpath(Path(path).resolve(), start)).as_posix()


def resolve_from_file(value, file: str | os.PathLike) -> Path | None:
    """The path a stored value names, read from `file`: relative values from `file`'s folder,
    absolute ones (older run folders) as they are; None for anything that is not a string."""
    if not isinstance(value, str) or not value:
        return None
    path = Path(value)
    return path if path.is_absolute() else Path(file).parent / path


def with_relative_paths(data: dict, keys: tuple[str, ...], file: str | os.PathLike) -> dict:
    """A copy of `data` whose path-valued `keys` are stored relative to `file`."""
    return {**data, **{k: relative_to_file(data[k], file) for k in keys if data.get(k) is not None}}
