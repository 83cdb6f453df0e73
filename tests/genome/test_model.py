"""The builder and the cost model: any valid genome builds, runs, learns, and costs what it says."""
import random

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from eigen import Genome, build_model, cost, initial_genome, mutate
from tests.genome.test_genome import CONV, chain

SETS = ["eigen", "large-scale"]


# 400 chains per set in the default run (every step size 1..100 four times), 1,500 under `-m slow`.
@pytest.mark.parametrize("ops, count", [(ops, 400) for ops in SETS]
                         + [pytest.param(ops, 1500, marks=pytest.mark.slow) for ops in SETS])
def test_thousands_of_random_genomes_build_run_backward_and_cost(ops, count):
    """`count` chains per set (step sizes 1..100): forward on (2, 3, 32, 32), every parameter gets a
    gradient, and the analytic parameter count equals the real one."""
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    for seed in range(count):
        genome, _ = mutate(initial_genome(), random.Random(seed), ops, steps=1 + seed % 100)
        model = build_model(genome, num_classes=10)
        logits = model(x)
        assert logits.shape == (2, 10)
        assert torch.isfinite(logits).all()
        logits.square().mean().backward()
        for name, p in model.named_parameters():
            assert p.grad is not None, f"seed {seed}: {name} got no gradient"
            assert torch.isfinite(p.grad).all(), f"seed {seed}: {name} has a non-finite gradient"
        assert cost(genome).params == sum(p.numel() for p in model.parameters()), f"seed {seed}"


@pytest.mark.parametrize("num_classes, image_size", [(10, 32), (100, 32), (7, 24)])
def test_cost_matches_real_parameter_count_for_other_shapes(num_classes, image_size):
    rng = random.Random(num_classes)
    for _ in range(100):
        genome, _ = mutate(initial_genome(), rng, rng.choice(SETS), steps=rng.randint(1, 30), image_size=image_size)
        model = build_model(genome, num_classes, image_size=image_size)
        assert cost(genome, image_size, num_classes).params == sum(p.numel() for p in model.parameters())
        assert model(torch.zeros(2, 3, image_size, image_size)).shape == (2, num_classes)


def test_hand_counted_cost_of_the_trivial_genome():
    # GAP over 3x32x32 then Linear(3, 10): 3*10 + 10 parameters.
    c = cost(initial_genome(), 32, 10)
    assert c.params == 40
    assert c.flops == 3 * 32 * 32 + 2 * 3 * 10 + 10


def test_hand_counted_cost_of_a_small_genome():
    # input(3x32x32) -> conv 3x3 16 bn_relu -> pool -> conv 1x1 8 linear stride 2 -> output(10)
    g = Genome.from_dict(chain(CONV, {"kind": "pool"},
                               {"kind": "conv", "channels": 8, "kernel": [1, 1], "stride": 2, "activation": "linear"}))
    c = cost(g, 32, 10)
    conv1 = 3 * 16 * 9 + 2 * 16
    conv2 = 16 * 8
    fc = 8 * 10 + 10
    assert c.params == conv1 + conv2 + fc
    flops_conv1 = 2 * 3 * 16 * 9 * 32 * 32 + 3 * 16 * 32 * 32
    flops_pool = 3 * 16 * 16 * 16
    flops_conv2 = 2 * 16 * 8 * 8 * 8
    flops_out = 8 * 8 * 8 + 2 * 8 * 10 + 10
    assert c.flops == flops_conv1 + flops_pool + flops_conv2 + flops_out


def test_hand_counted_cost_of_merges():
    # input -> conv A (16) -> conv B (8) ; concat(B, A) -> 24 ch ; add(concat, input) ; output
    data = chain(CONV, {**CONV, "channels": 8})
    data["nodes"][-1:] = [
        {"id": "n4", "kind": "concat", "inputs": ["n3", "n2"]},
        {"id": "n5", "kind": "add", "inputs": ["n4", "n0"]},
        {"id": "n1", "kind": "output", "inputs": ["n5"]},
    ]
    data["next_id"] = 6
    g = Genome.from_dict(data)
    assert g.shapes()["n4"].channels == 24 and g.shapes()["n5"].channels == 24
    c = cost(g, 32, 10)
    assert c.params == (3 * 16 * 9 + 32) + (16 * 8 * 9 + 16) + (24 * 10 + 10)
    flops = (2 * 3 * 16 * 9 + 3 * 16) * 1024 + (2 * 16 * 8 * 9 + 3 * 8) * 1024 + 24 * 1024 + 24 * 1024 + 2 * 240 + 10
    assert c.flops == flops


def test_conv_and_linear_flops_agree_with_torch_flop_counter():
    # torch counts only convolutions and matmuls (2 per multiply-add); with linear convs and no
    # pooling, ours differs from it by exactly the average pool and the classifier's bias.
    g = Genome.from_dict(chain({"kind": "conv", "channels": 12, "kernel": [3, 5], "stride": 2, "activation": "linear"},
                               {"kind": "conv", "channels": 20, "kernel": [1, 3], "stride": 1, "activation": "linear"}))
    model = build_model(g, 10)
    with FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, 32, 32))
    gap_and_bias = 20 * 16 * 16 + 10
    assert cost(g, 32, 10).flops - gap_and_bias == counter.get_total_flops()


