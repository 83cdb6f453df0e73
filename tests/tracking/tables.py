"""What a user sees of a search's trackers, read back the way the tools read it: TensorBoard's
HPARAMS table as its plugin computes it, an MLflow store through `MlflowClient`."""
from __future__ import annotations

from pathlib import Path


def hparams_table(logdir: Path) -> tuple[list[str], dict[str, dict]]:
    """(every TensorBoard run under `logdir`, the HPARAMS tab's rows): {row: {"hparams": {...},
    "metrics": {tag: last value}}}, from the plugin's own list_session_groups handler."""
    from tensorboard import context
    from tensorboard.backend.event_processing import plugin_event_multiplexer
    from tensorboard.backend.event_processing.data_provider import MultiplexerDataProvider
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import api_pb2, backend_context, list_session_groups
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    tb = base_plugin.TBContext(logdir=str(logdir), multiplexer=multiplexer,
                               data_provider=MultiplexerDataProvider(multiplexer, str(logdir)))
    request = api_pb2.ListSessionGroupsRequest(start_index=0, slice_size=1000, allowed_statuses=[
        api_pb2.STATUS_UNKNOWN, api_pb2.STATUS_SUCCESS, api_pb2.STATUS_FAILURE, api_pb2.STATUS_RUNNING])
    response = list_session_groups.Handler(context.RequestContext(), backend_context.Context(tb), "", request).run()
    rows = {}
    for group in response.session_groups:
        hparams = {name: value.string_value if value.HasField("string_value") else value.number_value
                   for name, value in group.hparams.items()}
        rows[group.name] = {"hparams": hparams, "metrics": {m.name.tag: m.value for m in group.metric_values},
                            "sessions": [s.name for s in group.sessions]}
    return sorted(multiplexer.Runs()), rows


def session_starts(run: Path) -> int:
    """How many HParams session starts the event files of one TensorBoard run hold."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    return sum(1 for events in sorted(run.glob("*tfevents*")) for event in EventFileLoader(str(events)).Load()
               for value in event.summary.value if value.tag == "_hparams_/session_start_info")


def mlflow_runs(uri: str) -> tuple[list, list]:
    """(the search runs, the nested runs) of the `eigen` experiment at `uri`."""
    from mlflow import MlflowClient
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("eigen")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    return parents, [r for r in runs if "mlflow.parentRunId" in r.data.tags]


def history(uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    from mlflow import MlflowClient
    points = MlflowClient(tracking_uri=uri).get_metric_history(run_id, key)
    return sorted((m.step, m.value) for m in points)
