"""`eigen duplicate` and `eigen eval` for real (CPU, synthetic 16x16 data, a 100-iteration schedule):
the final folder, the exports, resume, and clear errors on bad input."""
import io
import json
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from eigen import Genome, build_model
from eigen.cli import main
from eigen.commands.duplicate import duplicate_command
from eigen.commands.eval import eval_command
from eigen.commands.export import load_weights, save_weights
from eigen.commands.search import search_command
from eigen.config import DuplicateConfig, EvalConfig
from eigen.data.datasets import load_splits
from eigen.data.device_data import DeviceData
from eigen.training.individual_training import TorchIndividuals, load_model
from eigen.training.trainer import Schedule, evaluate
from eigen.views.duplicate_progress import PlainDuplicateProgress
from eigen.views.search_progress import PlainProgress
from tests.genome.test_duplication import POOL, conv
from tests.genome.test_genome import chain
from tests.search.test_search_run import tiny_config

SIZE = 16


def write_best(path: Path, genome_data: dict, **changes) -> Path:
    """A best.json as `eigen search` writes it, for a genome it never searched (its run folder is gone)."""
    genome = Genome.from_dict(genome_data, SIZE)
    splits = load_splits("synthetic", image_size=SIZE)
    best = {"run": str(path.parent / "gone"), "id": "g3c1", "generation": 3, "fitness": 50.0, "test_accuracy": None,
            "params": 0, "flops": 0, "weights": None, "genome": genome.to_dict(),
            "data": {"dataset": "synthetic", "classes": splits.num_classes, "image_size": SIZE,
                     "fingerprint": splits.fingerprint()}}
    best.update(changes)
    path.write_text(json.dumps(best))
    return path


def small_genome() -> dict:
    return chain(conv(8), POOL, conv(8))  # block 1: n2 (16x16); block 2: pool n3, conv n4 (8x8)


def config_for(best: Path, out: Path, **changes) -> DuplicateConfig:
    return replace(DuplicateConfig(best=str(best), out=str(out), gpu=-1, schedule_scale=0.004, candidates=3,
                                   max_copies=2), **changes)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("duplicate")
    best = write_best(root / "best.json", small_genome())
    log = io.StringIO()
    assert duplicate_command(config_for(best, root / "final", top_k=2), progress=PlainDuplicateProgress(log)) == 0
    return root / "final", log.getvalue()


def test_duplicate_trains_every_candidate_and_exports_the_best(finished):
    final, log = finished
    plan = json.loads((final / "plan.json").read_text())
    assert [c["label"] for c in plan["candidates"]] == ["as found", "block 1 x2", "block 2 x2"]
    assert [b["nodes"] for b in plan["blocks"]] == [["n2"], ["n3", "n4"]]
    assert plan["chunk_ends"] == [20, 40, 60, 80, 100] and plan["teacher"] is None
    entries = json.loads((final / "state.json").read_text())["candidates"]
    assert all(e["status"] == "ok" and e["step"] == 100 and len(e["curve"]) == 5 for e in entries.values())

    metrics = json.loads((final / "metrics.json").read_text())
    best_val = max(e["fitness"] for e in entries.values())
    chosen = metrics["model"]["candidate"]
    assert entries[chosen]["fitness"] == best_val == metrics["model"]["val_accuracy"]
    assert chosen == next(c["id"] for c in plan["candidates"] if entries[c["id"]]["fitness"] == best_val)
    assert 0 <= metrics["model"]["test_accuracy"] <= 100
    assert metrics["parent"]["retrained_val_accuracy"] == entries["c0"]["fitness"]
    assert metrics["ensemble"]["k"] == 2 and len(metrics["ensemble"]["members"]) == 2
    assert metrics["device_seconds"]["duplicate"] > 0 and metrics["device_seconds"]["search"] is None
    assert metrics["classes"] == list(load_splits("synthetic", image_size=SIZE).classes)

    # genome.json + model.safetensors rebuild the chosen network, which scores its recorded accuracy.
    genome = Genome.from_dict(json.loads((final / "genome.json").read_text()), SIZE)
    assert genome.key() == metrics["model"]["key"]
    model = build_model(genome, 8, SIZE)
    model.load_state_dict(load_weights(final / "model.safetensors"))
    data = DeviceData(load_splits("synthetic", image_size=SIZE), "cpu", with_test=True)
    assert evaluate(model, data, "val") == metrics["model"]["val_accuracy"]
    assert evaluate(model, data, "test") == metrics["model"]["test_accuracy"]
    assert re.search(r"c2 \(block 2 x2, [\d.]+k params\) 100/100 it, validation", log)

    # metrics.csv: every candidate's curve (50 points) and its five validations, as in state.json's curve.
    from eigen.training.metrics import read_metrics
    rows = read_metrics(final / "metrics.csv")
    for c in plan["candidates"]:
        mine = [r for r in rows if r["individual"] == c["id"]]
        assert {r["stage"] for r in mine} == {"final"} and [r["iteration"] for r in mine] == list(range(2, 101, 2))
        validated = [r for r in mine if r["val_accuracy"] is not None]
        assert [r["iteration"] for r in validated] == [step for step, _ in entries[c["id"]]["curve"]]
        assert [r["val_accuracy"] for r in validated] == pytest.approx([acc for _, acc in entries[c["id"]]["curve"]])


