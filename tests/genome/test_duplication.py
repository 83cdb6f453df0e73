"""Gene duplication on genomes: blocks are found as EIGEN Fig. 1 draws them, and a repeated block is
the block once more, wired like the original, with everything else left as it was."""
import random

import pytest
import torch

from eigen import Genome, GenomeError, build_model, cost, initial_genome, mutate
from eigen.genome.cost import cost_by_node
from eigen.genome.blocks import candidates, duplicate, find_blocks, repeat_block
from tests.genome.test_genome import CONV, chain

POOL = {"kind": "pool"}


def conv(channels=16, stride=1, kernel=(3, 3)):
    return {**CONV, "channels": channels, "stride": stride, "kernel": list(kernel)}


def genome_of(data, image_size=32) -> Genome:
    return Genome.from_dict(data, image_size)


def two_blocks() -> Genome:
    """input -> conv conv (32x32) -> pool conv conv (16x16) -> output; 16 channels throughout."""
    return genome_of(chain(conv(), conv(), POOL, conv(), conv()))


def with_inner_concat() -> Genome:
    """Block 2 holds a DenseNet-like concat: pool -> a -> b -> concat(a, b) -> c."""
    data = chain(conv(), POOL, conv(), conv())  # n2 conv, n3 pool, n4 conv (a), n5 conv (b)
    nodes = data["nodes"]
    out = nodes.pop()
    nodes += [{"id": "n6", "kind": "concat", "inputs": ["n4", "n5"]},
              {"id": "n7", "inputs": ["n6"], **conv(24)}, {**out, "inputs": ["n7"]}]
    data["next_id"] = 8
    return genome_of(data)


def test_blocks_of_a_plain_chain_are_its_resolutions():
    blocks = find_blocks(two_blocks())
    assert [(b.number, b.size, b.nodes, b.exit, b.entry_sources) for b in blocks] == [
        (1, (32, 32), ("n2", "n3"), "n3", ("n0",)),
        (2, (16, 16), ("n4", "n5", "n6"), "n6", ("n3",)),
    ]
    assert all(b.repeatable for b in blocks)
    per_node = cost_by_node(two_blocks())
    assert blocks[1].params == per_node["n5"].params + per_node["n6"].params == 2 * (16 * 16 * 9 + 32)


def test_the_trivial_genome_has_no_blocks_and_one_candidate():
    assert find_blocks(initial_genome()) == []
    only = candidates(initial_genome())
    assert [c.label for c in only] == ["as found"]


def test_a_strided_entry_and_a_skip_from_outside():
    # n2 conv stride 2 (32 -> 16) enters block 2; n4 adds the 32x32 map n0 (a long skip, resampled).
    data = chain(conv(stride=2), conv())  # n2 (16x16, entry), n3
    nodes = data["nodes"]
    out = nodes.pop()
    nodes += [{"id": "n4", "kind": "add", "inputs": ["n3", "n0"]}, {**out, "inputs": ["n4"]}]
    data["next_id"] = 5
    genome = genome_of(data)
    (block,) = find_blocks(genome)
    assert block.nodes == ("n2", "n3", "n4") and block.entry_sources == ("n0",) and block.exit == "n4"
    twice = repeat_block(genome, block, 2)
    copy = {n.id: n for n in twice.nodes if n.id not in genome.by_id}
    first, second, add = (copy[f"n{i}"] for i in (5, 6, 7))
    assert first.inputs == ("n4",) and first.stride == 1  # fed by the block's output, at its resolution
    assert second.inputs == ("n5",) and add.inputs == ("n6", "n4")  # the skip now spans the copy
    assert twice.by_id["n1"].inputs == ("n7",)
    assert {s.size for s in twice.shapes().values() if s.channels != 3} == {(16, 16)}


