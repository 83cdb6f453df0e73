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
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

from matplotlib.ticker import MaxNLocator
from rich import box
from rich.console import Console
from rich.table import Table

from .. import faults
from ..run_files import DuplicationProgress, FinalMetrics, Plan, RunConfig
from ..runfolder import RunFolder, interpreting, read_json, write_bytes
from ..search.extinction import STAGES
from ..search.record import HISTORY_FIX, STEADY_STAGE, HistoryRecord
from .live import agreement, human

SLIDE = {"font.size": 13, "axes.titlesize": 14, "axes.labelsize": 13, "legend.fontsize": 11,
         "xtick.labelsize": 12, "ytick.labelsize": 12, "figure.dpi": 120, "savefig.dpi": 150,
         "svg.fonttype": "none"}  # text stays text in the SVG: editable on a slide
FIGSIZE = (10, 6)  # inches: a 16:9 slide's content area at 150 dpi
STAGE_COLOURS = {"T1": "0.55", "T2": "tab:orange", "T3": "tab:blue"}


def check_state(state: dict) -> None:
    """The types of every field of a state.json the report and the tables read as it is."""
    from .. import shapes
    from ..search.eigen_search import SearchState
    from ..search.evolution import EvolutionState
    shapes.check(state, EvolutionState if isinstance(state, dict) and "population" in state else SearchState)
    shapes.check(state.get("version"), int | None, "version")


def load_run(folder: RunFolder) -> tuple[list[HistoryRecord], dict]:
    folder.require()
    state = read_json(folder.state, "the search state") if folder.state.exists() else {"generations": []}
    with interpreting(folder.state, "the search state", HISTORY_FIX):
        check_state(state)
    lines = folder.read_history()
    with interpreting(folder.history, "the search's history", HISTORY_FIX):
        return [HistoryRecord.from_json(line) for line in lines], state


def pyplot_for_files():
    """pyplot for files (Agg: never needs a display). A title quoting a path or class name in a
    script the font lacks (CJK, say) draws boxes for those letters; matplotlib's warning per glyph
    would land on the user's console between eigen's own lines, so it is silenced."""
    import warnings

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)
    return plt


def write_report(folder: RunFolder, into: Path | None = None, reproduce: str | None = None) -> list[Path]:
    """Draw the plots and the best genome into `into` (default `folder/report/`) and return the
    PNGs' paths (each has an SVG beside it); with `reproduce` (the command that runs the search
    again), index.html too, last in the list."""
    plt = pyplot_for_files()
    records, state = load_run(folder)
    config = read_json(folder.config, "the run's settings", RunConfig)
    strategy = config["settings"].get("strategy", "eigen")
    expression = config["settings"].get("fitness", "acc")
    classes = (config.get("data") or {}).get("classes")
    state = {**state, "fitness_label": "validation accuracy (%)" if expression == "acc" else f"fitness ({expression})",
             "chance": 100.0 / classes if expression == "acc" and classes else None, "run": folder.path.name}
    cost = functools.partial(_cost, device=config.get("device"))
    into = folder.report if into is None else Path(into)
    into.mkdir(parents=True, exist_ok=True)
    paths = []
    if strategy == "eigen":
        plots = ((_fitness, "fitness.png", 2), (_survivors, "survivors.png", 1), (cost, "cost.png", 1),
                 (_cost_flops, "cost-flops.png", 1))
    else:  # steady state: no stages to survive
        plots = ((_evolution_fitness, "fitness.png", 1), (cost, "cost.png", 1), (_cost_flops, "cost-flops.png", 1))
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
        from .html_report import write_html_report
        paths.append(write_html_report(folder, into, records, state, reproduce))
    return paths


def _best_genome(folder: RunFolder, config: dict, path: Path) -> Path:
    """report/best-genome.png and .svg: the search's answer drawn, its blocks framed."""
    from ..genome.dna import Genome
    from ..genome.duplication import find_blocks
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


def _pareto_plot(folder: RunFolder, records: list[HistoryRecord], state: dict, strategy: str, settings: dict,
                 path: Path) -> Path:
    """report/pareto: the run's front (EIGEN: trained to T3; large-scale, random: the living)."""
    from ..search.pareto import saved_front
    from .pareto_view import others, write_pareto_plot
    points, pareto = saved_front(records, state, settings)
    return write_pareto_plot(path, points, pareto, others(records, points), strategy, folder.path.name)


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


def save_figure(fig, path: Path, svg: bool = True) -> None:
    """`path` (a PNG) and, with `svg`, the same figure as an SVG beside it for slides and papers; each
    drawn in memory and written atomically, so a killed report never leaves half a picture and a
    full disk is the OSError it is."""
    import io
    for target in (path, path.with_suffix(".svg")) if svg else (path,):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=target.suffix[1:])
        write_bytes(target, buffer.getvalue())


