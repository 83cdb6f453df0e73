"""What `pip install eigen` gets: the typed marker, one version everywhere, every imported package
declared, the platform said. The wheel is built from a copy of the tree, as pip would build it."""
import ast
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

import eigen
from eigen.cli import main

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """The wheel pip builds from this tree (pyproject.toml, README.md, eigen/), offline."""
    pytest.importorskip("setuptools")
    source = tmp_path_factory.mktemp("source")
    shutil.copy(ROOT / "pyproject.toml", source)
    shutil.copy(ROOT / "README.md", source)
    shutil.copytree(ROOT / "eigen", source / "eigen", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "-q", "-w", str(out), str(source)], check=True, capture_output=True)
    (path,) = out.glob("eigen-*.whl")
    return zipfile.ZipFile(path)


def wheel_metadata(wheel: zipfile.ZipFile) -> str:
    (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    return wheel.read(name).decode()


def test_the_typed_marker_is_in_the_package_and_ships(wheel):
    """PEP 561: without eigen/py.typed in the installed package, type checkers ignore the annotations."""
    assert (ROOT / "eigen" / "py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["eigen"]
    assert "eigen/py.typed" in wheel.namelist()


def test_the_version_is_written_once_and_everything_agrees(wheel, capsys):
    """`eigen --version`, `eigen.__version__`, the wheel's metadata and (when eigen is installed) the
    installed metadata say the same version; pyproject.toml reads it from eigen/__init__.py."""
    assert "version" not in PYPROJECT["project"] and "version" in PYPROJECT["project"]["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "eigen.__version__"}
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out == f"eigen {eigen.__version__}\n"
    assert re.search(r"^Version: (.+)$", wheel_metadata(wheel), re.M).group(1) == eigen.__version__
    try:
        installed = metadata.version("eigen")
    except metadata.PackageNotFoundError:
        installed = None
    assert installed in (None, eigen.__version__), "the installed metadata is stale: pip install -e . again"


def test_the_version_is_read_without_importing_eigen_or_torch():
    """setuptools reads `__version__` from the file's text: building eigen must not need torch."""
    pytest.importorskip("setuptools")
    code = ("import sys; from setuptools.config.pyprojecttoml import read_configuration; "
            "v = read_configuration('pyproject.toml', expand=True)['project']['version']; "
            "print(v, sorted(m for m in sys.modules if m.split('.')[0] in ('eigen', 'torch')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.split() == [eigen.__version__, "[]"]


def test_no_other_file_writes_the_version():
    """pyproject.toml holds no version string; the README's status line names the version, and may
    not drift from the package's."""
    assert not re.search(r'^version\s*=\s*"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert set(re.findall(r"\(v(\d+\.\d+\.\d+)\)", (ROOT / "README.md").read_text())) <= {eigen.__version__}


IMPORT_NAMES = {"PIL": "pillow", "yaml": "pyyaml", "mlflow": "mlflow-skinny"}  # import name -> distribution, where they differ


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    return normalized(re.match(r"[A-Za-z0-9._-]+", requirement).group(0))


def third_party_imports() -> dict[str, list[tuple[str, bool]]]:
    """Each top-level package eigen/ imports that is neither the standard library nor eigen ->
    [(module path, imported at import time: outside every function)]."""
    found: dict[str, list[tuple[str, bool]]] = {}

    def visit(node, path, in_function):
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom) and not child.level:
                names = [child.module]
            else:
                names = []
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "eigen":
                    found.setdefault(top, []).append((path, not inside))
            visit(child, path, inside)

    for path in sorted((ROOT / "eigen").rglob("*.py")):
        visit(ast.parse(path.read_text()), str(path.relative_to(ROOT)), False)
    return found


def test_every_imported_package_is_declared_and_extras_are_imported_only_when_needed():
    """A package eigen imports must be one pip installs with it: a dependency, or an optional extra
    imported inside the function that needs it (so the rest of eigen works without the extra). A
    dependency with an environment marker (tomli, Python 3.10 only) counts as optional."""
    project = PYPROJECT["project"]
    required = {requirement_name(r) for r in project["dependencies"] if ";" not in r}
    optional = {requirement_name(r) for r in project["dependencies"] if ";" in r}
    optional |= {requirement_name(r) for extra in project["optional-dependencies"].values() for r in extra
                 if not r.startswith("eigen[")}
    imports = third_party_imports()
    assert {"PIL", "torch", "numpy", "yaml"} <= set(imports)  # the walk sees imports at the top and in functions
    for module, places in sorted(imports.items()):
        distribution = normalized(IMPORT_NAMES.get(module, module))
        assert distribution in required | optional, (
            f"eigen imports {module} ({places[0][0]}) but pyproject.toml does not declare {distribution}; "
            f"add it to dependencies or an extra (or map its import name in IMPORT_NAMES)")
        if distribution not in required:
            at_import = [path for path, top in places if top]
            assert not at_import, f"{module} is optional but imported when {at_import[0]} is imported"


def test_the_metadata_says_posix_only_and_which_pythons():
    """fcntl's folder locks and SIGHUP make eigen POSIX-only; the Python classifiers start at
    requires-python's version; the typed marker is announced."""
    project = PYPROJECT["project"]
    classifiers = project["classifiers"]
    assert {"Operating System :: POSIX", "Operating System :: POSIX :: Linux", "Operating System :: MacOS"} <= set(classifiers)
    assert not [c for c in classifiers if "Windows" in c or c == "Operating System :: OS Independent"]
    pythons = sorted(tuple(map(int, c.rsplit(" ", 1)[1].split("."))) for c in classifiers
                     if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c))
    assert pythons and pythons[0] == tuple(map(int, project["requires-python"].removeprefix(">=").split(".")))
    assert "Typing :: Typed" in classifiers
