"""The report's plots of a search, one function per picture, each `(axes, records, state) -> title`:
it draws on `axes` (one Axes, or EIGEN's fitness's two) from the history's records and the state
(with the report's `fitness_label` and `chance` added) and returns the title. `report.write_report`
chooses them by strategy; a strategy's plots are these names.

    eigen_fitness   EIGEN Fig. 4: the best fitness per generation, parents, best children, chance, the
                    primary -> secondary switch; below, every individual's parameter count (log scale)
    survivors       EIGEN: children trained to each stage of each generation (what extinction left)
    steady_fitness  large-scale and random: every individual's fitness and the best so far (LS Fig. 1)
    cost            the best fitness against the device time spent (`device=` names the device)
    cost_flops      the best fitness against the FLOPs spent
"""
from __future__ import annotations

from matplotlib.ticker import MaxNLocator

from ..engine.extinction import STAGES
from ..engine.record import STEADY_STAGE, HistoryRecord
from .figures import STAGE_COLOURS
from .tables import device_unit


def _chance(ax, state: dict) -> None:
    if state.get("chance") is not None:
        ax.axhline(state["chance"], color="0.4", linestyle=":", linewidth=1.5,
                   label=f"chance ({state['chance']:.3g}%)")


def eigen_fitness(axes, records: list[HistoryRecord], state: dict) -> str:
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


def survivors(ax, records: list[HistoryRecord], state: dict) -> str:
    """Children trained to each stage of each generation, side by side: what extinction left."""
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


def steady_fitness(ax, records: list[HistoryRecord], state: dict) -> str:
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


def cost(ax, records: list[HistoryRecord], state: dict, device: str | None = None) -> str:
    """Best fitness against the compute spent so far, in a unit that keeps the numbers readable."""
    total = sum(r.seconds for r in records)
    unit, per = ("hours", 3600) if total >= 3 * 3600 else ("minutes", 60) if total >= 180 else ("seconds", 1)
    _best_against(ax, records, state, lambda r: r.seconds / per)
    ax.set_xlabel(f"{device_unit(device, unit)} spent training and evaluating")
    return f"fitness vs compute on {device or 'the device'}"


def cost_flops(ax, records: list[HistoryRecord], state: dict) -> str:
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