def _chance(ax, state: dict) -> None:
    if state.get("chance") is not None:
        ax.axhline(state["chance"], color="0.4", linestyle=":", linewidth=1.5,
                   label=f"chance ({state['chance']:.3g}%)")


def _fitness(axes, records: list[HistoryRecord], state: dict) -> str:
    """EIGEN Fig. 4: the answer per generation on top, every individual's size below."""
    ax, sizes = axes
    gens = state["generations"]
    if gens:
        ever = [(g["generation"], g.get("best_fitness", g["parent_fitness"])) for g in gens]
        ever = [(x, y) for x, y in ever if y is not None]
        if ever:  # a step that holds through each generation, out to its right edge
            xs, ys = zip(*ever)
            ax.step([x - 0.5 for x in xs] + [xs[-1] + 0.5], list(ys) + [ys[-1]], where="post", color="tab:blue",
                    linewidth=2.5, label="best ever (the answer)", zorder=3)
        ax.plot([g["generation"] for g in gens], [g["parent_fitness"] for g in gens], "o", color="tab:blue",
                markersize=11, markerfacecolor="none", markeredgewidth=2, label="parent after\nthe generation", zorder=4)
        best_children = [(g["generation"], g["best_child_fitness"]) for g in gens if g["best_child_fitness"] is not None]
        if best_children:
            ax.scatter(*zip(*best_children), marker="x", s=70, color="tab:red", linewidths=2,
                       label="best child at T3", zorder=5)
    _chance(ax, state)
    _succession(ax, sizes, state, gens)
    ax.set_ylabel(state["fitness_label"])
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)  # outside: hides no marker

    firsts = {}
    for r in records:
        firsts.setdefault(r.id, r)
    furthest = {}
    for r in records:
        furthest[r.id] = r.stage
    by_generation: dict[int, list] = {}
    for r in firsts.values():
        by_generation.setdefault(r.generation, []).append(r)
    for stage in STAGES:  # spread each generation's children across its width: no marker hides another
        xs, ys = [], []
        for generation, children in by_generation.items():
            for k, r in enumerate(sorted(children, key=lambda r: r.id)):
                if furthest[r.id] == stage:
                    xs.append(generation - 0.35 + 0.7 * (k + 0.5) / len(children))
                    ys.append(max(r.params, 1))
        sizes.scatter(xs, ys, s=28, color=STAGE_COLOURS[stage], edgecolor="black", linewidth=0.4,
                      label=f"trained to {stage}", zorder=3)
    if gens:
        sizes.plot([g["generation"] for g in gens], [max(g["parent_params"], 1) for g in gens], "o", color="tab:blue",
                   markersize=11, markerfacecolor="none", markeredgewidth=2, label="parent", zorder=4)
    sizes.set_yscale("log")
    sizes.set_ylabel("parameters (log)")
    sizes.set_xlabel("generation")
    sizes.grid(alpha=0.3, which="major")
    sizes.xaxis.set_major_locator(MaxNLocator(integer=True))
    sizes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    generations = [g for g in by_generation] + [g["generation"] for g in gens]
    if generations:
        sizes.set_xlim(min(generations) - 0.5, max(generations) + 0.5)
    return "best fitness per generation (EIGEN Fig. 4)"


def _succession(ax, sizes, state: dict, gens: list[dict]) -> None:
    """Shade the secondary succession and mark where the primary one ended, on both panels."""
    switched = state.get("succession", {}).get("switched_at")
    if switched is None:
        return
    last = max([g["generation"] for g in gens] + [switched]) + 0.5
    for axis in (ax, sizes):
        axis.axvspan(switched + 0.5, last, color="tab:purple", alpha=0.07, zorder=0)
        axis.axvline(switched + 0.5, color="tab:purple", linewidth=2, linestyle="--", zorder=1)
    # Named above the panel, where no data can be: primary to the left of the line, secondary to the right.
    for text, ha, dx in (("primary", "right", -6), ("secondary", "left", 6)):
        ax.annotate(text, xy=(switched + 0.5, 1.0), xycoords=("data", "axes fraction"), xytext=(dx, 3),
                    textcoords="offset points", ha=ha, va="bottom", color="tab:purple", fontsize=12)


