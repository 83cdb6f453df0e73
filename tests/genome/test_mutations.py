"""Mutations: every result is valid, every operation eventually fires, same seed gives the same child."""
import random
from collections import Counter

import pytest

from eigen import MUTATION_SETS, Genome, initial_genome, mutate, step_count
from eigen.genome.mutations import EIGEN_CHANNELS, NotApplicable

SETS = sorted(MUTATION_SETS)


def random_genome(rng, ops, max_steps=60):
    return mutate(initial_genome(), rng, ops, steps=rng.randint(1, max_steps))[0]


# 500 chains per set in the default run (every step size 1..100 five times), 1,500 under `-m slow`.
@pytest.mark.parametrize("ops, count", [(ops, 500) for ops in SETS]
                         + [pytest.param(ops, 1500, marks=pytest.mark.slow) for ops in SETS])
def test_thousands_of_random_chains_stay_valid(ops, count):
    """`count` chains per set, step sizes 1..100, from the trivial start: every genome is valid."""
    for seed in range(count):
        rng = random.Random(seed)
        steps = 1 + seed % 100
        child, applied = mutate(initial_genome(), rng, ops, steps=steps)
        assert len(applied) == steps
        child.validate()
        assert Genome.from_json(child.to_json()) == child


@pytest.mark.parametrize("ops", SETS)
def test_every_intermediate_genome_is_valid(ops):
    rng = random.Random(11)
    g = initial_genome()
    for _ in range(2000):
        g, _ = mutate(g, rng, ops, steps=1)
        g.validate()


@pytest.mark.parametrize("ops", SETS)
def test_every_mutation_eventually_fires(ops):
    rng = random.Random(5)
    fired = Counter()
    for _ in range(300):
        _, applied = mutate(initial_genome(), rng, ops, steps=rng.randint(1, 40))
        fired.update(a.split()[0] for a in applied)
    assert set(fired) == set(MUTATION_SETS[ops]), f"never fired: {set(MUTATION_SETS[ops]) - set(fired)}"


@pytest.mark.parametrize("ops", SETS)
def test_same_seed_same_child(ops):
    for seed in range(20):
        a = mutate(initial_genome(), random.Random(seed), ops, steps=50)
        b = mutate(initial_genome(), random.Random(seed), ops, steps=50)
        assert a == b


def test_step_count_is_uniform_on_1_to_m():
    rng = random.Random(0)
    draws = Counter(step_count(rng, 10) for _ in range(5000))
    assert set(draws) == set(range(1, 11))
    assert min(draws.values()) > 350  # ~500 each
    with pytest.raises(ValueError):
        step_count(rng, 0)


@pytest.mark.parametrize("ops", SETS)
def test_removals_do_not_apply_to_the_trivial_genome(ops):
    table = MUTATION_SETS[ops]
    removals = [name for name in table if name.startswith("remove")]
    assert removals
    for name in removals:
        with pytest.raises(NotApplicable):
            table[name](initial_genome(), random.Random(0), 32)


def apply_op(ops, name, genomes, seed=0):
    """Apply one named operation to each genome where it applies; return (parent, child, text)."""
    rng = random.Random(seed)
    results = []
    for g in genomes:
        try:
            child, what = MUTATION_SETS[ops][name](g, rng, 32)
        except NotApplicable:
            continue
        child.validate()
        results.append((g, child, what))
    assert results, f"{name} never applied"
    return results


@pytest.fixture(scope="module")
def genomes():
    rng = random.Random(42)
    return {ops: [random_genome(rng, ops) for _ in range(150)] for ops in SETS}


def test_eigen_insert_convolution_defaults(genomes):
    for parent, child, _ in apply_op("eigen", "insert-convolution", genomes["eigen"]):
        (new,) = [n for n in child.nodes if n.id not in parent.by_id]
        assert (new.kind, new.channels, new.kernel, new.stride, new.activation) == ("conv", 32, (3, 3), 1, "bn_relu")
        assert parent.shapes() .keys() <= child.shapes().keys()
        assert all(child.shapes()[i].size == s.size for i, s in parent.shapes().items())


def test_eigen_insert_concatenation_joins_an_earlier_node_of_same_size(genomes):
    for parent, child, _ in apply_op("eigen", "insert-concatenation", genomes["eigen"]):
        (new,) = [n for n in child.nodes if n.id not in parent.by_id]
        assert new.kind == "concat" and len(new.inputs) == 2
        primary, extra = new.inputs
        assert extra in parent.ancestors(primary)
        shapes = child.shapes()
        assert shapes[primary].size == shapes[extra].size


