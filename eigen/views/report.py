"""The report of a run folder (SPEC §7): PNG plots and a summary table, drawn from the files alone.

Everything here reads `history.jsonl` and `state.json`, so `eigen report` works on a finished run,
a killed one, or one still going, and draws the same plots the search drew at its end.

    report/fitness.png    best fitness per generation, the primary -> secondary switch, and every
                          individual's parameter count as dots (like EIGEN Fig. 4); for large-scale
                          and random, every individual's fitness and the best so far (LS Fig. 1)
    report/survivors.png  EIGEN: children trained at each stage of each generation (what extinction left)
    report/cost.png       best validation accuracy against the device-hours (CPU or GPU) spent training and evaluating
    report/duplicates.png once `eigen duplicate` has run: the genome as found against its duplicates,
                          validation accuracy against parameters, the chosen one marked
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

from matplotlib.ticker import MaxNLocator
from rich.console import Console
from rich.table import Table

from .. import faults
from ..runfolder import RunFolder, read_json
from ..search.extinction import STAGES


def load_run(folder: RunFolder) -> tuple[list[dict], dict]:
    folder.require()
    state = read_json(folder.state, "the search state") if folder.state.exists() else {"generations": []}
    return folder.read_history(), state


def write_report(folder: RunFolder) -> list[Path]:
    """Draw the plots into `folder/report/` and return their paths."""
    import matplotlib
    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    records, state = load_run(folder)
    config = read_json(folder.config, "the run's settings")
    strategy = config["settings"].get("strategy", "eigen")
    expression = config["settings"].get("fitness", "acc")
    state = {**state, "fitness_label": "validation accuracy (%)" if expression == "acc" else f"fitness ({expression})"}
    cost = functools.partial(_cost, device=config.get("device"))
    folder.report.mkdir(exist_ok=True)
    name = folder.path.name
    paths = []
    if strategy == "eigen":
        plots = ((_fitness, "fitness.png"), (_survivors, "survivors.png"), (cost, "cost.png"),
                 (_cost_flops, "cost-flops.png"))
    else:  # steady state: no stages to survive
        plots = ((_evolution_fitness, "fitness.png"), (cost, "cost.png"), (_cost_flops, "cost-flops.png"))
    for draw, filename in plots:
        fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
        draw(ax, records, state)
        ax.set_title(f"{name}: {ax.get_title()}", fontsize=10)
        fig.tight_layout()
        path = folder.report / filename
        faults.point("report")
        save_figure(fig, path)
        plt.close(fig)
        paths.append(path)
    final = folder.path / "final"
    if (final / "state.json").exists():
        paths.append(write_duplicates_plot(final, folder.report / "duplicates.png"))
    return paths


def write_duplicates_plot(final: Path, path: Path) -> Path:
    """Validation accuracy against parameters for every candidate of a duplication (done or not)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plan = read_json(final / "plan.json", "the duplication's plan")
    entries = read_json(final / "state.json", "the duplication's progress")["candidates"]
    metrics = read_json(final / "metrics.json", "the final metrics") if (final / "metrics.json").exists() else None
    chosen = metrics["model"]["candidate"] if metrics else None
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for c in plan["candidates"]:
        entry = entries[c["id"]]
        if entry["fitness"] is None or entry["status"] != "ok":
            continue
        finished = entry["step"] >= plan["schedule"]["total"]
        style = ({"marker": "s", "color": "tab:orange", "s": 50} if c["id"] == "c0" else
                 {"marker": "o", "color": "tab:blue" if finished else "0.7", "s": 30})
        ax.scatter(c["params"] / 1e6, entry["fitness"], zorder=3, **style)
        if c["id"] == chosen:
            ax.scatter(c["params"] / 1e6, entry["fitness"], marker="*", color="tab:green", s=160, zorder=4)
        ax.annotate(f"{c['id']}: {c['label']}", (c["params"] / 1e6, entry["fitness"]), fontsize=7,
                    xytext=(4, 3), textcoords="offset points")
    ax.scatter([], [], marker="s", color="tab:orange", label="as found (the search's best)")
    ax.scatter([], [], marker="o", color="tab:blue", label="duplicates (grey: still training)")
    if chosen:
        ax.scatter([], [], marker="*", color="tab:green", s=120, label=f"chosen ({chosen})")
    ax.set_xlabel("parameters (millions)")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(f"{final.parent.name}: gene duplication of {plan['source']['id']}", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path)
    plt.close(fig)
    return path


