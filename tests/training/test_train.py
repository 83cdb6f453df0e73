"""The trainer: learns, continues exactly, mimics a teacher by Eq. 3, and turns failures into results."""
import math

import pytest
import torch
import torch.nn.functional as F

from eigen import Genome, build_model, initial_genome
from eigen.data.datasets import load_splits
from eigen.data.device_data import NUM_VIEWS, DeviceData
from eigen.training.mimicry import Mimicry, mimicry_loss
from eigen.training.trainer import Schedule, Trainer
from tests.genome.test_genome import CONV, chain

SIZE = 16
SMALL_NET = chain({**CONV, "channels": 16}, {"kind": "pool"}, {**CONV, "channels": 16})


@pytest.fixture(scope="module")
def data():
    return DeviceData(load_splits("synthetic", image_size=SIZE), "cpu", with_test=True)


def schedule(total, batch_size=64):
    return Schedule(total=total, milestones=(int(total * 0.6), int(total * 0.8)), batch_size=batch_size)


def small_model(seed=0):
    torch.manual_seed(seed)
    return build_model(Genome.from_dict(SMALL_NET, image_size=SIZE), 8, image_size=SIZE)


def test_schedule_scaling_and_steps():
    s = Schedule()
    assert (s.total, s.milestones, s.batch_size) == (25_000, (15_000, 20_000), 128)
    assert [s.lr_at(i) for i in (0, 14_999, 15_000, 19_999, 20_000)] == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001])
    quick = s.scaled(0.2)
    assert (quick.total, quick.milestones) == (5_000, (3_000, 4_000))
    assert Schedule().scaled(1e-6).total == 1


def test_a_small_genome_learns_synthetic_data(data):
    trainer = Trainer(small_model(), data, schedule(200), seed=0)
    result = trainer.train(until=200)
    assert result.ok and result.step == 200 and not result.graphed and result.loss < 1.0
    assert trainer.evaluate("val") > 95
    assert trainer.evaluate("test") > 95


def test_the_trivial_genome_cannot_read_stripes(data):
    # Average colour is all it sees: about half the classes (the synthetic set's design).
    trainer = Trainer(build_model(initial_genome(), 8, image_size=SIZE), data, schedule(200), seed=0)
    trainer.train(until=200)
    assert trainer.evaluate() < 65


def test_training_in_pieces_equals_one_run(data):
    whole = Trainer(small_model(), data, schedule(90), seed=5)
    whole.train(until=90)
    pieces = Trainer(small_model(), data, schedule(90), seed=5)
    assert pieces.train(until=30).step == 30
    pieces.train(until=75)  # crosses the first lr milestone (54)
    pieces.train(until=90)
    for (name, a), b in zip(whole.model.state_dict().items(), pieces.model.state_dict().values()):
        assert torch.equal(a, b), name


