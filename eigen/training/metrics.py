"""Learning curves on disk: `metrics.csv` in every run and final folder, TensorBoard events on request.

The history says where each training ended; this says how it got there, in the forms timm, Ray Tune
and Lightning users already read: one CSV row per training per logged point (about 50 points over a
full schedule, plus one at the end of every stage with its validation accuracy), and with
`--tensorboard` the same scalars as TensorBoard event files, one TensorBoard run per individual.

    individual, stage   who and which stretch of training (g3c1, T2; c4 in large-scale; c2, final)
    iteration           the training's iteration count (absolute: T2 rows continue from T1's)
    loss                mean training loss since the previous row of this training
    lr                  the learning rate at that iteration
    val_accuracy        validation accuracy in %, on the row that ends a stage (empty elsewhere)
    images_per_s        training throughput since the previous row
    device_seconds      seconds this stage of the training has run on its device so far
    time                the wall clock (ISO 8601, seconds)

A row is one line appended in one write: a kill leaves at most one torn last line, which the next
writer cuts off before it appends, so a resumed run goes on appending to a file every CSV reader
accepts. A training that a kill interrupted is trained again from its last checkpoint on resume, and
its rows after that checkpoint appear twice (the killed attempt's, then the retraining's);
`read_metrics(..., latest=True)` keeps the last row per (individual, stage, iteration).

Whoever else wants the points as they are logged (an MLflow run per individual: `eigen/tracking/`)
implements `MetricsEvents` and is handed to `MetricsLog`: this layer owns the event, so nothing
here imports a tracker.
"""
from __future__ import annotations

import csv
import datetime
import importlib.util
import io
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from ..run_folder.folder import named

COLUMNS = ("individual", "stage", "iteration", "loss", "lr", "val_accuracy", "images_per_s", "device_seconds", "time")
LOG_POINTS = 50  # rows per full schedule (the trainer logs every schedule.total // LOG_POINTS iterations)


@dataclass(frozen=True)
class LogPoint:
    """What the trainer measured at one logged iteration."""

    step: int  # iterations done in total
    loss: float  # mean training loss since the previous point
    lr: float
    images_per_s: float  # since the previous point
    seconds: float  # since this call to `Trainer.train` began


class MetricsEvents:
    """Hears each point as it is written to metrics.csv, with the same values. A null object as well
    as the protocol. Called on the thread that trains (several at once with `--parallel`), so an
    implementation guards its own state."""

    def logged(self, individual: str, stage: str, point: LogPoint, val_accuracy: float | None) -> None: ...


def tensorboard_missing() -> str | None:
    """Why `--tensorboard` cannot work here (one sentence), or None when it can."""
    if importlib.util.find_spec("tensorboard") is None:
        return ("--tensorboard needs the tensorboard package, which is not installed; "
                "install it with pip install \"eigen[tensorboard]\" or leave out --tensorboard")
    return None


def training_name(checkpoint: Path, stage: str) -> tuple[str, str]:
    """(individual, stage) of a training from the checkpoint it writes: the run folder already names
    every checkpoint after its training (`individuals/g3c1-T2.pt`, `individuals/c7.pt`,
    `candidates/c2.pt`), so no search loop has to pass the name twice."""
    individual, _, named_stage = Path(checkpoint).stem.partition("-")
    return individual, named_stage or stage


class MetricsLog:
    """Appends rows to `folder/metrics.csv` (and with `tensorboard`, events under `folder/tensorboard/`)."""

    def __init__(self, folder: Path | str, tensorboard: bool = False, listeners: tuple[MetricsEvents, ...] = ()):
        self._lock = threading.Lock()
        self.folder = Path(folder)
        self.path = self.folder / "metrics.csv"
        self.tensorboard = tensorboard
        self.listeners = tuple(listeners)  # told each point after its row is written
        self._repaired = False

    def training(self, individual: str, stage: str) -> "TrainingLog":
        return TrainingLog(self, individual, stage)

    def append(self, row: dict) -> None:
        """One row, as one line in one write (the header first when the file is new or empty); one
        thread at a time (`--parallel` trains several individuals in this process)."""
        with self._lock:
            self._append(row)

    def _append(self, row: dict) -> None:
        if not self._repaired:
            self._cut_torn_line()
            self._repaired = True
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        if not self.path.exists() or self.path.stat().st_size == 0:
            writer.writerow(COLUMNS)
        writer.writerow([_cell(row.get(c)) for c in COLUMNS])
        data = buffer.getvalue().encode()
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)  # the umask applies, as for open()
            try:
                while data:  # a nearly full disk takes part of a row: the rest, or ENOSPC
                    data = data[os.write(fd, data):]
            finally:
                os.close(fd)
        except OSError as e:
            raise named(e, self.path) from None

    def _cut_torn_line(self) -> None:
        """A kill mid-append leaves a last line without its newline: remove it before appending."""
        if not self.path.exists():
            return
        raw = self.path.read_bytes()
        end = raw.rfind(b"\n") + 1
        if end < len(raw):
            with open(self.path, "r+b") as f:
                f.truncate(end)


class TrainingLog:
    """One training's rows: called with each `LogPoint` the trainer gives, then `end()` with the
    validation accuracy (None for a failed training) and `close()`."""

    def __init__(self, log: MetricsLog, individual: str, stage: str):
        self.log, self.individual, self.stage = log, individual, stage
        self._writer = None
        if log.tensorboard:
            from torch.utils.tensorboard import SummaryWriter  # tensorboard is an optional extra
            self._writer = SummaryWriter(log_dir=str(log.folder / "tensorboard" / individual))

    def __call__(self, point: LogPoint, val_accuracy: float | None = None) -> None:
        self.log.append({"individual": self.individual, "stage": self.stage, "iteration": point.step,
                         "loss": point.loss, "lr": point.lr, "val_accuracy": val_accuracy,
                         "images_per_s": point.images_per_s, "device_seconds": point.seconds,
                         "time": datetime.datetime.now().isoformat(timespec="seconds")})
        for listener in self.log.listeners:
            listener.logged(self.individual, self.stage, point, val_accuracy)
        if self._writer is not None:
            scalars = {"train/loss": point.loss, "train/lr": point.lr, "train/images_per_s": point.images_per_s}
            if val_accuracy is not None:
                scalars["val/accuracy"] = val_accuracy
            for tag, value in scalars.items():
                self._writer.add_scalar(tag, value, point.step)

    def end(self, point: LogPoint | None, val_accuracy: float | None) -> None:
        """The row that closes this stage of the training (with its validation accuracy)."""
        if point is not None:
            self(point, val_accuracy)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.8g}"
    return str(value)


def read_metrics(path: Path | str, latest: bool = True) -> list[dict]:
    """The rows of a metrics.csv as dicts with numbers (None for an empty cell); a torn last line and
    rows that do not parse are skipped. With `latest`, the last row per (individual, stage, iteration)."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    with open(path, newline="") as f:
        for raw in csv.DictReader(f):
            try:
                row = {"individual": raw["individual"], "stage": raw["stage"], "iteration": int(raw["iteration"]),
                       "time": raw.get("time")}
                for column in ("loss", "lr", "val_accuracy", "images_per_s", "device_seconds"):
                    row[column] = float(raw[column]) if raw.get(column) not in (None, "") else None
            except (KeyError, TypeError, ValueError):
                continue
            rows.append(row)
    if latest:
        by_key = {(r["individual"], r["stage"], r["iteration"]): r for r in rows}
        rows = list(by_key.values())
    return rows
