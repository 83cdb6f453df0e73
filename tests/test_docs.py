"""Every Python example in docs/ runs as printed (issue #42): the pages cannot drift from the code.

Each page's ```python blocks run in order in one namespace, in a fresh working folder, so a later
block uses what an earlier one made (the search the load example loads), as a reader's notebook would."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(p for p in DOCS.glob("*.md") if "```python" in p.read_text())


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)


def test_the_api_page_has_examples():
    assert DOCS / "api.md" in PAGES and len(python_blocks(DOCS / "api.md")) >= 6


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_python_example_runs(page, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    for number, block in enumerate(python_blocks(page), 1):
        try:
            exec(compile(block, f"{page.name} block {number}", "exec"), namespace)
        except Exception as e:
            raise AssertionError(f"{page.name}, example {number} fails: {type(e).__name__}: {e}\n{block}") from e
    printed = capsys.readouterr().out
    if page.name == "api.md":
        assert "torch.Size([2, 8])" in printed  # the loaded model's logits: 2 images, 8 synthetic classes
        assert "no image has class 0" in printed  # the error example prints its sentence
        assert not (tmp_path / "runs" / "never").exists()
