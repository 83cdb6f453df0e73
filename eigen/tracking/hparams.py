"""`--tensorboard`'s HPARAMS tab: one row per individual of the search, sortable by any column.

TensorBoard's HParams plugin makes a row ("session") of every TensorBoard run that holds a
session-start summary: its hyper-parameters are the row's fixed columns, and the last value of every
scalar in that run is a metric column. `MetricsLog` already gives each individual its own run,
`tensorboard/<id>/` (its learning curve); this writes the session start into that same folder, so
the row *is* the individual's run: the table links to its curves, and no other run appears.

Why not `SummaryWriter.add_hparams`: it writes into a new sub-folder named after the time, one
stray TensorBoard run per call beside the individual's own (and it adds an experiment summary
naming only that call's columns). The session start is instead TensorBoard's own summary for one
trial, `summary_v2.hparams_pb` (`tensorboard.plugins.hparams.api` re-exports it, but importing
`api` imports TensorFlow for its Keras callback), written by torch's `SummaryWriter`, the writer
`MetricsLog` uses. With no experiment summary, the plugin takes the columns from the rows.

Columns: individual, key (the genome's canonical key), parent, generation (and a steady state's
event), mutations (how many made it from its parent), params, flops, ms (when latency is measured)
as hyper-parameters; fitness and val_accuracy at the stage reached, and the iterations trained, as
`result/...` metrics (beside the `train/...` and `val/...` curves, whose last values show too).

An individual's columns are written with its first result (EIGEN's T1; they do not change after),
its results with every stage: the table shows the latest. A resumed run finds the session start
already there (a `*.hparams` event file in the folder) and does not write it again.
"""
from __future__ import annotations

from pathlib import Path

from ..search.record import HistoryRecord
from .observers import Tracker

SUFFIX = ".hparams"  # the event files this writes (TensorBoard reads any name holding "tfevents")


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


class HParamsRows(Tracker):
    """Writes each result into `root/<id>/` (the run's tensorboard/ folder)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def result(self, record: HistoryRecord) -> None:
        from tensorboard.plugins.hparams.summary_v2 import hparams_pb
        from torch.utils.tensorboard import SummaryWriter  # tensorboard is an optional extra
        run = self.root / record.id
        begun = run.is_dir() and any(run.glob(f"*{SUFFIX}"))
        writer = SummaryWriter(log_dir=str(run), filename_suffix=SUFFIX)
        try:
            if not begun:  # the plugin reads a run's first session start only: write it once
                writer.file_writer.add_summary(hparams_pb(columns(record), trial_id=record.id))
            for tag, value in results(record).items():
                writer.add_scalar(tag, value, record.until)
        finally:
            writer.close()
