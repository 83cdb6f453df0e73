"""Image folders done right (issue #18, item 4): val/ accepted as the held-out split, resizing said
once, split sizes stated, a teacher per folder (named after the folder and its fingerprint), and a
mimicry hint that runs as printed."""
import shlex

import numpy as np
import pytest
from PIL import Image

from eigen.cli import main
from eigen.training.teacher import find_teacher
from eigen.config import SearchConfig
from eigen.data.datasets import load_splits


def image_folder(root, held_out="val", per_class=80, size=(12, 10), seed=0):
    """Two classes (reddish, bluish) of non-square images, in train/ and `held_out`/."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", per_class), (held_out, 10)):
        for label, channel in (("red", 0), ("blue", 2)):
            folder = root / split / label
            folder.mkdir(parents=True)
            for k in range(n):
                pixels = rng.integers(0, 90, (size[1], size[0], 3), dtype=np.uint8)
                pixels[..., channel] += 150
                Image.fromarray(pixels).save(folder / f"{k}.png")
    return root


def test_val_is_the_held_out_split_when_there_is_no_test(tmp_path):
    splits = load_splits(f"imagefolder:{image_folder(tmp_path / 'pets')}", image_size=8)
    assert len(splits.test) == 20 and len(splits.train) + len(splits.val) == 160
    assert splits.classes == ("blue", "red")
    assert any("no test/: its val/ is the test set" in note for note in splits.notes)
    resized = [note for note in splits.notes if "resized to 8x8" in note]
    assert len(resized) == 1 and "180 of the 180 images" in resized[0] and "not square" in resized[0]
    assert "16 validation (held out of training), 20 test images" in splits.describe()


def test_images_already_at_size_are_not_reported_as_resized(tmp_path):
    splits = load_splits(f"imagefolder:{image_folder(tmp_path / 'p', held_out='test', size=(8, 8))}", image_size=8)
    assert splits.notes == ()


def test_two_folders_with_the_same_classes_get_their_own_teacher(tmp_path):
    a = load_splits(f"imagefolder:{image_folder(tmp_path / 'pets')}", image_size=8)
    b = load_splits(f"imagefolder:{image_folder(tmp_path / 'other', seed=1)}", image_size=8)
    assert a.identity.startswith("imagefolder-pets-") and b.identity.startswith("imagefolder-other-")
    assert a.identity != b.identity and a.num_classes == b.num_classes
    assert load_splits("synthetic", image_size=8).identity == "synthetic"


def test_the_mimicry_hint_trains_the_teacher_the_search_then_uses(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # teachers/ is relative to where eigen runs
    pets = load_splits(f"imagefolder:{image_folder(tmp_path / 'pets')}", image_size=8)
    other = load_splits(f"imagefolder:{image_folder(tmp_path / 'other', seed=1)}", image_size=8)
    config = SearchConfig(dataset=f"imagefolder:{tmp_path / 'pets'}", image_size=8, gpu=-1)
    teacher, note = find_teacher(config, pets)
    assert teacher is None
    hint = note.split("`")[1]
    assert hint == f"eigen train-teacher --dataset imagefolder:{tmp_path / 'pets'} --image-size 8 --gpu -1"
    # As printed, with a small teacher so the test is short.
    assert main(shlex.split(hint)[1:] + ["--members", "1", "--depth", "10", "--growth", "4", "--epochs", "1"]) == 0
    teacher, note = find_teacher(config, pets)
    assert teacher is not None and teacher.name == pets.identity and note.startswith("mimicry on")
    assert find_teacher(config, other)[0] is None  # the other folder does not borrow pets' teacher


def test_a_folder_with_neither_test_nor_val_says_so(tmp_path):
    from eigen.errors import DataError
    root = image_folder(tmp_path / "x", held_out="holdout")
    with pytest.raises(DataError, match=r"needs a 'test/' subfolder .*\(or 'val/' in place of 'test/'\)"):
        load_splits(f"imagefolder:{root}", image_size=8)
