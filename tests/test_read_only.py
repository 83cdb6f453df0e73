"""Read-only places (issue #29, item 4): `eval`, `report` and `predict` of a run or final folder the
user cannot write still print their results (a picture that cannot be saved is one sentence, or goes
to --out / --confusion), and `search --resume` of a read-only run is refused before any work.

The folder is made read-only for real: a read-only bind mount where the tests run as root (root
writes through permission bits), else the permission bits; the tests skip, saying why, where
neither is possible.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess

import pytest

from eigen.cli import main
from tests.search.test_search_run import TINY


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A search of one generation and its duplication (one candidate): a run folder with final/."""
    run = tmp_path_factory.mktemp("read-only") / "run"
    assert main(["search", *TINY[:TINY.index("--max-generations")], "--max-generations", "1", "--out", str(run)]) == 0
    assert main(["duplicate", str(run / "best.json"), "--gpu", "-1", "--schedule-scale", "0.004",
                 "--candidates", "1"]) == 0
    return run


def _snapshot(folder):
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*")}


@pytest.fixture
def read_only(finished_run, tmp_path):
    """A read-only copy of the finished run (its absolute paths as `eigen` sees them), unchanged
    after the test."""
    copy = tmp_path / "share" / "run"
    shutil.copytree(finished_run, copy)
    view = tmp_path / "ro"
    if os.geteuid() == 0:
        view.mkdir()
        bound = subprocess.run(["mount", "--bind", str(copy), str(view)], capture_output=True, text=True)
        if bound.returncode != 0:
            pytest.skip(f"root here, and a read-only bind mount is not allowed ({bound.stderr.strip()})")
        subprocess.run(["mount", "-o", "remount,ro,bind", str(view)], check=True, capture_output=True)
        try:
            before = _snapshot(view)
            yield view
            assert _snapshot(view) == before, "something in the read-only folder changed"
        finally:
            subprocess.run(["umount", "-l", str(view)], capture_output=True)
    else:
        for path in [copy, *copy.rglob("*")]:
            path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        before = _snapshot(copy)
        try:
            yield copy
            assert _snapshot(copy) == before, "something in the read-only folder changed"
        finally:
            for path in [copy, *copy.rglob("*")]:
                path.chmod(path.stat().st_mode | stat.S_IWUSR)


def test_eval_of_a_read_only_final_folder_prints_the_accuracy_and_says_where_the_picture_can_go(read_only, capsys):
    assert main(["eval", str(read_only / "final"), "--gpu", "-1"]) == 0
    out, err = capsys.readouterr()
    assert "test accuracy" in out and "per class" in out
    note = err.strip().splitlines()[-1]
    assert note == (f"note: the confusion matrix could not be saved in {read_only / 'final'} (read-only file system)"
                    f"; pass --confusion PATH to draw it elsewhere") or "(permission denied)" in note, note


def test_eval_json_of_a_read_only_run_says_the_picture_was_not_saved(read_only, capsys):
    assert main(["eval", str(read_only), "--gpu", "-1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["top1"] > 0 and result["confusion"]["png"] is None
    assert "could not be saved" in result["confusion"]["error"] and len(result["confusion"]["matrix"]) == 8


def test_eval_draws_the_confusion_where_it_is_told(read_only, tmp_path, capsys):
    png = tmp_path / "mine" / "confusion.png"
    assert main(["eval", str(read_only / "final"), "--gpu", "-1", "--confusion", str(png)]) == 0
    assert png.exists() and png.with_suffix(".svg").exists()
    assert f"confusion matrix: {png}" in capsys.readouterr().out


def test_eval_told_to_draw_into_a_read_only_place_prints_the_accuracy_then_one_sentence(read_only, capsys):
    assert main(["eval", str(read_only / "final"), "--gpu", "-1", "--confusion", str(read_only / "c.png")]) == 2
    out, err = capsys.readouterr()
    assert "test accuracy" in out
    assert err.strip().splitlines() == [f"eigen eval: the confusion matrix could not be saved in {read_only} "
                                        f"({err.split('(')[1].split(')')[0]}); pass --confusion PATH to draw it elsewhere"]


def test_report_of_a_read_only_run_prints_the_generations_and_draws_into_out(read_only, tmp_path, capsys):
    assert main(["report", str(read_only)]) == 2
    out, err = capsys.readouterr()
    assert "gen" in out and "g1c" in out  # the generation table came first
    assert err.strip().splitlines()[-1].startswith(f"eigen report: the report could not be saved in "
                                                   f"{read_only / 'report'} (")
    assert err.strip().endswith("; pass --out DIR to draw it elsewhere")
    assert main(["report", str(read_only), "--out", str(tmp_path / "plots")]) == 0
    drawn = {p.name for p in (tmp_path / "plots").iterdir()}
    assert {"fitness.png", "fitness.svg", "cost.png", "duplicates.png", "final-curves.png"} <= drawn
    assert f"wrote {tmp_path / 'plots' / 'fitness.png'}" in capsys.readouterr().out


def test_predict_from_a_read_only_final_folder_answers(read_only, tmp_path, capsys):
    from PIL import Image
    image = tmp_path / "cat.png"
    Image.new("RGB", (16, 16), (200, 40, 40)).save(image)
    assert main(["predict", str(read_only / "final"), str(image), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["predictions"]) == 1


def test_resuming_a_read_only_run_is_refused_before_any_work(read_only, capsys):
    assert main(["search", "--resume", str(read_only), "--gpu", "-1", "--max-generations", "2"]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # no data read, nothing trained
    assert err.strip().splitlines() == [
        f"eigen search: cannot write in {read_only} ({err.split('(')[1].split(')')[0]}), and `eigen search` writes "
        f"there as it works; copy the run somewhere you can write (cp -r {read_only} COPY) and run "
        f"`eigen search --resume COPY`, or fix the permissions"]


def test_duplicating_into_a_read_only_final_folder_asks_for_out(read_only, capsys):
    assert main(["duplicate", str(read_only / "best.json"), "--gpu", "-1", "--schedule-scale", "0.004"]) == 2
    assert capsys.readouterr().err.strip().endswith("pass a writable --out, or fix the permissions")