def test_eigen_pooling_halves_the_size(genomes):
    for parent, child, _ in apply_op("eigen", "insert-pooling", genomes["eigen"]):
        (new,) = [n for n in child.nodes if n.id not in parent.by_id]
        shapes = child.shapes()
        src = shapes[new.inputs[0]]
        assert shapes[new.id].size == (src.height // 2, src.width // 2)


def test_eigen_alterations_use_the_paper_values(genomes):
    for name, field, values in [("alter-number-of-channels", "out_channels", EIGEN_CHANNELS),
                                ("alter-stride", "stride", (1, 2)),
                                ("alter-filter-size", "kernel", ((1, 1), (3, 3)))]:
        for parent, child, _ in apply_op("eigen", name, genomes["eigen"]):
            (changed,) = [n for n in child.nodes if n != parent.by_id.get(n.id)]
            assert getattr(changed, field) in values
            assert getattr(changed, field) != getattr(parent.by_id[changed.id], field)


def test_removals_keep_parent_ids_and_remove_the_node(genomes):
    for ops, name, kind in [("eigen", "remove-convolution", "conv"), ("eigen", "remove-pooling", "pool"),
                            ("eigen", "remove-concatenation", "concat"), ("large-scale", "remove-skip", "add")]:
        for parent, child, _ in apply_op(ops, name, genomes[ops]):
            assert set(child.by_id) < set(parent.by_id)
            assert sum(n.kind == kind for n in child.nodes) < sum(n.kind == kind for n in parent.nodes)


@pytest.mark.parametrize("ops", SETS)
def test_children_keep_their_parents_ids(ops, genomes):
    rng = random.Random(1)
    for parent in genomes[ops]:
        child, applied = mutate(parent, rng, ops, steps=1)
        if applied == ["reset-weights"]:
            continue
        for node in child.nodes:
            if node.id in parent.by_id:
                assert node.kind == parent.by_id[node.id].kind
        assert child.next_id >= parent.next_id


def test_large_scale_learning_rate_factor(genomes):
    for parent, child, _ in apply_op("large-scale", "alter-learning-rate", genomes["large-scale"]):
        assert 0.5 <= child.learning_rate / parent.learning_rate <= 2.0
        assert child.nodes == parent.nodes


def test_large_scale_identity_and_reset(genomes):
    for parent, child, _ in apply_op("large-scale", "identity", genomes["large-scale"]):
        assert child == parent
    for parent, child, _ in apply_op("large-scale", "reset-weights", genomes["large-scale"]):
        assert child.key() == parent.key()
        assert set(child.by_id) & set(parent.by_id) == {parent.input_id}


def test_large_scale_insert_convolution_keeps_input_channels(genomes):
    seen = set()
    for parent, child, _ in apply_op("large-scale", "insert-convolution", genomes["large-scale"]):
        (new,) = [n for n in child.nodes if n.id not in parent.by_id]
        assert new.kernel == (3, 3) and new.stride in (1, 2)
        assert new.out_channels == parent.shapes()[new.inputs[0]].channels
        seen.add((new.stride, new.activation))
    assert seen == {(1, "bn_relu"), (1, "linear"), (2, "bn_relu"), (2, "linear")}


def test_large_scale_numeric_alterations(genomes):
    for parent, child, _ in apply_op("large-scale", "alter-number-of-channels", genomes["large-scale"]):
        (changed,) = [n for n in child.nodes if n != parent.by_id.get(n.id)]
        ratio = changed.channels / parent.by_id[changed.id].channels
        assert 0.5 <= ratio <= 2.0
        assert isinstance(changed.channels, float)
    for parent, child, _ in apply_op("large-scale", "alter-stride", genomes["large-scale"]):
        (changed,) = [n for n in child.nodes if n != parent.by_id.get(n.id)]
        assert changed.stride & (changed.stride - 1) == 0 and changed.stride != parent.by_id[changed.id].stride
    for parent, child, _ in apply_op("large-scale", "filter-size", genomes["large-scale"]):
        (changed,) = [n for n in child.nodes if n != parent.by_id.get(n.id)]
        old = parent.by_id[changed.id].kernel
        assert all(k % 2 == 1 for k in changed.kernel)
        assert sum(a != b for a, b in zip(changed.kernel, old)) == 1  # height or width, not both


def test_add_skip_never_makes_a_cycle(genomes):
    for parent, child, _ in apply_op("large-scale", "add-skip", genomes["large-scale"]):
        (new,) = [n for n in child.nodes if n.id not in parent.by_id]
        assert new.kind == "add" and new.inputs[1] in parent.ancestors(new.inputs[0])


def test_unknown_set_and_bad_steps():
    with pytest.raises(ValueError, match="unknown mutation set"):
        mutate(initial_genome(), random.Random(0), "nasnet")
    with pytest.raises(ValueError, match="at least 1"):
        mutate(initial_genome(), random.Random(0), steps=0)


def test_same_seed_same_child_in_another_process():
    """String hashing differs between processes; a resumed search must still draw the same children."""
    import os
    import subprocess
    import sys
    from pathlib import Path
    code = ("import random; from eigen import initial_genome, mutate\n"
            "for ops in ('eigen', 'large-scale'):\n"
            "    print(mutate(initial_genome(), random.Random(7), ops, steps=100)[0].to_json())")
    root = Path(__file__).resolve().parents[2]
    outputs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root,
                              env={**os.environ, "PYTHONPATH": str(root), "PYTHONHASHSEED": str(h)}).stdout
               for h in (1, 2, 3)}
    assert len(outputs) == 1
