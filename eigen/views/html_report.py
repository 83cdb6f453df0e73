"""report/index.html: the whole run on one page (issue #32), from the run folder's files alone.

One self-contained file: every plot and drawing inline as SVG, the tables as HTML, styles in the
page; no script, no font, no image fetched from anywhere, so it opens from a USB stick or an e-mail
attachment as it does from the run folder. Sections, in order: the answer (the best individual and,
once `eigen duplicate` has run, the final model with its accuracy and cost), the best
architecture, the final architecture with its repeated blocks framed, the lineage from the trivial
network to the best, the Pareto front, the generations (with how to read their τ column), every
plot of `report/`, the settings, and the command that reproduces the run. Large-Scale and random
runs get the same page (their generations are population-sized rounds of events; their lineage
runs back to a starting individual).
"""
from __future__ import annotations

import datetime
import html
import io
from pathlib import Path

from rich.console import Console

from ..genome.dna import Genome
from ..run_folder.file_types import FinalMetrics, Plan, RunConfig
from ..run_folder.folder import RunFolder, read_json, write_bytes
from ..engine.pareto import saved_front
from ..engine.record import HistoryRecord
from .live import human, pct, summarize_mutations
from .pareto_view import front_rows

PLOTS = (("fitness", "Fitness over the search"), ("survivors", "Survivors of each stage"),
         ("pareto", "Pareto front"), ("cost", "Best fitness against device time"),
         ("cost-flops", "Best fitness against FLOPs spent"), ("duplicates", "Gene duplication's candidates"),
         ("final-curves", "Final trainings"))
STYLE = """
body { font-family: -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif; color: #1b1b1b;
       max-width: 1100px; margin: 2em auto; padding: 0 1.2em; line-height: 1.45; background: #fff; }
h1 { font-size: 1.7em; margin-bottom: 0.1em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
.sub { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { padding: 0.25em 0.7em; text-align: right; border-bottom: 1px solid #eee; }
th { background: #f4f4f4; } td.l, th.l { text-align: left; }
.cards { display: flex; flex-wrap: wrap; gap: 1em; }
.card { border: 1px solid #ddd; border-radius: 8px; padding: 0.8em 1.1em; min-width: 14em; background: #fafafa; }
.card b { font-size: 1.5em; display: block; }
figure { margin: 1em 0; } figure svg { max-width: 100%; height: auto; }
.drawing { overflow-x: auto; border: 1px solid #eee; border-radius: 6px; padding: 0.5em; }
pre { background: #f4f4f4; padding: 0.8em; border-radius: 6px; overflow-x: auto; white-space: pre-wrap; }
.muted { color: #666; }
"""


def write_html_report(folder: RunFolder, into: Path, records: list[HistoryRecord], state: dict,
                      reproduce: str, strategy) -> Path:
    """index.html in `into` (beside the plots `write_report` drew there), for a run of `strategy`."""
    config = read_json(folder.config, "the run's settings", RunConfig)
    settings = config["settings"]
    best = read_json(folder.best, "the search's best genome") if folder.best.exists() else None
    finals = _finals(folder)
    parts = [_header(folder, config, state, strategy),
             _answer(best, finals, config),
             _architecture(into, best, finals, config),
             _lineage(records, state, strategy, best),
             _front(records, state, settings, strategy),
             _generations(state, strategy),
             _plots(into),
             _settings(config),
             _reproduce(reproduce, folder, finals)]
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(folder.path.name)}: eigen report</title><style>{STYLE}</style></head><body>\n"
            + "\n".join(p for p in parts if p) + "\n</body></html>\n")
    path = into / "index.html"
    write_bytes(path, page.encode())
    return path


def _e(value) -> str:
    return html.escape(str(value))


