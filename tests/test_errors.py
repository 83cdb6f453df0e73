"""Bad input, every kind SPEC §12 names: one clear sentence on stderr, exit code 2, no traceback, and
nothing written or lost. The same cases generate docs/errors.md:

    EIGEN_WRITE_DOCS=1 python3 -m pytest tests/test_errors.py     # rewrite docs/errors.md

and `test_docs_errors_md_is_current` fails when the table and the messages drift apart.
"""
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from eigen.cli import main
from tests.commands.test_final import small_genome, write_best
from tests.search.test_search_run import TINY

DOC = Path(__file__).resolve().parents[1] / "docs" / "errors.md"


@dataclass
class Case:
    what: str  # the bad input, in words
    args: Callable[[Path, Path], list[str]]  # (scratch folder, a finished tiny run) -> the command line
    expect: str  # a regular expression the sentence must match
    prepare: Callable = lambda tmp, monkeypatch: None  # extra setup (files, a machine without CUDA, ...)


def genome_with(**changes):
    return {**small_genome(), **changes}


def cyclic():
    g = small_genome()
    g["nodes"][1] = {**g["nodes"][1], "inputs": ["n3"]}  # n2 reads n3, which reads n2
    return g


def unknown_kind():
    g = small_genome()
    g["nodes"][1] = {**g["nodes"][1], "kind": "attention"}
    return g


def wrong_type():
    g = small_genome()
    g["nodes"][1] = {**g["nodes"][1], "channels": "sixteen"}
    return g


def bad_best(name, genome):
    return lambda tmp, run: ["duplicate", str(write_best(tmp / f"{name}.json", small_genome(), genome=genome)),
                             "--out", str(tmp / "final"), "--gpu", "-1"]


def junk_images(tmp):
    """An image folder whose every file is text named .png."""
    root = tmp / "junk"
    for split in ("train", "test"):
        for label in ("a", "b"):
            (root / split / label).mkdir(parents=True)
            (root / split / label / "x.png").write_text("no")
    return root


def corrupt_npz(tmp, monkeypatch):
    (tmp / "data").mkdir()
    (tmp / "data" / "cifar10_train.npz").write_bytes(b"not a zip file")
    (tmp / "data" / "cifar10_test.npz").write_bytes(b"not a zip file")


def offline(tmp, monkeypatch):
    import torchvision

    def no_network(*args, **kwargs):
        raise RuntimeError("<urlopen error [Errno -3] Temporary failure in name resolution>")
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", no_network)


def image_folder(classes_with_images, splits=("train", "test")):
    def prepare(tmp, monkeypatch):
        from PIL import Image
        for split in splits:
            (tmp / "imgs" / split).mkdir(parents=True)
            for c in classes_with_images:
                (tmp / "imgs" / split / c).mkdir()
                Image.new("RGB", (8, 8), (10, 20, 30)).save(tmp / "imgs" / split / c / "a.png")
    return prepare


def weightless_run(tmp, run):
    """A copy of the finished run's config.json and best.json, without the weights they name."""
    (tmp / "copy").mkdir()
    for name in ("config.json", "best.json"):
        (tmp / "copy" / name).write_bytes((run / name).read_bytes())
    return tmp / "copy"


def no_cuda(tmp, monkeypatch):
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def one_gpu(tmp, monkeypatch):
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


def other_teacher(tmp, monkeypatch):
    (tmp / "teacher").mkdir()
    (tmp / "teacher" / "ensemble.json").write_text(json.dumps({"architecture": {"num_classes": 100}, "members": []}))


def copied_run(tmp, run, edit):
    import shutil
    copy = tmp / "run-copy"
    shutil.copytree(run, copy)
    edit(copy)
    return copy


def disk_full(tmp, monkeypatch):
    monkeypatch.setenv("EIGEN_FAULT", "enospc@write#3")
    from eigen import faults
    faults._visits.clear()


def a_file_in_the_way(tmp, monkeypatch):
    (tmp / "afile").write_text("not a folder")


HELD = []  # locks taken by the "in use" case, held for the session as another process would


