"""A CPU search with measured latency in its fitness, end to end (issue #31): its front in pareto.json,
the report and the closing table; `--pick` finalises a point of it, as the printed hint says, and
eval reads that model; bad picks and bad latency devices are one sentence with nothing written."""
import json
import re
import shlex

import pytest

from eigen.cli import main
from eigen.run_folder.folder import RunFolder
from tests.commands.test_next_steps import SMOKE, run_quietly


@pytest.fixture(scope="module")
def timed_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("pick") / "run"
    return run, run_quietly(SMOKE + ["--max-generations", "2", "--fitness", "acc - 20*ms", "--out", str(run)])


def test_the_search_writes_its_front_and_prints_it(timed_run):
    run, out = timed_run
    pareto = json.loads((run / "pareto.json").read_text())
    assert pareto["objectives"][-1] == "ms (min)" and pareto["latency"] == {"device": "cpu", "batch": 1}
    assert pareto["front"] and all(p["ms"] > 0 for p in pareto["front"])
    records = RunFolder(run).read_history()
    for p in pareto["front"]:  # each point is an individual trained to T3, with its recorded values
        (t3,) = [r for r in records if r["id"] == p["id"] and r["stage"] == "T3"]
        assert (t3["params"], t3["latency"]["ms"], t3["fitness"]["T3"]) == (p["params"], p["ms"], p["fitness"])
    assert "Pareto front (" in out and all(p["id"] in out for p in pareto["front"])
    assert (run / "report" / "pareto.png").stat().st_size > 10_000 and (run / "report" / "pareto.svg").exists()
    assert re.search(r"^latency: \d+ networks timed on cpu at batch 1", out, re.M)
    best = json.loads((run / "best.json").read_text())
    assert best["latency"] == {"device": "cpu", "batch": 1} and best["ms"] > 0


def test_pick_finalises_a_point_of_the_front_and_eval_reads_it(timed_run, capsys):
    run, out = timed_run
    pareto = json.loads((run / "pareto.json").read_text())
    hint = re.search(r"or finalise the .* point of the front \((\S+): .*\): (eigen duplicate .*)$", out, re.M)
    if hint:  # the printed example, run as printed
        pick, argv = hint.group(1), shlex.split(hint.group(2))[1:]
    else:  # the best is the front's only point: pick it by id
        pick = pareto["front"][0]["id"]
        argv = ["duplicate", str(run), "--pick", pick, "--gpu", "-1", "--schedule-scale", "0.004"]
    assert main(argv + ["--candidates", "2"]) == 0
    final = run / f"final-{pick}"
    plan = json.loads((final / "plan.json").read_text())
    assert plan["source"]["id"] == pick and plan["source"]["picked"]
    assert all(c["latency"]["ms"] > 0 for c in plan["candidates"])  # the fitness uses ms: each timed
    metrics = json.loads((final / "metrics.json").read_text())
    front = json.loads((final / "pareto.json").read_text())
    assert front["eligible"].startswith("every candidate") and front["front"]
    assert all(c["ms"] is not None for c in metrics["candidates"])
    capsys.readouterr()
    assert main(["eval", str(run), "--pick", pick, "--gpu", "-1"]) == 0
    assert f"{final}" in capsys.readouterr().out
    assert main(["eval", str(final), "--pick", "c1", "--gpu", "-1"]) == 0
    assert "candidates/c1.pt: test accuracy" in capsys.readouterr().out


def _one_sentence(capsys, argv) -> str:
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse's own refusals
        code = stop.code
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_an_unknown_or_untrained_pick_is_one_sentence_and_writes_nothing(timed_run, capsys):
    run, _ = timed_run
    before = sorted(p.name for p in run.iterdir())
    err = _one_sentence(capsys, ["duplicate", str(run), "--pick", "g9c9", "--gpu", "-1"])
    assert "g9c9 is not an individual of" in err and "pareto.json" in err
    records = RunFolder(run).read_history()
    t3 = {r["id"] for r in records if r["stage"] == "T3"}
    early = next((r["id"] for r in records if r["id"] not in t3), None)
    if early is not None:
        err = _one_sentence(capsys, ["duplicate", str(run), "--pick", early, "--gpu", "-1"])
        assert f"{early} cannot be finalised: it was trained only to" in err
    err = _one_sentence(capsys, ["eval", str(run), "--pick", "g9c9"])
    assert "g9c9 is not an individual of" in err
    assert sorted(p.name for p in run.iterdir()) == before


def test_a_bad_latency_device_is_one_sentence_before_the_run_folder_exists(tmp_path, capsys):
    err = _one_sentence(capsys, SMOKE + ["--fitness", "acc - 20*ms", "--latency-device", "gpu0",
                                         "--out", str(tmp_path / "run")])
    assert "--latency-device 'gpu0' is not a device" in err
    assert not (tmp_path / "run").exists()
