"""The Pareto front shown: report/pareto.png (and .svg) and the table a search ends with (issue #31).

The plot is validation accuracy against parameters (log scale), every eligible individual a dot
(those that could not be on the front, extinguished early or dead, faint behind them), the front a
step line through its points, each labelled with its id, the best by fitness marked with a star.
The front is the one `pareto.py` computes over accuracy, parameters, FLOPs and (when measured)
latency, so a point of it may sit under the accuracy-parameters staircase: a network beaten on
those two but faster or cheaper in FLOPs. Such points are drawn as open circles and said so.
"""
from __future__ import annotations

from pathlib import Path

from rich.table import Table

from ..engine.pareto import Point
from ..engine.record import HistoryRecord
from .figures import FIGSIZE, SLIDE, pyplot_for_files, save_figure
from .live import human
from .tables import closing_table


def front_rows(pareto: dict, star: str = " *", validation=lambda v: f"{v:.2f}",
               params=human) -> tuple[list[str], list[list[str]]]:
    """The front's columns after the id (ms when measured) and one row per point, in the front's
    order, the id first with `star` on the best by fitness; `validation` and `params` format those
    cells (the console's table and report/index.html write them differently)."""
    timed = "ms (min)" in pareto["objectives"]
    columns = ["validation", "fitness", "params", "MFLOPs", *(["ms"] if timed else [])]
    rows = [[p["id"] + (star if p["best"] else ""), validation(p["val_accuracy"]),
             "-" if p["fitness"] is None else f"{p['fitness']:.3f}", params(p["params"]), f"{p['flops'] / 1e6:.3g}",
             *([f"{p['ms']:.3g}"] if timed else [])] for p in pareto["front"]]
    return columns, rows


def pareto_table(pareto: dict) -> Table:
    """The front, fewest parameters first; * the best by fitness."""
    table = closing_table(f"Pareto front ({len(pareto['front'])} of {pareto['considered']}: "
                          f"{pareto['eligible']}; * the best by fitness)")
    columns, rows = front_rows(pareto)
    for column in ["id", *columns]:
        table.add_column(column, justify="left" if column == "id" else "right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    return table


def others(records: list[HistoryRecord], points: list[Point]) -> list[tuple[int, float]]:
    """(params, accuracy at its last stage) of every trained individual that is not eligible: the
    faint dots behind the front."""
    eligible = {p.id for p in points} | {t for p in points for t in p.twins}
    last: dict[str, HistoryRecord] = {}
    for r in records:
        if r.ok:
            last[r.id] = r
    return [(r.params, r.accuracy.get(r.stage, r.value)) for r in last.values() if r.id not in eligible]


def draw_pareto(ax, points: list[Point], pareto: dict, faint: list[tuple[int, float]], labels: tuple[str, str]) -> str:
    """Accuracy against parameters with the front drawn and labelled; returns the title. `labels`
    names the eligible and the others ("trained to T3", "extinguished before T3")."""
    eligible, not_eligible = labels
    on_front = {p["id"] for p in pareto["front"]}
    if faint:
        ax.scatter([x for x, _ in faint], [y for _, y in faint], s=14, color="0.82", zorder=1,
                   label=f"not eligible ({len(faint)}: {not_eligible})")
    rest = [p for p in points if p.id not in on_front]
    if rest:
        ax.scatter([p.params for p in rest], [p.accuracy for p in rest], s=22, color="tab:blue", alpha=0.45,
                   zorder=2, label=f"{eligible}, off the front ({len(rest)} of {len(points)})")
    front = pareto["front"]
    stair = _staircase(front)
    if stair:
        ax.step([p["params"] for p in stair], [p["val_accuracy"] for p in stair], where="post", color="tab:red",
                linewidth=1.8, zorder=3, label=f"Pareto front ({len(front)})")
        ax.scatter([p["params"] for p in stair], [p["val_accuracy"] for p in stair], s=46, color="tab:red",
                   zorder=4)
    beside = [p for p in front if p not in stair]  # on the front by FLOPs or ms, not by parameters
    if beside:
        ax.scatter([p["params"] for p in beside], [p["val_accuracy"] for p in beside], s=46, facecolor="white",
                   edgecolor="tab:red", linewidth=1.5, zorder=4, label="on the front by FLOPs or ms")
    for n, p in enumerate(sorted(front, key=lambda p: p["params"])):
        below = n % 2 == 1  # alternate sides, so neighbours' labels do not collide
        ax.annotate(p["id"], (p["params"], p["val_accuracy"]), fontsize=10, xytext=(4, -12 if below else 6),
                    textcoords="offset points", ha="left", va="top" if below else "bottom", zorder=6)
    best = next((p for p in front if p["best"]), None)
    if best is None and pareto["best"]:  # the best by fitness need not be on the front (a dead LS best)
        best = next(({"params": p.params, "val_accuracy": p.accuracy} for p in points if p.id == pareto["best"]), None)
    if best is not None:
        ax.scatter(best["params"], best["val_accuracy"], marker="*", s=420, color="gold", edgecolor="black",
                   linewidth=0.7, zorder=5, label=f"best by fitness ({pareto['best']})")
    if points or faint:
        ax.set_xscale("log")
    else:
        ax.text(0.5, 0.5, "nothing trained to the end yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("parameters (log scale)")
    ax.set_ylabel("validation accuracy (%)")
    ax.grid(alpha=0.3, which="both")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", framealpha=0.9)
    objectives = ", ".join(o.split(" ")[0].replace("val_accuracy", "accuracy") for o in pareto["objectives"])
    return f"Pareto front over {objectives}"


def _staircase(front: list[dict]) -> list[dict]:
    """The points of the front that are also on the accuracy-parameters front, fewest parameters first."""
    stair, top = [], float("-inf")
    for p in sorted(front, key=lambda p: (p["params"], -p["val_accuracy"])):
        if p["val_accuracy"] > top:
            stair.append(p)
            top = p["val_accuracy"]
    return stair


def write_pareto_plot(path: Path, points: list[Point], pareto: dict, faint, labels: tuple[str, str], title: str) -> Path:
    plt = pyplot_for_files()
    with plt.rc_context(SLIDE):
        fig, ax = plt.subplots(figsize=FIGSIZE)
        heading = draw_pareto(ax, points, pareto, faint, labels)
        fig.suptitle(f"{title}: {heading}", fontsize=14)
        fig.tight_layout()
        save_figure(fig, path)
        plt.close(fig)
    return path

