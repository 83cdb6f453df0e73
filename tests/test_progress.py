"""Progress everywhere follows one rule (`eigen.progress.on_terminal`): redrawn on a terminal, plain
lines in a log or a pipe (no carriage return, no escape code), nothing for a job done in a blink."""
import io
import os
import re
import types

import pytest

from eigen import progress
from eigen.cli import main
from eigen.progress import Bar, counting, library_bars_quiet_off_terminal, on_terminal, ticking
from eigen.views.duplicate_progress import PlainDuplicateProgress, make_duplicate_progress
from eigen.views.evolution_progress import PlainEvolutionProgress, make_evolution_progress
from eigen.views.search_progress import PlainProgress, make_progress
from tests.data.test_image_folders import image_folder

REDRAWING = re.compile(r"\r|\x1b")  # a carriage return or an ANSI escape: what a log must never hold


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_the_rule_a_terminal_that_is_not_dumb(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    assert on_terminal(Terminal()) and not on_terminal(io.StringIO()) and not on_terminal(None)
    assert not on_terminal(object())  # no isatty at all
    with open(os.devnull) as closed:
        pass
    assert not on_terminal(closed)  # isatty raises on a closed file
    monkeypatch.setenv("TERM", "dumb")  # an Emacs shell: shows \r and escape codes as they are
    assert not on_terminal(Terminal())


@pytest.mark.parametrize("make, plain", [(make_progress, PlainProgress), (make_evolution_progress, PlainEvolutionProgress),
                                         (make_duplicate_progress, PlainDuplicateProgress)])
def test_the_live_views_follow_the_same_rule(monkeypatch, make, plain):
    monkeypatch.setenv("TERM", "xterm")
    assert type(make(io.StringIO())) is plain
    live = make(Terminal())
    assert type(live) is not plain
    live.close()
    monkeypatch.setenv("TERM", "dumb")
    assert type(make(Terminal())) is plain


def test_a_bar_off_a_terminal_is_a_few_plain_lines(monkeypatch):
    clock = iter(range(0, 10_000, 25)).__next__  # each reading of the clock 25 s later
    monkeypatch.setattr(progress.time, "monotonic", clock)
    out = io.StringIO()
    bar = Bar("member 0", 200, "epochs", initial=20, stream=out, quiet_for=0)
    for epoch in range(21, 31):
        bar.update(epoch, note=f"loss {1 / epoch:.3f}")
    bar.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "member 0: 20/200 epochs"  # where it starts (a resumed member mid-way)
    assert lines[-1].startswith("member 0: 30/200 epochs, loss 0.033 in ")
    assert 3 <= len(lines) <= 6  # a line a minute, not one per update
    assert not REDRAWING.search(out.getvalue())


def test_a_job_done_in_a_blink_shows_nothing_and_a_terminal_gets_a_bar(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    out = io.StringIO()
    with counting("decoding", "files", stream=out) as tick:
        for k in range(1, 101):
            tick(k, 100)
    assert out.getvalue() == ""
    terminal = Terminal()
    with counting("decoding", "files", stream=terminal, quiet_for=0) as tick:
        for k in range(1, 101):
            tick(k, 100)
    assert "\r" in terminal.getvalue() and "100/100" in terminal.getvalue()


def test_ticking_counts_each_item_dealt_with_even_a_skipped_one():
    heard = []
    for item in ticking(["a", "b", "c"], lambda done, total: heard.append((done, total)), done=2, total=9):
        if item == "b":
            continue
    assert heard == [(3, 9), (4, 9), (5, 9)]
    assert list(ticking("xy", None)) == ["x", "y"]


def test_a_librarys_own_bars_are_off_off_a_terminal(capsys):
    made = []
    library = types.SimpleNamespace(tqdm=lambda *args, **kwargs: made.append(kwargs))
    drawn_with = library.tqdm
    with library_bars_quiet_off_terminal(library):  # pytest's captured stderr is no terminal
        library.tqdm(total=3)
    assert made == [{"total": 3, "disable": True}] and library.tqdm is drawn_with


def test_a_teacher_on_an_image_folder_writes_a_clean_log(tmp_path, monkeypatch, capsys):
    """`eigen train-teacher ... > log`: the decoding, the member and the logits cache in plain lines
    (jobs as small as this folder's shown, as a long one's are)."""
    monkeypatch.setattr(progress, "QUIET_FOR", 0)
    root = image_folder(tmp_path / "pets", per_class=40)  # 100 files, 72 of them training images
    assert main(["train-teacher", "--dataset", f"imagefolder:{root}", "--image-size", "8", "--gpu", "-1",
                 "--members", "1", "--depth", "10", "--growth", "4", "--epochs", "2",
                 "--out", str(tmp_path / "teacher")]) == 0
    captured = capsys.readouterr()
    log = captured.out + captured.err
    assert not REDRAWING.search(log), repr(log)
    lines = log.splitlines()
    assert "member 0: 0/2 epochs" in lines
    assert any(re.fullmatch(r"member 0: 2/2 epochs(, loss \d+\.\d+)? in \d+:\d\d", line) for line in lines)
    decoding = [line for line in lines if line.startswith("decoding the image folder:")]
    assert decoding[0] == "decoding the image folder: 0/80 files"  # train/ first; val/'s 20 join later
    assert re.fullmatch(r"decoding the image folder: 100/100 files in \d+:\d\d", decoding[-1])
    cache = [line for line in lines if line.startswith("teacher's logits cache:")]
    assert cache[0] == "teacher's logits cache: 0/11,664 views"  # 72 images x 162 views
    assert re.fullmatch(r"teacher's logits cache: 11,664/11,664 views in \d+:\d\d", cache[-1])
