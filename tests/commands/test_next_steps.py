"""Every command eigen prints as a next step runs as printed on this (CPU-only) machine: the search's
`continue with:` and `next:` lines, the duplication's `next:` line, and the resume command an
interrupted search prints."""
import io
import re
import shlex
import sys

import pytest

from eigen.cli import main
from eigen.run_folder.folder import RunFolder

SMOKE = ["search", "--dataset", "synthetic", "--image-size", "16", "--gpu", "-1", "--schedule-scale", "0.004",
         "--population", "4", "--p", "2", "--q", "1", "--primary-step", "3", "--secondary-step", "2"]


def run_quietly(*commands: list[str]) -> str:
    """Run each argv through `main` (each must succeed) and return what they printed: for module-scoped
    fixtures, which cannot take capsys."""
    out = io.StringIO()
    mp = pytest.MonkeyPatch()
    mp.setattr(sys, "stdout", out)
    try:
        for argv in commands:
            assert main(argv) == 0, argv
    finally:
        mp.undo()
    return out.getvalue()


def printed(out: str, label: str) -> list[str]:
    """The command after `label:` in the output, as argv for `main` (without the leading `eigen`)."""
    line = re.search(rf"^{label}: (eigen .*)$", out, re.M)
    assert line, f"no '{label}:' line in:\n{out}"
    words = shlex.split(line.group(1))
    return words[1:]


def test_ctrl_c_in_a_search_says_how_to_continue(tmp_path, capsys, monkeypatch):
    from eigen.engine.eigen_search import EigenSearch
    run = tmp_path / "run"
    real_run = EigenSearch.run

    def interrupted(self):
        raise KeyboardInterrupt
    monkeypatch.setattr(EigenSearch, "run", interrupted)
    assert main(SMOKE + ["--max-generations", "1", "--out", str(run)]) == 130
    err = capsys.readouterr().err
    command = re.search(r"interrupted; continue with `(eigen [^`]*)`", err)
    assert command, err
    monkeypatch.setattr(EigenSearch, "run", real_run)
    assert command.group(1) == f"eigen search --resume {run} --gpu -1"
    # It runs, as printed: the resumed sitting trains the generation the interrupted one never began.
    assert main(shlex.split(command.group(1))[1:]) == 0
    assert {r["generation"] for r in RunFolder(run).read_history()} == {1}
    assert "search stopped (" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["duplicate", "train-teacher"])
def test_ctrl_c_in_a_command_that_continues_says_to_run_it_again(command, capsys, monkeypatch):
    from eigen import cli
    config_class, _, description = cli.COMMANDS[command]

    def interrupted(config):
        raise KeyboardInterrupt
    monkeypatch.setitem(cli.COMMANDS, command, (config_class, interrupted, description))
    assert main([command, "--gpu", "-1"]) == 130
    assert f"interrupted; continue with `eigen {command} --gpu -1`" in capsys.readouterr().err


def test_a_cpu_search_stopped_by_max_generations_prints_commands_that_run(tmp_path, capsys):
    """On CIFAR in a --data-dir of its own, the hardest case: `continue with:` (a higher
    --max-generations), the search's `next:` and the duplication's `next:` carry the device, the scale
    and the data folder, so each runs as printed (the default folder holds no CIFAR here)."""
    import numpy as np
    data = tmp_path / "my data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 300), ("test", 40)):
        np.savez(data / f"cifar10_{split}.npz", x=rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
                 y=np.arange(n) % 10)
    run = tmp_path / "run"
    assert main(["search", "--dataset", "cifar10", "--data-dir", str(data), "--preprocess", "standard",
                 *SMOKE[3:], "--max-generations", "1", "--out", str(run)]) == 0
    out = capsys.readouterr().out
    again = printed(out, "continue with")
    assert again == ["search", "--resume", str(run), "--data-dir", str(data), "--gpu", "-1", "--max-generations", "2"]
    duplicate = printed(out, "next")
    assert duplicate == ["duplicate", str(run / "best.json"), "--data-dir", str(data), "--gpu", "-1",
                         "--schedule-scale", "0.004"]
    assert main(duplicate + ["--candidates", "1"]) == 0  # as printed; one candidate keeps the test short
    evaluate = printed(capsys.readouterr().out, "next")
    assert evaluate == ["eval", str(run / "final"), "--data-dir", str(data)]  # no --gpu: eval chooses the device
    assert main(evaluate) == 0
    out = capsys.readouterr().out
    assert "evaluating on the CPU" in out and "test accuracy" in out
    assert main(again) == 0  # it trains a second generation instead of stopping at once
    assert {r["generation"] for r in RunFolder(run).read_history()} == {1, 2}


def test_a_next_step_names_the_data_folder_only_where_the_default_would_not_find_the_data():
    from eigen.data.datasets import DEFAULT_DATA_DIR, data_dir_flag
    assert data_dir_flag("cifar100", "/data/my cifar") == " --data-dir '/data/my cifar'"
    assert data_dir_flag("cifar10", DEFAULT_DATA_DIR) == ""
    assert data_dir_flag("synthetic", "/data") == data_dir_flag("imagefolder:/pets", "/data") == ""