def _survivors(ax, records: list[HistoryRecord], state: dict) -> str:
    counts: dict[tuple[int, str], set] = {}
    for r in records:
        counts.setdefault((r.generation, r.stage), set()).add(r.id)
    generations = sorted({g for g, _ in counts})
    width = 0.27
    for k, stage in enumerate(STAGES):
        ax.bar([g + (k - 1) * width for g in generations], [len(counts.get((g, stage), ())) for g in generations],
               width=width, label=f"trained to {stage}", color=STAGE_COLOURS[stage])
    ax.set_xlabel("generation")
    ax.set_ylabel("children")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3, axis="y")
    tallest = max((len(ids) for ids in counts.values()), default=1)
    ax.set_ylim(0, tallest * 1.25)  # headroom: the legend sits above the bars, not on them
    ax.legend(loc="upper center", ncol=3, frameon=False)
    return "survivors per stage"


def _evolution_fitness(ax, records: list[HistoryRecord], state: dict) -> str:
    """Every individual's fitness in the order trained and the best so far (like LS Fig. 1)."""
    xs, ys, best, running = [], [], [], 0.0
    for n, r in enumerate(records, start=1):
        value = r.value if r.ok else 0.0
        xs.append(n)
        ys.append(value)
        running = max(running, value)
        best.append(running)
    ax.scatter(xs, ys, s=30, color="0.55", edgecolor="black", linewidth=0.4, label="individuals", zorder=3)
    ax.step(xs, best, where="post", color="tab:blue", linewidth=2.5, label="best so far")
    _chance(ax, state)
    population = len([r for r in records if r.event == 0])
    if population and population < len(records):
        ax.axvline(population + 0.5, color="tab:purple", linestyle="--", linewidth=2, label="starting population trained")
    ax.set_xlabel("individuals trained")
    ax.set_ylabel(state["fitness_label"])
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", framealpha=0.9)
    return "fitness of every individual (LS Fig. 1)"


def device_hours(device: str | None) -> str:
    """'CPU-hours' or 'GPU-hours (NVIDIA H100 ...)': the unit of the compute a run spent, named after
    the device config.json says did the work (a CPU run's hours are not GPU-hours)."""
    return device_unit(device, "hours")


def device_unit(device: str | None, unit: str) -> str:
    if device in (None, "cpu"):
        return f"CPU-{unit}" if device == "cpu" else f"device-{unit}"
    return f"GPU-{unit} ({device})"


def _cost(ax, records: list[HistoryRecord], state: dict, device: str | None = None) -> str:
    """Best fitness against the compute spent so far, in a unit that keeps the numbers readable."""
    total = sum(r.seconds for r in records)
    unit, per = ("hours", 3600) if total >= 3 * 3600 else ("minutes", 60) if total >= 180 else ("seconds", 1)
    _best_against(ax, records, state, lambda r: r.seconds / per)
    ax.set_xlabel(f"{device_unit(device, unit)} spent training and evaluating")
    return f"fitness vs compute on {device or 'the device'}"


def _cost_flops(ax, records: list[HistoryRecord], state: dict) -> str:
    """Best fitness against the FLOPs spent so far (LS §3.5: 3 x forward FLOPs per training image,
    one forward pass per validation image), a measure of compute that no GPU model changes."""
    total = sum(r.flops_spent for r in records)
    unit, per = next(((u, p) for u, p in (("PFLOPs", 1e15), ("TFLOPs", 1e12), ("GFLOPs", 1e9)) if total >= 3 * p),
                     ("MFLOPs", 1e6))
    _best_against(ax, records, state, lambda r: r.flops_spent / per)
    ax.set_xlabel(f"{unit} spent (training and validation of every individual)")
    return "fitness vs FLOPs"


def _best_against(ax, records: list[HistoryRecord], state: dict, spent_by) -> None:
    hours, best, spent, running = [], [], 0.0, None
    finals_x, finals_y = [], []
    for r in records:
        spent += spent_by(r)
        stage = STEADY_STAGE if r.steady else "T3"  # the last stage: EIGEN's T3, or steady state's one
        if r.stage == stage and r.ok:
            finals_x.append(spent)
            finals_y.append(r.value)
            running = max(running or 0.0, r.value)
        if running is not None:
            hours.append(spent)
            best.append(running)
    if hours:
        ax.step(hours, best, where="post", color="tab:blue", linewidth=2.5, label="best so far")
    ax.scatter(finals_x, finals_y, s=30, color="0.55", edgecolor="black", linewidth=0.4,
               label="individuals fully trained", zorder=3)
    _chance(ax, state)
    ax.set_ylabel(state["fitness_label"])
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", framealpha=0.9)


def output_console() -> Console:
    """The console for final output: tables a terminal wide (120 columns in logs and pipes); sentences
    never wrapped, so a path in them can be copied and grepped whole."""
    return Console(file=sys.stdout, width=None if sys.stdout.isatty() else 120, soft_wrap=True)


def closing_table(title: str) -> Table:
    """A table of many narrow columns, ruled under its header only: boxed, the twelve columns of a
    search's summary need ~122 columns and rich cuts them on a 100-column terminal."""
    return Table(title=title, header_style="bold", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                 collapse_padding=True)


