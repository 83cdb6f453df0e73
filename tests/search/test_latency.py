"""Latency as an objective (issue #31): measured once per genome key, kept across a kill, reused by
twins, scored by `ms` in --fitness and limited by --max-ms before anything trains."""
import json

import pytest

from eigen.genome.cost import cost
from eigen.genome.dna import initial_genome
from eigen.run_folder.folder import RunFolder
from eigen.engine.eigen_search import EigenSearch, EigenSettings
from eigen.engine.steady_state import EvolutionSettings
from eigen.engine.fitness import Fitness
from eigen.training.latency import LatencyDeviceError, latency_device, measure_latency
from tests.search.steady_engine import evolution
from tests.search.test_search import SMALL, Killed, Scripted, comparable, records_of


class Timer:
    """A latency measurement that is a pure function of the genome (ms grows with FLOPs and depth),
    counting how often each key is measured; `kill_at` raises Killed at that measurement."""

    def __init__(self, kill_at=None, offset=0.0):
        self.keys, self.kill_at, self.offset = [], kill_at, offset

    def __call__(self, genome, image_size, num_classes, device, batch):
        if self.kill_at is not None and len(self.keys) == self.kill_at:
            raise Killed
        self.keys.append(genome.key())
        c = cost(genome, image_size, num_classes)
        ms = round(0.05 + c.flops / 1e8 + 0.01 * len(genome.nodes) + self.offset, 4)
        return {"ms": ms, "iqr_ms": 0.001, "runs": 15, "device": device, "batch": batch, "threads": 1,
                "seconds": 0.01}


def eigen_run(folder, timer, trainer=None, **settings):
    s = EigenSettings(**{**SMALL, "fitness": "acc - 20*ms", **settings})
    engine = EigenSearch(s, trainer or Scripted(), RunFolder(folder), measure_latency=timer)
    return engine, engine.run()


def test_ms_in_the_fitness_is_a_linear_term_and_needs_a_measurement():
    f = Fitness.parse("acc - 20*ms")
    assert f.uses_latency and not Fitness.parse("acc - 2*mparams").uses_latency
    assert f(80.0, 10**6, 10**9, 0.5) == pytest.approx(70.0)
    with pytest.raises(Exception, match="uses ms"):
        f(80.0, 10**6, 10**9)


def test_a_real_measurement_is_a_median_of_many_timed_passes_on_the_cpu():
    latency = measure_latency(initial_genome(), 16, 10, "cpu", batch=2)
    assert latency["ms"] > 0 and latency["iqr_ms"] >= 0 and latency["runs"] >= 15
    assert latency["device"] == "cpu" and latency["batch"] == 2 and latency["seconds"] > 0


@pytest.mark.parametrize("text, says", [("gpu0", "is not a device"), ("tpu", "is not a device")])
def test_a_latency_device_that_cannot_be_had_is_one_sentence(text, says):
    with pytest.raises(LatencyDeviceError, match=says):
        latency_device(text)
    assert str(latency_device("cpu")) == "cpu"


def test_every_genome_key_is_measured_once_and_every_record_carries_its_latency(tmp_path):
    timer = Timer()
    engine, _ = eigen_run(tmp_path / "run", timer, max_generations=3)
    assert len(timer.keys) == len(set(timer.keys))  # once per key, rejected draws and twins included
    records = engine.core.records
    assert records and all(r.latency is not None for r in records)
    lines = (tmp_path / "run" / "latency.jsonl").read_text().splitlines()
    kept = {json.loads(line)["key"]: json.loads(line)["ms"] for line in lines}
    assert set(kept) == set(timer.keys)
    for r in records:  # the fitness is the expression of the record's own accuracy, cost and latency
        assert r.ms == kept[r.key]
        assert r.value == pytest.approx(r.accuracy[r.stage] - 20 * r.ms)


