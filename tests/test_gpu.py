"""GPU-only checks of the CUDA-graph trainer (skipped without CUDA; run them on the GPU machine).

The graph must learn like the eager loop, and the learning-rate schedule must survive capture (the
lr lives in a device tensor the captured optimizer reads, never a constant baked into the graph).
"""
import pytest
import torch

from eigen import Genome, build_model
from eigen.data.datasets import load_splits
from eigen.data.device_data import DeviceData
from eigen.training.trainer import Schedule, Trainer
from tests.genome.test_genome import CONV, chain

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

NET = chain({**CONV, "channels": 32}, {"kind": "pool"}, {**CONV, "channels": 32})


@pytest.fixture(scope="module")
def data():
    return DeviceData(load_splits("synthetic"), "cuda", with_test=True)


def trained(data, use_graph, total=120, milestones=(40, 80), lr=0.1):
    torch.manual_seed(0)
    model = build_model(Genome.from_dict(NET), data.num_classes)
    trainer = Trainer(model, data, Schedule(total=total, milestones=milestones, lr=lr, batch_size=128),
                      seed=0, use_graph=use_graph)
    result = trainer.train(until=total)
    torch.cuda.synchronize()
    return trainer, result


def test_graphed_training_learns(data):
    trainer, result = trained(data, use_graph=True, total=300, milestones=(200, 250))
    assert result.ok and result.graphed, trainer.graph_error
    assert trainer.evaluate() > 95


def test_graphed_and_eager_training_agree_across_lr_milestones(data):
    graphed, g = trained(data, use_graph=True)
    eager, e = trained(data, use_graph=False)
    assert g.graphed and not e.graphed
    assert g.loss == pytest.approx(e.loss, rel=0.05)
    for (name, a), b in zip(graphed.model.state_dict().items(), eager.model.state_dict().values()):
        if a.is_floating_point():
            assert torch.allclose(a, b, rtol=0.05, atol=0.02), name
    assert graphed.lr.item() == pytest.approx(0.001)


def test_graph_replays_continue_across_calls(data):
    torch.manual_seed(0)
    model = build_model(Genome.from_dict(NET), data.num_classes)
    trainer = Trainer(model, data, Schedule(total=200, milestones=(100,), batch_size=128), seed=0)
    assert trainer.train(until=50).graphed
    result = trainer.train(until=200)
    assert result.ok and result.step == 200 and trainer.evaluate() > 90