def test_a_block_repeated_keeps_its_inner_concat_and_feeds_from_its_output():
    genome = with_inner_concat()
    blocks = find_blocks(genome)
    assert [b.nodes for b in blocks] == [("n2",), ("n3", "n4", "n5", "n6", "n7")]
    twice = duplicate(genome, {2: 2})
    new = [n for n in twice.nodes if n.id not in genome.by_id]
    assert [n.kind for n in new] == ["conv", "conv", "concat", "conv"]  # the pool is not repeated
    a, b, cat, c = new
    assert a.inputs == ("n7",) and b.inputs == (a.id,) and cat.inputs == (a.id, b.id) and c.inputs == (cat.id,)
    assert twice.by_id["n1"].inputs == (c.id,)
    # New layers sit right after the block they repeat, in node order.
    order = [n.id for n in twice.nodes]
    assert order.index(a.id) == order.index("n7") + 1


def test_repeating_a_block_adds_exactly_its_parameters_and_changes_nothing_else():
    genome = two_blocks()
    block = find_blocks(genome)[1]  # 16 channels in, 16 out: the copy costs what the block costs
    before = cost_by_node(genome)
    for times in (2, 3):
        repeated = repeat_block(genome, block, times)
        after = cost_by_node(repeated)
        assert cost(repeated).params - cost(genome).params == (times - 1) * block.params
        assert all(after[i] == before[i] for i in before)  # every original layer costs the same
        assert {i: s for i, s in repeated.shapes().items() if i in before} == genome.shapes()
        model = build_model(repeated, 10)
        assert sum(p.numel() for p in model.parameters()) == cost(repeated).params


def test_blocks_that_cannot_be_repeated_say_why():
    pools = genome_of(chain(conv(), POOL, POOL, conv()))
    assert [b.reason for b in find_blocks(pools)] == [None, "it holds no convolution", None]
    with pytest.raises(GenomeError, match="block 2 cannot be repeated: it holds no convolution"):
        duplicate(pools, {2: 2})
    # The 16x16 branch (n2 -> n3) is read by the add at two places: no single output to chain from.
    split = genome_of({**chain(), "next_id": 6, "nodes": [
        {"id": "n0", "kind": "input", "inputs": []}, {"id": "n2", "inputs": ["n0"], **conv(stride=2)},
        {"id": "n3", "inputs": ["n2"], **conv()}, {"id": "n4", "inputs": ["n0"], **conv()},
        {"id": "n5", "kind": "add", "inputs": ["n4", "n2", "n3"]}, {"id": "n1", "kind": "output", "inputs": ["n5"]}]})
    by_size = {b.size: b for b in find_blocks(split)}
    assert by_size[(16, 16)].reason == "later layers read it at 2 places (n2, n3)"
    assert by_size[(32, 32)].repeatable
    # An entry filter that only fits the larger map cannot run at the block's own size.
    wide = genome_of(chain(conv(stride=16, kernel=(5, 1))), image_size=32)
    assert find_blocks(wide)[0].reason == "the filter of its entry layer n2 is too large for its own 2x2 maps"


def test_candidates_come_as_found_first_then_fewest_copies_then_fewest_parameters():
    genome = two_blocks()
    found = candidates(genome, max_copies=3, limit=100)
    assert found[0].label == "as found" and found[0].genome.key() == genome.key()
    added = [sum(n - 1 for n in c.copies.values()) for c in found]
    assert added == sorted(added) and len(found) == 9  # 3 x 3 combinations of two blocks
    for level in set(added):
        params = [c.params for c, a in zip(found, added) if a == level]
        assert params == sorted(params)
    assert [c.id for c in found] == [f"c{i}" for i in range(9)]
    assert len({c.genome.key() for c in found}) == 9
    assert all(c.params == cost(c.genome).params for c in found)


def test_candidates_respect_max_params_and_the_limit():
    genome = two_blocks()
    limit = cost(duplicate(genome, {1: 2})).params
    within = candidates(genome, max_copies=3, max_params=limit, limit=100)
    assert within and all(c.params <= limit for c in within)
    assert len(candidates(genome, max_copies=3, limit=4)) == 4
    assert candidates(genome, max_params=cost(genome).params - 1) == []
    assert [c.label for c in candidates(genome, max_copies=1)] == ["as found"]


