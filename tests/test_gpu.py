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
from eigen.training.job import Training
from tests.genome.test_genome import CONV, chain

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

NET = chain({**CONV, "channels": 32}, {"kind": "pool"}, {**CONV, "channels": 32})


@pytest.fixture(scope="module")
def data():
    # "cuda" with no index on purpose: DeviceData makes it cuda:N, and every device downstream
    # (executors, streams, set_device) must accept what a user's code may pass (issue #26)
    return DeviceData(load_splits("synthetic"), "cuda", with_test=True)


def allocated() -> int:
    """Memory allocated on the GPU, less cuBLAS's workspaces: one of 32 MiB per (handle, stream)
    that a new thread or stream uses, kept by PyTorch for the process; not a leak of eigen's."""
    torch.cuda.synchronize()
    clear = getattr(torch._C, "_cuda_clearCublasWorkspaces", None)
    if clear is not None:
        clear()
    return torch.cuda.memory_allocated()


def finishes_within(seconds: float, work):
    """`work()`'s result, or a failure naming the hang if it has not returned after `seconds` (a
    worker thread that died silently once left the driver waiting forever)."""
    import threading
    box = {}

    def run():
        try:
            box["result"] = work()
        except BaseException as e:
            box["error"] = e
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s: a hang"
    if "error" in box:
        raise box["error"]
    return box["result"]


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


def test_the_fast_recipes_weight_average_is_captured_with_the_step(data):
    """Issue #40: under --child-recipe fast the average's lerp runs inside the CUDA graph; graphed and
    eager give the same average (to bf16's noise), and it is what is evaluated and saved."""
    from eigen.training.recipes import child_schedule

    def fast(use_graph):
        torch.manual_seed(0)
        schedule = child_schedule("fast", Schedule(total=120, milestones=(80,), batch_size=128))
        trainer = Trainer(build_model(Genome.from_dict(NET), data.num_classes), data, schedule, seed=0,
                          use_graph=use_graph)
        result = trainer.train(until=120)
        torch.cuda.synchronize()
        return trainer, result
    graphed, g = fast(True)
    eager, e = fast(False)
    assert g.ok and g.graphed and not e.graphed, graphed.graph_error
    for (name, a), b in zip(graphed.average.state_dict().items(), eager.average.state_dict().values()):
        if a.is_floating_point():
            assert torch.allclose(a, b, rtol=0.05, atol=0.02), name
    live = graphed.model.state_dict()
    assert any(not torch.equal(v, live[k]) for k, v in graphed.average.state_dict().items() if v.is_floating_point())
    assert graphed.state_dict()["model"].keys() == live.keys() and "live" in graphed.state_dict()
    assert graphed.evaluate() > 80


# -- issue 16: moving between devices, contained graph failures, memory over many trainings, determinism --

def test_a_cpu_checkpoint_continues_on_the_gpu_with_fused_sgd_on_channels_last(data):
    cpu_data = DeviceData(load_splits("synthetic"), "cpu")
    torch.manual_seed(0)
    cpu = Trainer(build_model(Genome.from_dict(NET), data.num_classes), cpu_data,
                  Schedule(total=40, milestones=(), batch_size=128), seed=0)
    assert cpu.train(until=10).ok
    torch.manual_seed(0)
    gpu = Trainer(build_model(Genome.from_dict(NET), data.num_classes), data,
                  Schedule(total=40, milestones=(), batch_size=128), seed=0)
    gpu.load_state_dict(cpu.state_dict())
    for p in gpu.model.parameters():
        buffer = gpu.optimizer.state[p]["momentum_buffer"]
        assert buffer.is_cuda and buffer.stride() == p.stride()
    result = gpu.train(until=40)
    assert result.ok and result.step == 40, result.status


def test_a_failed_capture_turns_graphs_off_for_the_process(data, monkeypatch):
    from eigen.training import trainer as trainer_module
    monkeypatch.setattr(trainer_module, "_GRAPHS_OFF", {"reason": None, "announced": False})

    def broken(self):
        raise RuntimeError("capture refused (test)")
    monkeypatch.setattr(Trainer, "_capture", broken)
    first, result = trained(data, use_graph=True)
    assert result.ok and not result.graphed and "capture refused" in trainer_module.graphs_off_reason()
    monkeypatch.undo()
    monkeypatch.setattr(trainer_module, "_GRAPHS_OFF", {"reason": "earlier failure", "announced": True})
    second, result = trained(data, use_graph=True)
    assert result.ok and not result.graphed and not second.use_graph  # never tries again


