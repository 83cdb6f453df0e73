"""`--mlflow URI`: the search as MLflow runs, one per search with a nested run per individual.

    parent run    named after the run folder; params: every resolved setting of config.json
                  (`settings` and `resolved`, nested keys joined with dots); tags: strategy,
                  dataset, run_folder (its absolute path)
    nested runs   one per individual, named after it (g3c1, i7, c12); params: key, parent,
                  generation, mutations, params, flops (and ms, event); metrics: loss, lr,
                  images_per_s and val_accuracy at each point metrics.csv gets (the same step:
                  the absolute iteration, so EIGEN's T1, T2, T3 are one curve), fitness at the
                  end of every stage; the genome as the artefact genome.json

Driven by the search's events (`observers.Tracked`) and `MetricsLog`'s points (`MetricsEvents`);
the engine knows nothing of it. It talks to MLflow through one `MlflowClient` (no fluent
`mlflow.start_run`: its active-run stack is global and per thread, and the points come from the
training threads of `--parallel`), one call at a time behind a lock (a SQLite store refuses
concurrent writers). The parent's run id is kept in the run folder's mlflow.json, per tracking
URI, so a resumed search goes on logging into the same runs.

MLflow is where a user looks, not where the search keeps anything: an MLflow call that fails (a
server gone away mid-search) is said once and then tracking stops, while the search goes on, its
run folder complete. The checks that can be made early (the package, the URI, a server that
answers) are made before the run folder is created (`mlflow_problem`).
"""
from __future__ import annotations

import importlib.util
import socket
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Callable

from ..errors import first_line
from ..run_folder.file_types import MlflowRunIds, RunConfig
from ..run_folder.folder import read_json, write_json
from ..engine.record import HistoryRecord
from ..training.metrics import LogPoint, MetricsEvents
from .observers import Tracker

EXPERIMENT = "eigen"  # the MLflow experiment every search logs into
RUN_IDS = "mlflow.json"  # in the run folder: {"runs": {tracking URI: the search's parent run id}}
INSTALL = "pip install \"eigen[mlflow]\""
LONGEST_PARAM = 6000  # characters MLflow keeps of a param's value (it refuses a longer one)


def mlflow_problem(uri: str) -> str | None:
    """Why `--mlflow URI` cannot work here (one sentence), or None when MLflow answers there."""
    if importlib.util.find_spec("mlflow") is None:
        return (f"--mlflow needs the mlflow package, which is not installed; install it with {INSTALL} "
                f"or leave out --mlflow")
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme in ("http", "https"):
        # MLflow retries an address where nothing answers for about four minutes: try it first.
        try:
            port = parsed.port or (443 if parsed.scheme == "https" else 80)
        except ValueError as e:  # http://host:50OO
            return _bad_uri(uri, e)
        try:
            socket.create_connection((parsed.hostname or "localhost", port), timeout=5).close()
        except OSError as e:
            return (f"--mlflow {uri}: nothing answers at {parsed.hostname}:{port} ({e.strerror or e}); start the "
                    f"tracking server there (mlflow server) or pass another --mlflow")
    try:
        from mlflow import MlflowClient
        MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    except Exception as e:  # whatever the store says (an unknown scheme, a refused file store, ...)
        return _bad_uri(uri, e)
    return None


def _bad_uri(uri: str, error: Exception) -> str:
    if "MLFLOW_ALLOW_FILE_STORE" in str(error):  # MLflow 3.x keeps plain-file stores only on request
        import mlflow
        return (f"--mlflow {uri}: MLflow {mlflow.__version__} writes runs to plain files only with "
                f"MLFLOW_ALLOW_FILE_STORE=true in the environment; set it, or pass sqlite:///mlflow.db or a "
                f"tracking server's http:// address")
    return (f"--mlflow {uri}: MLflow cannot keep runs there ({type(error).__name__}: {first_line(error)[:200]}); "
            f"pass a tracking server's http:// address, sqlite:///PATH.db or file:///PATH")


