"""Kill -9 anywhere: real CPU runs of `eigen search`, `eigen train-teacher` and `eigen duplicate` are
SIGKILLed again and again at random moments in every phase, resumed each time, and must end exactly
where an uninterrupted run ends, with every file parseable after every kill.

Each sitting is a forked process (torch already imported, so a sitting costs its work, not an
interpreter start); `tests/search/test_search_run.py` kills a real `python -m eigen` subprocess too.
The moments come from eigen's fault points (`eigen/faults.py`): EIGEN_FAULT="kill@write#3" SIGKILLs
the process at its third atomic file write. The phases: "write" (any file: state, checkpoints,
config, best.json, teacher members, final exports), "history-line" (half a history line on disk),
"trained" (weights on disk, result not yet recorded), "extinction" (between a stage and its
threshold), "report" (while the plots are drawn). Which point and which visit is drawn from a seeded
random generator, so a failure names a reproducible kill. `pytest -m slow` runs many more.
"""
import json
import multiprocessing
import os
import random
import signal
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from eigen import faults
from eigen.cli import main
from eigen.run_folder.folder import RunFolder
from tests.commands.test_final import small_genome, write_best
from tests.search.test_search_run import TINY

SEARCH_POINTS = ["write"] * 4 + ["history-line", "trained", "extinction", "report"]


def _sitting(args, fault, log):
    """The child process: one `eigen` command with the fault armed (forked from a forkserver that has
    already imported torch)."""
    os.environ.pop("EIGEN_FAULT", None)
    # Signals as a command started from a terminal gets them (a nohup'd test run ignores SIGHUP)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    if fault:
        os.environ["EIGEN_FAULT"] = fault
    faults._visits.clear()
    torch.set_num_threads(1)
    with open(log, "w") as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
        sys.stdout = sys.stderr = out
        code = main(list(args))
        out.flush()
    os._exit(code or 0)