def summary_table(state: dict) -> Table:
    """One row per finished generation: who was trained how far, the thresholds, how well T1's
    ranking of the survivors held at T2 (τ, and its mean under the table), the parent."""
    table = closing_table("generations (children trained to T1/T2/T3; * new parent)")
    table.padding = (0, 0)  # twelve columns: one space between them keeps a row within 100 columns
    table.caption = mean_agreement(state["generations"], "tau_T1_T2", "τ(T1,T2)")
    for column in ("gen", "phase", "m", "# T1/T2/T3", "v(T1)", "v(T2)", "τ", "best child", "parent", "params",
                   "PFLOPs", "device-s"):
        table.add_column(column, justify="left" if column in ("phase", "best child", "parent") else "right",
                         no_wrap=True)
    bar = lambda value: "-" if value is None else f"{value:.2f}"
    for g in state["generations"]:
        trained, v = g["trained"], g["thresholds"]
        best = f"{g['best_child']} {g['best_child_fitness']:.2f}" if g["best_child"] else "-"
        parent = f"{g['parent']} {g['parent_fitness']:.2f}" + (" *" if g["improved"] else "")
        table.add_row(str(g["generation"]), g["phase"], str(g["step_size"]), "/".join(str(trained[s]) for s in STAGES),
                      bar(v.get("T1")), bar(v.get("T2")), agreement(g.get("tau_T1_T2")), best, parent,
                      human(g["parent_params"]),
                      _pflops(g), _seconds(g))
    return table


def mean_agreement(generations: list[dict], key: str, name: str) -> str:
    """The line under a closing table: the mean of its τ column over the generations where τ is
    defined (a generation with fewer than two to rank has none, as has one summarised before eigen
    measured it), and how many those are. A mean near 0 says selection ran on noise."""
    taus = [g[key] for g in generations if g.get(key) is not None]
    mean = agreement(sum(taus) / len(taus) if taus else None)
    return f"mean {name} {mean} over {len(taus)} of {len(generations)} generations"


def _pflops(summary: dict) -> str:
    return "-" if "flops_spent" not in summary else f"{summary['flops_spent'] / 1e15:.3g}"


def _seconds(summary: dict) -> str:
    return "-" if "seconds" not in summary else f"{summary['seconds']:.0f}"


def evolution_table(state: dict) -> Table:
    """One row per generation of a large-scale or random search (a generation: `population` events),
    with how well parents' fitness ranked their inheriting children's (τ, and its mean under the table)."""
    table = closing_table("generations (population-sized rounds of events)")
    table.caption = mean_agreement(state["generations"], "tau_parent_child", "τ(parent,child)")
    for column in ("gen", "events", "alive", "mean", "population best", "best ever", "τ", "params", "PFLOPs",
                   "device-s"):
        table.add_column(column, justify="left" if column == "best ever" else "right", no_wrap=True)
    for g in state["generations"]:
        table.add_row(str(g["generation"]), str(g["events"]), str(g["alive"]), f"{g['population_mean']:.2f}",
                      f"{g['population_best']:.2f}", f"{g['best']} {g['best_fitness']:.2f}",
                      agreement(g.get("tau_parent_child")), human(g["best_params"]),
                      _pflops(g), _seconds(g))
    return table


def duplicates_table(metrics: dict, front_ids=None) -> Table:
    """One row per duplication candidate; the chosen one starred, those on the Pareto front marked."""
    expression = metrics.get("fitness_expression", "acc")
    chosen_by = "validation accuracy" if expression == "acc" else f"fitness {expression}"
    timed = any(c.get("ms") is not None for c in metrics["candidates"])
    front = set(front_ids or ())
    marks = "; + on the Pareto front" if front else ""
    table = Table(title=f"gene duplication (* chosen by {chosen_by}{marks})", header_style="bold")
    for column in ("candidate", "duplication", "params", "FLOPs", "validation", *(["ms"] if timed else []), "train s"):
        table.add_column(column, justify="left" if column in ("candidate", "duplication") else "right", no_wrap=True)
    for c in metrics["candidates"]:
        star = (" *" if c["id"] == metrics["model"]["candidate"] else "") + (" +" if c["id"] in front else "")
        val = f"{c['val_accuracy']:.2f}" if c["status"] == "ok" and c["val_accuracy"] is not None else c["status"]
        ms = [f"{c['ms']:.3g}" if c.get("ms") is not None else "-"] if timed else []
        table.add_row(c["id"] + star, c["duplication"], f"{c['params']:,}", f"{c['flops']:,}", val, *ms,
                      f"{c.get('device_seconds', c.get('gpu_seconds')):.0f}")  # gpu_seconds: older folders
    return table