def flat(prefix: str, value) -> dict[str, str]:
    """{"resolved.schedule.lr": "0.1", ...}: a JSON value as MLflow params (None left out)."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in flat(f"{prefix}.{key}" if prefix else key, item).items()}
    return {} if value is None else {prefix: str(value)[:LONGEST_PARAM]}


def _mutations(mutations: list[str]) -> str | None:
    """"insert-pooling n3 on n0->n2; ...", or their count where the list is longer than a param holds."""
    text = "; ".join(mutations)
    if len(text) > LONGEST_PARAM:
        return f"{len(mutations)} mutations (history.jsonl lists them)"
    return text or None


class MlflowRuns(Tracker, MetricsEvents):
    """One search's MLflow runs at `uri`; `say` tells the user (on the search's thread) if MLflow fails."""

    def __init__(self, uri: str, say: Callable[[str], None]):
        from mlflow import MlflowClient
        self.uri, self.say = uri, say
        self.client = MlflowClient(tracking_uri=uri)
        self._lock = threading.Lock()  # one MLflow call at a time, and the maps below
        self.parent: str | None = None  # the search's run id
        self.experiment: str | None = None
        self.children: dict[str, str] = {}  # individual -> its nested run id
        self._earlier: set[str] = set()  # nested runs a previous sitting made, not yet touched in this one
        self._running: dict[str, bool] = {}  # individual -> its last result was ok, for runs this sitting ends
        self._described: set[str] = set()  # individuals whose params are logged this sitting
        self._failure: str | None = None  # the first MLflow error: no call is made after it
        self._said = False

    # -- the search's events (its thread) -----------------------------------------------------------
    def started(self, folder: Path) -> None:
        with self._lock:
            self._safely(lambda: self._open(folder))
        self._tell()

    def result(self, record: HistoryRecord) -> None:
        with self._lock:
            self._safely(lambda: self._result(record))
        self._tell()

    def close(self) -> None:
        with self._lock:
            self._safely(self._close)
        self._tell()

    # -- MetricsLog's points (the training threads) -------------------------------------------------
    def logged(self, individual: str, stage: str, point: LogPoint, val_accuracy: float | None) -> None:
        from mlflow.entities import Metric
        values = {"loss": point.loss, "lr": point.lr, "images_per_s": point.images_per_s}
        if val_accuracy is not None:
            values["val_accuracy"] = val_accuracy
        now = int(time.time() * 1000)
        with self._lock:
            self._safely(lambda: self.client.log_batch(
                self._child(individual), metrics=[Metric(k, float(v), now, point.step) for k, v in values.items()]))

    # -- under the lock -------------------------------------------------------------------------------
    def _safely(self, call: Callable[[], None]) -> None:
        """Run one MLflow call unless tracking has stopped; a failure stops it (the search goes on)."""
        if self._failure is not None:
            return
        try:
            call()
        except Exception as e:  # MlflowException, a lost connection, a full disk at a file store
            self._failure = f"{type(e).__name__}: {first_line(e)[:200]}"

    def _tell(self) -> None:
        if self._failure is not None and not self._said:
            self._said = True
            self.say(f"MLflow at {self.uri} failed ({self._failure}); the search goes on without it (its run "
                     f"folder holds everything), and a resumed sitting logs into the same MLflow run again")

    def _open(self, folder: Path) -> None:
        """The search's run: the one mlflow.json names for this URI (a resumed search), else a new one."""
        from mlflow.entities import Param
        folder = Path(folder).resolve()
        config = read_json(folder / "config.json", "the run's settings", RunConfig)
        ids = read_json(folder / RUN_IDS, "the run's MLflow runs", MlflowRunIds) if (folder / RUN_IDS).exists() else {}
        known = ids.get("runs", {}).get(self.uri)
        if known is not None and self._live(known):
            self.parent = known
            self.experiment = self.client.get_run(known).info.experiment_id
            self.client.update_run(known, status="RUNNING")
            self._find_children()
            return
        existing = self.client.get_experiment_by_name(EXPERIMENT)
        self.experiment = existing.experiment_id if existing else self.client.create_experiment(EXPERIMENT)
        settings = config.get("settings", {})
        tags = {"strategy": settings.get("strategy") or "eigen", "dataset": settings.get("dataset", ""),
                "run_folder": str(folder)}
        self.parent = self.client.create_run(self.experiment, run_name=folder.name, tags=tags).info.run_id
        write_json(folder / RUN_IDS, {"runs": {**ids.get("runs", {}), self.uri: self.parent}})
        params = {**flat("", settings), **flat("resolved", config.get("resolved", {}))}
        items = [Param(k, v) for k, v in sorted(params.items())]
        for start in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(self.parent, params=items[start:start + 100])

    def _live(self, run_id: str) -> bool:
        try:
            return self.client.get_run(run_id).info.lifecycle_stage == "active"
        except Exception:  # deleted for good, or another store: begin a new run
            return False

    def _find_children(self) -> None:
        token = None
        while True:
            page = self.client.search_runs([self.experiment], f"tags.mlflow.parentRunId = '{self.parent}'",
                                           max_results=1000, page_token=token)
            for run in page:
                self.children[run.info.run_name] = run.info.run_id
                self._earlier.add(run.info.run_name)
                if run.info.status == "RUNNING":  # a killed sitting could not end it: this one will, as it went
                    self._running[run.info.run_name] = run.data.tags.get("status", "ok") == "ok"
            token = page.token
            if not token:
                return

    def _child(self, individual: str) -> str:
        """The individual's nested run, made the first time it is needed."""
        if self.parent is None:
            raise RuntimeError("the search's MLflow run was not opened")
        if individual not in self.children:
            self.children[individual] = self.client.create_run(
                self.experiment, run_name=individual,
                tags={"mlflow.parentRunId": self.parent, "individual": individual}).info.run_id
        elif individual in self._earlier:  # a resumed sitting goes on with it: running again
            self._earlier.discard(individual)
            self.client.update_run(self.children[individual], status="RUNNING")
        self._running.setdefault(individual, True)
        return self.children[individual]

    def _result(self, record: HistoryRecord) -> None:
        from mlflow.entities import Metric, Param, RunTag
        resumed = record.id in self._earlier
        run = self._child(record.id)
        if resumed and any(m.step == record.until for m in self.client.get_metric_history(run, "fitness")):
            self._running[record.id] = record.ok  # ends as it went, FAILED for a failed training
            return  # a steady state announces again a result recorded before a kill: logged already
        params = []
        if record.id not in self._described:
            self._described.add(record.id)
            described = {"key": record.key, "parent": record.parent, "generation": record.generation,
                         "mutations": _mutations(record.mutations), "params": record.params,
                         "flops": record.flops, "ms": record.ms, "event": record.event}
            params = [Param(k, str(v)) for k, v in described.items() if v is not None]
        metrics = [Metric("fitness", float(record.value), int(time.time() * 1000), record.until)]
        if record.reused_from is not None:  # nothing trained: metrics.csv has no point of it
            metrics.append(Metric("val_accuracy", float(record.accuracy[record.stage]), int(time.time() * 1000),
                                  record.until))
        tags = [RunTag("status", record.status), RunTag("stage", record.stage)]
        if record.reused_from is not None:
            tags.append(RunTag("reused_from", record.reused_from))
        self.client.log_batch(run, metrics=metrics, params=params, tags=tags)  # one call: the lock is shared
        self._running[record.id] = record.ok
        if record.genome is not None:
            self.client.log_dict(run, record.genome, "genome.json")

    def _close(self) -> None:
        """Every run this sitting touched ends, FAILED where the last result was a failed training
        (a resumed sitting sets the search's run, and any individual's it goes on with, running again)."""
        if self.parent is None:
            return
        for individual, ok in self._running.items():
            self.client.set_terminated(self.children[individual], "FINISHED" if ok else "FAILED")
        self._running.clear()
        self.client.set_terminated(self.parent)
