"""Damaged or hand-edited files (SPEC §12): every file kind a command reads, broken in every way a disk
or an editor can break it, gets one sentence and exit code 2, never a traceback, and nothing written.

The files come from one tiny real run (and a planned, untrained final folder); each seed damages one
copy (cut at a random byte, a random key dropped, a value of another type, random bytes, empty) and
runs the command that reads it. Training and plotting are replaced by a sentinel so that a file that
is still acceptable after the damage costs nothing: reaching training means the file was read.
"""
import copy
import functools
import io
import json
import random
import shutil

import pytest
import torch

from eigen.cli import main
from eigen.commands import duplicate as duplicate_module
from eigen.commands import search as search_module
from eigen.data import datasets
from eigen.training.individual_training import TorchIndividuals
from tests.search.test_search_run import TINY
from tests.test_errors import snapshot

SEEDS = range(12)
DAMAGES = ("empty", "truncate", "random bytes", "drop key", "change type")
OTHER_VALUES = ["text", 1.5, -3, None, [], {}, True, [1, "x"], {"k": None}]


class Reached(BaseException):
    """Training or plotting was reached: the damaged file was read and accepted."""


def reached(*args, **kwargs):
    raise Reached


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    """A finished tiny search and an untrained final folder planned from its best.json."""
    root = tmp_path_factory.mktemp("damaged")
    run, final = root / "run", root / "final"
    assert main(["search", *TINY, "--out", str(run)]) == 0
    mp = pytest.MonkeyPatch()
    mp.setattr(duplicate_module.Duplication, "run", lambda self: (self.save(), "time budget")[1])
    try:
        assert main(["duplicate", str(run / "best.json"), "--out", str(final), "--gpu", "-1",
                     "--schedule-scale", "0.004", "--candidates", "2"]) == 0
    finally:
        mp.undo()
    assert (final / "plan.json").exists() and (final / "state.json").exists()
    return run, final


# kind -> (which folder it lives in, its name, the command that reads it: (run copy, final copy) -> argv)
KINDS = {
    "config.json": ("run", "config.json", lambda r, f: ["search", "--resume", str(r), "--gpu", "-1", "--max-generations", "3"]),
    "state.json": ("run", "state.json", lambda r, f: ["search", "--resume", str(r), "--gpu", "-1", "--max-generations", "3"]),
    "history.jsonl": ("run", "history.jsonl", lambda r, f: ["search", "--resume", str(r), "--gpu", "-1", "--max-generations", "3"]),
    "best.json": ("run", "best.json", lambda r, f: ["duplicate", str(r / "best.json"), "--out", str(r.parent / "new-final"),
                                                   "--gpu", "-1", "--schedule-scale", "0.004", "--candidates", "2"]),
    "plan.json": ("final", "plan.json", lambda r, f: ["duplicate", str(r / "best.json"), "--out", str(f), "--gpu", "-1",
                                                     "--schedule-scale", "0.004", "--candidates", "2"]),
    "final state.json": ("final", "state.json", lambda r, f: ["duplicate", str(r / "best.json"), "--out", str(f), "--gpu",
                                                             "-1", "--schedule-scale", "0.004", "--candidates", "2"]),
    "checkpoint": ("run", "parent.pt", lambda r, f: ["eval", str(r / "parent.pt"), "--gpu", "-1"]),
}


def nodes(tree, kind):
    """Every dict (or list) inside a parsed JSON tree, the root included."""
    found = [tree] if isinstance(tree, kind) else []
    for child in (tree.values() if isinstance(tree, dict) else tree if isinstance(tree, list) else []):
        if not torch.is_tensor(child):
            found += nodes(child, kind)
    return found


def damage_tree(tree, how: str, rng: random.Random):
    tree = copy.deepcopy(tree)
    if how == "drop key":
        candidates = [d for d in nodes(tree, dict) if d]
        if candidates:
            node = rng.choice(candidates)
            del node[rng.choice(sorted(node))]
    else:
        candidates = [n for n in nodes(tree, (dict, list)) if n]
        if candidates:
            node = rng.choice(candidates)
            key = rng.choice(sorted(node)) if isinstance(node, dict) else rng.randrange(len(node))
            node[key] = rng.choice([v for v in OTHER_VALUES if type(v) is not type(node[key])])
    return tree


def damaged(raw: bytes, name: str, how: str, rng: random.Random) -> bytes:
    if how == "empty":
        return b""
    if how == "truncate":
        return raw[:rng.randrange(len(raw))]
    if how == "random bytes":
        return rng.randbytes(rng.randrange(1, 300))
    if name.endswith(".pt"):
        buffer = io.BytesIO()
        torch.save(damage_tree(torch.load(io.BytesIO(raw), weights_only=True), how, rng), buffer)
        return buffer.getvalue()
    if name.endswith(".jsonl"):
        lines = raw.decode().splitlines()
        i = rng.randrange(len(lines))
        lines[i] = json.dumps(damage_tree(json.loads(lines[i]), how, rng))
        return ("\n".join(lines) + "\n").encode()
    return json.dumps(damage_tree(json.loads(raw), how, rng)).encode()


@pytest.fixture
def fast(monkeypatch):
    """Training, the final choice and plotting end the command at once; the data is loaded once."""
    monkeypatch.setattr(TorchIndividuals, "train", reached)
    monkeypatch.setattr(duplicate_module.Duplication, "run", reached)
    monkeypatch.setattr(search_module, "_try_report", reached)
    monkeypatch.setattr(datasets, "load_splits", functools.lru_cache(datasets.load_splits))


@pytest.mark.parametrize("kind", KINDS)
def test_every_damaged_file_gets_one_sentence_and_exit_2(kind, originals, fast, tmp_path, capsys):
    run, final = originals
    where, name, argv = KINDS[kind]
    outcomes = {}
    for seed in SEEDS:
        rng = random.Random(f"{kind}:{seed}")
        how = DAMAGES[seed % len(DAMAGES)]
        scratch = tmp_path / str(seed)
        r, f = shutil.copytree(run, scratch / "run"), shutil.copytree(final, scratch / "final")
        target = (r if where == "run" else f) / name
        target.write_bytes(damaged(target.read_bytes(), name, how, rng))
        before = snapshot(scratch)
        capsys.readouterr()
        try:
            code = main(argv(r, f))
        except Reached:
            code = "read"
        err = capsys.readouterr().err
        assert "Traceback" not in err, (kind, how, seed, err)
        if code in ("read", 0):  # still acceptable after the damage (eval of a checkpoint has no training)
            outcomes[how] = outcomes.get(how, 0) + 1
            continue
        assert code == 2, (kind, how, seed, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and (name.split()[-1] in lines[0] or str(scratch) in lines[0]), (kind, how, seed, err)
        if name != "history.jsonl":  # (a line torn by a kill is dropped from the history by design)
            assert snapshot(scratch) == before, (kind, how, seed, "something was written")
    # Damage that leaves nothing readable is never accepted.
    assert not {"empty", "random bytes"} & set(outcomes) or kind == "history.jsonl", outcomes
