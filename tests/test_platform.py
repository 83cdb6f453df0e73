"""eigen is POSIX-only (fcntl's folder locks, SIGHUP): where they are missing, as on Windows, the
command says so in one sentence and exits 2, and a library import says the same, never a bare
"No module named 'fcntl'" from deep inside. Windows is simulated: the missing piece is taken away
in a fresh interpreter before eigen is imported."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TAKE_AWAY = {"fcntl": "import sys; sys.modules['fcntl'] = None",  # `import fcntl` then fails
             "SIGHUP": "import signal; del signal.SIGHUP"}


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


@pytest.mark.parametrize("missing", sorted(TAKE_AWAY))
@pytest.mark.parametrize("argv", [["--help"], ["search", "--dataset", "synthetic"], ["show", "x.json"]])
def test_the_command_says_posix_in_one_sentence(missing, argv):
    done = python(f"import runpy, sys; {TAKE_AWAY[missing]}; sys.argv = ['eigen', *{argv!r}]; "
                  "runpy.run_module('eigen', run_name='__main__')")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("eigen needs a POSIX system (Linux or macOS)")
    assert f"has no {missing}; on Windows, run eigen in WSL" in done.stderr


@pytest.mark.parametrize("missing, module", [("fcntl", "eigen.run_folder.folder"), ("SIGHUP", "eigen.stop_signals")])
def test_a_library_import_raises_the_same_sentence(missing, module):
    done = python(f"{TAKE_AWAY[missing]}\ntry:\n    import {module}\nexcept ImportError as e:\n"
                  f"    print(type(e).__name__, e)")
    assert done.stdout.startswith("NotPosix eigen needs a POSIX system"), done.stderr
    assert f"has no {missing}" in done.stdout


def test_the_genome_tools_need_no_posix():
    """The genome, its mutations and its cost are pure Python: they import anywhere."""
    done = python(f"{TAKE_AWAY['fcntl']}; {TAKE_AWAY['SIGHUP']}; import eigen; "
                  "g = eigen.initial_genome(); print(eigen.cost(g, image_size=32, num_classes=10).params > 0)")
    assert (done.returncode, done.stdout) == (0, "True\n"), done.stderr
