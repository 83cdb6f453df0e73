"""`eigen.load` for real (CPU, synthetic 16x16 data, a one-generation search and its duplication, once
with the standard preprocessing and once with gcn-zca): every form a model comes in loads as a module
that takes [0, 1] images and gives the logits `eigen eval`'s loader gives, with a true record; a found
model fine-tunes on a new task; bad paths are one sentence, and nothing is ever written."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import eigen
from eigen import Genome
from eigen.commands.export import load_weights
from eigen.commands.model_files import find_target
from eigen.data.datasets import load_splits
from eigen.data.device_data import DeviceData
from eigen.data.preprocess import FILE, prepared
from eigen.errors import DeviceError, EigenError
from eigen.loading import EigenCfg
from tests.commands.test_next_steps import run_quietly
from tests.search.test_search_run import TINY

SIZE = 16
REPO = Path(__file__).resolve().parents[1]
SEARCH = ["search", *TINY[:TINY.index("--max-generations")], "--max-generations", "1"]
DUPLICATE = ["--gpu", "-1", "--schedule-scale", "0.004", "--candidates", "2", "--top-k", "2"]


def searched_and_duplicated(root: Path, *flags: str) -> Path:
    run = root / "run"
    run_quietly([*SEARCH, *flags, "--out", str(run)], ["duplicate", str(run / "best.json"), *DUPLICATE])
    return run


@pytest.fixture(scope="module")
def standard_run(tmp_path_factory):
    """A search with the standard preprocessing and its duplication (do not write to it)."""
    return searched_and_duplicated(tmp_path_factory.mktemp("load-standard"))


@pytest.fixture(scope="module")
def whitened_run(tmp_path_factory):
    """The same with --preprocess gcn-zca: the fitted whitening is kept as preprocess.pt."""
    return searched_and_duplicated(tmp_path_factory.mktemp("load-gcn-zca"), "--preprocess", "gcn-zca")


def images(n: int = 16) -> torch.Tensor:
    """(n, 3, H, W) uint8 test images of the data the runs trained on."""
    return torch.from_numpy(load_splits("synthetic", image_size=SIZE).test.x[:n]).permute(0, 3, 1, 2).contiguous()


def evals_logits(path: Path, x_uint8: torch.Tensor) -> torch.Tensor:
    """What `eigen eval PATH` computes on these images (eval.py's steps): its loader's network, on the
    images as its DeviceData preprocesses them (an export: the [0, 1] images themselves)."""
    target = find_target(path)
    (network,) = target.load(torch.device("cpu"), SIZE)
    if target.raw_input:
        return network(x_uint8.float() / 255)
    splits = load_splits("synthetic", image_size=SIZE)
    data = DeviceData(splits, "cpu", preprocess=prepared(target.preprocess, splits, None, target.preprocess_from))
    return network.eval()(data.normalize(x_uint8))


def tree(folder: Path) -> dict:
    """Every file under `folder` with its size and modification time: what a reader must not change."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


def with_individual(run: Path, into: Path) -> Path:
    """A copy of `run` whose individuals/ holds a checkpoint, as a search keeps them while its
    generation lasts (EIGEN names them <id>-<stage>.pt): parent.pt under that name."""
    copy = into / "run"
    shutil.copytree(run, copy)
    (copy / "individuals").mkdir(exist_ok=True)
    shutil.copy(copy / "parent.pt", copy / "individuals" / "g1c1-T3.pt")
    return copy


FORMS = ["", "final", "best.json", "parent.pt", "best.pt", "final/candidates/c0.pt", "final/candidates/c1.pt",
         "final/genome.json", "final/model.pt2", "final/ensemble.pt2"]


@pytest.mark.parametrize("form", FORMS)
def test_every_form_gives_the_logits_eval_gives(standard_run, whitened_run, form):
    """The run folder, the final folder, best.json, the checkpoints, genome.json and the exports: the
    module takes [0, 1] images (its preprocessing inside, read from the run's files) and gives what
    eval's loader gives on the same images, to the bit."""
    x = images()
    for run in (standard_run, whitened_run):
        model = eigen.load(run / form)
        with torch.no_grad():
            assert torch.equal(model(x.float() / 255), evals_logits(run / form, x)), (run, form)


def test_a_checkpoint_in_individuals_loads_with_its_run(standard_run, tmp_path):
    run = with_individual(standard_run, tmp_path)
    model = eigen.load(run / "individuals" / "g1c1-T3.pt")
    x = images()
    with torch.no_grad():
        assert torch.equal(model(x.float() / 255), evals_logits(run / "individuals" / "g1c1-T3.pt", x))
    assert model.eigen_cfg.individual == "g1c1" and model.eigen_cfg.dataset == "synthetic"


def test_the_record_says_what_the_final_model_is(standard_run):
    final = standard_run / "final"
    metrics = json.loads((final / "metrics.json").read_text())
    best = json.loads((standard_run / "best.json").read_text())
    model = eigen.load(final)
    cfg = model.eigen_cfg
    assert isinstance(cfg, EigenCfg) and cfg.input_size == (3, SIZE, SIZE)
    assert cfg.num_classes == model.num_classes == 8 and cfg.classes == tuple(metrics["classes"])
    assert cfg.preprocess == "standard" and cfg.output == "logits" and cfg.dataset == "synthetic"
    assert cfg.params == sum(p.numel() for p in model.parameters()) == metrics["model"]["params"]
    assert cfg.flops == metrics["model"]["flops"]
    assert (cfg.val_accuracy, cfg.test_accuracy) == (metrics["model"]["val_accuracy"], metrics["model"]["test_accuracy"])
    assert cfg.candidate == metrics["model"]["candidate"] and cfg.individual == best["id"]
    assert cfg.source == str(final)
    assert Genome.from_dict(cfg.genome, SIZE).key() == metrics["model"]["key"]  # the genome round-trips
    assert EigenCfg.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg  # JSON and back
    # timm's data pipeline reads pretrained_cfg: [0, 1] images, not ImageNet's normalisation on top
    assert model.pretrained_cfg["mean"] == (0, 0, 0) and model.pretrained_cfg["std"] == (1, 1, 1)
    assert model.pretrained_cfg["input_size"] == (3, SIZE, SIZE) and model.pretrained_cfg["num_classes"] == 8


def test_the_record_of_a_search_model_and_of_an_export(standard_run, whitened_run):
    best = json.loads((standard_run / "best.json").read_text())
    cfg = eigen.load(standard_run / "best.json").eigen_cfg
    assert (cfg.individual, cfg.candidate, cfg.params, cfg.flops) == (best["id"], None, best["params"], best["flops"])
    assert (cfg.val_accuracy, cfg.test_accuracy) == (best["val_accuracy"], best["test_accuracy"])
    assert Genome.from_dict(cfg.genome, SIZE).key() == Genome.from_dict(best["genome"], SIZE).key()
    assert cfg.classes == eigen.load(standard_run / "final").eigen_cfg.classes  # from its final folder's plan
    candidate = eigen.load(standard_run / "final" / "candidates" / "c0.pt").eigen_cfg
    metrics = json.loads((standard_run / "final" / "metrics.json").read_text())
    assert candidate.candidate == "c0" and candidate.individual == best["id"]
    assert candidate.val_accuracy == next(c["val_accuracy"] for c in metrics["candidates"] if c["id"] == "c0")
    export = eigen.load(standard_run / "final" / "model.pt2")
    assert export.eigen_cfg.genome is None and export.eigen_cfg.flops is None
    assert export.eigen_cfg.params == metrics["model"]["params"] and export.num_classes == 8
    assert export.eigen_cfg.candidate == metrics["model"]["candidate"]
    assert eigen.load(standard_run / "final" / "ensemble.pt2").eigen_cfg.output == "probabilities (mean softmax)"
    assert eigen.load(whitened_run / "final" / "model.pt2").eigen_cfg.preprocess == "gcn-zca"
    assert eigen.load(whitened_run).eigen_cfg.preprocess == "gcn-zca"


def test_pick_loads_an_individual_of_a_run_or_a_candidate_of_a_final_folder(standard_run):
    best = json.loads((standard_run / "best.json").read_text())
    x = torch.rand(4, 3, SIZE, SIZE)
    picked = eigen.load(standard_run, pick=best["id"])  # its finalised model: the final folder
    assert picked.eigen_cfg.source == str(standard_run / "final")
    candidate = eigen.load(standard_run / "final", pick="c0")
    assert candidate.eigen_cfg.source == str(standard_run / "final" / "candidates" / "c0.pt")
    with torch.no_grad():
        assert torch.equal(picked(x), eigen.load(standard_run / "final")(x))
        assert torch.equal(candidate(x), eigen.load(standard_run / "final" / "candidates" / "c0.pt")(x))
    with pytest.raises(EigenError, match="c9 is not a candidate of .*; its candidates are c0, c1"):
        eigen.load(standard_run / "final", pick="c9")
    with pytest.raises(EigenError, match="g9c9 is not an individual of"):
        eigen.load(standard_run, pick="g9c9")


def test_the_module_is_in_eval_mode_on_the_device_asked_for(standard_run):
    for device in ("cpu", torch.device("cpu")):
        model = eigen.load(standard_run / "final", device=device)
        assert not any(m.training for m in model.modules())
        assert {t.device for t in [*model.parameters(), *model.buffers()]} == {torch.device("cpu")}
    export = eigen.load(standard_run / "final" / "model.pt2", device="cpu")
    assert not export.training and {p.device.type for p in export.parameters()} == {"cpu"}
    with pytest.raises(DeviceError) as bad:
        eigen.load(standard_run / "final", device="gpu0")
    assert str(bad.value) == "device='gpu0' is not a torch device; pass \"cpu\", \"cuda\", \"cuda:N\" or a torch.device"
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="asks for CUDA, but this machine has no usable CUDA GPU"):
            eigen.load(standard_run / "final", device="cuda")


