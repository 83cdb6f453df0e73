"""A full disk, for real (issue #29, item 1): a search and a duplication on a small tmpfs, filled so
that the disk runs out at a chosen moment (a history line, a checkpoint, state.json, metrics.csv, a
report picture, an export). Each stops with one sentence that says the disk is full and where, exit
code 2, every file left whole; once room is made, the same run continues and ends where an
uninterrupted run ends.

Mounting a tmpfs needs root (or CAP_SYS_ADMIN); where it is not allowed the tests skip, saying so.
`tests/test_errors.py` covers the same sentence with a simulated ENOSPC everywhere else.
"""
from __future__ import annotations

import shutil
import subprocess
import uuid

import pytest

from tests.commands.test_final import small_genome, write_best
from tests.search.test_search_run import TINY
from tests.test_kill_anywhere import all_files_parse, eigen, stable_search

KIB = 1024


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs of its own (a real file system that fills up), unmounted after the test."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", f"eigen-{uuid.uuid4().hex[:8]}", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'mount failed'}): needs root")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def leave_free(disk, kib: int):
    """Fill `disk` so that about `kib` KiB are left (a filler file, removed to make room)."""
    filler = disk / "filler"
    filler.unlink(missing_ok=True)
    free = shutil.disk_usage(disk).free
    filler.write_bytes(b"\0" * max(0, free - kib * KIB))
    return filler


def assert_disk_full_sentence(result, where):
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert lines and lines[-1].startswith(f"eigen {where}: the disk is full ("), lines[-1:]
    assert "free some space, then run" in lines[-1] and "(nothing already written was lost)" in lines[-1]
    return lines[-1]


# Free space left at the start -> the write the disk runs out at (measured: metrics.csv at 16 KiB,
# a checkpoint at 40, state.json at 64, history.jsonl at 200, a report picture at 260).
SEARCH_LEVELS = [40, 200, pytest.param(16, marks=pytest.mark.slow), pytest.param(64, marks=pytest.mark.slow),
                 pytest.param(260, marks=pytest.mark.slow)]


@pytest.mark.parametrize("kib", SEARCH_LEVELS)
def test_a_search_out_of_disk_stops_in_one_sentence_and_resumes_to_the_same_result(
        kib, small_disk, sequential_search_folder):
    run = small_disk / "run"
    filler = leave_free(small_disk, kib)
    stopped = eigen("search", *TINY, "--out", str(run))
    sentence = assert_disk_full_sentence(stopped, "search")
    assert f"`eigen search --resume {run} --gpu -1` to continue" in sentence  # the run's own command
    all_files_parse(run)
    filler.unlink()  # room made
    resumed = eigen("search", "--resume", str(run), "--gpu", "-1")
    assert resumed.returncode == 0, resumed.stderr
    assert stable_search(run) == stable_search(sequential_search_folder)


@pytest.mark.slow
@pytest.mark.parametrize("kib", [24, 120])
def test_a_duplication_out_of_disk_stops_in_one_sentence_and_continues_to_the_same_models(kib, small_disk, tmp_path):
    import torch
    best = write_best(tmp_path / "best.json", small_genome())
    args = ["duplicate", str(best), "--gpu", "-1", "--schedule-scale", "0.0004", "--max-copies", "2"]
    reference = tmp_path / "reference"
    assert eigen(*args, "--out", str(reference)).returncode == 0
    final = small_disk / "final"
    filler = leave_free(small_disk, kib)
    assert_disk_full_sentence(eigen(*args, "--out", str(final)), "duplicate")
    all_files_parse(final)
    filler.unlink()
    assert eigen(*args, "--out", str(final)).returncode == 0
    for name in ("candidates/c0.pt", "candidates/c1.pt"):
        a, b = (torch.load(folder / name, weights_only=True)["trainer"]["model"] for folder in (final, reference))
        assert all(torch.equal(a[k], b[k]) for k in a), name
