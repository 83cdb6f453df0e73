"""The rich console and the tables a command ends with: a search's generations (EIGEN, or
large-scale and random), a duplication's candidates, and the unit a run's compute is counted in.
The same tables are printed by `eigen search`, `eigen report` and `eigen duplicate`, and appear as
text on report/index.html."""
from __future__ import annotations

import sys

from rich import box
from rich.console import Console
from rich.table import Table

from ..progress import on_terminal
from ..engine.extinction import STAGES
from .live import agreement, human


def device_hours(device: str | None) -> str:
    """'CPU-hours' or 'GPU-hours (NVIDIA H100 ...)': the unit of the compute a run spent, named after
    the device config.json says did the work (a CPU run's hours are not GPU-hours)."""
    return device_unit(device, "hours")


def device_unit(device: str | None, unit: str) -> str:
    if device in (None, "cpu"):
        return f"CPU-{unit}" if device == "cpu" else f"device-{unit}"
    return f"GPU-{unit} ({device})"


def output_console() -> Console:
    """The console for final output: tables a terminal wide (120 columns in logs and pipes); sentences
    never wrapped, so a path in them can be copied and grepped whole."""
    return Console(file=sys.stdout, width=None if on_terminal(sys.stdout) else 120, soft_wrap=True)


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
