"""The report of a run folder (SPEC §7): plots and a summary table, drawn from the files alone.

Everything here reads `history.jsonl`, `state.json` and `metrics.csv`, so `eigen report` works on a
finished run, a killed one, or one still going, and draws the same plots the search drew at its end.
Each plot is a PNG and an SVG of the same name, sized and lettered for a slide (10 x 6 inches,
13-point text).

    report/fitness        EIGEN Fig. 4: the best fitness ever per generation as a step line, each
                          parent, the best child at T3, chance level, the primary -> secondary switch;
                          below, in its own panel on a log scale, every individual's parameter count
                          (spread across its generation so that no marker hides another); for
                          large-scale and random, every individual's fitness and the best so far (LS Fig. 1)
    report/survivors      EIGEN: children trained to each stage of each generation (what extinction left)
    report/cost           the best fitness against the compute spent, in hours (or minutes, seconds) of
                          the device config.json names; report/cost-flops against the FLOPs spent
    report/pareto         the Pareto front over validation accuracy, parameters, FLOPs (and ms when
                          measured): accuracy against parameters, the front a labelled staircase
    report/duplicates     once `eigen duplicate` has run: every candidate's validation accuracy against
                          its parameters, the genome as found and the chosen one marked
    report/best-genome    the best genome drawn (`genome_drawing.py`), its blocks framed
    report/index.html     with `reproduce`: the whole run on one page (`html_report.py`)
    report/final-curves   once `eigen duplicate` has run: the final trainings' loss and validation
                          accuracy against the iteration (EIGEN Fig. 3's view, from final/metrics.csv)

The search's plots are drawn by `search_plots.py`, the slide style and saving are `figures.py`'s, and
the tables are `tables.py`'s; this module loads a run and puts the pictures together.
"""
from __future__ import annotations

import functools
from pathlib import Path

from matplotlib.ticker import MaxNLocator

from .. import faults
from ..run_folder.file_types import DuplicationProgress, FinalMetrics, Plan, RunConfig
from ..run_folder.folder import RunFolder, interpreting, read_json
from ..engine.pareto import saved_front
from ..engine.record import HISTORY_FIX, HistoryRecord
from .figures import FIGSIZE, SLIDE, pyplot_for_files, save_figure
from .html_report import write_html_report
from .pareto_view import others, write_pareto_plot
from .search_plots import cost, cost_flops


def check_state(state: dict) -> None:
    """The types of every field of a state.json the report and the tables read as it is."""
    from ..run_folder import json_types
    from ..engine.eigen_search import SearchState
    from ..engine.steady_state import EvolutionState
    json_types.check(state, EvolutionState if isinstance(state, dict) and "population" in state else SearchState)
    json_types.check(state.get("version"), int | None, "version")


def load_run(folder: RunFolder) -> tuple[list[HistoryRecord], dict]:
    folder.require()
    state = read_json(folder.state, "the search state") if folder.state.exists() else {"generations": []}
    with interpreting(folder.state, "the search state", HISTORY_FIX):
        check_state(state)
    lines = folder.read_history()
    with interpreting(folder.history, "the search's history", HISTORY_FIX):
        return [HistoryRecord.from_json(line) for line in lines], state