def test_a_killed_run_resumes_with_the_same_latencies_and_the_same_results(tmp_path):
    whole_timer = Timer()
    whole, _ = eigen_run(tmp_path / "whole", whole_timer)
    expected = comparable(records_of(tmp_path / "whole"))
    total = len(whole_timer.keys)
    assert total > 6
    for n in (1, total // 2, total - 1):  # killed while drawing a generation, between measurements
        folder = tmp_path / f"killed-{n}"
        first, second = Timer(kill_at=n), Timer()
        with pytest.raises(Killed):
            eigen_run(folder, first)
        eigen_run(folder, second)
        # A measurement is noisy: a key measured again could change a choice. None is.
        assert not set(second.keys) & set(first.keys), n
        assert len(first.keys) + len(second.keys) == total
        assert comparable(records_of(folder)) == expected, n


def test_a_run_killed_between_trainings_measures_nothing_again(tmp_path):
    eigen_run(tmp_path / "whole", Timer())
    first, second = Timer(), Timer()
    with pytest.raises(Killed):
        eigen_run(tmp_path / "run", first, Scripted(kill_after=9))
    eigen_run(tmp_path / "run", second)
    assert not set(first.keys) & set(second.keys)
    assert comparable(records_of(tmp_path / "run")) == comparable(records_of(tmp_path / "whole"))


def test_max_ms_rejects_slow_children_before_they_train(tmp_path):
    trainer = Scripted()
    timer = Timer()
    engine, _ = eigen_run(tmp_path / "run", timer, trainer, max_ms=0.12, max_generations=2)
    trained = {key for key, _, _ in trainer.calls}
    slow = {key for key in timer.keys if engine.core.latencies.by_key[key]["ms"] > 0.12}
    assert slow, "the limit rejected nothing: the test shows nothing"
    assert not trained & slow  # a child above the limit never trained
    assert sum(g["rejected"] for g in engine.state.generations) >= len(slow)
    assert all(r.ms <= 0.12 for r in engine.core.records)


def test_a_limit_no_child_can_meet_is_one_sentence(tmp_path):
    with pytest.raises(Exception, match="--max-ms 1e-06 in 100 draws; raise the limits"):
        eigen_run(tmp_path / "run", Timer(), max_ms=1e-6)


def test_a_latency_term_prefers_the_faster_of_two_equally_accurate_genomes(tmp_path):
    """Every child scores the same accuracy; only latency tells them apart, and the search must take
    the fastest finalist as parent and best."""
    timer = Timer()

    class SameAccuracy(Scripted):
        def score(self, genome, until):
            return 70.0
    engine, _ = eigen_run(tmp_path / "run", timer, SameAccuracy(), fitness="acc - 5*ms", max_generations=1,
                          p=6, q=6)
    finalists = [r for r in engine.core.records if r.stage == "T3"]
    assert len({r.ms for r in finalists}) > 1 and {r.accuracy["T3"] for r in finalists} == {70.0}
    fastest = min(finalists, key=lambda r: r.ms)
    assert engine.state.best.ms == fastest.ms
    assert engine.state.best.fitness["T3"] == pytest.approx(70.0 - 5 * fastest.ms)


def test_a_steady_state_run_times_its_starting_population_once_and_its_children(tmp_path):
    timer = Timer()
    settings = EvolutionSettings(population=4, child_steps=20, max_generations=2, image_size=32, num_classes=10,
                                 fitness="acc - 20*ms", top_k=1)
    engine = evolution(settings, Scripted(), RunFolder(tmp_path / "run"), measure_latency=timer)
    engine.run()
    assert timer.keys.count(initial_genome(vertex_order="add-then-activate").key()) == 1
    assert len(timer.keys) == len(set(timer.keys))
    assert all(r.latency is not None and r.value == pytest.approx(r.accuracy["train"] - 20 * r.ms)
               for r in engine.core.records)


def test_a_damaged_latency_file_is_one_sentence_naming_it(tmp_path):
    eigen_run(tmp_path / "run", Timer(), max_generations=1)
    path = tmp_path / "run" / "latency.jsonl"
    path.write_text('{"key":"x","ms":"fast"}\n' + path.read_text())
    with pytest.raises(Exception, match=r"latency.jsonl line 1 is not a latency record"):
        eigen_run(tmp_path / "run", Timer(), max_generations=2)


def test_a_latency_line_cut_short_by_a_kill_is_dropped_and_measured_again(tmp_path):
    eigen_run(tmp_path / "run", Timer(), max_generations=1)
    path = tmp_path / "run" / "latency.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]) + lines[-1][:10])
    timer = Timer()
    eigen_run(tmp_path / "run", timer, max_generations=1)
    assert path.read_text() == "".join(lines[:-1])  # the torn line is gone; nothing new was needed
