"""Vertex order (issue #30): Large-Scale Evolution's vertices sum their inputs, then apply BN+ReLU
(§3.2, S1); EIGEN's genomes, and every genome saved without the field, keep BN+ReLU before the add."""
import copy
import json
import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from eigen import Genome, GenomeError, build_model, cost, initial_genome, mutate
from eigen.genome.dna import ACTIVATE_THEN_ADD, ADD_THEN_ACTIVATE
from eigen.genome.model import Classifier, MaxPool, ResolvedAdd
from eigen.genome.mutations import MUTATION_SETS, NotApplicable
from eigen.run_folder.folder import RunFolder
from eigen.engine.steady_state import EvolutionSettings
from eigen.training.job import StageResult
from tests.search.steady_engine import evolution


def conv(node_id, src, channels, stride=1, activation="bn_relu"):
    return {"id": node_id, "kind": "conv", "inputs": [src], "channels": channels, "kernel": [3, 3],
            "stride": stride, "activation": activation}


# A genome as saved before `vertex_order` existed: two skips, each into a BN+ReLU conv's edge.
# n3 = add(n2, input) is read by n4 and by n5 (as a skip), so it ends n2's chain; n5 ends n4's.
SAVED = {"schema_version": 1, "learning_rate": 0.1, "next_id": 6, "nodes": [
    {"id": "n0", "kind": "input", "inputs": []},
    conv("n2", "n0", 4.0),
    {"id": "n3", "kind": "add", "inputs": ["n2", "n0"]},
    conv("n4", "n3", 6.0, stride=2),
    {"id": "n5", "kind": "add", "inputs": ["n4", "n3"]},
    {"id": "n1", "kind": "output", "inputs": ["n5"]}]}
SAVED_STRUCTURE = {  # what the builder made of SAVED before the field existed (image 8, 10 classes)
    "layers.n2.conv.weight": (4, 3, 3, 3), "layers.n2.bn.weight": (4,), "layers.n2.bn.bias": (4,),
    "layers.n2.bn.running_mean": (4,), "layers.n2.bn.running_var": (4,), "layers.n2.bn.num_batches_tracked": (),
    "layers.n4.conv.weight": (6, 4, 3, 3), "layers.n4.bn.weight": (6,), "layers.n4.bn.bias": (6,),
    "layers.n4.bn.running_mean": (6,), "layers.n4.bn.running_var": (6,), "layers.n4.bn.num_batches_tracked": (),
    "layers.n1.fc.weight": (10, 6), "layers.n1.fc.bias": (10,)}

# An EIGEN genome with every kind EIGEN's set makes (conv, pool, concat).
EIGEN = {"schema_version": 1, "learning_rate": 0.1, "next_id": 7, "nodes": [
    {"id": "n0", "kind": "input", "inputs": []},
    conv("n2", "n0", 32.0),
    {"id": "n3", "kind": "pool", "inputs": ["n2"]},
    {"id": "n4", "kind": "conv", "inputs": ["n3"], "channels": 16.0, "kernel": [1, 1], "stride": 2,
     "activation": "bn_relu"},
    {"id": "n6", "kind": "pool", "inputs": ["n3"]},
    {"id": "n5", "kind": "concat", "inputs": ["n4", "n6"]},
    {"id": "n1", "kind": "output", "inputs": ["n5"]}]}


def ls(data):
    return Genome.from_dict({**data, "vertex_order": ADD_THEN_ACTIVATE})


def ls_genomes(count):
    """`count` seeded Large-Scale genomes: the LS start mutated 1..60 steps by the large-scale set."""
    start = initial_genome(vertex_order=ADD_THEN_ACTIVATE)
    return [mutate(start, random.Random(seed), "large-scale", steps=1 + seed % 60)[0] for seed in range(count)]


def real_flops(model, x):
    """Forward FLOPs of one image, counted on the running model with cost.py's conventions: torch's
    counter for convolutions and the classifier's matmul, hooks for the rest."""
    assert x.shape[0] == 1
    counted = []

    def hook(fn):
        return lambda module, ins, out: counted.append(fn(module, ins, out))
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):  # BN's scale and shift, then the ReLU after it
            m.register_forward_hook(hook(lambda m, ins, out: 3 * out.numel()))
        elif isinstance(m, MaxPool):
            m.register_forward_hook(hook(lambda m, ins, out: 3 * out.numel()))
        elif isinstance(m, ResolvedAdd):
            m.register_forward_hook(hook(lambda m, ins, out: (len(ins) - 1) * out.numel()))
        elif isinstance(m, Classifier):  # the average pool and the bias; the matmul is torch's
            m.register_forward_hook(hook(lambda m, ins, out: ins[0].numel() + out.numel()))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.eval()(x)  # eval: one image has no batch statistics
    return counter.get_total_flops() + sum(counted)