def locked(folder):
    from eigen.run_folder.folder import FolderLock
    HELD.append(FolderLock(folder, "search").acquire())
    return folder


def edited_json(name, edit):
    """A copy of the finished run with `name` parsed, changed by `edit` and written back."""
    def change(c):
        data = json.loads(c.joinpath(name).read_text())
        c.joinpath(name).write_text(json.dumps(edit(data)))
    return change


def whitened_on_other_data(c):
    """The run claims gcn-zca, and its preprocess.pt was fitted on some other data."""
    from eigen.data.preprocess import GcnZca, save
    edited_json("config.json", lambda d: {**d, "settings": {**d["settings"], "preprocess": "gcn-zca"}})(c)
    import torch
    save(GcnZca(torch.zeros(768), torch.eye(768)), c, "0123456789abcdef")


def first_history_line_without_status(c):
    lines = c.joinpath("history.jsonl").read_text().splitlines()
    record = json.loads(lines[0])
    del record["status"]  # read for every record when the run is loaded
    c.joinpath("history.jsonl").write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n")


def config_file(text):
    def prepare(tmp, monkeypatch):
        (tmp / "search.toml").write_text(text)
    return prepare


def without(package):
    def prepare(tmp, monkeypatch):
        import importlib.util
        real = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == package else real(name, *a))
    return prepare


def a_final_folder(tmp, monkeypatch):
    """A final folder's plan, with its candidates c0 and c1."""
    (tmp / "final").mkdir()
    (tmp / "final" / "plan.json").write_text(json.dumps({"candidates": [{"id": "c0"}, {"id": "c1"}]}))


def damaged_program(tmp, monkeypatch):
    (tmp / "model.pt2").write_bytes(b"not an archive: a file renamed by mistake")


