"""Reference runs several test modules compare against, made once per test session.

The executor tests (`--parallel`, `--ray`) and the kill harness all ask one question: does this way
of running a command end where running it one training after another ends? The one-after-another
run is the same for all of them, so it is made once here (read-only to the tests: each compares
against it and writes its own runs elsewhere). The teacher is trained with one intra-op thread, as a
forked kill-harness sitting trains: on a CPU another thread count sums in another order
(`eigen/executors/threads.py`), and the member weights must agree to the last bit; the teacher
tests that compare against it train with one thread too (a command hands its count to every
executor, Ray's CPU workers included). The search reference is not pinned: a search records its
count and a resumed one keeps it, and `tests/executors/test_threads.py` pins nothing.
"""
from __future__ import annotations

import contextlib

import pytest
import torch

from eigen.cli import main


@contextlib.contextmanager
def one_thread():
    """Torch's intra-op threads at 1 for the block (how a kill-harness sitting trains)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def sequential_search_folder(tmp_path_factory):
    """`eigen search` with TINY's settings, one training at a time: the run folder (do not write to it)."""
    from tests.search.test_search_run import TINY
    folder = tmp_path_factory.mktemp("sequential-search") / "run"
    assert main(["search", *TINY, "--out", str(folder)]) == 0
    return folder


@pytest.fixture(scope="session")
def sequential_teacher(tmp_path_factory):
    """`eigen train-teacher` with TEACHER's settings, one member after another, one thread: the
    teacher's folder (do not write to it)."""
    from tests.test_kill_anywhere import TEACHER
    folder = tmp_path_factory.mktemp("sequential-teacher") / "teacher"
    with one_thread():
        assert main([*TEACHER, "--out", str(folder)]) == 0
    return folder
