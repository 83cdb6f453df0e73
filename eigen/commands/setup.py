"""What every training command sets up before it trains, written once for search, duplicate and
train-teacher.

In the order a command takes them: what its flags need installed or reachable (`check_extras`),
its folder locked and swept (`open_folder`), the data read and checked against what the folder
was begun with (`load_data`), the teacher's logits on the device (`teacher_logits_on`), where its
record says it ran (`provenance`), and the executor its trainings run on, closed however the
command ends (`executor_for`). Everything that can fail on bad input fails here, before any work.
"""
from __future__ import annotations

import contextlib
import datetime
import shlex
from pathlib import Path
from typing import Callable, Iterator

from ..errors import DataError, EigenError, not_writable
from ..executors.choose import check_executor, make_executor
from ..executors.threads import THREADS_FIELD, run_threads, with_threads
from ..progress import counting
from ..run_folder.folder import git_commit, lock_folder, sweep_temporaries, versions
from ..training.metrics import tensorboard_missing


def check_extras(config, say: Callable[[str], None] = print) -> None:
    """The optional packages, the MLflow store and the Ray cluster the command's flags ask for (one
    sentence if not)."""
    if getattr(config, "tensorboard", False) and tensorboard_missing():
        raise EigenError(tensorboard_missing())
    if getattr(config, "mlflow", None):
        from ..tracking.mlflow_runs import mlflow_problem
        if problem := mlflow_problem(config.mlflow):
            raise EigenError(problem)
    if getattr(config, "onnx", False):
        from .export import onnx_missing
        if onnx_missing():
            raise EigenError(onnx_missing())
    check_executor(config, say)


def open_folder(folder: Path, command: str, create: bool = False) -> None:
    """One writer per folder (a lock the kernel drops when the process dies), taken before anything
    in it is read, swept or written; then the temporary files a killed write left are removed."""
    if create:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise EigenError(f"cannot create {folder} ({e.strerror}); pass a writable --out") from None
    try:
        lock_folder(folder, command)  # the first write: a folder that cannot be written is refused here
    except OSError as e:
        if not not_writable(e):
            raise
        instead = (f"copy the run somewhere you can write (cp -r {shlex.quote(str(folder))} COPY) and run "
                   f"`eigen search --resume COPY`" if command == "search" else "pass a writable --out")
        raise EigenError(f"cannot write in {folder} ({e.strerror.lower()}), and `eigen {command}` writes there "
                         f"as it works; {instead}, or fix the permissions") from None
    sweep_temporaries(folder)


def load_data(dataset: str, data_dir: str, image_size: int, batch_size: int, fingerprint: str | None = None,
              searched: Path | None = None, given=None, call: str = "the same call with data=...",
              quiet: bool = False):
    """The splits of `dataset`, checked: at least one batch of training images, and (given the
    `fingerprint` of the data `searched` was made on) the same data. Data given from Python
    (`given`, eigen/data/in_memory.py) is not on disk: a command on it must be given it again, and
    `call` says how in the sentence when it is not."""
    from ..data.datasets import load_splits
    from ..data.in_memory import IN_MEMORY, needs_data
    if dataset == IN_MEMORY and given is None and fingerprint is not None:  # a new run: load_splits says it
        raise needs_data(str(searched) if searched else "this", fingerprint, call)
    if given is not None and dataset != IN_MEMORY:
        raise DataError(f"{searched} was made on {dataset}, not on data given from Python; leave data out and it "
                        f"reads {dataset} again")
    if given is not None:
        splits = given
    else:
        with counting("decoding the image folder", "files", quiet=quiet) as tick:  # the only source that decodes
            splits = load_splits(dataset, data_dir, image_size, progress=tick)
    if len(splits.train) < batch_size:
        raise DataError(f"{dataset} has {len(splits.train)} training images, fewer than one batch ({batch_size}); "
                        f"add images")
    if fingerprint is not None and splits.fingerprint() != fingerprint:
        if given is not None:
            raise DataError(f"the data given is not the data {searched} was made on (fingerprint "
                            f"{splits.fingerprint()} vs {fingerprint}); pass the same images and labels, in the same order")
        raise DataError(f"the {splits.name} data in {data_dir} is not the data {searched} was searched on "
                        f"(fingerprint {splits.fingerprint()} vs {fingerprint}); pass the search's --data-dir")
    return splits


def splits_given(data, classes=None, image_size: int | None = None, quiet: bool = False):
    """Data given from Python as checked `Splits` (eigen/data/in_memory.py), with a bar while a
    Dataset's items are read (none when `quiet`, nor for arrays, which are not read one by one)."""
    from ..data.in_memory import splits_from
    with counting("reading the Dataset", "images", quiet=quiet) as tick:
        return splits_from(data, classes, image_size, progress=tick)


def teacher_logits_on(teacher: Path | None, data, quiet: bool = False):
    """The teacher's cached logits on `data`'s device (built the first time), or None without a teacher."""
    if teacher is None:
        return None
    from ..training.teacher import teacher_logits
    say = (lambda text: None) if quiet else (lambda text: print(text, flush=True))
    with counting("teacher's logits cache", "views", quiet=quiet) as tick:  # built once per teacher and data
        return teacher_logits(teacher, data, say=say, progress=tick)


def provenance(device) -> dict:
    """Where and with what a folder was written: the device, the intra-op thread count its CPU
    trainings use (this thread's torch count, which a new run keeps: `run_threads`), the versions,
    the git commit, the time."""
    import torch
    return {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            THREADS_FIELD: torch.get_num_threads(), "versions": versions(), "git_commit": git_commit(),
            "created": datetime.datetime.now().isoformat(timespec="seconds")}


@contextlib.contextmanager
def executor_for(config, trainer, device, worker, say: Callable[[str], None], record: dict | None = None) -> Iterator:
    """The executor of `--parallel` / `--ray` for `trainer` (and `worker`, how a Ray worker builds
    its own), closed however the command ends. Its trainings, and whatever the command computes
    while it is open (test accuracy, say), use the intra-op thread count `record` holds (a resumed
    run's config.json or plan.json), else this thread's (a new run's, which `provenance` records)."""
    threads = run_threads(record, device, say)
    with with_threads(threads):
        executor = make_executor(config, trainer, device, worker, say=say, threads=threads)
        try:
            yield executor
        finally:
            executor.close()