def test_the_backbone_interface_passes_through_on_images_in_0_1(standard_run):
    model = eigen.load(standard_run / "final")
    x = torch.rand(3, 3, SIZE, SIZE)
    with torch.no_grad():
        features = model.forward_features(x)
        assert features.shape[:2] == (3, model.num_features)
        assert torch.equal(model.forward_head(features), model(x))
        assert model.forward_head(features, pre_logits=True).shape == (3, model.num_features)
    assert model.get_classifier() is model.net.get_classifier()


def test_an_export_predicts_but_says_it_has_no_backbone(standard_run):
    path = standard_run / "final" / "model.pt2"
    model = eigen.load(path)
    assert model(torch.rand(2, 3, SIZE, SIZE)).shape == (2, 8)
    for call, what in ((lambda: model.forward_features(torch.rand(1, 3, SIZE, SIZE)), "forward_features"),
                       (lambda: model.forward_head(torch.rand(1, 4, 1, 1)), "forward_head"),
                       (lambda: model.reset_classifier(3), "classifier to reset"),
                       (lambda: model.get_classifier(), "classifier to get")):
        with pytest.raises(EigenError) as error:
            call()
        assert str(error.value) == (f"{path} is a torch.export program, not eigen's network, so it has no {what}; "
                                    f"load the final folder it was exported from (or its genome.json) instead")
    with pytest.raises(EigenError, match="traced in eval mode, and cannot train; load the final folder"):
        model.train()


