"""Hostile and unusual image files (issue #29, item 3): the valid but unusual read as the picture a
viewer shows, the hostile are one sentence naming the file, in `predict`, `imagefolder:` data and
`eval`; a decompression bomb is refused from its header, never an out-of-memory."""
from __future__ import annotations

import io
import resource

import numpy as np
import pytest
from PIL import Image

from eigen.cli import main
from eigen.data.datasets import load_splits
from eigen.data.images import UnreadableImage, read_rgb

RNG = np.random.default_rng(0)
PICTURE = (RNG.random((20, 30, 3)) * 255).astype(np.uint8)  # 30 wide, 20 high


def unusual(folder):
    """Valid files a camera, a scanner or a web page gives: each must read as RGB."""
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(PICTURE).convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray((RNG.random((20, 30)) * 65535).astype(np.uint16)).save(folder / "grey16.png")
    Image.fromarray(PICTURE).convert("RGBA").save(folder / "rgba.png")
    Image.fromarray(PICTURE).convert("P").save(folder / "palette.png")
    Image.fromarray(PICTURE).convert("P").save(folder / "palette-transparent.png", transparency=0)
    Image.fromarray(PICTURE).save(folder / "animated.gif", save_all=True, append_images=[Image.fromarray(255 - PICTURE)],
                                  duration=100, loop=0)
    rotated = Image.fromarray(PICTURE)
    exif = rotated.getexif()
    exif[0x0112] = 6  # EXIF orientation: rotate 90 degrees clockwise to show
    rotated.save(folder / "rotated.jpg", exif=exif)
    return folder


def hostile(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notes.png").write_text("not an image at all")
    whole = io.BytesIO()
    Image.fromarray(PICTURE).save(whole, "PNG")
    (folder / "truncated.png").write_bytes(whole.getvalue()[: len(whole.getvalue()) // 2])
    bomb(folder / "bomb.png")
    return folder


def bomb(path):
    """A 256-megapixel PNG of 31 kB, made in another process (256 MB of pixels never enter this one)."""
    import subprocess
    import sys
    subprocess.run([sys.executable, "-c", "import sys; from PIL import Image; "
                    "Image.new('1', (16_000, 16_000)).save(sys.argv[1])", str(path)], check=True)


def test_unusual_files_read_as_rgb_and_as_a_viewer_shows_them(tmp_path):
    folder = unusual(tmp_path)
    for path in sorted(folder.iterdir()):
        pixels, resized, not_square = read_rgb(path, 16)
        assert pixels.shape == (16, 16, 3) and pixels.dtype == np.uint8, path.name
        assert resized and not_square
    # the EXIF-rotated JPEG stands upright: 20 wide and 30 high once rotated, so its first column is
    # the picture's last row (to JPEG's rounding)
    upright, _, _ = read_rgb(folder / "rotated.jpg", 30)
    assert read_rgb(folder / "rotated.jpg", 30)[0].shape == (30, 30, 3)
    from PIL import ImageOps
    with Image.open(folder / "rotated.jpg") as im:
        assert ImageOps.exif_transpose(im).size == (20, 30)
    # 16-bit greyscale is scaled into 8 bits, not clipped to white
    grey, _, _ = read_rgb(folder / "grey16.png", 16)
    assert 60 < grey.mean() < 195 and len(np.unique(grey)) > 20
    # the animated GIF is its first frame
    first, _, _ = read_rgb(folder / "animated.gif", 30)
    expected, _, _ = read_rgb(tmp_path / "palette.png", 30)
    assert abs(first.astype(int) - expected.astype(int)).mean() < 40


@pytest.mark.parametrize("name, reason", [("notes.png", "not an image"), ("truncated.png", "truncated"),
                                          ("bomb.png", "decompression bomb")])
def test_hostile_files_are_one_reason_and_a_bomb_costs_no_memory(tmp_path, name, reason):
    folder = hostile(tmp_path)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(UnreadableImage, match=reason):
        read_rgb(folder / name, 32)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # kB: 256 MP decoded would be 768 MB


def image_folder(root, per_class=12):
    for split, n in (("train", per_class), ("test", 4)):
        for label, channel in (("red", 0), ("blue", 2)):
            folder = root / split / label
            folder.mkdir(parents=True)
            for k in range(n):
                pixels = RNG.integers(0, 90, (8, 8, 3), dtype=np.uint8)
                pixels[..., channel] += 150
                Image.fromarray(pixels).save(folder / f"{k}.png")
    return root


def test_a_dataset_leaves_out_its_bad_files_and_says_so_once(tmp_path):
    root = image_folder(tmp_path / "pets")
    hostile(root / "train" / "red")
    unusual(root / "train" / "blue")
    splits = load_splits(f"imagefolder:{root}", image_size=8)
    # the six unusual files are in (a .gif is not an image-folder extension), the three bad ones out
    assert len(splits.train) + len(splits.val) == 24 + 6
    said = [note for note in splits.notes if "could not be read" in note]
    assert len(said) == 1, splits.notes
    assert "3 of the 41 files" in said[0] and "bomb.png" in said[0] and "notes.png" in said[0]


def test_a_folder_with_nothing_readable_is_one_sentence(tmp_path, capsys):
    root = tmp_path / "junk"
    for split in ("train", "test"):
        for label in ("a", "b"):
            (root / split / label).mkdir(parents=True)
            (root / split / label / "x.png").write_text("no")
    assert main(["search", "--dataset", f"imagefolder:{root}", "--gpu", "-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "none of the 2 files" in err[0] and "could be read" in err[0], err
