"""CUDA-graph failures are contained and visible: after one failed capture graphs stay off for the
process, the user is told once with the reason, and every training records whether it ran graphed
(history.jsonl, the final summary). The GPU side is in tests/test_gpu.py; here the bookkeeping."""
import pytest

from eigen.commands.search import eager_summary
from eigen.genome.dna import initial_genome
from eigen.training import trainer as trainer_module
from eigen.training.individual_training import TorchIndividuals
from eigen.training.trainer import Schedule, Trainer, announce_graphs_off, graphs_off_reason, turn_graphs_off
from eigen.training.job import Training
from tests.training.test_train import data  # noqa: F401  (a fixture)


@pytest.fixture
def fresh_graphs(monkeypatch):
    monkeypatch.setattr(trainer_module, "_GRAPHS_OFF", {"reason": None, "announced": False})


def test_graphs_stay_off_after_a_failure_and_it_is_announced_once(fresh_graphs):
    assert graphs_off_reason() is None and not announce_graphs_off()
    turn_graphs_off("RuntimeError: operation not permitted when stream is capturing")
    turn_graphs_off("a later reason does not replace the first")
    assert graphs_off_reason() == "RuntimeError: operation not permitted when stream is capturing"
    assert announce_graphs_off() and not announce_graphs_off()


def test_a_failed_capture_is_said_once_and_every_training_records_it(fresh_graphs, data, monkeypatch, tmp_path):
    real_train = Trainer.train

    def failing_capture(self, until, on_progress=None, on_log=None):  # what `_try_capture` does when capture raises
        self.graph_error = "RuntimeError: capture failed"
        turn_graphs_off(self.graph_error)
        return real_train(self, until, on_progress=on_progress, on_log=on_log)

    monkeypatch.setattr(Trainer, "train", failing_capture)
    said = []
    individuals = TorchIndividuals(data, Schedule(total=4, milestones=(), batch_size=32), say=said.append)
    results = [individuals.train(Training(initial_genome(), s, 4, tmp_path / f"{s}.pt"))
               for s in range(3)]
    assert all(r.ok and not r.graphed for r in results)
    assert len(said) == 1 and "CUDA graph capture failed (RuntimeError: capture failed)" in said[0]
    assert results[0].graph_fields() == {"graphed": False, "graph_error": None}  # the CPU never graphs


def line(**fields):
    """A history record with `fields` over an ordinary trained one."""
    from eigen.engine.record import HistoryRecord
    base = dict(id="g1c1", parent="g0", generation=1, succession="primary", step_size=1, stage="T1", until=4,
                key="k", mutations=[], params=1, flops=1, fitness={"T1": 1.0}, accuracy={"T1": 1.0}, status="ok",
                iterations=4, seconds=1.0, flops_spent=1, reused_from=None, checkpoint=None)
    return HistoryRecord(**{**base, **fields})


def test_the_summary_counts_the_trainings_that_ran_eager():
    records = ([line(graphed=True)] * 28 + [line(graphed=False, graph_error="RuntimeError: x")] * 12
               + [line(graphed=False, reused_from="g1c2")])
    assert eager_summary(records).startswith("12 of 40 trainings ran eager: RuntimeError: x")
    assert eager_summary([line(graphed=False)] * 5) is None  # the CPU: nothing to say
    assert eager_summary([line()]) is None  # a history written before graphs were recorded
