"""The house's floors: each room of eigen/ imports only the rooms below it (STYLE.md, principle 13).

A lower layer owns what it emits (the search defines its events and snapshots; the views implement
them), so no import runs upward: the search never imports a view, a view never a command."""
import ast
from pathlib import Path

EIGEN = Path(__file__).resolve().parents[1] / "eigen"
# The run folder's package is split by floor: its modules are rooms of their own ("run_folder.folder"),
# all in BASE but `file_types`, which stands on the genome.
RUN_FOLDER = "run_folder"
FILE_TYPES = "run_folder.file_types"
BASE = {"__version__", "errors", "faults", "device", "stop_signals", "progress",
        RUN_FOLDER, "run_folder.folder", "run_folder.json_types", "run_folder.portable"}
BELOW = {  # room -> the rooms it may import, besides BASE
    "genome": set(),
    "data": set(),
    **{room: set() for room in BASE if room.startswith(RUN_FOLDER)},  # the base's own modules: the base only
    FILE_TYPES: {"genome"},  # the types of the files eigen reads back (a genome inside some)
    "training": {"genome", "data", FILE_TYPES},
    "executors": {"genome", "data", "training"},
    "engine": {"genome", "data", "training", "executors", FILE_TYPES},
    "views": {"genome", "data", "training", "executors", "engine", "final", FILE_TYPES},
    "final": {"genome", "data", "training", "executors", "engine", FILE_TYPES},
    "strategies": {"genome", "data", "training", "executors", "engine", "views", "final", FILE_TYPES},
    "tracking": {"engine", "training", FILE_TYPES},  # --tensorboard's HPARAMS and --mlflow: observers of the events
    "config": {"engine", "strategies"},
    "commands": {"genome", "data", "training", "executors", "engine", "views", "final", "strategies", "config",
                 "configfile", "tracking", FILE_TYPES},
    # `eigen.load`, the library's door beside the CLI's: it stands on the commands that know the files a
    # model comes in (commands/model_files.py, shared with `eigen eval`) and on nothing above them.
    "loading": {"genome", "data", "training", "final", "commands", FILE_TYPES},
    "api": {"genome", "data", "training", "executors", "engine", "views", "final", "strategies", "config",
            "configfile", "commands", "loading", "tracking", FILE_TYPES},  # the commands as Python functions: above them all
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
        if parts == [RUN_FOLDER]:  # `from eigen.run_folder import json_types`: the modules are the rooms
            rooms.update(f"{RUN_FOLDER}.{a.name}" for a in node.names)
        elif parts[:1] == [RUN_FOLDER]:
            rooms.add(".".join(parts[:2]))
        else:
            rooms.update([parts[0]] if parts else [a.name for a in node.names])
    return rooms


def room_of(path: Path) -> str:
    """The room a module of eigen/ is in: its top-level name, or `run_folder.<module>` inside the run
    folder's package."""
    parts = path.relative_to(EIGEN).with_suffix("").parts
    if parts[0] == RUN_FOLDER and len(parts) > 1 and parts[1] != "__init__":
        return f"{RUN_FOLDER}.{parts[1]}"
    return parts[0]


def test_no_import_runs_upward():
    upward = []
    for path in sorted(EIGEN.rglob("*.py")):
        room = room_of(path)
        if room not in BELOW:
            continue
        for target in imports_of(path) - {room} - BASE - BELOW[room]:
            upward.append(f"{path.relative_to(EIGEN)} imports eigen.{target}")
    assert not upward, upward


def test_the_run_folders_rooms_are_what_the_check_sees():
    """The check sees the run folder's modules one by one: `file_types` stands on the genome, the
    others on the base alone."""
    assert imports_of(EIGEN / "run_folder" / "file_types.py") >= {"genome"}
    assert room_of(EIGEN / "run_folder" / "file_types.py") == FILE_TYPES
    assert {"run_folder.folder", "run_folder.json_types"} <= imports_of(EIGEN / "engine" / "eigen_search.py")
    modules = {f"{RUN_FOLDER}.{p.stem}" for p in (EIGEN / RUN_FOLDER).glob("*.py") if p.stem != "__init__"}
    assert modules == (BASE | {FILE_TYPES}) & modules  # every module of the package has its floor


def test_at_most_twelve_modules_at_the_top():
    """The top of eigen/ holds the few modules everything shares and the entry points; the rest live in
    packages named for their job (issue #41)."""
    top = sorted(p.name for p in EIGEN.glob("*.py"))
    assert len(top) <= 12, top


def views_import_graph(views: Path) -> dict[str, set[str]]:
    """module -> the modules of the same folder it imports (`from .x import`, `from . import x`,
    `from eigen.views.x import`), at the top or inside a function."""
    modules = {p.stem for p in views.glob("*.py")}
    graph = {}
    for path in sorted(views.glob("*.py")):
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level == 1:
                names = [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
            elif node.level == 0 and node.module and node.module.startswith("eigen.views"):
                rest = node.module.split(".")[2:]
                names = rest[:1] if rest else [a.name for a in node.names]
            else:
                continue
            targets.update(n for n in names if n in modules)
        graph[path.stem] = targets - {path.stem}
    return graph


def import_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of the graph as [a, b, ..., a], or [] when it has none (a depth-first search)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = "done"
        stack.pop()
        return []

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return []


def test_the_views_import_one_another_one_way():
    """No circle among the views' modules, counting imports inside functions (issue #41): the shared
    helpers live below (`figures`, `tables`), `report` above the pages and plots it puts together."""
    assert import_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]  # the check can fail
    assert import_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []
    graph = views_import_graph(EIGEN / "views")
    assert {"live", "genome_drawing"} <= graph["html_report"]  # it sees imports at the top and in a function
    assert not import_cycle(graph), " -> ".join(import_cycle(graph))