def save_figure(fig, path: Path, svg: bool = True) -> None:
    """`path` (a PNG) and, with `svg`, the same figure as an SVG beside it for slides and papers; each
    drawn into a temporary file and renamed, so a killed report never leaves half a picture."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for target in (path, path.with_suffix(".svg")) if svg else (path,):
        tmp = target.with_name(f".{target.stem}.tmp{target.suffix}")
        fig.savefig(tmp)
        tmp.replace(target)


def _fitness(ax, records: list[dict], state: dict) -> None:
    gens = state["generations"]
    firsts = {}
    for r in records:
        firsts.setdefault(r["id"], r)
    dots = ax.twinx()
    dots.scatter([r["generation"] for r in firsts.values()], [max(r["params"], 1) for r in firsts.values()],
                 s=9, color="0.6", alpha=0.7, label="individuals (parameters)")
    dots.set_yscale("log")
    dots.set_ylabel("parameters (dots)")
    ax.set_zorder(dots.get_zorder() + 1)
    ax.patch.set_visible(False)
    if gens:
        ever = [(g["generation"], g.get("best_fitness", g["parent_fitness"])) for g in gens]
        ever = [(x, y) for x, y in ever if y is not None]
        if ever:
            ax.step(*zip(*ever), where="post", color="tab:blue", label="best ever (the answer)")
        ax.plot([g["generation"] for g in gens], [g["parent_fitness"] for g in gens], "o", color="tab:blue",
                markersize=4, alpha=0.6, label="parent")
        best_children = [(g["generation"], g["best_child_fitness"]) for g in gens if g["best_child_fitness"] is not None]
        if best_children:
            ax.scatter(*zip(*best_children), marker="x", color="tab:blue", alpha=0.5, label="best child at T3")
    switched = state.get("succession", {}).get("switched_at")
    if switched is not None:
        ax.axvline(switched + 0.5, color="tab:red", label="primary succession ends")
    ax.set_xlabel("generation")
    ax.set_ylabel(state["fitness_label"])
    ax.set_title("best fitness per generation")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles, labels = [], []
    for axis in (ax, dots):
        h, lab = axis.get_legend_handles_labels()
        handles, labels = handles + h, labels + lab
    ax.legend(handles, labels, loc="lower right", fontsize=8)


def _survivors(ax, records: list[dict], state: dict) -> None:
    counts: dict[tuple[int, str], set] = {}
    for r in records:
        counts.setdefault((r["generation"], r["stage"]), set()).add(r["id"])
    generations = sorted({g for g, _ in counts})
    width = 0.27
    for k, stage in enumerate(STAGES):
        ax.bar([g + (k - 1) * width for g in generations], [len(counts.get((g, stage), ())) for g in generations],
               width=width, label=f"trained to {stage}")
    ax.set_xlabel("generation")
    ax.set_ylabel("children")
    ax.set_title("survivors per stage")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8)


def _evolution_fitness(ax, records: list[dict], state: dict) -> None:
    """Every individual's fitness in the order trained and the best so far (like LS Fig. 1)."""
    xs, ys, best, running = [], [], [], 0.0
    for n, r in enumerate(records, start=1):
        value = r["fitness"]["train"] if r["status"] == "ok" else 0.0
        xs.append(n)
        ys.append(value)
        running = max(running, value)
        best.append(running)
    ax.scatter(xs, ys, s=7, color="0.6", alpha=0.7, label="individuals")
    ax.step(xs, best, where="post", color="tab:blue", label="best so far")
    population = len([r for r in records if r.get("event") == 0])
    if population and population < len(records):
        ax.axvline(population + 0.5, color="tab:red", label="starting population trained")
    ax.set_xlabel("individuals trained")
    ax.set_ylabel(state["fitness_label"])
    ax.set_title("fitness of every individual")
    ax.legend(loc="lower right", fontsize=8)


def device_hours(device: str | None) -> str:
    """'CPU-hours' or 'GPU-hours (NVIDIA H100 ...)': the unit of the compute a run spent, named after
    the device config.json says did the work (a CPU run's hours are not GPU-hours)."""
    if device in (None, "cpu"):
        return "CPU-hours" if device == "cpu" else "device-hours"
    return f"GPU-hours ({device})"


def _cost(ax, records: list[dict], state: dict, device: str | None = None) -> None:
    """Best fitness against the device-hours spent so far."""
    _best_against(ax, records, state, lambda r: r["seconds"] / 3600)
    ax.set_xlabel(f"{device_hours(device)}: training and evaluation of every individual")
    ax.set_title("fitness vs time")


