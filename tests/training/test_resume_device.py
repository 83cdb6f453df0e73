"""A run moves between devices (SPEC §12): a checkpoint written with one memory format (contiguous on
the CPU) continues with parameters in another (channels_last on a GPU) and the other way round; the
optimiser's momentum buffers follow the parameters, which fused SGD requires."""
import pytest
import torch

from eigen.training.trainer import Trainer, match_parameters
from tests.training.test_train import SIZE, data, schedule, small_model  # noqa: F401  (data is a fixture)


def trained_state(data, channels_last: bool):
    trainer = Trainer(small_model(), data, schedule(20), seed=0)
    if channels_last:
        trainer.model.to(memory_format=torch.channels_last)
    assert trainer.train(until=5).ok
    return trainer.state_dict()


def conv_pairs(trainer):
    return [(p, trainer.optimizer.state[p]["momentum_buffer"]) for p in trainer.model.parameters() if p.dim() == 4]


@pytest.mark.parametrize("saved_channels_last", [False, True], ids=["cpu-to-gpu-layout", "gpu-to-cpu-layout"])
def test_momentum_buffers_take_the_layout_of_the_parameters_they_are_loaded_for(data, saved_channels_last):
    state = trained_state(data, channels_last=saved_channels_last)
    trainer = Trainer(small_model(), data, schedule(20), seed=0)
    if not saved_channels_last:  # what the GPU trainer does to its model before loading
        trainer.model.to(memory_format=torch.channels_last)
    trainer.load_state_dict(state)
    pairs = conv_pairs(trainer)
    assert pairs
    for p, buffer in pairs:
        assert buffer.stride() == p.stride() and buffer.device == p.device and buffer.dtype == p.dtype
    saved = [b for b in state["optimizer"]["state"].values()]
    assert any(torch.equal(b["momentum_buffer"], buffer) for b in saved for _, buffer in pairs)  # values kept
    result = trainer.train(until=10)  # fused SGD accepts the buffers
    assert result.ok and result.step == 10


def test_match_parameters_moves_dtype_and_leaves_matching_state_alone():
    p = torch.nn.Parameter(torch.randn(4, 3, 3, 3).to(memory_format=torch.channels_last))
    q = torch.nn.Parameter(torch.randn(5))
    optimizer = torch.optim.SGD([p, q], lr=0.1, momentum=0.9)
    optimizer.state[p]["momentum_buffer"] = torch.randn(4, 3, 3, 3, dtype=torch.float64)
    kept = torch.randn(5)
    optimizer.state[q]["momentum_buffer"] = kept
    match_parameters(optimizer)
    moved = optimizer.state[p]["momentum_buffer"]
    assert moved.dtype == torch.float32 and moved.stride() == p.stride()
    assert optimizer.state[q]["momentum_buffer"] is kept
