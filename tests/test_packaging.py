"""What `pip install eigen` gets: the typed marker, one version everywhere, every imported package
declared, the platform said. The wheel is built from a copy of the tree, as pip would build it."""
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest


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
