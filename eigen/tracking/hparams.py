"""`--tensorboard`'s HPARAMS tab: one row per individual of the search, sortable by any column.

TensorBoard's HParams plugin makes a row ("session") of every TensorBoard run that holds a
session-start summary: its hyper-parameters are the row's fixed columns, and the last value of every
scalar in that run is a metric column. `MetricsLog` already gives each individual its own run,
`tensorboard/<id>/` (its learning curve); this writes the session start into that same folder, so
the row *is* the individual's run: the table links to its curves, and no other run appears.

Why not `SummaryWriter.add_hparams`: it writes into a new sub-folder named after the time, one
stray TensorBoard run per call beside the individual's own (and an experiment summary naming only
that call's columns). The session start here is TensorBoard's own summary for one trial,
`summary_v2.hparams_pb` (`tensorboard.plugins.hparams.api` re-exports it, but importing `api`
imports TensorFlow for its Keras callback); with no experiment summary, the plugin takes the
columns from the rows.

Columns: individual, key (the genome's canonical key), parent, generation (and a steady state's
event), mutations (how many made it from its parent), params, flops, ms (when latency is measured)
as hyper-parameters; fitness and val_accuracy at the stage reached, and the iterations trained, as
`result/...` metrics (beside the `train/...` and `val/...` curves, whose last values show too).
An individual's columns are written with its first result (EIGEN's T1; they do not change after);
its results with every stage, and the table shows the latest.

Each result is one small event file, written whole and never touched again, named to sort after
every file already in the folder (`...<pid>.hparams-<iteration>`): TensorBoard reads a run's files
in name order, takes the last point it read as a metric's value, and drops points that go back in
step. torch's `SummaryWriter` names its files `...<pid>.<counter>`, and in one second counter 10
sorts before counter 9: two results written in one second (a reused twin's T2 and T3) would read
back in the wrong order. A resumed run finds the session start already written (a `.hparams-` file
in the folder) and does not write it again.
"""
from __future__ import annotations

import io
import os
import socket
import time
from pathlib import Path

from ..run_folder.folder import named
from ..engine.record import HistoryRecord
from .observers import Tracker

MARK = ".hparams-"  # in the name of every event file this writes


def columns(record: HistoryRecord) -> dict:
    """The row's hyper-parameter columns (what the individual is), from its record."""
    row = {"individual": record.id, "key": record.key, "parent": record.parent or "", "generation": record.generation,
           "mutations": len(record.mutations), "params": record.params, "flops": record.flops}
    if record.event is not None:
        row["event"] = record.event
    if record.ms is not None:
        row["ms"] = record.ms
    return row


def results(record: HistoryRecord) -> dict[str, float]:
    """The row's metric columns at this record's stage (what its training made of it)."""
    return {"result/fitness": record.value, "result/val_accuracy": record.accuracy[record.stage],
            "result/iterations": float(record.until)}


def event_file(record: HistoryRecord, begun: bool) -> bytes:
    """The events of one result, as TensorBoard's record format: the file version, the session
    start (unless `begun`), the result's scalars at its iteration."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.plugins.hparams.summary_v2 import hparams_pb
    from tensorboard.summary.writer.record_writer import RecordWriter
    now = time.time()
    events = [event_pb2.Event(wall_time=now, file_version="brain.Event:2")]
    if not begun:  # the plugin reads a run's first session start only: write it once
        events.append(event_pb2.Event(wall_time=now, step=record.until, summary=hparams_pb(columns(record), trial_id=record.id)))
    scalars = [summary_pb2.Summary.Value(tag=tag, simple_value=value) for tag, value in results(record).items()]
    events.append(event_pb2.Event(wall_time=now, step=record.until, summary=summary_pb2.Summary(value=scalars)))
    buffer = io.BytesIO()
    writer = RecordWriter(buffer)
    for event in events:
        writer.write(event.SerializeToString())
    return buffer.getvalue()


class HParamsRows(Tracker):
    """Writes each result into `root/<id>/` (the run's tensorboard/ folder)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def result(self, record: HistoryRecord) -> None:
        run = self.root / record.id
        begun = run.is_dir() and any(MARK in p.name for p in run.iterdir())
        name = (f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}"
                f"{MARK}{record.until:012d}")
        path = run / name
        try:
            run.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as f:  # as TensorBoard's own writers do: a kill leaves a short file it reads up to
                f.write(event_file(record, begun))
        except OSError as e:
            raise named(e, path) from None
