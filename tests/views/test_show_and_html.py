"""`eigen show` and report/index.html (issue #32): the table's totals are the genome's cost, every kind
of path that holds a genome is shown and drawn, and the one-page report is self-contained, holds
every section, and renders in a real headless browser (Chromium) to a picture that is not blank."""
import json
import random
import shlex
import shutil
import subprocess
from dataclasses import replace
from html.parser import HTMLParser

import pytest

from eigen.cli import main, make_parser
from eigen.genome.cost import cost
from eigen.genome.dna import Genome, initial_genome
from eigen.genome.mutations import mutate, step_count
from eigen.views.genome_table import describe
from tests.commands.test_next_steps import SMOKE, run_quietly

SECTIONS = ("answer", "architecture", "lineage", "front", "generations", "plots", "settings", "reproduce")


def grown(rng, ops, size):
    genome = initial_genome()
    for _ in range(rng.randint(1, 25)):
        genome, _ = mutate(genome, rng, ops, step_count(rng, 6), size)
    return genome


def test_the_tables_totals_are_the_genomes_cost_on_many_random_genomes():
    rng = random.Random(32)
    for trial in range(120):
        size, classes = rng.choice([16, 32]), rng.choice([10, 100])
        genome = grown(rng, "eigen" if trial % 2 else "large-scale", size)
        d = describe(genome, size, classes)
        c = cost(genome, size, classes)
        assert (d["totals"]["params"], d["totals"]["flops"]) == (c.params, c.flops), trial
        assert sum(layer["params"] for layer in d["layers"]) == c.params
        assert sum(layer["flops"] for layer in d["layers"]) == c.flops
        order = [layer["id"] for layer in d["layers"]]
        assert sorted(order) == sorted(n.id for n in genome.nodes)
        for layer in d["layers"]:  # data-flow order: every input listed before its reader
            assert all(order.index(i) < order.index(layer["id"]) for i in layer["inputs"])


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A real CPU search (two generations) and its duplication, as a user runs them."""
    run = tmp_path_factory.mktemp("show") / "run"
    return run, run_quietly(SMOKE + ["--max-generations", "2", "--out", str(run)],
                            ["duplicate", str(run / "best.json"), "--gpu", "-1", "--schedule-scale", "0.004",
                             "--candidates", "3", "--max-copies", "2"])


def show(capsys, *argv) -> str:
    capsys.readouterr()
    assert main(["show", *map(str, argv)]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("where", ["run", "best.json", "final", "final/genome.json", "best.pt", "candidate",
                                   "picked"])
def test_show_reads_every_kind_of_path_and_its_totals_are_the_cost(finished, capsys, where, tmp_path):
    run, _ = finished
    best = json.loads((run / "best.json").read_text())
    final_metrics = json.loads((run / "final" / "metrics.json").read_text())
    record = next(r for r in map(json.loads, (run / "history.jsonl").read_text().splitlines()) if r["stage"] == "T1")
    path, extra, expected = {
        "run": (run, [], best["genome"]), "best.json": (run / "best.json", [], best["genome"]),
        "final": (run / "final", [], json.loads((run / "final" / "genome.json").read_text())),
        "final/genome.json": (run / "final" / "genome.json", [], json.loads((run / "final" / "genome.json").read_text())),
        "best.pt": (run / "best.pt", [], best["genome"]),
        "candidate": (run / "final", ["--pick", "c1"],
                      json.loads((run / "final" / "plan.json").read_text())["candidates"][1]["genome"]),
        "picked": (run, ["--pick", record["id"]], record["genome"]),
    }[where]
    described = json.loads(show(capsys, path, *extra, "--json"))
    genome = Genome.from_dict(expected, 16)
    c = cost(genome, 16, 8)
    assert described["key"] == genome.key() and described["totals"]["params"] == c.params
    assert described["totals"]["flops"] == c.flops and described["classes"] == 8
    table = show(capsys, path, *extra)
    assert f"{c.params:,}" in table and f"{c.flops:,}" in table and "block" in table
    if where == "candidate":  # the copies gene duplication added are named by their block
        copies = json.loads((run / "final" / "plan.json").read_text())["candidates"][1]["copies"]
        assert all(f"block {b} of the genome as found appears {n} times: copy 2 is" in table
                   for b, n in copies.items())
    drawing = tmp_path / "g.svg"
    assert f"drawing: {drawing}" in show(capsys, path, *extra, "--out", drawing)
    svg = drawing.read_text()
    assert all(f'data-node="{n.id}"' in svg for n in genome.nodes)
    assert final_metrics["model"]["candidate"]  # the duplication finished: its genome is the chosen one


@pytest.mark.parametrize("suffix", [".png", ".pdf", ".dot"])
def test_show_draws_every_format(finished, capsys, tmp_path, suffix):
    run, _ = finished
    path = tmp_path / f"g{suffix}"
    show(capsys, run, "--out", path)
    data = path.read_bytes()
    assert data[:4] == {".png": b"\x89PNG", ".pdf": b"%PDF", ".dot": b"digr"}[suffix]


def test_the_run_ends_with_its_report_page_written_and_printed(finished):
    run, out = finished
    page = run / "report" / "index.html"
    assert f"report: {page}" in out  # the search and the duplication both say where it is
    for name in ("best-genome.svg", "best-genome.png"):
        assert (run / "report" / name).stat().st_size > 1000
    assert (run / "final" / "genome.svg").exists()


class Sections(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.tags, self.links = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "section":
            self.ids.append(attrs.get("id"))
        for name in ("src", "href"):
            if attrs.get(name):
                self.links.append(attrs[name])


def test_the_page_parses_holds_every_section_and_needs_nothing_from_outside(finished):
    run, _ = finished
    text = (run / "report" / "index.html").read_text()
    parsed = Sections()
    parsed.feed(text)
    assert tuple(s for s in parsed.ids if s in SECTIONS) == SECTIONS
    assert "script" not in parsed.tags and "img" not in parsed.tags and "link" not in parsed.tags
    assert not [link for link in parsed.links if "://" in link]  # every link is a file beside the page
    assert text.count("<svg") >= 5  # the best, the final model and the plots, inline
    best = json.loads((run / "best.json").read_text())
    assert best["id"] in text and f"{best['val_accuracy']:.2f}%" in text
    metrics = json.loads((run / "final" / "metrics.json").read_text())
    assert f"{metrics['model']['test_accuracy']:.2f}%" in text


def test_the_reproduce_command_sets_every_setting_the_run_had(finished):
    run, _ = finished
    text = (run / "report" / "index.html").read_text()
    command = text.split('<section id="reproduce">')[1].split("<pre>")[1].split("\n")[0]
    import html
    words = shlex.split(html.unescape(command))
    assert words[:2] == ["eigen", "search"]
    args = make_parser().parse_args(words[1:])
    saved = json.loads((run / "config.json").read_text())["settings"]
    for name, value in saved.items():
        if name not in ("out", "resume"):
            assert getattr(args, name) == value, name


@pytest.mark.parametrize("strategy", ["large-scale", "random"])
def test_steady_state_runs_get_their_page_too(tmp_path, strategy):
    from eigen.commands.search import search_command
    from eigen.views.evolution_progress import make_evolution_progress
    from tests.search.test_search import Scripted
    from tests.search.test_search_run import tiny_config
    config = replace(tiny_config(tmp_path / "run"), strategy=strategy, population=4, child_steps=20, top_k=1,
                     max_generations=2)
    assert search_command(config, progress=make_evolution_progress(), individuals=Scripted()) == 0
    parsed = Sections()
    parsed.feed((tmp_path / "run" / "report" / "index.html").read_text())
    assert {"answer", "architecture", "lineage", "front", "generations", "plots", "settings", "reproduce"} <= set(parsed.ids)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here: install Debian's (apt-get install chromium) to render "
                                             "the report in a real browser")
def test_the_page_renders_in_headless_chromium_to_a_picture_that_is_not_blank(finished, tmp_path):
    from PIL import Image
    run, _ = finished
    shot = tmp_path / "page.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1200,2400", f"--screenshot={shot}", (run / "report" / "index.html").as_uri()],
                   check=True, capture_output=True, timeout=120)
    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 2400)
    import numpy as np
    pixels = np.asarray(image.resize((120, 240)), dtype=int).reshape(-1, 3)
    inked = float((pixels.sum(axis=1) < 600).mean())  # not near-white
    colours = len(np.unique(pixels, axis=0))
    assert inked > 0.03 and colours > 50, (inked, colours)  # text, tables and drawings, not an empty page
