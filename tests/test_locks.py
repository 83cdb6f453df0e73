"""One writer per folder (SPEC §12): a second command on a folder in use says who holds it and exits 2,
and the kernel drops the lock of a process that dies, so a kill -9 never leaves a stale lock."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from eigen.cli import main
from eigen.run_folder.folder import LOCK_NAME, FolderBusy, FolderLock, holds_locks, lock_folder
from tests.commands.test_final import small_genome, write_best
from tests.test_errors import snapshot

ROOT = Path(__file__).resolve().parents[1]
HOLDER = ("import sys, time; from eigen.run_folder.folder import FolderLock; FolderLock(sys.argv[1], 'search').acquire(); "
          "print('locked', flush=True); time.sleep(120)")


def hold_in_another_process(folder: Path) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE, text=True,
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_a_second_process_on_a_run_in_use_says_who_holds_it_and_writes_nothing(tmp_path):
    run = tmp_path / "run"  # the lock is taken before the run's files are read: a config.json is enough
    run.mkdir()
    (run / "config.json").write_text("{}")
    (run / ".state.json.x.tmp").write_text("a write in flight: the holder's, not to be swept")
    holder = hold_in_another_process(run)
    try:
        before = snapshot(run)
        second = subprocess.run([sys.executable, "-m", "eigen", "search", "--resume", str(run), "--gpu", "-1"],
                                capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                                timeout=120)
        assert second.returncode == 2, second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in second.stderr
        assert f"is in use by `eigen search` (pid {holder.pid} on " in lines[0] and "since 20" in lines[0]
        assert snapshot(run) == before  # nothing swept, nothing written
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The kernel released the dead holder's lock: the file it left behind locks again at once.
    assert (run / LOCK_NAME).exists()
    FolderLock(run, "search").acquire().release()
    assert not (run / LOCK_NAME).exists()


def test_a_lock_is_exclusive_and_released_when_the_command_ends(tmp_path):
    first = FolderLock(tmp_path, "search").acquire()
    with pytest.raises(FolderBusy, match=f"in use by `eigen search` \\(pid {os.getpid()} "):
        FolderLock(tmp_path, "duplicate").acquire()
    first.release()

    @holds_locks
    def command():
        lock_folder(tmp_path, "report")
        with pytest.raises(FolderBusy):
            FolderLock(tmp_path, "search").acquire()
        assert lock_folder(tmp_path, "report") is None  # already held by this command: not twice

    command()
    command()  # the first call released its lock when it returned
    assert not (tmp_path / LOCK_NAME).exists()


def test_train_teacher_and_duplicate_refuse_a_folder_in_use(tmp_path, capsys):
    teacher = tmp_path / "teacher"
    teacher.mkdir()
    final = tmp_path / "final"
    final.mkdir()
    locks = [FolderLock(teacher, "train-teacher").acquire(), FolderLock(final, "duplicate").acquire()]
    try:
        assert main(["train-teacher", "--dataset", "synthetic", "--image-size", "16", "--gpu", "-1", "--depth", "10",
                     "--growth", "2", "--epochs", "1", "--members", "1", "--out", str(teacher)]) == 2
        assert "is in use by `eigen train-teacher`" in capsys.readouterr().err
        best = write_best(tmp_path / "best.json", small_genome())
        assert main(["duplicate", str(best), "--out", str(final), "--gpu", "-1"]) == 2
        assert "is in use by `eigen duplicate`" in capsys.readouterr().err
        assert sorted(p.name for p in final.iterdir()) == [LOCK_NAME]  # nothing written
    finally:
        for lock in locks:
            lock.release()

