"""Where users already look, besides the run folder: TensorBoard's HParams table and MLflow.

A tracker is an observer: `Tracked` wraps the progress view, implements the search's own event
protocols (`eigen/engine/events.py`) and hands each tracker the record of every result as the
search learns it; an MLflow tracker also hears each learning-curve point through `MetricsLog`'s
`MetricsEvents`. Nothing under `eigen/engine/` or `eigen/training/` imports this package, and a
search with neither `--tensorboard` nor `--mlflow` builds no tracker (and imports neither package).

    observers.py     the `Tracker` protocol, `Tracked` (the fan-out) and `trackers_for(config)`
    hparams.py       --tensorboard: one row of the HPARAMS tab per individual
    mlflow_runs.py   --mlflow URI: one MLflow run per search, a nested run per individual
"""