def test_a_found_model_fine_tunes_on_a_new_three_class_task(standard_run):
    """Reset to 3 classes: the backbone is the file's to the bit, every parameter gets a gradient, and
    a few steps of SGD on a new task (which colour channel is brightened) bring the loss down."""
    final = standard_run / "final"
    model = eigen.load(final)
    saved = load_weights(final / "model.safetensors")
    head = f"layers.{model.net.output_id}."
    backbone = {k: v for k, v in model.net.state_dict().items() if not k.startswith(head)}
    assert backbone and all(torch.equal(v, saved[k]) for k, v in backbone.items())
    model.reset_classifier(3)
    assert model.num_classes == 3 and model.get_classifier().out_features == 3
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    y = torch.randint(0, 3, (96,), generator=generator)
    x = torch.rand(96, 3, SIZE, SIZE, generator=generator) * 0.6
    x[torch.arange(96), y] += 0.4  # (B, 3, H, W) in [0, 1], the class's channel brightened
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for step in range(15):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        if step == 0:
            for name, p in model.named_parameters():
                assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def test_standard_statistics_not_kept_need_the_data_and_say_so(standard_run, tmp_path):
    """A search keeps no standard statistics (its duplication writes them to metrics.json): without
    the final folder, a checkpoint asks for data_dir=, and with it gives eval's logits."""
    run = tmp_path / "run"
    shutil.copytree(standard_run, run, ignore=shutil.ignore_patterns("final"))
    before = tree(run)
    with pytest.raises(EigenError) as error:
        eigen.load(run / "parent.pt")
    assert str(error.value) == (f"{run / 'parent.pt'} does not keep the standard preprocessing its network was "
                                f"trained with (the per-channel statistics of synthetic's training split); load the "
                                f"final folder `eigen duplicate` made of it, which keeps it, or pass data_dir= (where "
                                f"synthetic is, as eval's --data-dir) to compute it again from the data")
    x = images()
    model = eigen.load(run / "parent.pt", data_dir=tmp_path / "data")
    with torch.no_grad():
        assert torch.equal(model(x.float() / 255), evals_logits(run / "parent.pt", x))
    assert tree(run) == before and not (tmp_path / "data").exists()