def write_report(folder: RunFolder, strategy, into: Path | None = None, reproduce: str | None = None) -> list[Path]:
    """Draw the plots and the best genome into `into` (default `folder/report/`) and return the
    PNGs' paths (each has an SVG beside it); with `reproduce` (the command that runs the search
    again), index.html too, last in the list. `strategy` is the run's (`eigen.strategies`): it
    gives its own plots, who is eligible for the front, its table and how to read it."""
    plt = pyplot_for_files()
    records, state = load_run(folder)
    config = read_json(folder.config, "the run's settings", RunConfig)
    expression = config["settings"].get("fitness", "acc")
    classes = (config.get("data") or {}).get("classes")
    state = {**state, "fitness_label": "validation accuracy (%)" if expression == "acc" else f"fitness ({expression})",
             "chance": 100.0 / classes if expression == "acc" and classes else None, "run": folder.path.name}
    spent = functools.partial(cost, device=config.get("device"))
    into = folder.report if into is None else Path(into)
    into.mkdir(parents=True, exist_ok=True)
    paths = []
    plots = (*strategy.plots(), (spent, "cost.png", 1), (cost_flops, "cost-flops.png", 1))
    for draw, filename, panels in plots:
        with plt.rc_context(SLIDE):
            if panels == 2:  # the answer on top, the parameter counts in their own panel below
                fig, axes = plt.subplots(2, 1, figsize=FIGSIZE, sharex=True, height_ratios=(3, 2))
            else:
                fig, axes = plt.subplots(figsize=FIGSIZE)
            title = draw(axes, records, state)
            fig.suptitle(f"{folder.path.name}: {title}", fontsize=14)
            fig.tight_layout()
            path = into / filename
            faults.point("report")
            save_figure(fig, path)
            plt.close(fig)
        paths.append(path)
    paths.append(_pareto_plot(folder, records, state, strategy, config["settings"], into / "pareto.png"))
    final = folder.path / "final"
    if (final / "state.json").exists():
        paths.append(write_duplicates_plot(final, into / "duplicates.png"))
    if (final / "metrics.csv").exists():
        paths.append(write_curves_plot(final, into / "final-curves.png"))
    if folder.best.exists():
        paths.append(_best_genome(folder, config, into / "best-genome.png"))
    if reproduce is not None:
        paths.append(write_html_report(folder, into, records, state, reproduce, strategy))
    return paths


def _best_genome(folder: RunFolder, config: dict, path: Path) -> Path:
    """report/best-genome.png and .svg: the search's answer drawn, its blocks framed."""
    from ..genome.blocks import find_blocks
    from ..genome.dna import Genome
    from .genome_drawing import write_drawing
    best = read_json(folder.best, "the search's best genome")
    data = config.get("data") or {}
    size, classes = int(data.get("image_size", 32)), int(data.get("classes", 10))
    with interpreting(folder.best, "the search's best genome", HISTORY_FIX):
        genome = Genome.from_dict(best["genome"], size)
    title = f"{folder.path.name}: {best.get('id')}, the best by fitness"
    for target in (path, path.with_suffix(".svg")):
        write_drawing(genome, target, size, classes, blocks=find_blocks(genome, size, classes), title=title)
    return path


def _pareto_plot(folder: RunFolder, records: list[HistoryRecord], state: dict, strategy, settings: dict,
                 path: Path) -> Path:
    """report/pareto: the run's front, of the individuals its strategy makes eligible."""
    points, pareto = saved_front(records, state, settings, strategy)
    return write_pareto_plot(path, points, pareto, others(records, points), strategy.front_labels, folder.path.name)


def _choice(expression: str) -> str:
    """What chose the final model, as the duplicates plot's legend says it."""
    return "validation" if expression == "acc" else f"fitness {expression}"


