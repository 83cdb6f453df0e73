"""`--ray` on a local cluster of 2 CPUs: the same results as one at a time, a CPU worker training with
the driver's intra-op thread count (whatever it is: nothing here pins it but the teacher test, whose
reference was trained with one thread), a worker killed mid-training loses nothing (and the
trainings' progress reaches the driver), a killed driver resumes. Skipped where Ray is not installed
(`pip install -e ".[ray]"`; CI installs it)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import torch

from eigen.cli import main
from eigen.data.datasets import load_splits
from eigen.data.device_data import DeviceData
from eigen.executors import InlineExecutor, Training, run_all
from eigen.executors.worker import WorkerSpec
from eigen.genome.dna import Genome
from eigen.training.individual_training import TorchIndividuals
from eigen.training.trainer import Schedule
from tests.commands.test_final import small_genome
from tests.executors.test_local import canonical_search, sequential_search  # noqa: F401 (a fixture)
from tests.conftest import one_thread
from tests.search.test_search_run import TINY
from tests.test_kill_anywhere import TEACHER, assert_same_teacher

ray = pytest.importorskip("ray")
from eigen.executors.ray_cluster import RayExecutor  # noqa: E402 (needs ray)


@pytest.fixture(scope="module")
def cluster():
    """One local cluster of 2 CPUs for the module (a command finds it running and leaves it so)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def test_a_search_on_ray_records_what_a_sequential_one_does(cluster, sequential_search, tmp_path, capsys):
    assert main(["search", *TINY, "--ray", "--out", str(tmp_path / "run")]) == 0
    threads = torch.get_num_threads()  # the driver's, not pinned: each worker claims that many of the 2 CPUs
    expected = ("Ray: 2 workers (2 CPUs, 1 thread each), up to 2 trainings at once" if threads == 1 else
                f"Ray: 1 worker (2 CPUs, {threads} threads each), up to 1 training at once")
    assert expected in capsys.readouterr().out
    assert canonical_search(tmp_path / "run") == sequential_search


def test_a_ray_cpu_worker_trains_with_the_drivers_thread_count(cluster, tmp_path):
    """A Ray worker process starts with one thread (Ray sets OMP_NUM_THREADS=1); it trains with the
    count the driver gives it, and ends where one-at-a-time training with that count ends: at the
    driver's own count (not pinned), at 1 and at 2."""
    splits = load_splits("synthetic", image_size=16)
    schedule = Schedule(total=20, milestones=(15,))
    genome = Genome.from_dict(small_genome(), 16)
    local = TorchIndividuals(DeviceData(splits, "cpu"), schedule)
    for threads in sorted({torch.get_num_threads(), 1, 2}):
        weights = {}
        for where in ("ray", "here"):
            folder = tmp_path / f"{where}-{threads}"
            folder.mkdir()
            executor = (RayExecutor(WorkerSpec.individuals(splits, schedule), say=lambda text: None, threads=threads)
                        if where == "ray" else InlineExecutor(local, threads=threads))
            try:
                assert run_all(executor, [(0, Training(genome, 0, 20, folder / "0.pt"))], on_done=lambda *a: None)
            finally:
                executor.close()
            weights[where] = torch.load(folder / "0.pt", weights_only=True)["trainer"]["model"]
        assert all(torch.equal(weights["ray"][k], weights["here"][k]) for k in weights["here"]), threads


@pytest.mark.slow  # ~20 s: a worker SIGKILLed, Ray restarting it
def test_a_ray_worker_killed_mid_training_loses_nothing(cluster, tmp_path):
    splits = load_splits("synthetic", image_size=16)
    schedule = Schedule(total=200, milestones=(150,))
    genome = Genome.from_dict(small_genome(), 16)
    trainings = lambda folder: [(n, Training(genome, n, 200, folder / f"{n}.pt")) for n in range(4)]
    (tmp_path / "ray").mkdir()
    (tmp_path / "here").mkdir()
    # Two single-threaded workers (one killed, one going on), and the same count here.
    executor = RayExecutor(WorkerSpec.individuals(splits, schedule), say=lambda text: None, threads=1)
    pids = ray.get([worker.pid.remote() for worker in executor.workers])  # both workers up and loaded
    killed = threading.Event()

    def kill_one_mid_training():
        while executor.busy == 0:
            time.sleep(0.01)
        time.sleep(0.3)  # a training of 200 iterations takes seconds: this lands inside one
        os.kill(pids[0], signal.SIGKILL)
        killed.set()
    threading.Thread(target=kill_one_mid_training, daemon=True).start()
    results, heard = {}, []
    try:
        assert run_all(executor, trainings(tmp_path / "ray"), on_done=results.__setitem__,
                       on_progress=lambda tag, step, until, loss: heard.append((tag, step, until, loss)))
        assert killed.is_set() and ray.get(executor.workers[0].pid.remote()) != pids[0]  # restarted
    finally:
        executor.close()
    here = {}
    local = TorchIndividuals(DeviceData(splits, "cpu"), schedule)
    assert run_all(InlineExecutor(local, threads=1), trainings(tmp_path / "here"), on_done=here.__setitem__)
    assert {n: (r.status, r.fitness, r.step) for n, r in results.items()} == \
           {n: (r.status, r.fitness, r.step) for n, r in here.items()}
    # The live view heard the trainings move while they ran on the workers (a dead worker's poll skipped).
    assert heard and all(tag in range(4) and 0 < step <= until == 200 and loss > 0 for tag, step, until, loss in heard)
    for n in range(4):  # the weights came back through the object store, whole
        a, b = (torch.load(tmp_path / f / f"{n}.pt", weights_only=True)["trainer"]["model"] for f in ("ray", "here"))
        assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow  # ~18 s: a teacher and its logits cache on Ray
def test_teacher_members_trained_on_ray_match_one_after_another(cluster, sequential_teacher, tmp_path):
    with one_thread():  # the reference's count, which the driver hands its CPU workers
        assert main([*TEACHER, "--ray", "--out", str(tmp_path / "ray")]) == 0
    assert_same_teacher(tmp_path / "ray", sequential_teacher)


@pytest.mark.slow  # ~22 s: a driver process killed and resumed
def test_a_killed_ray_driver_resumes_to_the_sequential_result(cluster, sequential_search, tmp_path):
    """kill -9 of a driver that joined the running cluster at its address (`--ray HOST:PORT`), after
    its third recorded training; then `--resume --ray auto` (the cluster RAY_ADDRESS names, as on a
    machine where `ray start` ran): the run ends as the one-at-a-time run did. The cluster outlives
    the driver, as a real one does."""
    address = ray.get_runtime_context().gcs_address
    folder = tmp_path / "run"
    env = {**os.environ, "EIGEN_FAULT": "kill@trained#3", "RAY_ADDRESS": address}
    killed = subprocess.run([sys.executable, "-m", "eigen.cli", "search", *TINY, "--ray", address, "--out", str(folder)],
                            env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert f"Ray: joined the cluster at {address}" in killed.stdout
    env.pop("EIGEN_FAULT")
    resumed = subprocess.run([sys.executable, "-m", "eigen.cli", "search", "--resume", str(folder), "--gpu", "-1",
                              "--ray", "auto"], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert canonical_search(folder) == sequential_search


def test_without_ray_the_flag_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    assert main(["search", *TINY, "--ray", "--out", str(tmp_path / "run")]) == 2
    assert 'pip install "eigen[ray]"' in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