@pytest.mark.parametrize("ops", ["eigen", "large-scale"])
def test_every_repeatable_block_of_random_genomes_repeats_into_a_valid_network(ops):
    """300 random genomes per mutation set: each repeatable block, twice and three times, gives a
    genome that validates and builds, leaves every spatial size alone, and adds exactly the block's
    layers. When the block's input and output widths match, it adds exactly the block's parameters
    and no other layer changes; otherwise only widths after the block may (a block that
    concatenates its input widens it once more with every copy)."""
    rng = random.Random(ops)
    x = torch.randn(2, 3, 32, 32)
    repeated_any = same_width = 0
    for _ in range(300):
        genome, _ = mutate(initial_genome(), rng, ops, steps=rng.randint(1, 40))
        before, shapes = cost_by_node(genome), genome.shapes()
        for block in find_blocks(genome):
            if not block.repeatable:
                continue
            for times in (2, 3):
                repeated = repeat_block(genome, block, times)
                after, new_shapes = cost_by_node(repeated), repeated.shapes()
                assert all(new_shapes[i].size == shapes[i].size for i in shapes)
                widened = {i for i in shapes if new_shapes[i] != shapes[i]}
                assert widened <= genome.descendants(block.exit)
                for i in before:  # a layer whose inputs kept their shapes costs the same
                    if ([new_shapes[j] for j in repeated.by_id[i].inputs] == [shapes[j] for j in genome.by_id[i].inputs]):
                        assert after[i] == before[i]
                added = {i: c for i, c in after.items() if i not in before}
                assert len(added) == (times - 1) * sum(
                    not (genome.by_id[i].kind == "pool" and shapes[genome.by_id[i].inputs[0]].size != block.size)
                    for i in block.nodes)
                widths = {shapes[s].channels for s in block.entry_sources}
                if widths == {shapes[block.exit].channels}:
                    assert sum(c.params for c in added.values()) == (times - 1) * block.params
                    assert all(after[i] == before[i] for i in before)
                    same_width += 1
            repeated_any += 1
            assert build_model(repeat_block(genome, block, 2), 10)(x).shape == (2, 10)
    assert repeated_any > 100 and same_width > 50


@pytest.mark.parametrize("ops", ["eigen", "large-scale"])
def test_no_candidate_of_random_genomes_repeats_another_or_the_genome_as_found(ops):
    """Candidates are trainings of their own: two equal ones would pay twice for one result, and one
    equal to the genome as found (c0) would train it twice under the same seed (issue #25)."""
    rng = random.Random(f"distinct:{ops}")
    for _ in range(200):
        genome, _ = mutate(initial_genome(), rng, ops, steps=rng.randint(1, 12))
        found = candidates(genome, max_copies=3, limit=12)
        keys = [c.genome.key() for c in found]
        assert keys[0] == genome.key() and found[0].label == "as found"
        assert len(set(keys)) == len(keys)


@pytest.mark.parametrize("ops", ["eigen", "large-scale"])
def test_the_copies_of_each_block_are_found_in_every_candidate_of_random_genomes(ops):
    """What the drawings frame as "block b, copy k of n" (copies_of_blocks): every layer a candidate
    adds belongs to exactly one copy, and each copy repeats its block's layers kind by kind."""
    from eigen.genome.blocks import copies_of_blocks
    rng = random.Random(f"copies:{ops}")
    checked = 0
    for _ in range(150):
        genome, _ = mutate(initial_genome(), rng, ops, steps=rng.randint(1, 30))
        blocks = {b.number: b for b in find_blocks(genome)}
        for candidate in candidates(genome, max_copies=3, limit=6)[1:]:
            found = copies_of_blocks(genome, candidate.genome, candidate.copies)
            added = [n.id for n in candidate.genome.nodes if n.id not in genome.by_id]
            listed = [i for copies in found.values() for copy in copies for i in copy]
            assert sorted(listed) == sorted(added)
            for number, copies in found.items():
                assert len(copies) == candidate.copies[number] - 1
                kinds = [genome.by_id[i].kind for i in blocks[number].nodes]
                for copy in copies:
                    copied = [candidate.genome.by_id[i].kind for i in copy]
                    assert copied in (kinds, kinds[1:]) and (copied == kinds or kinds[0] == "pool")
            checked += 1
    assert checked > 50