def test_an_export_is_written_without_a_warning_to_the_user(tmp_path, capfd):
    """torch.export warns (on stderr, in the middle of the live view) about an archive whose name does
    not end in .pt2: the atomic write's temporary keeps the suffix."""
    from eigen.commands.export import export_program
    model = build_model(Genome.from_dict(small_genome(), SIZE), 8)
    capfd.readouterr()
    path = export_program(model, tmp_path / "model.pt2", SIZE, {"classes": list("abcdefgh")})
    assert path.exists() and not list(tmp_path.glob(".*"))
    assert capfd.readouterr().err == ""


def test_the_pt2_export_gives_the_eager_logits_without_eigen_and_refuses_pixels(finished):
    final, _ = finished
    metrics = json.loads((final / "metrics.json").read_text())
    mean = torch.tensor(metrics["normalization"]["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(metrics["normalization"]["std"]).view(1, 3, 1, 1)
    model = load_model(final / "candidates" / f"{metrics['model']['candidate']}.pt").eval()
    extra = {"eigen.json": ""}
    program = torch.export.load(str(final / "model.pt2"), extra_files=extra).module()
    assert json.loads(extra["eigen.json"])["classes"] == metrics["classes"]  # the class names travel with it
    images = torch.rand(5, 3, SIZE, SIZE)  # another batch size than the export's example
    with torch.no_grad():
        assert torch.allclose(program(images), model((images - mean) / std), atol=1e-5)
        assert program(images[:1]).shape == (1, 8)
        probabilities = torch.export.load(str(final / "ensemble.pt2")).module()(images)
        assert torch.allclose(probabilities.sum(dim=1), torch.ones(5), atol=1e-5)
        for wrong in ((images * 255).to(torch.uint8), images * 255, (images - mean) / std):  # never mis-normalised
            with pytest.raises(RuntimeError, match=r"float tensors .* in \[0, 1\]; divide uint8 pixels by 255"):
                program(wrong)
    # A bare interpreter with eigen made unimportable loads and runs the export.
    code = ("import sys; sys.modules['eigen'] = None; import torch; "
            f"m = torch.export.load({str(final / 'model.pt2')!r}).module(); "
            f"print(tuple(m(torch.rand(3, 3, {SIZE}, {SIZE})).shape))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(3, 8)"
    assert not list(final.glob("*.torchscript.pt"))  # deprecated upstream: no longer written


def test_the_onnx_export_matches_the_model_in_onnxruntime(finished, tmp_path):
    pytest.importorskip("onnxscript")
    onnxruntime = pytest.importorskip("onnxruntime")
    final, _ = finished
    copy = tmp_path / "final"
    shutil.copytree(final, copy)
    metrics = json.loads((copy / "metrics.json").read_text())
    best = write_best(tmp_path / "best.json", small_genome())
    assert duplicate_command(config_for(best, copy, top_k=2, onnx=True), progress=PlainDuplicateProgress(io.StringIO())) == 0
    assert json.loads((copy / "metrics.json").read_text())["files"]["onnx"] == "model.onnx"
    session = onnxruntime.InferenceSession(str(copy / "model.onnx"))
    assert json.loads(session.get_modelmeta().custom_metadata_map["eigen.json"])["classes"] == metrics["classes"]
    images = torch.rand(7, 3, SIZE, SIZE)
    expected = torch.export.load(str(copy / "model.pt2")).module()(images)
    got = session.run(None, {session.get_inputs()[0].name: images.numpy()})[0]
    assert torch.allclose(torch.from_numpy(got), expected, atol=1e-4)


def test_eval_reads_every_form_of_a_model(finished, capsys):
    final, _ = finished
    metrics = json.loads((final / "metrics.json").read_text())
    chosen = metrics["model"]["candidate"]

    def accuracy(path, **changes):
        assert eval_command(replace(EvalConfig(path=str(path), gpu=-1), **changes)) == 0
        return float(re.search(r"test accuracy ([\d.]+)%", capsys.readouterr().out).group(1))

    test = round(metrics["model"]["test_accuracy"], 2)
    assert accuracy(final) == test
    assert accuracy(final / "genome.json") == test
    assert accuracy(final / "model.pt2") == test
    assert accuracy(final / "candidates" / f"{chosen}.pt") == test
    assert accuracy(final, top_k=2) == round(metrics["ensemble"]["test_accuracy"], 2)
    assert accuracy(final / "ensemble.pt2") == round(metrics["ensemble"]["test_accuracy"], 2)


def test_weights_fall_back_to_a_state_dict_without_safetensors(monkeypatch, tmp_path):
    from eigen.commands import export
    model = build_model(Genome.from_dict(small_genome(), SIZE), 8, SIZE)
    monkeypatch.setattr(export, "safetensors_available", lambda: False)
    path = save_weights(model, tmp_path)
    assert path.name == "model.pt" and not list(tmp_path.glob(".*tmp"))
    loaded = load_weights(path)
    assert all(torch.equal(loaded[k], v) for k, v in model.state_dict().items())


class KilledAfter:
    """Trains like `inner` until `calls` trainings are done, then dies as a kill -9 would: mid-training.
    Counts the iterations it trained, so a test can see that no finished chunk is trained twice."""

    def __init__(self, inner, calls):
        self.inner, self.left, self.iterations = inner, calls, 0

    def train(self, training, on_progress=None):
        if self.left == 0:
            raise KeyboardInterrupt
        self.left -= 1
        result = self.inner.train(training, on_progress)
        self.iterations += result.iterations
        return result

    def test_accuracy(self, checkpoint):
        return self.inner.test_accuracy(checkpoint)


def test_a_killed_duplication_continues_to_the_same_models(finished, tmp_path):
    reference, _ = finished
    best = write_best(tmp_path / "best.json", small_genome())
    config = config_for(best, tmp_path / "final", top_k=2)
    data = DeviceData(load_splits("synthetic", image_size=SIZE), "cpu", with_test=True)
    real = TorchIndividuals(data, Schedule().scaled(0.004))
    sittings = [KilledAfter(real, 3), KilledAfter(real, 7)]  # killed in c0's fourth chunk, then in c1's third
    for sitting in sittings:
        with pytest.raises(KeyboardInterrupt):
            duplicate_command(config, individuals=sitting)
        assert not (tmp_path / "final" / "metrics.json").exists()
    assert duplicate_command(replace(config, time_budget=1e-9)) == 0  # out of time at once: nothing trained
    sittings.append(KilledAfter(real, 100))
    assert duplicate_command(config, individuals=sittings[-1]) == 0
    assert sum(s.iterations for s in sittings) == 3 * 100  # every chunk trained once, across four sittings
    same = json.loads((reference / "state.json").read_text())["candidates"]
    resumed = json.loads((tmp_path / "final" / "state.json").read_text())["candidates"]
    assert {k: (e["step"], e["fitness"], e["curve"]) for k, e in resumed.items()} == {
        k: (e["step"], e["fitness"], e["curve"]) for k, e in same.items()}
    for name in ("c0", "c1", "c2"):
        a = torch.load(reference / "candidates" / f"{name}.pt", weights_only=True)["trainer"]["model"]
        b = torch.load(tmp_path / "final" / "candidates" / f"{name}.pt", weights_only=True)["trainer"]["model"]
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert load_weights(reference / "model.safetensors").keys() == load_weights(tmp_path / "final" / "model.safetensors").keys()


def test_the_genome_as_found_is_retrained_with_a_fresh_seed_not_the_searchs_lucky_run(tmp_path):
    """Every final training, the genome as found (c0) included, draws a seed apart from the search's:
    c0 must not replay the single run that selection picked, or the comparison with duplicated
    candidates (all fresh draws) is biased against duplication."""
    assert search_command(tiny_config(tmp_path / "run", population=2, p=1, max_generations=1),
                          progress=PlainProgress(io.StringIO())) == 0
    best = tmp_path / "run" / "best.json"
    assert duplicate_command(replace(config_for(best, None), out=None, candidates=1)) == 0
    metrics = json.loads((tmp_path / "run" / "final" / "metrics.json").read_text())
    searched = torch.load(tmp_path / "run" / "best.pt", weights_only=True)["trainer"]["model"]
    retrained = torch.load(tmp_path / "run" / "final" / "candidates" / "c0.pt", weights_only=True)["trainer"]["model"]
    assert searched.keys() == retrained.keys()  # the same genome, the same layers
    assert not all(torch.equal(searched[k], retrained[k]) for k in searched)  # but not the same run
    assert metrics["parent"]["search_val_accuracy"] == json.loads(best.read_text())["val_accuracy"]
    assert metrics["device_seconds"]["search"] > 0
    assert (tmp_path / "run" / "report" / "duplicates.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_input_gets_one_clear_sentence_and_writes_nothing(tmp_path, capsys):
    good = small_genome()
    broken = {**good, "nodes": good["nodes"][:-1]}  # no output node
    (tmp_path / "notjson.json").write_text("{not json")
    out = ["--out", str(tmp_path / "final")]
    cases = [
        (["duplicate", str(tmp_path / "notjson.json"), *out], "is not valid JSON"),
        (["duplicate", str(write_best(tmp_path / "nogenome.json", good, genome=None)), *out], "holds no genome"),
        (["duplicate", str(write_best(tmp_path / "broken.json", good, genome=broken)), *out],
         "the genome in .* is not valid: a genome needs exactly one 'output' node"),
        (["duplicate", str(write_best(tmp_path / "c100.json", good)), "--dataset", "cifar100", *out],
         "comes from a search on synthetic, not cifar100"),
        (["duplicate", str(write_best(tmp_path / "otherdata.json", good, data={
            "dataset": "synthetic", "classes": 8, "image_size": SIZE, "fingerprint": "0123456789abcdef"})), *out],
         "is not the data .* was searched on"),
        (["duplicate", str(write_best(tmp_path / "nodata.json", good, data=None)), *out], "does not say which dataset"),
        (["duplicate", str(write_best(tmp_path / "big.json", good)), "--max-params", "10", *out],
         "above --max-params 10; raise the limit"),
        (["duplicate", str(write_best(tmp_path / "norun.json", good))], "the run folder of .* is gone; pass --out"),
        (["duplicate", str(tmp_path), *out], "holds no best.json, so it is not a search's run folder"),
        (["eval", str(tmp_path / "nowhere")], "does not exist"),
        (["eval", str(tmp_path / "notjson.json")], "is not valid JSON"),
        (["eval", str(tmp_path / "notjson.json"), "--top-k", "2"], "--top-k 2 needs a final folder"),
        (["eval", str(tmp_path)], "holds no metrics.json, so it is not a finished final folder"),
    ]
    for args, message in cases:
        before = sorted(p.name for p in tmp_path.rglob("*"))
        code = main([*args, "--gpu", "-1"])
        err = capsys.readouterr().err
        assert code == 2, (args, err)
        assert len(err.strip().splitlines()) == 1 and re.search(message, err), (args, err)
        assert sorted(p.name for p in tmp_path.rglob("*")) == before, args


def test_a_final_folder_continues_only_what_it_began(finished, tmp_path, capsys):
    final, _ = finished
    best = str(final / json.loads((final / "plan.json").read_text())["best"])  # stored relative to plan.json
    code = main(["duplicate", best, "--out", str(final), "--gpu", "-1", "--schedule-scale", "0.004",
                 "--candidates", "3", "--max-copies", "3"])
    assert code == 2
    assert "was started with --max-copies 2; give the same to continue it" in capsys.readouterr().err


def test_eval_refuses_a_model_for_other_classes(finished, tmp_path, capsys):
    final, _ = finished
    import numpy as np
    rng = np.random.default_rng(0)
    for split, n in (("train", 300), ("test", 50)):
        np.savez(tmp_path / f"cifar10_{split}.npz", x=rng.integers(0, 255, (n, SIZE, SIZE, 3), dtype=np.uint8),
                 y=np.arange(n) % 10)
    assert main(["eval", str(final), "--dataset", "cifar10", "--data-dir", str(tmp_path), "--gpu", "-1"]) == 2
    assert "predicts 8 classes, cifar10 has 10" in capsys.readouterr().err


def test_the_live_table_shows_every_candidate(finished):
    from rich.console import Console

    from eigen.final.duplication import Duplication
    from eigen.views.duplicate_progress import LiveDuplicateProgress
    final, _ = finished
    plan = json.loads((final / "plan.json").read_text())
    run = Duplication(final, plan, individuals=None, time_budget=60)
    screen = io.StringIO()
    progress = LiveDuplicateProgress(Console(file=screen, force_terminal=True, width=150))
    progress.started(run)
    progress.chunk_started(run, plan["candidates"][1], 100)
    shown = Console(file=io.StringIO(), width=150)
    with shown.capture() as capture:
        shown.print(progress._render())
    progress.close()
    text = capture.get()
    for c in plan["candidates"]:
        assert c["id"] in text and c["label"] in text
    assert "training" in text and "done" in text and "budget left" in text


def test_predict_gives_each_image_its_top_classes(finished, tmp_path, capsys):
    final, _ = finished
    metrics = json.loads((final / "metrics.json").read_text())
    splits = load_splits("synthetic", image_size=SIZE)
    from PIL import Image
    folder = tmp_path / "images"
    folder.mkdir()
    for k in range(4):
        Image.fromarray(splits.test.x[k]).save(folder / f"img{k}.png")
    Image.fromarray(splits.test.x[4]).resize((40, 30)).save(tmp_path / "big.jpg")  # resized to the model's size
    assert main(["predict", str(final), str(folder), str(tmp_path / "big.jpg"), "--top-k", "3", "--json"]) == 0
    predictions = json.loads(capsys.readouterr().out)["predictions"]
    assert [Path(p["image"]).name for p in predictions] == ["img0.png", "img1.png", "img2.png", "img3.png", "big.jpg"]
    program = torch.export.load(str(final / "model.pt2")).module()
    with torch.no_grad():
        expected = program(torch.from_numpy(splits.test.x[:4]).permute(0, 3, 1, 2).float() / 255).softmax(dim=1)
    for p, probabilities in zip(predictions, expected):
        assert len(p["top"]) == 3 and [t["probability"] for t in p["top"]] == sorted((t["probability"] for t in p["top"]), reverse=True)
        assert p["top"][0]["class"] == metrics["classes"][probabilities.argmax()]
        assert p["top"][0]["probability"] == pytest.approx(probabilities.max().item(), abs=1e-5)
    # The ensemble's export gives probabilities already; the text form names each image once.
    assert main(["predict", str(final / "ensemble.pt2"), str(folder / "img0.png")]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{folder / 'img0.png'}: ") and line.count("%") == 5
    for argv, expect in ((["predict", str(final), str(tmp_path / "none.png")], "does not exist; pass image files"),
                         (["predict", str(tmp_path), str(folder)], "holds no exported model (model.pt2)"),
                         (["predict", str(final), str(tmp_path)], None)):
        if expect is None:  # tmp_path holds big.jpg: fine
            assert main(argv) == 0
            capsys.readouterr()
            continue
        assert main(argv) == 2
        assert expect in capsys.readouterr().err


def test_eval_json_has_top5_per_class_and_the_confusion_matrix(finished, tmp_path, capsys):
    final, _ = finished
    metrics = json.loads((final / "metrics.json").read_text())
    png = tmp_path / "confusion.png"
    assert main(["eval", str(final / "model.pt2"), "--gpu", "-1", "--json", "--confusion", str(png)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["top1"] == pytest.approx(metrics["model"]["test_accuracy"]) and result["top5"] >= result["top1"]
    assert list(result["per_class"]) == metrics["classes"]
    matrix = torch.tensor(result["confusion"]["matrix"])
    assert matrix.sum() == result["test_images"] and matrix.trace() == round(result["top1"] * result["test_images"] / 100)
    assert png.read_bytes()[:4] == b"\x89PNG" and png.with_suffix(".svg").exists()
    # without --gpu eval chooses the device and says which: on stderr, so stdout stays one JSON object
    assert main(["eval", str(final / "model.pt2"), "--json", "--confusion", str(png)]) == 0
    printed = capsys.readouterr()
    assert json.loads(printed.out)["top1"] == result["top1"] and "evaluating on the CPU" in printed.err


def test_predict_answers_the_images_it_can_read_and_names_the_ones_it_cannot(finished, tmp_path, capsys):
    """Issue #29: a 256-megapixel PNG ended in Pillow's DecompressionBombError traceback."""
    from tests.data.test_hostile_images import hostile, unusual
    final, _ = finished
    unusual(tmp_path / "odd")
    assert main(["predict", str(final), str(tmp_path / "odd"), "--json"]) == 0  # CMYK, 16-bit, EXIF, RGBA, ...
    assert len(json.loads(capsys.readouterr().out)["predictions"]) == 7  # all seven, the animated GIF too
    hostile(tmp_path / "bad")
    assert main(["predict", str(final), str(tmp_path / "odd" / "cmyk.jpg"), str(tmp_path / "bad")]) == 2
    out, err = capsys.readouterr()
    assert out.splitlines()[-1].startswith(f"{tmp_path / 'odd' / 'cmyk.jpg'}: ")  # the readable one is answered
    err = err.strip().splitlines()
    assert len(err) == 1 and "3 of 4 files could not be read" in err[0] and "decompression bomb" in err[0], err
    assert "Traceback" not in err[0]
    assert main(["predict", str(final), str(tmp_path / "bad" / "bomb.png")]) == 2
    assert "no image could be read" in capsys.readouterr().err


def test_a_run_folder_stands_for_its_best_json(tmp_path):
    """`eigen duplicate runs/x` reads runs/x/best.json, as eval, show and --pick read a run folder."""
    from eigen.final.plan import read_source
    best = write_best(tmp_path / "best.json", small_genome())
    by_folder, by_file = read_source(tmp_path), read_source(best)
    assert by_folder.path == by_file.path == best
    assert by_folder.genome.key() == by_file.genome.key() and by_folder.data == by_file.data