def _context():
    """Sittings fork from a forkserver that has imported torch and eigen but never trained: forking
    the test process itself would copy an OpenMP runtime that threads (`--parallel`) have used,
    which crashes the child now and then; a fresh interpreter per sitting would cost ~3 s each.
    It also imports what every sitting would import on its own: torch._dynamo (the first optimizer
    pulls it in, ~1.2 s) and pyplot (the report)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["torch", "torch._dynamo", "eigen.views.report", "matplotlib.pyplot", "eigen.cli",
                                    "tests.test_kill_anywhere"])
    return context


def eigen(*args, fault=None, log=None):
    """Run one sitting of `eigen ARGS` in a forked process; its exit code (-9 when killed) and output."""
    log = log or Path(os.environ.get("TMPDIR", "/tmp")) / f"eigen-sitting-{os.getpid()}.log"
    process = _context().Process(target=_sitting, args=(args, fault, str(log)))
    process.start()
    process.join(timeout=600)
    return SimpleNamespace(returncode=process.exitcode, stderr=Path(log).read_text() if Path(log).exists() else "")


def all_files_parse(folder: Path) -> None:
    """Every file is whole: JSON parses, torch files load, PNGs are complete; the history's complete
    lines parse (a last line cut by the kill is dropped by design on the next read)."""
    for path in folder.rglob("*"):
        if path.is_dir() or path.name.startswith("."):
            continue
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".pt" and not path.name.endswith("torchscript.pt"):
            torch.load(path, weights_only=True)
        elif path.suffix == ".png":
            assert path.read_bytes()[-8:] == b"IEND\xaeB`\x82", path
        elif path.suffix == ".svg":
            assert path.read_text().rstrip().endswith("</svg>"), path
        elif path.suffix == ".csv":  # metrics.csv: every complete line has every column (a torn last one is cut later)
            from eigen.training.metrics import COLUMNS
            lines = path.read_text().split("\n")
            if lines == [""]:  # begun, its first row never on disk (a full disk): read as no rows
                continue
            assert lines[0] == ",".join(COLUMNS), path
            assert all(len(line.split(",")) == len(COLUMNS) for line in lines[1:-1]), path
        elif path.suffix == ".jsonl":
            lines = path.read_text().split("\n")
            for line in lines[:-1]:
                json.loads(line)


def stable_search(folder: Path):
    records = [{k: v for k, v in r.items() if k != "seconds"} for r in RunFolder(folder).read_history()]
    best = json.loads((folder / "best.json").read_text())
    best["search_cost"].pop("seconds")  # the FLOPs spent must agree; the time never does
    return records, {k: v for k, v in best.items() if k not in ("run", "weights")}


def kill_and_resume(first_args, resume_args, points, kills, seed, folder, begun="config.json"):
    """Run, SIGKILLed at a drawn point each sitting, until `kills` kills happened; then finish cleanly.
    Sittings after the one that wrote `begun` use `resume_args`."""
    rng = random.Random(seed)
    done, sittings, started = 0, 0, False
    while done < kills:
        point = rng.choice(points)
        fault = f"kill@{point}#{rng.randint(1, 4)}"
        result = eigen(*(resume_args if started else first_args), fault=fault)
        sittings += 1
        assert sittings < 4 * kills, "the run keeps dying without progress"
        if result.returncode == -signal.SIGKILL:
            done += 1
        else:
            assert result.returncode == 0, (fault, result.stderr)
        started = started or (folder / begun).exists()
        if folder.exists():
            all_files_parse(folder)
    final = eigen(*(resume_args if started else first_args))
    assert final.returncode == 0, final.stderr
    all_files_parse(folder)
    assert not [p for p in folder.rglob(".*") if ".tmp" in p.name], "temporaries of killed writes were left"
    return done


# Each kill costs a fresh interpreter (~3 s on 2 cores): the default run kills 8 times, `-m slow` 20.
@pytest.mark.parametrize("times", [8, pytest.param(20, marks=pytest.mark.slow)])
def test_a_search_killed_many_times_anywhere_ends_as_an_uninterrupted_one(tmp_path, times, sequential_search_folder):
    folder = tmp_path / "killed"
    kills = kill_and_resume(["search", *TINY, "--out", str(folder)], ["search", "--resume", str(folder), "--gpu", "-1"],
                            SEARCH_POINTS, kills=times, seed=1, folder=folder)
    assert kills == times
    assert stable_search(folder) == stable_search(sequential_search_folder)


TEACHER = ["train-teacher", "--dataset", "synthetic", "--image-size", "8", "--gpu", "-1", "--members", "2",
           "--depth", "10", "--growth", "4", "--epochs", "2"]


def assert_same_teacher(folder: Path, reference: Path) -> None:
    """The same members (to the last bit of every weight) and the same ensemble accuracies."""
    got, expected = (json.loads((f / "ensemble.json").read_text()) for f in (folder, reference))
    assert [m["val_accuracy"] for m in got["members"]] == [m["val_accuracy"] for m in expected["members"]]
    assert got["ensemble"] == expected["ensemble"]
    for i in range(len(expected["members"])):
        a, b = (torch.load(f / f"member-{i}.pt", weights_only=True)["model"] for f in (folder, reference))
        assert all(torch.equal(a[k], b[k]) for k in a)


# ~32 s with its reference teacher (the logits cache of 162 views is most of it): under -m slow only.
@pytest.mark.parametrize("kills", [pytest.param(2, marks=pytest.mark.slow), pytest.param(4, marks=pytest.mark.slow)])
def test_a_teacher_killed_anywhere_ends_as_an_uninterrupted_one(tmp_path, kills, sequential_teacher):
    folder = tmp_path / "killed"
    kill_and_resume([*TEACHER, "--out", str(folder)], [*TEACHER, "--out", str(folder)], ["write"], kills=kills, seed=2,
                    folder=folder, begun="")
    assert_same_teacher(folder, sequential_teacher)


def assert_same_candidates(folder: Path, reference: Path, names) -> None:
    """The candidates' final weights, to the last bit."""
    for name in names:
        a, b = (torch.load(f / "candidates" / f"{name}.pt", weights_only=True)["trainer"]["model"]
                for f in (reference, folder))
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_duplication_killed_anywhere_ends_as_an_uninterrupted_one(tmp_path):
    best = write_best(tmp_path / "best.json", small_genome())
    args = ["duplicate", str(best), "--gpu", "-1", "--schedule-scale", "0.004", "--candidates", "2",
            "--max-copies", "2", "--top-k", "2"]
    assert eigen(*args, "--out", str(tmp_path / "whole")).returncode == 0
    folder = tmp_path / "killed"
    kill_and_resume([*args, "--out", str(folder)], [*args, "--out", str(folder)], ["write", "write", "trained"],
                    kills=6, seed=3, folder=folder, begun="")

    def stable(final):
        metrics = json.loads((final / "metrics.json").read_text())
        metrics.pop("created")
        metrics.pop("device_seconds")
        metrics["cost"].pop("seconds")
        for c in metrics["candidates"]:
            c.pop("device_seconds")
        return metrics
    assert stable(folder) == stable(tmp_path / "whole")
    assert_same_candidates(folder, tmp_path / "whole", ("c0", "c1"))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_many_more_kills(seed, tmp_path):
    reference = eigen("search", *TINY, "--out", str(tmp_path / "whole"))
    folder = tmp_path / "killed"
    kill_and_resume(["search", *TINY, "--out", str(folder)], ["search", "--resume", str(folder), "--gpu", "-1"],
                    SEARCH_POINTS, kills=40, seed=100 + seed, folder=folder)
    assert reference.returncode == 0 and stable_search(folder) == stable_search(tmp_path / "whole")