def write_duplicates_plot(final: Path, path: Path) -> Path:
    """Validation accuracy against parameters for every candidate of a duplication (done or not)."""
    plt = pyplot_for_files()
    plan = read_json(final / "plan.json", "the duplication's plan", Plan)
    entries = read_json(final / "state.json", "the duplication's progress", DuplicationProgress)["candidates"]
    metrics = read_json(final / "metrics.json", "the final metrics", FinalMetrics) if (final / "metrics.json").exists() else None
    chosen = metrics["model"]["candidate"] if metrics else None
    with plt.rc_context(SLIDE):
        fig, ax = plt.subplots(figsize=FIGSIZE)
        xs, ys = [], []
        for n, c in enumerate(plan["candidates"]):
            entry = entries[c["id"]]
            if entry["fitness"] is None or entry["status"] != "ok":
                continue
            x, y = c["params"] / 1e3, entry["fitness"]
            xs.append(x)
            ys.append(y)
            finished = entry["step"] >= plan["schedule"]["total"]
            style = ({"marker": "s", "color": "tab:orange", "s": 90} if c["id"] == "c0" else
                     {"marker": "o", "color": "tab:blue" if finished else "0.7", "s": 60})
            ax.scatter(x, y, zorder=3, **style)
            if c["id"] == chosen:  # behind its own marker, larger: both stay visible
                ax.scatter(x, y, marker="*", color="tab:green", s=650, zorder=2, edgecolor="black", linewidth=0.6)
            # Labels alternate above and below their point, so neighbours' labels do not collide.
            below = n % 2 == 1
            clear = 16 if c["id"] == chosen else 9  # points between the marker's centre and its label
            ax.annotate(f"{c['id']}: {c['label']}", (x, y), fontsize=10, xytext=(0, -clear - 5 if below else clear),
                        textcoords="offset points", ha="center", va="top" if below else "bottom", zorder=5)
        if xs:  # room for the labels around the points; at least 2 accuracy points tall; no tick above 100%
            span_x = max(xs) - min(xs) or max(xs) * 0.2 or 1.0
            span_y = max(max(ys) - min(ys), 2.0)
            ax.set_xlim(max(0.0, min(xs) - 0.25 * span_x), max(xs) + 0.25 * span_x)
            low, high = max(0.0, min(ys) - 0.35 * span_y), max(ys) + 0.35 * span_y
            ax.set_ylim(low, high)
            ax.set_yticks([t for t in ax.get_yticks() if low <= t <= min(high, 100.0)])
        ax.scatter([], [], marker="s", color="tab:orange", s=60, label="as found (the search's best), retrained")
        ax.scatter([], [], marker="o", color="tab:blue", s=40, label="with duplicated blocks (grey: still training)")
        if chosen:
            ax.scatter([], [], marker="*", color="tab:green", s=160, edgecolor="black", linewidth=0.6,
                       label=f"chosen ({chosen}), by {_choice(metrics.get('fitness_expression', 'acc'))}")
        ax.set_xlabel("parameters (thousands)")
        ax.set_ylabel("validation accuracy (%)")
        ax.grid(alpha=0.3)
        ax.set_title(f"{final.parent.name}: gene duplication of {plan['source']['id']}")
        ax.legend(loc="best", framealpha=0.9)
        fig.tight_layout()
        save_figure(fig, path)
        plt.close(fig)
    return path


def write_curves_plot(final: Path, path: Path) -> Path:
    """The final trainings' learning curves from final/metrics.csv: training loss (left) and validation
    accuracy (right) against the iteration, one colour per candidate, the chosen one drawn thicker."""
    from ..training.metrics import read_metrics
    plt = pyplot_for_files()
    rows = [r for r in read_metrics(final / "metrics.csv") if r["stage"] == "final"]
    metrics = read_json(final / "metrics.json", "the final metrics", FinalMetrics) if (final / "metrics.json").exists() else None
    chosen = metrics["model"]["candidate"] if metrics else None
    labels = {}
    if (final / "plan.json").exists():
        labels = {c["id"]: c["label"] for c in read_json(final / "plan.json", "the duplication's plan", Plan)["candidates"]}
    with plt.rc_context(SLIDE):
        fig, (loss_ax, val_ax) = plt.subplots(1, 2, figsize=FIGSIZE)
        for n, name in enumerate(sorted({r["individual"] for r in rows}, key=lambda i: (len(i), i))):
            mine = sorted((r for r in rows if r["individual"] == name), key=lambda r: r["iteration"])
            colour = f"C{n % 10}"
            width = 3.0 if name == chosen else 1.5
            label = f"{name}: {labels.get(name, '')}" + (" (chosen)" if name == chosen else "")
            loss_ax.plot([r["iteration"] for r in mine], [r["loss"] for r in mine], color=colour, linewidth=width,
                         label=label)
            validated = [r for r in mine if r["val_accuracy"] is not None]
            val_ax.plot([r["iteration"] for r in validated], [r["val_accuracy"] for r in validated], "o-",
                        color=colour, linewidth=width, markersize=5)
        if rows:
            loss_ax.set_yscale("log")
        loss_ax.set_xlabel("iteration")
        loss_ax.set_ylabel("training loss (log scale)")
        val_ax.set_xlabel("iteration")
        val_ax.set_ylabel("validation accuracy (%)")
        for ax in (loss_ax, val_ax):
            ax.grid(alpha=0.3)
            ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
        if rows:
            loss_ax.legend(loc="upper right", framealpha=0.9, fontsize=10)
        else:  # a duplication stopped before its first logged point: say so rather than draw bare axes
            for ax in (loss_ax, val_ax):
                ax.text(0.5, 0.5, "no training logged yet", ha="center", va="center", transform=ax.transAxes)
        fig.suptitle(f"{final.parent.name}: final trainings", fontsize=14)
        fig.tight_layout()
        save_figure(fig, path)
        plt.close(fig)
    return path