# -- random Large-Scale genomes ------------------------------------------------------------------------
def test_random_ls_genomes_run_backward_and_cost_what_the_real_model_does():
    """Forward, a gradient for every parameter, and cost() equal to the real parameter count and FLOPs."""
    torch.manual_seed(0)
    genomes = ls_genomes(150)
    assert sum(map(len, (g.activation_after for g in genomes))) > 30  # the order is exercised
    assert any(g.by_id[a].inputs[0] != p for g in genomes for a, p in g.activation_after.items())  # chains
    x = torch.randn(2, 3, 32, 32)
    for seed, genome in enumerate(genomes):
        assert genome.vertex_order == ADD_THEN_ACTIVATE
        model = build_model(genome, num_classes=10)
        logits = model(x)
        assert logits.shape == (2, 10) and torch.isfinite(logits).all()
        logits.square().mean().backward()
        for name, p in model.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), f"seed {seed}: {name}"
        c = cost(genome)
        assert c.params == sum(p.numel() for p in model.parameters()), f"seed {seed}"
        assert c.flops == real_flops(model, x[:1]), f"seed {seed}"


@pytest.mark.parametrize("order", [ACTIVATE_THEN_ADD, ADD_THEN_ACTIVATE])
def test_both_orders_cost_the_same_and_share_parameter_names(order):
    """The BN+ReLU moves but stays the conv's: same names, shapes and cost in both orders, so a child
    inherits it (§3.6) whichever order, and with or without a new skip."""
    for genome in ls_genomes(40)[::4]:
        other = Genome.from_dict({**genome.to_dict(), "vertex_order": order})
        assert cost(other) == cost(genome)
        a, b = build_model(genome, 10).state_dict(), build_model(other, 10).state_dict()
        assert {k: v.shape for k, v in a.items()} == {k: v.shape for k, v in b.items()}


# -- the order itself ----------------------------------------------------------------------------------
def reference(model, x, order):
    """SAVED's network written out by hand, in either order."""
    L = model.layers

    def bn_relu(layer, t):
        return F.relu(layer.bn(t))

    def resolve(skip, like):  # LS §3.2: nearest-resample, then zero-pad channels
        skip = F.interpolate(skip, size=like.shape[-2:], mode="nearest")
        return F.pad(skip, (0, 0, 0, 0, 0, like.shape[1] - skip.shape[1]))
    z2 = L["n2"].conv(x)
    if order == ADD_THEN_ACTIVATE:
        n3 = bn_relu(L["n2"], z2 + resolve(x, z2))
        z4 = L["n4"].conv(n3)
        n5 = bn_relu(L["n4"], z4 + resolve(n3, z4))
    else:
        n2 = bn_relu(L["n2"], z2)
        n3 = n2 + resolve(x, n2)
        n4 = bn_relu(L["n4"], L["n4"].conv(n3))
        n5 = n4 + resolve(n3, n4)
    return L["n1"].fc(n5.mean(dim=(2, 3)))


@pytest.mark.parametrize("order", [ACTIVATE_THEN_ADD, ADD_THEN_ACTIVATE])
@pytest.mark.parametrize("train", [True, False])
def test_the_network_is_the_hand_written_one_in_each_order(order, train):
    torch.manual_seed(1)
    model = build_model(Genome.from_dict({**SAVED, "vertex_order": order}), 10, image_size=8).train(train)
    for m in model.modules():  # non-trivial BN statistics and affine terms, so the order shows
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 2), m.bias.data.uniform_(-1, 1)
            m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.5, 2)
    x = torch.randn(4, 3, 8, 8)
    expected = reference(model, x, order)
    assert torch.allclose(model(x), expected, atol=1e-6)
    other = ADD_THEN_ACTIVATE if order == ACTIVATE_THEN_ADD else ACTIVATE_THEN_ADD
    assert not torch.allclose(expected, reference(model, x, other), atol=1e-3)


@pytest.mark.parametrize("order", [ACTIVATE_THEN_ADD, ADD_THEN_ACTIVATE])
def test_the_conv_batchnorm_reads_the_sum_only_in_the_large_scale_order(order):
    model = build_model(Genome.from_dict({**SAVED, "vertex_order": order}), 10, image_size=8)
    seen = {}
    model.layers["n2"].conv.register_forward_hook(lambda m, ins, out: seen.setdefault("conv", out))
    model.layers["n2"].bn.register_forward_hook(lambda m, ins, out: seen.setdefault("bn", ins[0]))
    model.layers["n3"].register_forward_hook(lambda m, ins, out: seen.setdefault("sum", out))
    model(torch.randn(4, 3, 8, 8))
    assert torch.equal(seen["bn"], seen["sum"] if order == ADD_THEN_ACTIVATE else seen["conv"])