SEARCH = ["search", "--dataset", "synthetic", "--image-size", "16", "--gpu", "-1"]
CASES = [
    Case("config file with an unknown key", lambda tmp, run: ["search", "--config", str(tmp / "search.toml")],
         "the config file .*search.toml sets 'populaton', which `eigen search` does not have \\(its settings: ",
         config_file("populaton = 4\n")),
    Case("config file with a bad value", lambda tmp, run: ["search", "--config", str(tmp / "search.toml")],
         "the config file .*search.toml sets --t1: must be at least 1, got 0", config_file("t1 = 0\n")),
    Case("--tensorboard without the package", lambda tmp, run: [*SEARCH, "--tensorboard", "--out", str(tmp / "run")],
         "--tensorboard needs the tensorboard package, which is not installed; install it with "
         "pip install \"eigen\\[tensorboard\\]\" or leave out --tensorboard", without("tensorboard")),
    Case("--mlflow without the package", lambda tmp, run: [*SEARCH, "--mlflow", "http://localhost:5000", "--out",
                                                            str(tmp / "run")],
         "--mlflow needs the mlflow package, which is not installed; install it with "
         "pip install \"eigen\\[mlflow\\]\" or leave out --mlflow", without("mlflow")),
    Case("--mlflow with a URI MLflow cannot use", lambda tmp, run: [*SEARCH, "--mlflow", "nosuch://x", "--out",
                                                                     str(tmp / "run")],
         "--mlflow nosuch://x: MLflow cannot keep runs there \\(.*\\); pass a tracking server's http:// address, "
         "sqlite:///PATH.db or file:///PATH", lambda tmp, monkeypatch: pytest.importorskip("mlflow")),
    Case("--mlflow at an address where nothing answers", lambda tmp, run: [*SEARCH, "--mlflow", "http://127.0.0.1:1",
                                                                            "--out", str(tmp / "run")],
         "--mlflow http://127.0.0.1:1: nothing answers at 127.0.0.1:1 \\(Connection refused\\); start the tracking "
         "server there \\(mlflow server\\) or pass another --mlflow", lambda tmp, monkeypatch: pytest.importorskip("mlflow")),
    Case("--onnx without the packages", lambda tmp, run: ["duplicate", str(run / "best.json"), "--onnx", "--gpu", "-1"],
         "--onnx needs the onnx package, not installed; install them with pip install \"eigen\\[onnx\\]\"",
         without("onnx")),
    Case("predict with a search that has no final model yet", lambda tmp, run: ["predict", str(run), str(tmp)],
         "holds no exported model \\(model.pt2\\); pass a final folder written by `eigen duplicate`, or run it first"),
    Case("eval of a damaged model.pt2", lambda tmp, run: ["eval", str(tmp / "model.pt2")],
         "model.pt2 cannot be loaded as a torch.export program", damaged_program),
    Case("unknown dataset", lambda tmp, run: ["search", "--dataset", "mnist", "--gpu", "-1"], "unknown dataset 'mnist'"),
    Case("CIFAR files missing, no network", lambda tmp, run: ["search", "--data-dir", str(tmp / "nothing"), "--gpu", "-1"],
         "could not get cifar10 into .*; on an offline machine put cifar10_train.npz", offline),
    Case("corrupt data file", lambda tmp, run: ["search", "--data-dir", str(tmp / "data"), "--gpu", "-1"],
         "cifar10_train.npz is not a readable cifar10 file", corrupt_npz),
    Case("image folder without images", lambda tmp, run: ["search", "--dataset", f"imagefolder:{tmp / 'imgs'}", "--gpu", "-1"],
         "holds no images in class folders", image_folder([])),
    Case("image folder with neither test/ nor val/", lambda tmp, run: ["search", "--dataset", f"imagefolder:{tmp / 'imgs'}",
                                                                      "--gpu", "-1"],
         "needs a 'test/' subfolder .* \\(or 'val/' in place of 'test/'\\)", image_folder(["a", "b"], ("train",))),
    Case("eval of a search whose weights are gone", lambda tmp, run: ["eval", str(weightless_run(tmp, run))],
         "the weights .* names \\(best.pt\\) are gone; evaluate a final folder or a checkpoint instead"),
    Case("image folder with one class", lambda tmp, run: ["search", "--dataset", f"imagefolder:{tmp / 'imgs'}", "--gpu", "-1"],
         "has 1 class folder; a classifier needs at least two", image_folder(["cats"])),
    Case("--gpu on a machine without CUDA", lambda tmp, run: [*SEARCH[:-2], "--gpu", "0"],
         "asks for CUDA, but this machine has no usable CUDA GPU", no_cuda),
    Case("--gpu index that does not exist", lambda tmp, run: [*SEARCH[:-2], "--gpu", "3"],
         "--gpu 3 does not exist: this machine has 1 CUDA device", one_gpu),
    Case("zero population", lambda tmp, run: [*SEARCH, "--population", "0"], "--population: must be at least 1, got 0"),
    Case("negative steps", lambda tmp, run: [*SEARCH, "--t1", "-5"], "--t1: must be at least 1, got -5"),
    Case("zero steps per child", lambda tmp, run: [*SEARCH, "--child-steps", "0"], "--child-steps: must be at least 1"),
    Case("regularized sample larger than the population", lambda tmp, run: [
        *SEARCH, "--strategy", "regularized", "--population", "4", "--sample-size", "9", "--out", str(tmp / "run")],
        "--sample-size 9 is larger than --population 4"),
    Case("a steady-state population of one", lambda tmp, run: [
        *SEARCH, "--strategy", "regularized", "--population", "1", "--sample-size", "1", "--out", str(tmp / "run")],
        "--population 1 is too small for --strategy regularized"),
    Case("zero time budget", lambda tmp, run: [*SEARCH, "--time-budget", "0s"], "must be longer than zero"),
    Case("negative time budget", lambda tmp, run: [*SEARCH, "--time-budget=-5m"], "'-5m' is not a duration"),
    Case("malformed time budget", lambda tmp, run: [*SEARCH, "--time-budget", "soon"], "'soon' is not a duration"),
    Case("zero schedule scale", lambda tmp, run: [*SEARCH, "--schedule-scale", "0"], "must be greater than 0"),
    Case("zero teacher members", lambda tmp, run: ["train-teacher", "--members", "0"], "--members: must be at least 1"),
    Case("genome with a cycle", bad_best("cycle", cyclic()), "not valid: the genome has a cycle through node"),
    Case("genome with an unknown kind", bad_best("kind", unknown_kind()), "has unknown kind 'attention'"),
    Case("genome with a wrong type", bad_best("type", wrong_type()), "channels must be a positive number, got 'sixteen'"),
    Case("genome from a future eigen", bad_best("future", genome_with(schema_version=99)),
         "schema_version 99 is not supported .*; upgrade eigen to read it"),
    Case("best.json that is not JSON", lambda tmp, run: ["duplicate", str(tmp / "broken.json"), "--gpu", "-1"],
         "is not valid JSON", lambda tmp, mp: (tmp / "broken.json").write_text("{\"genome\": ")),
    Case("teacher for another class count", lambda tmp, run: ["search", *TINY, "--teacher", str(tmp / "teacher"), "--out", str(tmp / "run")],
         "predicts 100 classes, the data has 8", other_teacher),
    Case("resuming a run made by another eigen", lambda tmp, run: ["search", "--resume", str(copied_run(
        tmp, run, lambda c: c.joinpath("config.json").write_text(json.dumps(
            {**json.loads(c.joinpath("config.json").read_text()),
             "settings": {**json.loads(c.joinpath("config.json").read_text())["settings"], "warmup_epochs": 5}})))),
        "--gpu", "-1"], "holds settings this eigen does not know \\(warmup_epochs\\)"),
    Case("resuming with a hand-edited state", lambda tmp, run: ["search", "--resume", str(copied_run(
        tmp, run, lambda c: c.joinpath("state.json").write_text(json.dumps(
            {**json.loads(c.joinpath("state.json").read_text()), "version": 7})))), "--gpu", "-1"],
        "state.json has version 7, this eigen reads 2"),
    Case("resuming a run another process is writing", lambda tmp, run: ["search", "--resume", str(locked(copied_run(
        tmp, run, lambda c: None))), "--gpu", "-1"],
        "is in use by `eigen search` \\(pid \\d+ on .*, since .*\\); wait for it to finish"),
    Case("resuming with a config.json that lacks the settings", lambda tmp, run: ["search", "--resume", str(copied_run(
        tmp, run, edited_json("config.json", lambda d: {k: v for k, v in d.items() if k != "settings"}))), "--gpu", "-1"],
        "config.json is damaged or was edited by hand \\(it lacks 'settings'\\)"),
    Case("resuming with a state.json of the wrong shape", lambda tmp, run: ["search", "--resume", str(copied_run(
        tmp, run, edited_json("state.json", lambda d: {**d, "parent": [1, 2]}))), "--gpu", "-1"],
        "state.json is damaged or was edited by hand \\(parent should be a mapping, not a list\\)"),
    # Issue #29: the field's type was not checked, and the live view met it as a TypeError traceback.
    Case("resuming with a state.json field of the wrong type", lambda tmp, run: ["search", "--resume", str(copied_run(
        tmp, run, edited_json("state.json", lambda d: {**d, "parent_fitness": [81.3]}))), "--gpu", "-1"],
        "state.json is damaged or was edited by hand \\(parent_fitness should be a number, not a list\\), so the "
        "search state cannot be read"),
    Case("image folder where no file is an image", lambda tmp, run: ["search", "--dataset",
         f"imagefolder:{junk_images(tmp)}", "--gpu", "-1"], "none of the 2 files .* could be read"),
    Case("unknown preprocessing", lambda tmp, run: [*SEARCH, "--preprocess", "pca"], "invalid choice: 'pca'"),
    Case("unknown final recipe", lambda tmp, run: ["duplicate", str(run / "best.json"), "--gpu", "-1",
         "--final-recipe", "longer"], "invalid choice: 'longer'"),
    Case("gcn-zca on images too large to whiten", lambda tmp, run: ["search", "--dataset", "synthetic",
         "--image-size", "64", "--gpu", "-1", "--preprocess", "gcn-zca", "--out", str(tmp / "run")],
         "would whiten with a 12,288 x 12,288 matrix .*; use --preprocess standard"),
    Case("resuming with another preprocessing", lambda tmp, run: ["search", "--resume", str(copied_run(
        tmp, run, lambda c: None)), "--gpu", "-1", "--preprocess", "gcn-zca"],
        "this run was begun with --preprocess standard, .* or start a new run with --preprocess gcn-zca"),
    Case("unknown child recipe", lambda tmp, run: [*SEARCH, "--child-recipe", "quick"], "invalid choice: 'quick'"),
    Case("resuming with another child recipe", lambda tmp, run: ["search", "--resume", str(copied_run(
        tmp, run, lambda c: None)), "--gpu", "-1", "--child-recipe", "fast"],
        "this run was begun with --child-recipe paper, .* or start a new run with --child-recipe fast"),
    Case("a whitening fitted on other data", lambda tmp, run: ["search", "--resume", str(copied_run(
        tmp, run, whitened_on_other_data)), "--gpu", "-1"],
        "preprocess.pt was fitted on other data .*; remove .* to fit it again on the training split"),
    Case("resuming with a history line of the wrong shape", lambda tmp, run: ["search", "--resume", str(copied_run(
        tmp, run, first_history_line_without_status)), "--gpu", "-1"],
        "history.jsonl is damaged or was edited by hand \\(it lacks 'status'\\)"),
    Case("evaluating a truncated checkpoint", lambda tmp, run: ["eval", str(copied_run(
        tmp, run, lambda c: c.joinpath("parent.pt").write_bytes(c.joinpath("parent.pt").read_bytes()[:100]))
        / "parent.pt"), "--gpu", "-1"], "parent.pt is not an eigen checkpoint"),
    Case("duplicating a best.json without its data's fields", lambda tmp, run: ["duplicate", str(copied_run(
        tmp, run, edited_json("best.json", lambda d: {**d, "data": {**d["data"], "image_size": "big"}})) / "best.json"),
        "--out", str(tmp / "final"), "--gpu", "-1"], "best.json is damaged or was edited by hand"),
    Case("resuming a folder that is not a run", lambda tmp, run: ["search", "--resume", str(tmp), "--gpu", "-1"],
         "holds no config.json, so it is not an eigen run folder"),
    Case("output folder not writable", lambda tmp, run: ["search", *TINY, "--out", str(tmp / "afile" / "run")],
         "cannot create the run folder .* \\(Not a directory\\); choose a writable --out", a_file_in_the_way),
    Case("--ray without Ray installed", lambda tmp, run: ["search", *TINY, "--ray", "--out", str(tmp / "run")],
         r"--ray needs Ray, which is not installed here; install it with `pip install \"eigen\[ray\]\"`",
         lambda tmp, monkeypatch: monkeypatch.setitem(__import__("sys").modules, "ray", None)),
    Case("--ray at an address where nothing answers", lambda tmp, run: ["search", *TINY, "--ray", "127.0.0.1:1",
                                                                          "--out", str(tmp / "run")],
         r"nothing answers at 127.0.0.1:1 \(Connection refused\); start the cluster there with `ray start --head`"),
    Case("zero trainings at once", lambda tmp, run: ["search", *TINY, "--parallel", "0"],
         "--parallel: must be at least 1, got 0"),
    Case("--pick of an individual not in the run", lambda tmp, run: ["duplicate", str(run), "--pick", "g9c9",
                                                                       "--gpu", "-1"],
         "g9c9 is not an individual of .*; pick an id from its pareto.json or history.jsonl"),
    Case("--pick of a final folder's unknown candidate", lambda tmp, run: ["eval", str(tmp / "final"), "--pick", "c9"],
         "c9 is not a candidate of .*; its candidates are c0", a_final_folder),
    Case("--latency-device that is not a device", lambda tmp, run: [*SEARCH, "--max-ms", "2", "--latency-device", "gpu0",
                                                                     "--out", str(tmp / "run")],
         "--latency-device 'gpu0' is not a device; use cpu, cuda or cuda:N"),
    Case("--latency-device cuda on a machine without CUDA", lambda tmp, run: [*SEARCH, "--max-ms", "2",
                                                                               "--latency-device", "cuda",
                                                                               "--out", str(tmp / "run")],
         "--latency-device cuda: this machine has no CUDA GPU; time on cpu, or search where the GPU is", no_cuda),
    Case("zero --max-ms", lambda tmp, run: [*SEARCH, "--max-ms", "0"], "--max-ms: must be greater than 0"),
    Case("show of a path with no genome", lambda tmp, run: ["show", str(tmp)],
         "holds no genome \\(no best.json, plan.json or config.json\\); pass a genome.json, best.json, run folder"),
    Case("show of a damaged genome", lambda tmp, run: ["show", str(tmp / "genome.json")],
         "the genome in .*genome.json is not valid: the genome has a cycle through node",
         lambda tmp, mp: (tmp / "genome.json").write_text(json.dumps(cyclic()))),
    Case("show drawing to an unknown suffix", lambda tmp, run: ["show", str(run), "--out", str(tmp / "net.gif")],
         "--out .*net.gif: eigen draws .svg, .dot, .png, .pdf \\(by the file's suffix\\)"),
    Case("disk full during a write", lambda tmp, run: ["search", *TINY, "--out", str(tmp / "run")],
         "the disk is full \\(.*\\); free some space, then run `eigen search --resume .*/run --gpu -1` to continue "
         "\\(nothing already written was lost\\)", disk_full),
]


