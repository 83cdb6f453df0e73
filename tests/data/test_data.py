"""Datasets, the split, and augmentation on the device by view index."""
import numpy as np
import pytest
import torch
from PIL import Image

from eigen.data.datasets import ImageSet, Splits, load_splits, make_synthetic, stratified_split, validation_size
from eigen.data.device_data import CENTER_VIEW, NUM_VIEWS, PAD, BatchOrder, DeviceData, decode_views, view_index
from eigen.errors import DataError


def test_cifar_sized_split_holds_out_5000_stratified():
    labels = np.repeat(np.arange(10), 5000)
    np.random.default_rng(1).shuffle(labels)
    assert validation_size(len(labels), 10) == 5000
    train, val = stratified_split(labels, 5000, seed=0)
    assert len(val) == 5000 and len(train) == 45000
    assert np.intersect1d(train, val).size == 0
    assert np.array_equal(np.union1d(train, val), np.arange(50000))
    assert (np.bincount(labels[val]) == 500).all()


@pytest.mark.parametrize("seed", range(5))
def test_split_is_proportional_and_deterministic(seed):
    rng = np.random.default_rng(seed)
    labels = rng.choice(7, size=997, p=[0.3, 0.2, 0.15, 0.15, 0.1, 0.05, 0.05])
    a = stratified_split(labels, 100, seed)
    b = stratified_split(labels, 100, seed)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    train, val = a
    assert len(val) == 100 and np.intersect1d(train, val).size == 0
    expected = np.bincount(labels, minlength=7) * 100 / len(labels)
    assert np.all(np.abs(np.bincount(labels[val], minlength=7) - expected) < 1)
    assert not np.array_equal(stratified_split(labels, 100, seed + 100)[1], val)


def test_synthetic_splits():
    s = load_splits("synthetic")
    assert s.num_classes == 8 and s.image_size == 32
    assert len(s.val) == 300 and len(s.train) == 2700 and len(s.test) == 600
    assert s.train.x.dtype == np.uint8 and s.train.x.shape[1:] == (32, 32, 3)
    assert load_splits("synthetic").fingerprint() == s.fingerprint()


def write_npz(folder, name, n_train=60, n_test=20, **overrides):
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        arrays = dict(x=rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), y=np.arange(n) % 10,
                      classes=np.array([f"c{k}" for k in range(10)]))
        if split == "train":
            arrays.update(overrides)
        np.savez(folder / f"{name}_{split}.npz", **arrays)


def test_offline_npz_layout_is_read(tmp_path):
    write_npz(tmp_path, "cifar10")
    s = load_splits("cifar10", tmp_path)
    assert s.classes[0] == "c0" and len(s.train) + len(s.val) == 60 and len(s.test) == 20


@pytest.mark.parametrize("problem, message", [
    ("corrupt", "is not a readable cifar10 file"),
    ("shape", "should hold x (N, H, W, 3) uint8"),
    ("labels", "labels must lie in 0..9"),
])
def test_bad_npz_files_give_clear_errors(tmp_path, problem, message):
    if problem == "corrupt":
        write_npz(tmp_path, "cifar10")
        (tmp_path / "cifar10_train.npz").write_bytes(b"not a zip file")
    elif problem == "shape":
        write_npz(tmp_path, "cifar10", x=np.zeros((60, 32, 32), np.uint8))
    else:
        write_npz(tmp_path, "cifar10", y=np.full(60, 12))
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_splits("cifar10", tmp_path)


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown dataset 'mnist'"):
        load_splits("mnist")


def make_image_folder(root, classes=("cat", "dog"), per_class=6, size=20):
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for c in classes:
            (root / split / c).mkdir(parents=True)
            for k in range(per_class):
                Image.fromarray(rng.integers(0, 256, (size, size + 4, 3), dtype=np.uint8)).save(root / split / c / f"{k}.png")


def test_image_folder_is_loaded_and_resized(tmp_path):
    make_image_folder(tmp_path)
    s = load_splits(f"imagefolder:{tmp_path}", image_size=16)
    assert s.classes == ("cat", "dog") and s.train.x.shape[1:] == (16, 16, 3)
    assert len(s.train) + len(s.val) == 12 and len(s.test) == 12
    assert s.name == "imagefolder"