def test_a_trainer_restored_from_its_state_continues_identically(data):
    whole = Trainer(small_model(), data, schedule(60), seed=2)
    whole.train(until=60)
    first = Trainer(small_model(), data, schedule(60), seed=2)
    first.train(until=25)
    saved = first.state_dict()
    resumed = Trainer(small_model(seed=99), data, schedule(60), seed=2)
    resumed.load_state_dict(saved)
    resumed.train(until=60)
    for (name, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name


def eq3_by_hand(s, y, t, T, alpha):
    """Eq. 3 written out per example with explicit sums, no torch loss functions."""
    total = 0.0
    for k in range(s.shape[0]):
        p = torch.exp(s[k]) / torch.exp(s[k]).sum()
        ce_hard = -math.log(p[y[k]].item())
        pt = torch.exp(t[k] / T) / torch.exp(t[k] / T).sum()
        ps = torch.exp(s[k] / T) / torch.exp(s[k] / T).sum()
        ce_soft = -(pt * torch.log(ps)).sum().item()
        total += (1 - alpha) * ce_hard + alpha * T * T * ce_soft
    return total / s.shape[0]


@pytest.mark.parametrize("T, alpha", [(5.0, 0.9), (1.0, 0.5), (3.0, 1.0), (5.0, 0.0)])
def test_mimicry_loss_is_eq3(T, alpha):
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(6, 10, generator=g, dtype=torch.float64), torch.randn(6, 10, generator=g, dtype=torch.float64)
    y = torch.randint(0, 10, (6,), generator=g)
    got = mimicry_loss(s, y, t, Mimicry(T, alpha)).item()
    assert got == pytest.approx(eq3_by_hand(s.float(), y, t.float(), T, alpha), rel=1e-5)
    if alpha == 0.0:
        assert got == pytest.approx(F.cross_entropy(s, y).item(), rel=1e-6)


def test_training_with_teacher_logits_follows_the_teacher(data):
    # A teacher that is confidently wrong in a fixed way (class k -> k + 1): with alpha = 1 the
    # student learns the teacher's answers, not the labels.
    labels = data.train_y
    wrong = (labels + 1) % 8
    teacher = (10.0 * F.one_hot(wrong, 8).float())[:, None, :].expand(-1, NUM_VIEWS, -1).half()
    trainer = Trainer(small_model(), data, schedule(200), seed=0, teacher_logits=teacher, mimicry=Mimicry(5.0, 1.0))
    assert trainer.train(until=200).ok
    model = trainer.model.eval()
    x, y = next(data.eval_batches("val"))
    with torch.no_grad():
        predicted = model(x).argmax(dim=1)
    assert (predicted == (y + 1) % 8).float().mean() > 0.9


def test_teacher_logits_must_cover_the_training_set(data):
    with pytest.raises(ValueError, match="teacher logits cover 5 images"):
        Trainer(small_model(), data, schedule(10), teacher_logits=torch.zeros(5, NUM_VIEWS, 8))


def test_an_injected_nan_is_diverged_and_the_next_training_works(data):
    model = small_model()
    with torch.no_grad():
        model.layers["n1"].fc.weight[0, 0] = float("nan")
    bad = Trainer(model, data, schedule(50), seed=0)
    result = bad.train(until=50)
    assert result.status == "diverged" and math.isnan(result.loss)
    assert bad.evaluate() == 0.0
    assert bad.train(until=60).status == "diverged"  # stays diverged, no exception
    good = Trainer(small_model(), data, schedule(100), seed=0)
    assert good.train(until=100).ok and good.evaluate() > 80


def test_an_exploding_learning_rate_is_diverged(data):
    trainer = Trainer(small_model(), data, Schedule(total=200, milestones=(), lr=1e12, batch_size=64), seed=0)
    assert trainer.train(until=200).status == "diverged"


def test_a_layer_that_raises_is_a_failed_result_not_a_crash(data):
    model = small_model()

    def boom(*args):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")
    model.layers["n3"].forward = boom
    result = Trainer(model, data, schedule(10)).train(until=10)
    assert result.status.startswith("failed: RuntimeError: CUDA error")


def test_out_of_memory_is_failed_oom_and_releases_the_model(data):
    model = small_model()

    def oom(*args):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
    model.layers["n2"].forward = oom
    trainer = Trainer(model, data, schedule(10))
    result = trainer.train(until=10)
    assert result.status == "failed: oom" and trainer.evaluate() == 0.0
    assert not trainer.optimizer.state


def test_a_trained_trainer_is_freed_by_reference_counting_alone(data):
    """What lets `free_cached_memory` skip `gc.collect()` after every child (0.1-0.3 s of held GIL
    each under --parallel): a dead trainer's model, optimiser state and batches go the moment its
    last reference does. (The first optimiser of a process is kept alive a while by torch's own
    lazy import of torch._dynamo; the warm-up trainer takes that.)"""
    import gc
    import weakref
    warm = Trainer(small_model(), data, schedule(4), seed=0)
    warm.train(until=4)
    del warm
    gc.collect()
    gc.disable()
    try:
        trainer = Trainer(small_model(), data, schedule(6), seed=0)
        assert trainer.train(until=6).ok
        alive = [weakref.ref(x) for x in (trainer, trainer.model, trainer.optimizer, next(trainer.model.parameters()),
                                         *trainer.optimizer.state[next(trainer.model.parameters())].values())]
        del trainer
        assert [r() is None for r in alive] == [True] * len(alive)
    finally:
        gc.enable()