def test_memory_after_50_trainings_is_where_it_started(data):
    from eigen.training.individual_training import TorchIndividuals
    import tempfile
    from pathlib import Path
    individuals = TorchIndividuals(data, Schedule(total=20, milestones=(), batch_size=128))
    genome = Genome.from_dict(NET)
    with tempfile.TemporaryDirectory() as folder:
        individuals.train(Training(genome, 0, 20, Path(folder) / "warm.pt"))
        start = allocated()
        for seed in range(50):
            assert individuals.train(Training(genome, seed, 20, Path(folder) / "c.pt")).ok
        assert allocated() - start < 200 * 2**20


def test_deterministic_retraining_repeats_to_the_last_digit_and_its_cost(data):
    import time
    from eigen.device import use_deterministic
    started = time.perf_counter()
    trained(data, use_graph=True, total=200)
    fast = time.perf_counter() - started
    use_deterministic()
    try:
        started = time.perf_counter()
        a, _ = trained(data, use_graph=True, total=200)
        slow = time.perf_counter() - started
        b, _ = trained(data, use_graph=True, total=200)
        for (name, x), y in zip(a.model.state_dict().items(), b.model.state_dict().values()):
            assert torch.equal(x, y), name
        print(f"--deterministic: {slow:.2f} s vs {fast:.2f} s for 200 graphed iterations")
    finally:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.deterministic = False


def test_parallel_trainings_on_streams_are_graphed_learn_and_free_their_memory(data):
    """`--parallel 4`: four children train at once, each captured as its own CUDA graph on its own
    stream (captures serialised), learn like one at a time, and leave no memory behind. 120
    iterations cross five epoch boundaries of the synthetic set (21 batches an epoch): the batch
    order each epoch allocates must belong to its training's stream (issue #26)."""
    import tempfile
    from pathlib import Path

    from eigen.executors import Training, local_executor, run_all
    from eigen.training.individual_training import TorchIndividuals
    individuals = TorchIndividuals(data, Schedule(total=120, milestones=(80,), batch_size=128))
    genome = Genome.from_dict(NET)
    with tempfile.TemporaryDirectory() as folder:
        def generation(k):
            jobs = [(n, Training(genome, n, 120, Path(folder) / f"{k}-{n}.pt")) for n in range(8)]
            results = {}
            executor = local_executor(individuals, k, data.device)
            try:
                finishes_within(120, lambda: run_all(executor, jobs, on_done=results.__setitem__))
            finally:
                executor.close()
            return results
        generation(1)  # warm: cuDNN and the allocator
        generation(4)  # warm: the four worker streams (kept for the process) and their cuBLAS handles
        start = allocated()
        one, four = generation(1), generation(4)
        assert all(r.ok and r.graphed for r in (*one.values(), *four.values()))
        for n in range(8):  # same seed, same network: the same accuracy within bf16's noise
            assert abs(one[n].fitness - four[n].fitness) < 3.0, (n, one[n].fitness, four[n].fitness)
        assert sum(r.fitness for r in four.values()) / 8 > 30  # they learned (8 classes: chance is 12.5%)
        assert allocated() - start < 200 * 2**20


def test_an_index_less_device_trains_on_worker_threads(data, tmp_path):
    """`torch.device("cuda")` handed to `--parallel`'s executor as it is: torch.cuda.set_device
    refuses it, so the executor must make it whole before its threads start (issue #26)."""
    from eigen.executors import Training, local_executor, run_all
    from eigen.training.individual_training import TorchIndividuals
    individuals = TorchIndividuals(data, Schedule(total=30, milestones=(), batch_size=128))
    executor = local_executor(individuals, 2, torch.device("cuda"))
    results = {}
    try:
        finishes_within(60, lambda: run_all(executor, [(n, Training(Genome.from_dict(NET), n, 30, tmp_path / f"{n}.pt"))
                                                        for n in range(2)], on_done=results.__setitem__))
    finally:
        executor.close()
    assert executor.device.index is not None and all(r.ok for r in results.values()), results


def test_worker_streams_never_share_the_capture_streams(data):
    """The pool hands out 32 streams per priority round-robin: however many workers a process has
    used, none may get the warm-up or capture stream (its kernels would be captured into another
    child's graph). Worker streams are one per slot for the whole process."""
    from eigen.executors.local import worker_stream
    from eigen.training.trainer import _capture_streams
    side, capture = _capture_streams(data.device)
    workers = [worker_stream(data.device, slot) for slot in range(40)]
    assert {side.cuda_stream, capture.cuda_stream}.isdisjoint(w.cuda_stream for w in workers)
    assert side.cuda_stream != capture.cuda_stream
    assert worker_stream(data.device, 3) is workers[3]