@pytest.mark.parametrize("problem, message", [
    ("empty", "holds no images"),
    ("one class", "a classifier needs at least two"),
    ("no test", "needs a 'test/' subfolder"),
    ("no image readable", "none of the .* files in .* could be read as an image"),  # one bad file: left out, said
])
def test_bad_image_folders_give_clear_errors(tmp_path, problem, message):
    if problem == "empty":
        (tmp_path / "train").mkdir()
        (tmp_path / "test").mkdir()
    elif problem == "one class":
        make_image_folder(tmp_path, classes=("cat",))
    elif problem == "no test":
        make_image_folder(tmp_path)
        for f in (tmp_path / "test").rglob("*.png"):
            f.unlink()
        for d in sorted((tmp_path / "test").rglob("*"), reverse=True):
            d.rmdir()
        (tmp_path / "test").rmdir()
    else:
        make_image_folder(tmp_path)
        for f in (tmp_path / "train").rglob("*.png"):
            f.write_bytes(b"garbage")
    with pytest.raises(DataError, match=message):
        load_splits(f"imagefolder:{tmp_path}")


@pytest.fixture(scope="module")
def small_data():
    train, test, classes = make_synthetic(n_train=300, n_test=50)
    splits = Splits("synthetic", tuple(classes), train, ImageSet(test.x[:40], test.y[:40]), test)
    return DeviceData(splits, "cpu", with_test=True)


def test_view_numbering_round_trips():
    views = torch.arange(NUM_VIEWS)
    dy, dx, flip = decode_views(views)
    assert [view_index(*map(int, t)) for t in zip(dy, dx, flip)] == list(range(NUM_VIEWS))
    assert NUM_VIEWS == 162 and decode_views(torch.tensor([CENTER_VIEW])) == (torch.tensor([PAD]),) * 2 + (torch.tensor([0]),)


def test_augmentation_by_view_reproduces_the_exact_crop(small_data):
    """Each (image, view) equals a hand-made 4-pixel-pad crop and flip of that image."""
    rng = np.random.default_rng(0)
    idx = torch.from_numpy(rng.integers(0, small_data.num_train, 64))
    views = torch.from_numpy(rng.integers(0, NUM_VIEWS, 64))
    out = small_data.augmented(idx, views)
    assert out.shape == (64, 3, 32, 32) and out.dtype == torch.float32
    images = small_data.train_padded[:, :, PAD:-PAD, PAD:-PAD].permute(0, 2, 3, 1).numpy()  # (N, H, W, 3)
    for k in range(64):
        dy, dx, flip = (int(v) for v in decode_views(views[k:k + 1]))
        padded = np.pad(images[int(idx[k])], ((PAD, PAD), (PAD, PAD), (0, 0)))
        crop = padded[dy:dy + 32, dx:dx + 32]
        if flip:
            crop = crop[:, ::-1]
        expected = small_data.normalize(torch.from_numpy(crop.copy()).permute(2, 0, 1)[None])[0]
        assert torch.equal(out[k], expected)
    again = small_data.augmented(idx, views)
    assert torch.equal(out, again)


def test_center_view_is_the_plain_image(small_data):
    idx = torch.arange(8)
    plain = small_data.train_padded[idx, :, PAD:-PAD, PAD:-PAD]
    assert torch.equal(small_data.augmented(idx, torch.full((8,), CENTER_VIEW)), small_data.normalize(plain))


def test_batch_order_is_a_pure_function_of_seed_and_step():
    a = BatchOrder(1000, 128, seed=3, device=torch.device("cpu"))
    seen = torch.cat([a.batch(s)[0] for s in range(a.steps_per_epoch)])
    assert len(set(seen.tolist())) == len(seen) == 7 * 128  # no image twice in an epoch
    fresh = BatchOrder(1000, 128, seed=3, device=torch.device("cpu"))
    for step in (17, 3, 40, 0):
        assert all(torch.equal(x, y) for x, y in zip(fresh.batch(step), a.batch(step)))
    other = BatchOrder(1000, 128, seed=4, device=torch.device("cpu"))
    assert not torch.equal(other.batch(0)[0], a.batch(0)[0])
