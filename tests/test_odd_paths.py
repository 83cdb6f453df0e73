"""Odd paths (issue #29, item 5): spaces, quotes, non-ASCII letters and long paths in --out, image
folders, model paths and image paths, through search, duplicate, eval, report and predict; every next
step a command prints is quoted, so pasted into a shell (here: split as a shell splits it) it runs
on the same paths."""
from __future__ import annotations

import json
import re
import shlex
from types import SimpleNamespace

from eigen.cli import main
from eigen.training.teacher import train_teacher_hint
from tests.data.test_image_folders import image_folder

ODD = "mes résultats — v2 (l'été)"  # a space, an apostrophe (a shell quote), accents, a dash, parentheses


def printed(out: str, prefix: str) -> list[str]:
    """The arguments of the command printed after `prefix` (split as a shell would split the line)."""
    line = re.search(rf"^{prefix}: (eigen .*)$", out, re.MULTILINE)
    assert line, out
    words = shlex.split(line.group(1))
    assert words[0] == "eigen"
    return words[1:]


def test_a_run_in_an_odd_long_place_goes_through_every_command_as_printed(tmp_path, capsys):
    root = tmp_path / ODD / ("long-" + "x" * 120) / "ünïcode 日本"
    images = image_folder(root / "my pets", held_out="test", size=(8, 8))
    run = root / "run 1"
    assert len(str(run)) > 200
    assert main(["search", "--dataset", f"imagefolder:{images}", "--image-size", "8", "--gpu", "-1",
                 "--schedule-scale", "0.004", "--population", "3", "--p", "2", "--q", "1", "--max-generations", "1",
                 "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert printed(out, "continue with") == ["search", "--resume", str(run), "--gpu", "-1", "--max-generations", "2"]
    duplicate = printed(out, "next")
    assert duplicate[:2] == ["duplicate", str(run / "best.json")]
    assert main(duplicate + ["--candidates", "1"]) == 0

    evaluate = printed(capsys.readouterr().out, "next")
    assert evaluate == ["eval", str(run / "final")]
    assert main(evaluate) == 0
    assert "test accuracy" in capsys.readouterr().out
    assert (run / "final" / "confusion-model-imagefolder.png").exists()

    assert main(["report", str(run)]) == 0
    assert f"wrote {run / 'report' / 'fitness.png'}" in capsys.readouterr().out

    picture = next((images / "test" / "red").iterdir())
    odd_picture = root / "photo d'été (1).png"
    odd_picture.write_bytes(picture.read_bytes())
    assert main(["predict", str(run / "final" / "model.pt2"), str(odd_picture), "--json"]) == 0
    [answer] = json.loads(capsys.readouterr().out)["predictions"]
    assert answer["image"] == str(odd_picture)


def test_the_teacher_hint_quotes_an_odd_data_folder():
    splits = SimpleNamespace(folder=None, name="cifar10", image_size=32, in_memory=False)
    hint = train_teacher_hint(splits, f"/data/{ODD}", 0)
    assert shlex.split(hint) == ["eigen", "train-teacher", "--dataset", "cifar10", "--data-dir", f"/data/{ODD}"]
