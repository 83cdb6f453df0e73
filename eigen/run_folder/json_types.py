"""The type of every field of a file eigen reads back, checked where it is read.

A run file that parses but holds a value of the wrong type (a hand edit, a file from a buggy
version, a damaged copy) used to pass the reader and fail later, far from it: a `state.json` whose
`parent_fitness` held a list ended `--resume` in a TypeError traceback from the live view. Each
reader now checks what it read against the types the code already declares, before anything uses
it: the dataclasses a file becomes (`SearchState`, `Individual`, ...) and, for the plain mappings
inside files, `TypedDict`s beside their writers. So the declaration and the check cannot drift apart.

`check(value, hint, where)` raises `ShapeError` (a ValueError: `folder.interpreting` turns it into
the one sentence that names the file, the field and what to do). Keys are not its business: a
missing key is the KeyError the reader meets anyway, and unknown keys are what older and newer
versions of a file differ by. JSON has one number type: a float field accepts an int; an int field
does not accept 1.5, and no number field accepts true/false.
"""
from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any, Union


class ShapeError(ValueError):
    """A field of a file holds a value of the wrong type; the message names the field."""


def check(value: Any, hint: Any, where: str = "") -> None:
    """Raise ShapeError unless `value` (parsed JSON) fits `hint`: int, float, str, bool, None, Any,
    X | Y, list[X], tuple[X, ...], dict[str, X], a TypedDict or a dataclass (one that says
    CHECKS_ITSELF, a Genome, only has to be a mapping). The message names the deepest field that
    does not fit."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        for option in typing.get_args(hint):
            if _kind_fits(value, option):
                return check(value, option, where)
        raise ShapeError(f"{where or 'the file'} should be {describe(hint)}, not {_described(value)}")
    if not _kind_fits(value, hint):
        raise ShapeError(f"{where or 'the file'} should be {describe(hint)}, not {_described(value)}")
    if getattr(hint, "CHECKS_ITSELF", False):  # a Genome: its reader checks inside, naming the node
        return
    origin, args = typing.get_origin(hint), [a for a in typing.get_args(hint) if a is not Ellipsis]
    if origin in (list, tuple) and args:
        for i, item in enumerate(value):
            check(item, args[min(i, len(args) - 1)] if origin is tuple else args[0], f"{where}[{i}]")
    elif origin is dict and args:
        for key, item in value.items():
            check(item, args[1], f"{where}[{key!r}]")
    elif typing.is_typeddict(hint) or dataclasses.is_dataclass(hint):
        hints = _type_hints(hint)
        for key, item in value.items():
            if key in hints:
                check(item, hints[key], f"{where}.{key}" if where else key)


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    """A class's resolved field types, once per class (a state.json holds an Individual per child)."""
    return typing.get_type_hints(cls)


def _kind_fits(value: Any, hint: Any) -> bool:
    """Whether `value` is of `hint`'s kind, not looking inside a container."""
    if hint is Any:
        return True
    if hint is None or hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    origin = typing.get_origin(hint) or hint
    if origin in (list, tuple):
        return isinstance(value, list)
    if origin is dict or typing.is_typeddict(hint) or dataclasses.is_dataclass(hint):
        return isinstance(value, dict)
    raise TypeError(f"json_types.check cannot check {hint!r}")  # eigen's own declaration: a bug, said loudly


def describe(hint: Any) -> str:
    """The type in words, as the sentence says it."""
    if hint is None or hint is type(None):
        return "null"
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(describe(a) for a in typing.get_args(hint))
    words = {bool: "true or false", int: "a whole number", float: "a number", str: "text", Any: "anything"}
    if hint in words:
        return words[hint]
    if origin in (list, tuple) or hint in (list, tuple):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return f"a list of {_plural(args[0])}" if len(set(args)) == 1 else "a list"
    return "a mapping"


def _plural(hint: Any) -> str:
    words = {bool: "true/false values", int: "whole numbers", float: "numbers", str: "texts"}
    return words.get(hint, "mappings" if not typing.get_origin(hint) in (list, tuple) else "lists")


def _described(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value[:24]!r}"
    if isinstance(value, list):
        return "a list"
    return "a mapping"