def test_a_kept_whitening_is_read_without_the_data(whitened_run, tmp_path, monkeypatch):
    """gcn-zca's matrix is kept in the run and final folders: loading never reads the dataset; a copy
    without it asks for the data."""
    from eigen.data import datasets

    def no_data(*args, **kwargs):
        raise AssertionError("eigen.load read the dataset")
    x = images()
    bare = tmp_path / "run"  # a run never duplicated: the whitening only in the run folder
    shutil.copytree(whitened_run, bare, ignore=shutil.ignore_patterns("final"))
    paths = [whitened_run / form for form in ("", "best.json", "parent.pt", "final/candidates/c1.pt")]
    paths += [bare / form for form in ("", "best.json", "parent.pt")]
    expected = {path: evals_logits(path, x) for path in paths}
    monkeypatch.setattr(datasets, "load_splits", no_data)
    for path, logits in expected.items():
        with torch.no_grad():
            assert torch.equal(eigen.load(path)(x.float() / 255), logits), path
    (bare / FILE).unlink()
    with pytest.raises(EigenError, match=r"does not keep the gcn-zca preprocessing .* \(the GCN \+ ZCA whitening of "
                                         r"synthetic's training split\); .* pass data_dir="):
        eigen.load(bare / "parent.pt")


def test_bad_paths_are_one_sentence_and_write_nothing(standard_run, tmp_path):
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.txt").write_text("not a model")
    unfinished = tmp_path / "final"
    shutil.copytree(standard_run / "final", unfinished, ignore=shutil.ignore_patterns("metrics.json"))
    (tmp_path / "model.onnx").write_bytes(b"onnx")
    lone = tmp_path / "lone"  # a genome and its weights, without the final folder that says the rest
    lone.mkdir()
    for name in ("genome.json", "model.safetensors"):
        shutil.copy(standard_run / "final" / name, lone / name)
    cases = {
        tmp_path / "nowhere": "does not exist; pass a final folder, genome.json, a checkpoint or an export",
        foreign: "holds no metrics.json, so it is not a finished final folder; pass runs/<name>/final/",
        unfinished: "holds no metrics.json, so it is not a finished final folder; run `eigen duplicate` again",
        foreign / "cat.txt": "is not an eigen checkpoint",
        tmp_path / "model.onnx": "is an ONNX model and eigen.load returns a torch module; load the model.pt2",
        lone / "genome.json": "does not keep the standard preprocessing its network was trained with, nor say which "
                              "dataset it was trained on; load it from the final folder it came from",
    }
    before = tree(tmp_path), tree(standard_run)
    for path, words in cases.items():
        with pytest.raises(EigenError) as error:
            eigen.load(path)
        message = str(error.value)
        assert words in message and str(path) in message and len(message.splitlines()) == 1, message
    for form in FORMS:  # loading every form of a real run writes nothing either
        eigen.load(standard_run / form)
    assert (tree(tmp_path), tree(standard_run)) == before


def test_the_check_of_the_issue_runs_in_a_fresh_interpreter(standard_run):
    """`import eigen` stays torch-free; `eigen.load` on a final folder gives a module that runs on
    [0, 1] images (issue #42's check, at the runs' 16x16)."""
    code = ("import sys, eigen; print('torch' in sys.modules); print(eigen.__file__); import torch; "
            f"m = eigen.load({str(standard_run / 'final')!r}); print(m(torch.rand(2, 3, {SIZE}, {SIZE})).shape)")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", env=env)
    assert result.returncode == 0, result.stderr
    torch_imported, module, shape = result.stdout.split("\n")[:3]
    assert (torch_imported, module, shape) == ("False", str(REPO / "eigen" / "__init__.py"), "torch.Size([2, 8])")