def test_which_adds_take_over_an_activation():
    g = ls(SAVED)
    assert g.activation_after == {"n3": "n2", "n5": "n4"}
    assert Genome.from_dict(SAVED).activation_after == {}  # the default order moves nothing
    # A chain of two adds: the last one activates; a conv with another reader keeps its own BN+ReLU;
    # so does a linear conv (there is nothing to move), and an add that is not the conv's primary.
    chained = {"schema_version": 1, "learning_rate": 0.1, "next_id": 5, "nodes": [
        {"id": "n0", "kind": "input", "inputs": []}, conv("n2", "n0", 4.0),
        {"id": "n3", "kind": "add", "inputs": ["n2", "n0"]}, {"id": "n4", "kind": "add", "inputs": ["n3", "n0"]},
        {"id": "n1", "kind": "output", "inputs": ["n4"]}]}
    assert ls(chained).activation_after == {"n4": "n2"}
    read_twice = copy.deepcopy(chained)
    read_twice["nodes"][3]["inputs"] = ["n3", "n2"]  # n2 is also a skip into n4
    assert ls(read_twice).activation_after == {}
    linear = copy.deepcopy(chained)
    linear["nodes"][1]["activation"] = "linear"
    assert ls(linear).activation_after == {}
    secondary = copy.deepcopy(chained)
    secondary["nodes"][2]["inputs"] = ["n0", "n2"]  # n2 is the skip, the input the primary
    assert ls(secondary).activation_after == {}


# -- genomes saved before the field ----------------------------------------------------------------------
def test_a_genome_saved_without_the_field_builds_the_network_it_was_trained_as():
    g = Genome.from_dict(copy.deepcopy(SAVED))
    assert g.vertex_order == ACTIVATE_THEN_ADD
    assert g.to_dict() == SAVED  # written back byte for byte: no new key
    model = build_model(g, 10, image_size=8)
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == SAVED_STRUCTURE
    x = torch.randn(2, 3, 8, 8)
    assert torch.allclose(model(x), reference(model, x, ACTIVATE_THEN_ADD), atol=1e-6)


def test_keys_of_genomes_without_the_field_are_unchanged():
    # Pinned from the code before the field existed: run folders and caches are named by these.
    assert Genome.from_dict(SAVED).key() == "fcdd021f8b043fc9"
    assert Genome.from_dict(EIGEN).key() == "355759a569572b2d"
    assert Genome.from_dict({**EIGEN, "vertex_order": ACTIVATE_THEN_ADD}).key() == "355759a569572b2d"
    assert initial_genome().key() == "2bf5160f059db827"
    # The Large-Scale order builds another function, so it is another key.
    assert ls(SAVED).key() != Genome.from_dict(SAVED).key()
    assert initial_genome(vertex_order=ADD_THEN_ACTIVATE).key() != initial_genome().key()


def test_the_field_round_trips_and_is_checked():
    g = ls(SAVED)
    text = g.to_json()
    assert json.loads(text)["vertex_order"] == ADD_THEN_ACTIVATE
    back = Genome.from_json(text)
    assert back == g and back.key() == g.key() and back.to_json() == text
    with pytest.raises(GenomeError, match="vertex_order must be one of"):
        Genome.from_dict({**SAVED, "vertex_order": "sideways"})


# -- who carries which order -------------------------------------------------------------------------------
def test_every_large_scale_mutation_keeps_the_order():
    rng = random.Random(5)
    for order in (ACTIVATE_THEN_ADD, ADD_THEN_ACTIVATE):
        genome, _ = mutate(initial_genome(vertex_order=order), rng, "large-scale", steps=30)
        for name, fn in MUTATION_SETS["large-scale"].items():
            try:
                child, _ = fn(genome, rng, 32)
            except NotApplicable:
                continue
            assert child.vertex_order == order, name
    eigen_child, _ = mutate(initial_genome(), rng, "eigen", steps=30)
    assert eigen_child.vertex_order == ACTIVATE_THEN_ADD


class NoTraining:
    """Trains nothing; an individual scores by its id, so the run is quick and deterministic."""

    def train(self, training, on_progress=None):
        training.save_to.parent.mkdir(parents=True, exist_ok=True)
        training.save_to.write_text("{}")
        return StageResult("ok", float(sum(map(ord, training.save_to.stem)) % 100), training.until, training.until, 0.1)

    def test_accuracy(self, checkpoint):
        return 0.0


@pytest.mark.parametrize("strategy", ["large-scale", "random"])
def test_large_scale_and_random_searches_start_and_breed_the_large_scale_order(strategy, tmp_path):
    settings = EvolutionSettings(strategy=strategy, population=3, child_steps=1, max_generations=2,
                                 image_size=32, num_classes=10)
    evolution(settings, NoTraining(), RunFolder(tmp_path / "run")).run()
    history = RunFolder(tmp_path / "run").read_history()
    assert len(history) == 3 + 6
    assert all(Genome.from_dict(r["genome"]).vertex_order == ADD_THEN_ACTIVATE for r in history)
