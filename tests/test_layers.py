"""The house's floors: each room of eigen/ imports only the rooms below it (STYLE.md, principle 13).

A lower layer owns what it emits (the search defines its events and snapshots; the views implement
them), so no import runs upward: the search never imports a view, a view never a command."""
import ast
from pathlib import Path

EIGEN = Path(__file__).resolve().parents[1] / "eigen"
BASE = {"__version__", "errors", "faults", "device", "portable", "runfolder", "shapes", "stop_signals"}
BELOW = {  # room -> the rooms it may import, besides BASE
    "genome": set(),
    "data": set(),
    "run_files": {"genome"},  # the types of the files eigen reads back (a genome inside some)
    "training": {"genome", "data", "run_files"},
    "executors": {"genome", "data", "training"},
    "search": {"genome", "data", "training", "executors", "run_files"},
    "views": {"genome", "data", "training", "executors", "search", "final", "run_files"},
    "final": {"genome", "data", "training", "executors", "search", "run_files"},
    "strategies": {"genome", "data", "training", "executors", "search", "views", "final", "run_files"},
    "config": {"search", "strategies"},
    "commands": {"genome", "data", "training", "executors", "search", "views", "final", "strategies", "config",
                 "configfile", "run_files"},
}


def imports_of(path: Path) -> set[str]:
    """The eigen rooms `path` imports (relative and absolute imports, at any depth)."""
    package = path.relative_to(EIGEN).parts[:-1]
    rooms = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            parts = list(package[:len(package) - (node.level - 1)]) + (node.module.split(".") if node.module else [])
        elif node.module and node.module.split(".")[0] == "eigen":
            parts = node.module.split(".")[1:]
        else:
            continue
        rooms.update([parts[0]] if parts else [a.name for a in node.names])
    return rooms


def test_no_import_runs_upward():
    upward = []
    for path in sorted(EIGEN.rglob("*.py")):
        room = path.relative_to(EIGEN).with_suffix("").parts[0]
        if room not in BELOW:
            continue
        for target in imports_of(path) - {room} - BASE - BELOW[room]:
            upward.append(f"{path.relative_to(EIGEN)} imports eigen.{target}")
    assert not upward, upward