def _table(header: list[str], rows: list[list], left: int = 1) -> str:
    """An HTML table; the first `left` columns are text, aligned left."""
    cls = lambda i: ' class="l"' if i < left else ""
    head = "".join(f"<th{cls(i)}>{_e(h)}</th>" for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f"<td{cls(i)}>{_e(v)}</td>" for i, v in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{_e(title)}</h2>\n{body}\n</section>'


def _finals(folder: RunFolder) -> list[tuple[Path, dict, dict]]:
    """Every finished final folder in the run (final/, final-<ID>/): (folder, plan, metrics)."""
    found = []
    for final in sorted(folder.path.glob("final*")):
        if (final / "metrics.json").exists() and (final / "plan.json").exists():
            found.append((final, read_json(final / "plan.json", "the duplication's plan", Plan),
                          read_json(final / "metrics.json", "the final metrics", FinalMetrics)))
    return found


def _header(folder: RunFolder, config: dict, state: dict, strategy) -> str:
    data = config.get("data") or {}
    done = strategy.done(state)
    stopped = f", stopped: {state['stopped']}" if state.get("stopped") else ""
    return (f"<header><h1>{_e(folder.path.name)}</h1><p class=\"sub\">{_e(strategy.name)} search on "
            f"{_e(data.get('dataset', '?'))} ({_e(data.get('classes', '?'))} classes, {_e(data.get('image_size', '?'))}"
            f"×{_e(data.get('image_size', '?'))}); {done}{_e(stopped)}; report written "
            f"{datetime.datetime.now():%Y-%m-%d %H:%M}</p></header>")


def _answer(best: dict | None, finals: list, config: dict) -> str:
    if best is None:
        return _section("answer", "Answer", "<p class=\"muted\">No sitting of the search has ended yet: "
                                            "best.json is written at the end of each.</p>")
    expression = best.get("fitness_expression", "acc")
    cards = [("best individual", best["id"], f"generation {best['generation']}"),
             ("validation", pct(best["val_accuracy"]), f"fitness {best['fitness']:.3f} ({expression})"
              if expression != "acc" else "what the search selected by"),
             ("test", pct(best.get("test_accuracy")), "measured once, never used to choose"),
             ("size", f"{human(best['params'])} params", f"{best['flops'] / 1e6:.3g} MFLOPs per image"
              + (f", {best['ms']:.3g} ms" if best.get("ms") is not None else ""))]
    spent = best.get("search_cost") or {}
    cards.append(("search cost", f"{spent.get('seconds', 0) / 3600:.3g} h",
                  f"{spent.get('flops', 0) / 1e15:.3g} PFLOPs on {config.get('device', 'its device')}"))
    body = _cards(cards)
    for final, plan, metrics in finals:
        m, cost = metrics["model"], metrics.get("cost") or {}
        seconds = (cost.get("seconds") or {}).get("total")
        flops = (cost.get("flops") or {}).get("total")
        body += (f"<h3>Final model: {_e(final.name)}/ (of {_e(plan['source']['id'])})</h3>" + _cards([
            ("chosen", m["candidate"], m.get("duplication", "")),
            ("validation", pct(m.get("val_accuracy")), "the choice"),
            ("test", pct(m.get("test_accuracy")), f"{pct(m.get('test_accuracy_tta'))} with {m.get('tta', 'flip')} TTA"
             if m.get("test_accuracy_tta") is not None else ""),
            ("size", f"{human(m['params'])} params", f"{m['flops'] / 1e6:.3g} MFLOPs per image"),
            ("end-to-end cost", "-" if seconds is None else f"{seconds / 3600:.3g} h",
             "teacher, search and duplication" + ("" if flops is None else f"; {flops / 1e15:.3g} PFLOPs"))]))
    return _section("answer", "Answer", body)


def _cards(cards) -> str:
    return '<div class="cards">' + "".join(
        f'<div class="card">{_e(title)}<b>{_e(value)}</b><span class="muted">{_e(note)}</span></div>'
        for title, value, note in cards) + "</div>"


def _architecture(into: Path, best: dict | None, finals: list, config: dict) -> str:
    """The best genome drawn (and the final models', their copies framed): inline SVG."""
    from ..genome.blocks import find_blocks
    from .genome_drawing import layout, to_svg
    from .genome_layout import duplication_frames
    data = config.get("data") or {}
    size, classes = int(data.get("image_size", 32)), int(data.get("classes", 10))
    body = ""
    if best is not None:
        genome = Genome.from_dict(best["genome"], size)
        svg = to_svg(layout(genome, size, classes, find_blocks(genome, size, classes)))
        body += (f"<figure><figcaption>{_e(best['id'])}, the best by fitness: {human(best['params'])} parameters "
                 f"(also <a href=\"best-genome.svg\">best-genome.svg</a>, <a href=\"best-genome.png\">.png</a>; "
                 f"`eigen show` prints its layers)</figcaption><div class=\"drawing\">{_inline(svg)}</div></figure>")
    for final, plan, metrics in finals:
        chosen = next(c for c in plan["candidates"] if c["id"] == metrics["model"]["candidate"])
        genome = Genome.from_dict(chosen["genome"], size)
        as_found = Genome.from_dict(plan["candidates"][0]["genome"], size)
        copies = {int(b): int(n) for b, n in (chosen.get("copies") or {}).items()}
        frames = duplication_frames(as_found, genome, copies, size, classes)
        svg = to_svg(layout(genome, size, classes, frames))
        body += (f"<figure><figcaption>{_e(final.name)}/: {_e(chosen['id'])} ({_e(chosen['label'])}), "
                 f"{human(chosen['params'])} parameters, repeated blocks framed as copies</figcaption>"
                 f"<div class=\"drawing\">{_inline(svg)}</div></figure>")
    return _section("architecture", "Architecture", body or "<p class=\"muted\">Nothing trained yet.</p>")


def _inline(svg: str) -> str:
    """An SVG document as an element of the page (its XML declaration dropped)."""
    return svg[svg.index("<svg"):] if "<svg" in svg else ""


def _lineage(records: list[HistoryRecord], state: dict, strategy, best: dict | None) -> str:
    """From the trivial network to the best: each ancestor, the mutations that made it, its fitness."""
    if best is None or best.get("id") is None:
        return ""
    stage = strategy.last_stage
    last: dict[str, HistoryRecord] = {}
    for r in records:
        if r.stage == stage or r.id not in last:
            last[r.id] = r
    chain, current = [], best["id"]
    while current in last and len(chain) < 10_000:
        chain.append(last[current])
        current = last[current].parent
    rows = [[current or "-", "-", "the trivial network", "-", "-", "-"]] if current else []
    for r in reversed(chain):
        rows.append([r.id, r.generation, summarize_mutations(r.mutations, most=4) if r.mutations else "-",
                     human(r.params), pct(r.accuracy.get(r.stage)), f"{r.value:.3f}"])
    return _section("lineage", "Lineage", "<p>From the trivial network (input → global pool → classifier) to the "
                    "best, each ancestor with the mutations that made it from its parent.</p>"
                    + _table(["individual", "generation", "mutations from its parent", "params", "validation",
                              "fitness"], rows, left=3))


def _front(records: list[HistoryRecord], state: dict, settings: dict, strategy) -> str:
    _, pareto = saved_front(records, state, settings, strategy)
    if not pareto["front"]:
        return ""
    columns, rows = front_rows(pareto, star=" ★", validation=pct, params=lambda n: f"{n:,}")
    return _section("front", "Pareto front", f"<p>{len(pareto['front'])} of {pareto['considered']} "
                    f"({_e(pareto['eligible'])}) that no other beats on {_e(', '.join(pareto['objectives']))}; "
                    f"★ the best by fitness. Finalise any of them with <code>eigen duplicate RUN --pick ID</code>.</p>"
                    + _table(["individual", *columns], rows))


def _generations(state: dict, strategy) -> str:
    """The strategy's closing table, and how to read its τ column (the run's own evidence that it
    selects on something)."""
    if not state.get("generations"):
        return ""
    console = Console(record=True, width=160, file=io.StringIO(), color_system=None)
    console.print(strategy.closing_table(state))
    text = console.export_text()
    return _section("generations", "Generations", f"<pre>{_e(text)}</pre>\n<p>{_e(strategy.reading_tau)}</p>")


def _plots(into: Path) -> str:
    figures = []
    for name, caption in PLOTS:
        svg = into / f"{name}.svg"
        if svg.exists():
            figures.append(f"<figure><figcaption>{_e(caption)} (<a href=\"{name}.png\">{name}.png</a>)</figcaption>"
                           f"{_inline(svg.read_text())}</figure>")
    return _section("plots", "Plots", "\n".join(figures)) if figures else ""


def _settings(config: dict) -> str:
    settings = config["settings"]
    rows = [[name.replace("_", "-"), "-" if value is None else value] for name, value in sorted(settings.items())]
    data = config.get("data") or {}
    about = [["dataset", data.get("dataset", "-")], ["train / val / test images",
             f"{data.get('train', '-')} / {data.get('val', '-')} / {data.get('test', '-')}"],
             ["device", config.get("device", "-")], ["mimicry", (config.get("resolved") or {}).get("mimicry_note", "-")],
             ["eigen, torch", f"{(config.get('versions') or {}).get('eigen', '-')}, "
                              f"{(config.get('versions') or {}).get('torch', '-')}"],
             ["git commit", config.get("git_commit") or "-"], ["begun", config.get("created", "-")]]
    return _section("settings", "Settings", _table(["", ""], about, left=2) + _table(["setting", "value"], rows, left=2))


def _reproduce(command: str, folder: RunFolder, finals: list) -> str:
    lines = [command]
    for final, plan, _ in finals:
        pick = f" --pick {plan['source']['id']}" if plan["source"].get("picked") else ""
        lines.append(f"eigen duplicate RUN{pick}   # -> {final.name}/")
    return _section("reproduce", "Reproduce", "<p>The command that runs this search again (into a new run "
                    "folder, RUN below), with every setting it was given:</p>" + f"<pre>{_e(chr(10).join(lines))}</pre>")