def _cost_flops(ax, records: list[dict], state: dict) -> None:
    """Best fitness against the FLOPs spent so far (LS §3.5: 3 x forward FLOPs per training image,
    one forward pass per validation image), a measure of compute that no GPU model changes."""
    _best_against(ax, records, state, lambda r: r.get("flops_spent", 0) / 1e15)
    ax.set_xlabel("PFLOPs spent (training and validation of every individual)")
    ax.set_title("fitness vs FLOPs")


def _best_against(ax, records: list[dict], state: dict, spent_by) -> None:
    hours, best, spent, running = [], [], 0.0, None
    finals_x, finals_y = [], []
    for r in records:
        spent += spent_by(r)
        stage = "T3" if "event" not in r else "train"  # the last stage: EIGEN's T3, or steady state's one
        if r["stage"] == stage and r["status"] == "ok":
            finals_x.append(spent)
            finals_y.append(r["fitness"][stage])
            running = max(running or 0.0, r["fitness"][stage])
        if running is not None:
            hours.append(spent)
            best.append(running)
    if hours:
        ax.step(hours, best, where="post", color="tab:blue", label="best so far")
    ax.scatter(finals_x, finals_y, s=9, color="0.6", label="individuals fully trained")
    ax.set_ylabel(state["fitness_label"])
    ax.legend(loc="lower right", fontsize=8)


def output_console() -> Console:
    """The console for final output: tables a terminal wide (120 columns in logs and pipes); sentences
    never wrapped, so a path in them can be copied and grepped whole."""
    return Console(file=sys.stdout, width=None if sys.stdout.isatty() else 120, soft_wrap=True)


def summary_table(state: dict) -> Table:
    """One row per finished generation: who was trained how far, the thresholds, the parent."""
    table = Table(title="generations (children trained to T1/T2/T3; * new parent)", header_style="bold")
    for column in ("gen", "phase", "m", "# T1/T2/T3", "v(T1)", "v(T2)", "best child", "parent", "params",
                   "PFLOPs", "device-s"):
        table.add_column(column, justify="left" if column in ("phase", "best child", "parent") else "right",
                         no_wrap=True)
    bar = lambda value: "-" if value is None else f"{value:.2f}"
    for g in state["generations"]:
        trained, v = g["trained"], g["thresholds"]
        best = f"{g['best_child']} {g['best_child_fitness']:.2f}" if g["best_child"] else "-"
        parent = f"{g['parent']} {g['parent_fitness']:.2f}" + (" *" if g["improved"] else "")
        table.add_row(str(g["generation"]), g["phase"], str(g["step_size"]), "/".join(str(trained[s]) for s in STAGES),
                      bar(v.get("T1")), bar(v.get("T2")), best, parent, f"{g['parent_params']:,}",
                      _pflops(g), _seconds(g))
    return table


def _pflops(summary: dict) -> str:
    return "-" if "flops_spent" not in summary else f"{summary['flops_spent'] / 1e15:.3g}"


def _seconds(summary: dict) -> str:
    return "-" if "seconds" not in summary else f"{summary['seconds']:.0f}"


def evolution_table(state: dict) -> Table:
    """One row per generation of a large-scale or random search (a generation: `population` events)."""
    table = Table(title="generations (population-sized rounds of events)", header_style="bold")
    for column in ("gen", "events", "alive", "mean", "population best", "best ever", "params", "PFLOPs", "device-s"):
        table.add_column(column, justify="left" if column == "best ever" else "right", no_wrap=True)
    for g in state["generations"]:
        table.add_row(str(g["generation"]), str(g["events"]), str(g["alive"]), f"{g['population_mean']:.2f}",
                      f"{g['population_best']:.2f}", f"{g['best']} {g['best_fitness']:.2f}", f"{g['best_params']:,}",
                      _pflops(g), _seconds(g))
    return table


def duplicates_table(metrics: dict) -> Table:
    """One row per duplication candidate; the chosen one starred."""
    expression = metrics.get("fitness_expression", "acc")
    chosen_by = "validation accuracy" if expression == "acc" else f"fitness {expression}"
    table = Table(title=f"gene duplication (* chosen by {chosen_by})", header_style="bold")
    for column in ("candidate", "duplication", "params", "FLOPs", "validation", "train s"):
        table.add_column(column, justify="left" if column in ("candidate", "duplication") else "right", no_wrap=True)
    for c in metrics["candidates"]:
        star = " *" if c["id"] == metrics["model"]["candidate"] else ""
        val = f"{c['val_accuracy']:.2f}" if c["status"] == "ok" and c["val_accuracy"] is not None else c["status"]
        table.add_row(c["id"] + star, c["duplication"], f"{c['params']:,}", f"{c['flops']:,}", val,
                      f"{c.get('device_seconds', c.get('gpu_seconds')):.0f}")  # gpu_seconds: older folders
    return table