def snapshot(folder: Path) -> dict:
    """Every file's bytes, except the folder lock's note of who holds it (rewritten by every command
    that takes the lock, even one that then refuses its input: bookkeeping, not the user's data)."""
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".eigen.lock"}


def run_case(case: Case, tmp: Path, run: Path, monkeypatch, capsys) -> tuple[list[str], str]:
    case.prepare(tmp, monkeypatch)
    args = case.args(tmp, run)
    before, run_before = snapshot(tmp), snapshot(run)
    capsys.readouterr()
    try:
        code = main(args)
    except SystemExit as e:  # argparse
        code = e.code
    err = capsys.readouterr().err
    assert code == 2, (case.what, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, (case.what, err)
    assert re.search(case.expect, lines[0]), (case.what, lines[0])
    if case.what != "disk full during a write":
        assert snapshot(tmp) == before, f"{case.what}: something was written"
    else:  # the folder was begun; what was written before the full disk is whole
        assert not list((tmp / "run").glob(".*.tmp")) and json.loads((tmp / "run" / "config.json").read_text())
    assert snapshot(run) == run_before, f"{case.what}: the finished run changed"
    return args, for_the_docs(lines[0].replace(str(tmp), "<tmp>").replace(str(run), "<run>"))


def for_the_docs(message: str) -> str:
    """The sentence without what varies by library version: torch's version, a library's own words
    inside "(SomeError: ...)"."""
    import torch
    message = message.replace(torch.__version__, "<torch version>")
    message = re.sub(r"pid \d+ on .*?, since [\d:T-]+", "pid <pid> on <host>, since <time>", message)
    start = 0
    while (m := re.compile(r"\((\w+(?:Error|Exception)): ").search(message, start)):
        depth, end = 0, m.start()
        for end in range(m.start(), len(message)):
            depth += {"(": 1, ")": -1}.get(message[end], 0)
            if depth == 0:
                break
        short = f"({m.group(1)}: ...)"
        message = message[:m.start()] + short + message[end + 1:]
        start = m.start() + len(short)
    return message


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("errors") / "run"
    assert main(["search", *TINY, "--out", str(run)]) == 0
    return run


RESULTS: dict[str, tuple[str, str]] = {}  # case -> (command, message), for docs/errors.md


@pytest.mark.parametrize("case", CASES, ids=[c.what for c in CASES])
def test_bad_input_gets_one_sentence_exit_2_and_loses_nothing(case, finished_run, tmp_path, monkeypatch, capsys):
    args, message = run_case(case, tmp_path, finished_run, monkeypatch, capsys)
    command = " ".join(["eigen", *args])
    RESULTS[case.what] = (command.replace(str(tmp_path), "<tmp>").replace(str(finished_run), "<run>"), message)


def test_a_run_stopped_by_a_full_disk_resumes_when_there_is_room(tmp_path, monkeypatch):
    disk_full(tmp_path, monkeypatch)
    assert main(["search", *TINY, "--out", str(tmp_path / "run")]) == 2
    monkeypatch.delenv("EIGEN_FAULT")
    assert main(["search", "--resume", str(tmp_path / "run"), "--gpu", "-1"]) == 0
    assert json.loads((tmp_path / "run" / "best.json").read_text())["test_accuracy"] is not None


def test_a_file_eigen_wrote_and_cannot_find_is_an_internal_error_not_disk_advice(tmp_path, monkeypatch, capsys):
    """Issue #25: a reused result whose checkpoint was gone sent the user to check the disk."""
    from eigen.engine.eigen_search import EigenSearch
    monkeypatch.setattr(EigenSearch, "_weights_of_child", lambda self, child: "individuals/gone.pt")
    assert main(["search", *TINY, "--out", str(tmp_path / "run")]) == 70
    message = capsys.readouterr().err.strip().splitlines()[-1]
    INTERNAL.append(message.replace(str(tmp_path), "<tmp>"))
    assert message.startswith("eigen search: internal error: ") and "individuals/gone.pt" in message
    assert "please report it" in message and "disk" in message.split("not a problem")[1]
    assert "check the path" not in message


def test_a_missing_checkpoint_to_continue_is_a_bug_not_a_failed_training(tmp_path):
    from eigen.errors import InternalError
    from eigen.training.individual_training import TorchIndividuals
    from eigen.training.job import Training
    with pytest.raises(InternalError, match="the checkpoint to continue"):
        TorchIndividuals(data=None, schedule=None).train(
            Training(small_genome_object(), 0, 10, tmp_path / "T2.pt", start_from=tmp_path / "T1.pt"))


def small_genome_object():
    from eigen.genome.dna import Genome
    return Genome.from_dict(small_genome(), 32)


INTERNAL: list[str] = []  # the internal-error sentence, for docs/errors.md

# Sentences that are not bad input (exit 2) but what eigen says when it is stopped, cannot write a
# picture, or leaves files out; each is produced by a test below, for docs/errors.md.
OTHER_CASES = ["stopped by SIGTERM (exit 143; SIGHUP 129, Ctrl-C 130)", "a search stopped by SIGTERM",
               "eval where the model's folder is read-only (exit 0)", "report of a read-only run",
               "resuming a read-only run", "image folder with some unreadable files (a note; the rest is used)"]
OTHER: dict[str, str] = {}


def test_a_signal_stops_a_command_with_one_sentence_saying_how_to_continue(monkeypatch, capsys):
    import signal
    from eigen import cli
    config_class, _, description = cli.COMMANDS["duplicate"]

    def terminated(config):
        os.kill(os.getpid(), signal.SIGTERM)
    monkeypatch.setitem(cli.COMMANDS, "duplicate", (config_class, terminated, description))
    before = signal.getsignal(signal.SIGTERM)  # the default, or a library's (Ray installs one)
    assert main(["duplicate", "runs/best.json", "--gpu", "-1"]) == 143
    OTHER[OTHER_CASES[0]] = capsys.readouterr().err.strip()
    assert OTHER[OTHER_CASES[0]] == "eigen duplicate: stopped by SIGTERM; continue with `eigen duplicate runs/best.json --gpu -1`"
    assert signal.getsignal(signal.SIGTERM) is before  # eigen's handler lasts as long as the command


def test_a_search_stopped_by_a_signal_prints_its_resume_command(finished_run, tmp_path, monkeypatch, capsys):
    import signal
    from eigen.engine.eigen_search import EigenSearch
    monkeypatch.setattr(EigenSearch, "run", lambda self: os.kill(os.getpid(), signal.SIGTERM))
    assert main(["search", *TINY, "--out", str(tmp_path / "run")]) == 143
    OTHER[OTHER_CASES[1]] = capsys.readouterr().err.strip().replace(str(tmp_path), "<tmp>")
    assert OTHER[OTHER_CASES[1]] == "eigen search: stopped by SIGTERM; continue with `eigen search --resume <tmp>/run --gpu -1`"


def read_only(errno_path):
    import errno
    return OSError(errno.EROFS, os.strerror(errno.EROFS), str(errno_path))


def test_the_sentences_for_read_only_places(finished_run, tmp_path, monkeypatch, capsys):
    """The wording (tests/test_read_only.py checks the behaviour on a real read-only mount)."""
    from eigen.commands import setup
    from eigen.errors import cannot_save
    OTHER[OTHER_CASES[2]] = "note: " + cannot_save(read_only("<run>/final/confusion-model-synthetic.png"),
                                                   "the confusion matrix", "pass --confusion PATH to draw it elsewhere")
    OTHER[OTHER_CASES[3]] = "eigen report: " + cannot_save(read_only("<run>/report/fitness.png"), "the report",
                                                           "pass --out DIR to draw it elsewhere")

    def refuse(folder, command):
        raise read_only(folder / ".eigen.lock")
    monkeypatch.setattr(setup, "lock_folder", refuse)
    assert main(["search", "--resume", str(finished_run), "--gpu", "-1"]) == 2
    OTHER[OTHER_CASES[4]] = capsys.readouterr().err.strip().replace(str(finished_run), "<run>")
    assert "copy the run somewhere you can write" in OTHER[OTHER_CASES[4]]


def test_the_note_for_an_image_folder_with_unreadable_files(tmp_path):
    from eigen.data.datasets import load_splits
    from tests.data.test_hostile_images import hostile, image_folder
    root = image_folder(tmp_path / "pets")
    hostile(root / "train" / "red")
    [note] = [n for n in load_splits(f"imagefolder:{root}", image_size=8).notes if "could not be read" in n]
    # Pillow's own words for the bomb vary by version: the docs keep eigen's
    OTHER[OTHER_CASES[5]] = re.sub(r"decompression bomb \(.*?\)\)", "decompression bomb (...))",
                                   note.replace(str(tmp_path), "<tmp>"))


def render() -> str:
    lines = ["# What eigen says when the input is wrong", "",
             "Generated from the cases in `tests/test_errors.py` (`EIGEN_WRITE_DOCS=1 python3 -m pytest",
             "tests/test_errors.py` rewrites it), which check that each is one sentence on stderr with exit",
             "code 2, no traceback, and that nothing was written or lost. `<tmp>` is a scratch folder, `<run>` a",
             "finished run folder.", "",
             "| bad input | command | what eigen says |", "|---|---|---|"]
    for case in CASES:
        command, message = RESULTS[case.what]
        lines.append(f"| {case.what} | `{command}` | {message.replace('|', '/')} |")
    lines += ["", "## Internal errors (exit code 70)", "",
              "A file eigen wrote itself and expected to read back is not there. That is a bug in eigen, not",
              "something to fix in the data or on the disk, and the sentence says so (the disk advice is kept",
              "for real errors from the system). For example, a checkpoint the search was about to copy:", "",
              f"> {INTERNAL[0]}",
              "", "## Stopped, unwritable, unreadable", "",
              "Not bad input, but what eigen says when a signal stops it (the exit code is the shell's for",
              "the signal), when a picture cannot be saved where it goes by default (the results are printed",
              "first), and when some files of an image folder are not images.", "",
              "| what happened | what eigen says |", "|---|---|"]
    lines += [f"| {what} | {OTHER[what].replace('|', '/')} |" for what in OTHER_CASES]
    return "\n".join(lines) + "\n"


def test_docs_errors_md_is_current():
    if len(RESULTS) < len(CASES) or not INTERNAL or len(OTHER) < len(OTHER_CASES):
        pytest.skip("needs every case above to have run in this session")
    if os.environ.get("EIGEN_WRITE_DOCS"):
        DOC.write_text(render())
    assert DOC.exists() and DOC.read_text() == render(), \
        "docs/errors.md is stale: EIGEN_WRITE_DOCS=1 python3 -m pytest tests/test_errors.py rewrites it"
