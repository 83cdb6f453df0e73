"""The report's plots say what EIGEN Fig. 3/4 say: checked on the drawn axes, not by eye."""
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from eigen.engine.record import HistoryRecord  # noqa: E402
from eigen.training.metrics import MetricsLog, LogPoint  # noqa: E402
from eigen.views import report, search_plots, tables  # noqa: E402


def record(id, generation, stage, params, fitness):
    return HistoryRecord(id=id, parent=None, generation=generation, succession="primary", step_size=1, stage=stage,
                         until=10, key=id, mutations=[], params=params, flops=1, fitness={stage: fitness},
                         accuracy={stage: fitness}, status="ok", iterations=10, seconds=30.0, flops_spent=int(2e12),
                         reused_from=None, checkpoint=None)


RECORDS = [record(f"g{g}c{c}", g, "T1", 1000 * (c + 1), 50.0 + g) for g in (1, 2, 3) for c in range(5)]
STATE = {"generations": [{"generation": g, "best_fitness": 60.0 + g, "parent_fitness": 60.0 + g, "best_child_fitness": 60.0 + g,
                          "parent_params": 1000 * g} for g in (1, 2, 3)],
         "succession": {"switched_at": 2}, "fitness_label": "validation accuracy (%)", "chance": 10.0}


def test_fitness_has_the_step_line_chance_and_switch_above_a_log_panel_of_every_individual():
    fig, (ax, sizes) = plt.subplots(2, 1, sharex=True)
    title = search_plots.eigen_fitness((ax, sizes), RECORDS, STATE)
    assert "EIGEN Fig. 4" in title
    labels = ax.get_legend_handles_labels()[1]
    assert {"best ever (the answer)", "chance (10%)", "best child at T3"} <= set(labels)
    chance = [line for line in ax.get_lines() if line.get_label() == "chance (10%)"][0]
    assert set(chance.get_ydata()) == {10.0}
    assert any(set(line.get_xdata()) == {2.5} for line in sizes.get_lines())  # the switch, on both panels
    assert [t.get_text() for t in ax.texts] == ["primary", "secondary"]
    assert sizes.get_yscale() == "log"
    # Every individual is a marker of its own: 15 individuals, 15 distinct positions.
    points = [tuple(p) for collection in sizes.collections for p in collection.get_offsets()]
    assert len(points) == 15 and len(set(points)) == 15
    plt.close(fig)


def test_compute_is_in_the_devices_unit():
    fig, ax = plt.subplots()
    search_plots.cost(ax, RECORDS, STATE, device="NVIDIA H100 80GB HBM3")  # 15 x 30 s = 7.5 minutes
    assert ax.get_xlabel().startswith("GPU-minutes (NVIDIA H100 80GB HBM3)")
    plt.close(fig)
    assert tables.device_unit("cpu", "hours") == "CPU-hours"


def test_final_curves_and_every_plot_come_as_png_and_svg(tmp_path):
    final = tmp_path / "final"
    final.mkdir()
    log = MetricsLog(final)
    for name in ("c0", "c1"):
        training = log.training(name, "final")
        for step in (10, 20):
            training(LogPoint(step, 1.0 / step, 0.1, 100.0, 1.0), 50.0 + step if step == 20 else None)
    (final / "metrics.json").write_text(json.dumps({"model": {"candidate": "c1"}}))
    path = report.write_curves_plot(final, tmp_path / "report" / "final-curves.png")
    assert path.read_bytes()[:4] == b"\x89PNG" and path.with_suffix(".svg").read_text().rstrip().endswith("</svg>")