def test_add_resolves_channels_and_size_like_large_scale_evolution():
    # add(primary: conv 8ch stride 2 -> 16x16, skip: input 3ch 32x32): skip is nearest-downsampled
    # and zero-padded from 3 to 8 channels.
    data = chain({"kind": "conv", "channels": 8, "kernel": [3, 3], "stride": 2, "activation": "linear"})
    data["nodes"][-1:] = [{"id": "n3", "kind": "add", "inputs": ["n2", "n0"]},
                          {"id": "n1", "kind": "output", "inputs": ["n3"]}]
    data["next_id"] = 4
    model = build_model(Genome.from_dict(data), 10).eval()
    x = torch.randn(2, 3, 32, 32)
    conv = model.layers["n2"](x)
    expected = conv.clone()
    expected[:, :3] += x[:, :, ::2, ::2]
    assert torch.allclose(model.layers["n3"](conv, x), expected)
    # And truncation when the skip has more channels than the primary.
    wide = torch.randn(2, 11, 16, 16)
    assert torch.allclose(model.layers["n3"](conv, wide), conv + wide[:, :8])


def test_parameters_are_named_by_node_id_so_children_inherit():
    rng = random.Random(7)
    parent, _ = mutate(initial_genome(), rng, "eigen", steps=30)
    child, _ = mutate(parent, rng, "eigen", steps=3)
    p_state = build_model(parent, 10).state_dict()
    c_model = build_model(child, 10)
    c_state = c_model.state_dict()
    for name in c_state:
        assert name.split(".")[1] in child.by_id  # layers.<node id>.<...>
    shared = {k: v for k, v in p_state.items() if k in c_state and c_state[k].shape == v.shape}
    assert shared, "a child shares no weights with its parent"
    c_model.load_state_dict(shared, strict=False)
    for k, v in shared.items():
        assert torch.equal(c_model.state_dict()[k], v)


def test_a_built_genome_learns_a_tiny_problem():
    # Two classes told apart by brightness: a conv net built from a genome fits them quickly.
    torch.manual_seed(0)
    g = Genome.from_dict(chain(CONV, {"kind": "pool"}))
    model = build_model(g, 2)
    x = torch.randn(64, 3, 16, 16)
    y = (x.mean(dim=(1, 2, 3)) > 0).long()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    assert (model(x).argmax(1) == y).float().mean() > 0.95


def test_builder_refuses_an_invalid_genome():
    g = Genome.from_dict(chain(*[{"kind": "pool"}] * 5))
    with pytest.raises(ValueError, match="below 1x1"):
        build_model(g, 10, image_size=16)


@pytest.mark.parametrize("order", ["activate-then-add", "add-then-activate"])
def test_the_network_is_a_backbone_then_a_head_with_the_same_logits(order):
    """timm's split, in both vertex orders: `forward_features` returns exactly what the classifier
    reads (B, num_features, h, w), `forward_head` pools and classifies it, and the two in a row give
    forward's logits to the bit; `pre_logits` is the pooled (B, C)."""
    rng = random.Random(3)
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    for _ in range(30):
        genome, _ = mutate(initial_genome(vertex_order=order), rng, rng.choice(SETS), steps=rng.randint(1, 40))
        model = build_model(genome, 10).eval()
        seen = []
        head = model.layers[genome.output_id]
        hook = head.register_forward_pre_hook(lambda module, args, kwargs: seen.append(args[0]), with_kwargs=True)
        logits = model(x)
        hook.remove()
        features = model.forward_features(x)
        shape = genome.shapes()[genome.by_id[genome.output_id].inputs[0]]
        assert features.shape == (2, model.num_features, shape.height, shape.width)
        assert model.num_features == shape.channels and model.num_classes == 10
        assert torch.equal(features, seen[0])  # what the classifier reads, not some other map
        assert torch.equal(model.forward_head(features), logits)
        assert torch.equal(model.forward_head(features, pre_logits=True), features.mean(dim=(2, 3)))
        assert model.get_classifier() is head.fc


def test_reset_classifier_keeps_the_backbone_and_costs_what_it_says():
    """A fresh linear layer for 3 classes: the backbone's weights and features are untouched, the
    analytic cost for 3 classes still equals the real parameter count, and every parameter learns;
    0 classes leaves no layer (timm's semantics): the network returns the pooled features."""
    torch.manual_seed(0)
    genome, _ = mutate(initial_genome(), random.Random(5), "eigen", steps=20)
    model = build_model(genome, 10).eval()
    x = torch.randn(4, 3, 32, 32)
    before = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith(f"layers.{genome.output_id}.")}
    features = model.forward_features(x)
    old = model.get_classifier()
    model.reset_classifier(3)
    assert model.num_classes == 3 and model.get_classifier() is not old
    assert model.get_classifier().weight.shape == (3, model.num_features)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())
    assert torch.equal(model.forward_features(x), features)
    assert model(x).shape == (4, 3)
    assert cost(genome, 32, 3).params == sum(p.numel() for p in model.parameters())
    model.train()
    model(x).square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.reset_classifier(0)
    assert model.num_classes == 0 and isinstance(model.get_classifier(), torch.nn.Identity)
    model.eval()  # (the training step moved BatchNorm's running statistics: features anew)
    assert torch.equal(model(x), model.forward_features(x).mean(dim=(2, 3)))
    model.reset_classifier(5)  # back from none: the layer follows the backbone's dtype
    assert model(x).shape == (4, 5) and model.get_classifier().weight.dtype == torch.float32
