"""The genome as data: JSON round trip, canonical key, and clear errors for malformed genomes."""
import copy
import json
import random

import pytest

from eigen import Genome, GenomeError, initial_genome, mutate
from eigen.genome.dna import SCHEMA_VERSION


def chain(*layers, lr=0.1):
    """A plain chain input -> layers -> output, as genome JSON (ids n0, n2, n3, ..., output n1)."""
    nodes = [{"id": "n0", "kind": "input", "inputs": []}]
    prev = "n0"
    for k, layer in enumerate(layers):
        node = {"id": f"n{k + 2}", "inputs": [prev], **layer}
        nodes.append(node)
        prev = node["id"]
    nodes.append({"id": "n1", "kind": "output", "inputs": [prev]})
    return {"schema_version": SCHEMA_VERSION, "learning_rate": lr, "next_id": len(layers) + 2, "nodes": nodes}


CONV = {"kind": "conv", "channels": 16, "kernel": [3, 3], "stride": 1, "activation": "bn_relu"}


def test_initial_genome_is_input_to_output():
    g = initial_genome()
    g.validate()
    assert [n.kind for n in g.nodes] == ["input", "output"]
    assert g.learning_rate == 0.1


def test_initial_key_is_pinned():
    # The key names trained architectures in run folders; changing its formula orphans old runs.
    assert initial_genome().key() == "2bf5160f059db827"


@pytest.mark.parametrize("ops", ["eigen", "large-scale"])
def test_json_round_trip_is_lossless_and_key_stable(ops):
    rng = random.Random(3)
    for _ in range(50):
        g, _ = mutate(initial_genome(), rng, ops, steps=rng.randint(1, 60))
        text = g.to_json()
        back = Genome.from_json(text)
        assert back == g
        assert back.to_json() == text
        assert back.key() == g.key()
        assert json.loads(text)["schema_version"] == SCHEMA_VERSION


def test_key_ignores_ids_and_node_order_but_not_structure():
    g = Genome.from_dict(chain(CONV, {"kind": "pool"}))
    shuffled = g.with_nodes(reversed(g.nodes))
    assert shuffled.key() == g.key()
    renamed = json.loads(g.to_json().replace('"n2"', '"n9"'))
    renamed["next_id"] = 10
    assert Genome.from_dict(renamed).key() == g.key()
    wider = Genome.from_dict(chain({**CONV, "channels": 32}, {"kind": "pool"}))
    assert wider.key() != g.key()
    swapped = Genome.from_dict(chain({"kind": "pool"}, CONV))
    assert swapped.key() != g.key()
    other_lr = Genome.from_dict(chain(CONV, {"kind": "pool"}, lr=0.05))
    assert other_lr.key() != g.key()


def test_key_uses_built_channels():
    # 16.2 channels builds 16 channels: the same network, so the same key.
    assert Genome.from_dict(chain({**CONV, "channels": 16.2})).key() == Genome.from_dict(chain(CONV)).key()


def _broken(edit):
    data = chain(CONV, {"kind": "pool"})
    edit(data)
    return data


BAD_GENOMES = {
    "not an object": ([1, 2], "must be a JSON object"),
    "no schema": (_broken(lambda d: d.pop("schema_version")), "schema_version"),
    "future schema": (_broken(lambda d: d.update(schema_version=SCHEMA_VERSION + 1)), "upgrade eigen"),
    "missing nodes": (_broken(lambda d: d.pop("nodes")), "missing 'nodes'"),
    "missing lr": (_broken(lambda d: d.pop("learning_rate")), "missing 'learning_rate'"),
    "unknown top field": (_broken(lambda d: d.update(extra=1)), "unknown field(s): extra"),
    "lr string": (_broken(lambda d: d.update(learning_rate="0.1")), "learning_rate"),
    "lr negative": (_broken(lambda d: d.update(learning_rate=-1)), "learning_rate"),
    "next_id too small": (_broken(lambda d: d.update(next_id=2)), "'n2' is not below next_id"),
    "unknown kind": (_broken(lambda d: d["nodes"][2].update(kind="lstm")), "node 'n3' has unknown kind 'lstm'"),
    "missing channels": (_broken(lambda d: d["nodes"][1].pop("channels")), "node 'n2' (conv) is missing 'channels'"),
    "channels string": (_broken(lambda d: d["nodes"][1].update(channels="16")), "node 'n2' (conv): channels"),
    "channels zero": (_broken(lambda d: d["nodes"][1].update(channels=0)), "node 'n2' (conv): channels"),
    "even kernel": (_broken(lambda d: d["nodes"][1].update(kernel=[2, 3])), "node 'n2' (conv): kernel"),
    "kernel scalar": (_broken(lambda d: d["nodes"][1].update(kernel=3)), "node 'n2': kernel"),
    "stride 3": (_broken(lambda d: d["nodes"][1].update(stride=3)), "node 'n2' (conv): stride"),
    "bad activation": (_broken(lambda d: d["nodes"][1].update(activation="gelu")), "node 'n2' (conv): activation"),
    "pool with channels": (_broken(lambda d: d["nodes"][2].update(channels=3)), "node 'n3' (pool) must not have"),
    "unknown node field": (_broken(lambda d: d["nodes"][2].update(colour="red")), "node 'n3' has unknown field"),
    "inputs not a list": (_broken(lambda d: d["nodes"][2].update(inputs="n2")), "node 'n3': 'inputs'"),
    "bad id": (_broken(lambda d: d["nodes"][2].update(id="a.b")), "nodes[2] needs an 'id'"),
    "duplicate id": (_broken(lambda d: d["nodes"][2].update(id="n2")), "node id 'n2' is used twice"),
    "dangling input": (_broken(lambda d: d["nodes"][2].update(inputs=["n7"])), "node 'n3' reads from 'n7'"),
    "two inputs to conv": (_broken(lambda d: d["nodes"][1].update(inputs=["n0", "n3"])), "node 'n2' (conv) needs exactly one"),
    "cycle": (_broken(lambda d: d["nodes"][1].update(inputs=["n3"])), "cycle through node"),
    "no output": (_broken(lambda d: d["nodes"].pop()), "exactly one 'output'"),
}


