"""eigen as a Python library (issue #42): the commands as functions taking the flags as keywords, data
from arrays or a torch Dataset, typed results, one exception type with the CLI's sentence."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from eigen import api
from eigen.cli import main
from eigen.config import SearchConfig
from eigen.data.datasets import make_synthetic
from eigen.data.in_memory import IN_MEMORY, splits_from
from eigen.errors import EigenError
from eigen.run_folder.folder import RunFolder

TRAIN, TEST, CLASSES = make_synthetic(n_train=400, n_test=80, image_size=8, seed=3)
ARRAYS = (TRAIN.x, TRAIN.y, TEST.x, TEST.y)
# A tiny regularized search: 3 individuals of 20 iterations, 2 events per generation
TINY = dict(strategy="regularized", population=3, sample_size=2, child_steps=20, gpu=-1, quiet=True)
FINAL = dict(gpu=-1, schedule_scale=0.0004, max_copies=2, candidates=2, quiet=True)


@pytest.fixture(scope="module")
def array_run(tmp_path_factory):
    """A search on arrays, stopped after one generation (the folder; tests copy it before writing)."""
    out = tmp_path_factory.mktemp("api") / "run"
    result = api.search(ARRAYS, classes=CLASSES, out=str(out), max_generations=1, **TINY)
    return result


def test_a_search_on_arrays_returns_its_answer_as_the_folder_holds_it(array_run):
    result = array_run
    best = json.loads((result.run / "best.json").read_text())
    assert result.best.id == best["id"] and result.best.val_accuracy == best["val_accuracy"]
    assert result.best.params == best["params"] and result.best.genome.to_dict() == best["genome"]
    assert result.best.weights.exists() and result.best_json == result.run / "best.json"
    assert result.stopped == "max generations"
    assert result.front == json.loads((result.run / "pareto.json").read_text())["front"]
    assert result.cost.flops == best["search_cost"]["flops"] > 0
    config = json.loads((result.run / "config.json").read_text())
    assert config["settings"]["dataset"] == IN_MEMORY and config["settings"]["image_size"] == 8
    assert config["data"]["fingerprint"] == splits_from(ARRAYS, CLASSES).fingerprint()
    assert config["data"]["test"] == len(TEST) and config["data"]["classes"] == len(CLASSES)


def test_a_search_on_arrays_resumes_given_the_same_arrays_and_says_how_without_them(array_run, tmp_path, capsys):
    import shutil
    run = tmp_path / "run"
    shutil.copytree(array_run.run, run)
    assert main(["search", "--resume", str(run), "--gpu", "-1", "--max-generations", "2"]) == 2
    said = capsys.readouterr().err
    assert "made on data given from Python" in said and f"eigen.search(resume={str(run)!r}, data=...)" in said
    other = (TRAIN.x[::-1].copy(), TRAIN.y[::-1].copy(), TEST.x, TEST.y)
    with pytest.raises(EigenError, match="not the data .* was made on"):
        api.search(other, resume=str(run), gpu=-1, max_generations=2, quiet=True)
    before = len(RunFolder(run).read_history())
    resumed = api.search(ARRAYS, classes=CLASSES, resume=str(run), gpu=-1, max_generations=2, quiet=True)
    assert len(RunFolder(run).read_history()) == before + 3  # the second generation: P = 3 events
    assert resumed.run == run


def test_duplicate_takes_the_search_result_and_its_arrays(array_run, tmp_path):
    with pytest.raises(EigenError, match=r"eigen\.duplicate\("):
        api.duplicate(array_run, out=str(tmp_path / "none"), **FINAL)
    assert not (tmp_path / "none").exists()
    final = api.duplicate(array_run, data=ARRAYS, out=str(tmp_path / "final"), **FINAL)
    metrics = json.loads((tmp_path / "final" / "metrics.json").read_text())
    assert final.finished and final.candidate == metrics["model"]["candidate"]
    assert final.test_accuracy == metrics["model"]["test_accuracy"] and final.params == metrics["model"]["params"]
    assert final.cost.seconds == metrics["cost"]["seconds"]["total"]
    assert metrics["classes"] == list(CLASSES)


def test_a_teacher_trained_on_arrays_is_found_by_a_search_on_the_same_arrays(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # teachers/ is relative to the working folder
    teacher = api.train_teacher(ARRAYS, members=1, depth=10, growth=4, epochs=1, gpu=-1, quiet=True)
    fingerprint = splits_from(ARRAYS).fingerprint()
    assert teacher.finished and teacher.folder.name == f"{IN_MEMORY}-{fingerprint[:8]}" and teacher.members == 1
    assert teacher.val_accuracy is not None
    result = api.search(ARRAYS, strategy="eigen", population=2, p=1, q=1, schedule_scale=0.001, max_generations=1,
                        gpu=-1, quiet=True, out="run")
    resolved = json.loads((result.run / "config.json").read_text())["resolved"]
    assert resolved["mimicry"] is True and resolved["teacher"].endswith(teacher.folder.name)
    assert capsys.readouterr() == ("", "")  # quiet=True: no sentence and no bar (members, logits cache)


def test_float_chw_arrays_a_tensor_dataset_and_a_pil_dataset_are_the_same_data():
    """[0, 1] floats (ToTensor's layout), a TensorDataset and a Dataset of PIL images all become the
    uint8 images they came from: one fingerprint."""
    from PIL import Image
    floats = torch.from_numpy(TRAIN.x).permute(0, 3, 1, 2).float() / 255
    reference = splits_from((TRAIN.x, TRAIN.y)).fingerprint()
    assert splits_from((floats, torch.from_numpy(TRAIN.y))).fingerprint() == reference
    assert splits_from(torch.utils.data.TensorDataset(floats, torch.from_numpy(TRAIN.y))).fingerprint() == reference

    class Pictures(torch.utils.data.Dataset):
        classes = list(CLASSES)

        def __len__(self):
            return len(TRAIN)

        def __getitem__(self, i):
            return Image.fromarray(TRAIN.x[i]), int(TRAIN.y[i])

    splits = splits_from(Pictures())
    assert splits.fingerprint() == reference and splits.classes == tuple(CLASSES)
    grey = splits_from((TRAIN.x[..., 0], TRAIN.y))
    assert grey.train.x.shape[-1] == 3 and (grey.train.x[..., 0] == grey.train.x[..., 2]).all()


def test_without_test_arrays_a_stratified_tenth_is_held_out_as_the_test_set():
    splits = splits_from((TRAIN.x, TRAIN.y))
    assert len(splits.test) == len(TRAIN) // 10 and len(splits.train) + len(splits.val) + len(splits.test) == len(TRAIN)
    assert set(np.unique(splits.test.y)) == set(np.unique(TRAIN.y))  # every class in the test set
    assert any("held out as the test set" in note for note in splits.notes)
    with_test = splits_from(ARRAYS)
    assert len(with_test.test) == len(TEST) and not with_test.notes


BAD_DATA = [
    ((TRAIN.x, TRAIN.y + 100), "no image has class 0"),
    ((TRAIN.x, -TRAIN.y - 1), "must be class indices"),
    ((TRAIN.x, TRAIN.y, TEST.x, TEST.y + len(CLASSES)), None),  # caught below with classes=
    ((TRAIN.x.astype(np.float32), TRAIN.y), "channels first for floats"),
    ((TRAIN.x.transpose(0, 3, 1, 2).astype(np.float32), TRAIN.y), r"floats from 0 to 255.*must lie in \[0, 1\]"),
    ((TRAIN.x, TRAIN.y.astype(float)), "integer class indices"),
    ((TRAIN.x[:, :, :4], TRAIN.y), "square"),
    ((TRAIN.x, TRAIN.y[:5]), "one label per image"),
    ((TRAIN.x[..., :2], TRAIN.y), "channels last for uint8"),
    ((TRAIN.x.astype(np.int32), TRAIN.y), "got int32"),
    ((TRAIN.x,), r"\(x_train, y_train\)"),
    ("images.npz", "got the path .images.npz.; a dataset on disk is dataset="),
]


@pytest.mark.parametrize("data, words", [case for case in BAD_DATA if case[1]])
def test_bad_data_is_one_sentence_and_nothing_written(data, words, tmp_path):
    with pytest.raises(EigenError, match=words) as caught:
        api.search(data, out=str(tmp_path / "run"), **TINY)
    assert "\n" not in str(caught.value) and not (tmp_path / "run").exists()


def test_labels_outside_the_named_classes_are_refused(tmp_path):
    with pytest.raises(EigenError, match=rf"labels must lie in 0..{len(CLASSES) - 1}"):
        api.search((TRAIN.x, TRAIN.y, TEST.x, TEST.y + len(CLASSES)), classes=CLASSES, out=str(tmp_path / "r"), **TINY)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("settings, words", [
    (dict(max_generations=0), "sets max_generations: must be at least 1, got 0"),
    (dict(bogus=1), "has no setting 'bogus'"),
    (dict(time_budget="30x"), "'30x' is not a duration"),
    (dict(strategy="nope"), "not one of eigen, large-scale"),
    (dict(no_mimicry="yes"), "it is a switch, pass True or False"),
    (dict(population=2.5), "'2.5' is not a valid int"),
    (dict(dataset="cifar10"), "pass data= or dataset='cifar10', not both"),
])
def test_bad_settings_are_the_flags_sentences(settings, words, tmp_path):
    with pytest.raises(EigenError, match=words):
        api.search((TRAIN.x, TRAIN.y), out=str(tmp_path / "run"), **{**TINY, **settings})
    assert not (tmp_path / "run").exists()


def test_keywords_go_through_the_flags_parsers():
    from eigen.api.keywords import config_from
    config = config_from(SearchConfig, "eigen.search", {"time_budget": "1h30m", "ray": True, "fitness": "acc - 2*mparams"})
    assert config.time_budget == 5400 and config.ray == "local" and config.fitness == "acc - 2*mparams"
    with pytest.raises(EigenError, match="config= or keyword settings, not both"):
        api.search(config=SearchConfig(), gpu=-1)


def test_the_cli_calls_the_python_function(monkeypatch, tmp_path):
    """`eigen search ...` is `eigen.search(config=<the flags' SearchConfig>)`."""
    seen = []
    monkeypatch.setattr(api.functions, "search", lambda **kwargs: seen.append(kwargs))
    assert main(["search", "--dataset", "synthetic", "--max-generations", "3", "--out", str(tmp_path / "r")]) == 0
    (called,) = seen
    assert called["config"] == dataclasses.replace(SearchConfig(), dataset="synthetic", max_generations=3,
                                                   out=str(tmp_path / "r"))


def test_the_library_raises_the_cli_sentence(tmp_path, capsys):
    """One exception type, whose message is what the CLI prints after `eigen <command>: `."""
    missing = tmp_path / "nothing" / "best.json"
    with pytest.raises(EigenError) as caught:
        api.duplicate(missing, gpu=-1, quiet=True)
    assert main(["duplicate", str(missing), "--gpu", "-1"]) == 2
    assert capsys.readouterr().err.strip() == f"eigen duplicate: {caught.value}"


def test_a_run_on_python_data_prints_the_python_calls_that_continue_it(tmp_path):
    """The summary's "continue with" and "next:" lines cannot be CLI commands for data eigen does not
    keep: they are the calls, with the settings the CLI's would carry."""
    from eigen.commands.search import duplicate_command_for, resume_command
    folder = RunFolder(tmp_path / "run")
    config = SearchConfig(dataset=IN_MEMORY, gpu=-1, schedule_scale=0.5, child_recipe="fast")
    assert resume_command(folder, config, 3) == (f"eigen.search(resume={str(folder.path)!r}, data=..., gpu=-1, "
                                                 f"max_generations=3)")
    assert duplicate_command_for(folder, config) == (f"eigen.duplicate({str(folder.best)!r}, data=..., gpu=-1, "
                                                     f"schedule_scale=0.5, final_recipe='fast')")
    assert duplicate_command_for(folder, config, "c4").startswith(f"eigen.duplicate({str(folder.path)!r}, pick='c4'")
    cli = dataclasses.replace(config, dataset="cifar10")
    assert duplicate_command_for(folder, cli).startswith("eigen duplicate ")
