"""What eigen writes and how (SPEC §12): nothing outside the run folder unless asked, the user's
permissions on every file, and renames that survive a power loss."""
import json
import os
import stat
from dataclasses import replace

import pytest
import torch

from eigen.run_folder import folder as run_folder
from eigen.commands.search import search_command
from eigen.run_folder.portable import resolve_from_file
from eigen.run_folder.folder import copy_atomic, write_json, write_torch
from eigen.views.search_progress import PlainProgress
from tests.search.test_search import Scripted
from tests.search.test_search_run import tiny_config


def scripted_search(config):
    import io
    return search_command(replace(config, max_generations=1), progress=PlainProgress(io.StringIO()),
                          individuals=Scripted())


def test_a_run_with_out_leaves_a_best_json_beside_it_alone(tmp_path):
    mine = tmp_path / "best.json"
    mine.write_text("my own notes\n")
    assert scripted_search(tiny_config(tmp_path / "myrun")) == 0
    assert mine.read_text() == "my own notes\n"  # not replaced
    assert json.loads((tmp_path / "myrun" / "best.json").read_text())["genome"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.json", "myrun"]  # nothing else outside


def test_a_run_in_the_default_runs_folder_refreshes_runs_best_json(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert scripted_search(replace(tiny_config("unused"), out=None)) == 0
    (run,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    latest, own = (json.loads(p.read_text()) for p in (tmp_path / "runs" / "best.json", run / "best.json"))
    assert {k: v for k, v in latest.items() if k not in ("run", "weights")} == \
        {k: v for k, v in own.items() if k not in ("run", "weights")}
    for key in ("run", "weights"):  # each names the same place, relative to where it lies
        assert (resolve_from_file(latest[key], tmp_path / "runs" / "best.json").resolve()
                == resolve_from_file(own[key], run / "best.json").resolve())


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_honour_the_umask_like_open(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_json(tmp_path / "a.json", {"x": 1})
        write_torch(tmp_path / "b.pt", {"w": torch.zeros(2)})
        copy_atomic(tmp_path / "a.json", tmp_path / "c.json")
        with open(tmp_path / "plain.txt", "w") as f:
            f.write("x")
    finally:
        os.umask(old)
    for name in ("a.json", "b.pt", "c.json", "plain.txt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name


def test_the_folder_is_fsynced_after_the_rename(tmp_path, monkeypatch):
    events = []
    real_replace, real_fsync_folder = os.replace, run_folder.fsync_folder
    monkeypatch.setattr(run_folder.os, "replace", lambda a, b: (events.append(("replace", b)), real_replace(a, b)))
    monkeypatch.setattr(run_folder, "fsync_folder",
                        lambda folder: (events.append(("fsync folder", folder)), real_fsync_folder(folder)))
    write_json(tmp_path / "state.json", {"x": 1})
    assert events == [("replace", tmp_path / "state.json"), ("fsync folder", tmp_path)]