@pytest.mark.parametrize("name", sorted(BAD_GENOMES))
def test_malformed_genome_gives_clear_error(name):
    data, expected = BAD_GENOMES[name]
    with pytest.raises(GenomeError) as err:
        Genome.from_dict(copy.deepcopy(data))
    assert expected in str(err.value)


def test_invalid_json_text():
    with pytest.raises(GenomeError, match="not valid JSON"):
        Genome.from_json("{nodes: [")


def test_concat_of_different_sizes_is_rejected_naming_the_node():
    data = chain(CONV, {"kind": "pool"})
    data["nodes"].insert(3, {"id": "n4", "kind": "concat", "inputs": ["n3", "n2"]})
    data["nodes"][-1]["inputs"] = ["n4"]
    data["next_id"] = 5
    with pytest.raises(GenomeError, match=r"concat node 'n4' joins inputs of different sizes: 'n3' 16x16, 'n2' 32x32"):
        Genome.from_dict(data)


def test_spatial_size_below_one_is_rejected():
    data = chain(*[{"kind": "pool"}] * 6)  # 32 -> 16 -> 8 -> 4 -> 2 -> 1 -> 0
    with pytest.raises(GenomeError, match=r"node 'n7' \(pool\) shrinks the activation to 0x0"):
        Genome.from_dict(data)
    Genome.from_dict(chain(*[{"kind": "pool"}] * 5))  # down to 1x1 is fine
    with pytest.raises(GenomeError, match="below 1x1"):
        Genome.from_dict(chain(*[{"kind": "pool"}] * 5), image_size=16)


def test_unreachable_and_dead_end_nodes_are_rejected():
    data = chain(CONV)
    data["nodes"].append({"id": "n3", "kind": "pool", "inputs": ["n2"]})  # leads nowhere
    data["next_id"] = 4
    with pytest.raises(GenomeError, match=r"node 'n3' \(pool\) does not lead to the output"):
        Genome.from_dict(data)
    data = chain(CONV)
    data["nodes"].insert(1, {"id": "n4", "kind": "pool", "inputs": ["n5"]})
    data["nodes"].insert(1, {"id": "n5", "kind": "pool", "inputs": ["n4"]})
    data["next_id"] = 6
    with pytest.raises(GenomeError, match="cycle through node 'n[45]'"):
        Genome.from_dict(data)


def test_merge_needs_two_distinct_inputs():
    data = chain(CONV)
    data["nodes"].insert(2, {"id": "n3", "kind": "add", "inputs": ["n2", "n2"]})
    data["nodes"][-1]["inputs"] = ["n3"]
    data["next_id"] = 4
    with pytest.raises(GenomeError, match="node 'n3' \\(add\\) lists the same input twice"):
        Genome.from_dict(data)


def test_kernels_and_strides_must_fit_their_input():
    # After four pools the input is 2x2: a 3x3 kernel reaches every pixel, a 5x5 has dead weights.
    pools = [{"kind": "pool"}] * 4
    Genome.from_dict(chain(*pools, {**CONV, "kernel": [3, 3]}))
    with pytest.raises(GenomeError, match=r"node 'n6' \(conv\): a 5x3 kernel on a 2x2 input"):
        Genome.from_dict(chain(*pools, {**CONV, "kernel": [5, 3]}))
    Genome.from_dict(chain(*pools, {**CONV, "stride": 2}))
    with pytest.raises(GenomeError, match=r"node 'n6' \(conv\): stride 4 is beyond its 2x2 input"):
        Genome.from_dict(chain(*pools, {**CONV, "stride": 4}))
