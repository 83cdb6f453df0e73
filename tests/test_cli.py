"""The command line: every option documented with its default, honest exits, clear errors."""
import argparse
import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest

from eigen.cli import COMMANDS, main, make_parser
from eigen.config import SearchConfig, parse_duration

ROOT = Path(__file__).resolve().parents[1]


def run_eigen(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "eigen", *args], cwd=cwd, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "200"})


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_lists_every_option_with_its_default(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # unwrap the help text
    config_class = COMMANDS[command][0]
    for f in dataclasses.fields(config_class):
        if f.metadata.get("positional"):
            assert f.name in text
        else:
            assert "--" + f.name.replace("_", "-") in text
    assert text.count("(default:") >= sum(not f.metadata.get("positional") for f in dataclasses.fields(config_class))


def test_search_help_shows_the_paper_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag, default in [("--t1", 5000), ("--t2", 15000), ("--t3", 5000), ("--p", 5), ("--q", 2),
                          ("--primary-step", 100), ("--secondary-step", 10), ("--plateau-delta", 0.2),
                          ("--plateau-patience", 3), ("--dataset", "cifar10"), ("--gpu", 0)]:
        assert re.search(re.escape(flag) + r" \S+ .*?\(default: " + re.escape(str(default)) + r"\)", text), flag


@pytest.mark.parametrize("args, message", [
    (["search", "--population", "0"], "must be at least 1"),
    (["search", "--t1", "-5"], "must be at least 1"),
    (["search", "--time-budget", "soon"], "not a duration"),
    (["search", "--schedule-scale", "0"], "greater than 0"),
    (["search", "--strategy", "nasnet"], "invalid choice"),
    (["search", "--gpu", "-2"], "must be at least -1"),
    (["search", "--seed", "x"], "not a valid int"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_flags_get_a_clear_message_and_exit_2(args, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_parsed_flags_fill_the_config():
    args = make_parser().parse_args(["search", "--dataset", "cifar100", "--t1", "100", "--time-budget", "1h30m",
                                     "--no-mimicry", "--strategy", "large-scale"])
    config = SearchConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(SearchConfig)})
    assert (config.dataset, config.t1, config.time_budget, config.no_mimicry) == ("cifar100", 100, 5400.0, True)
    assert config.resolved_population() == 100
    assert SearchConfig().resolved_population() == 10


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("30m", 1800), ("2h", 7200), ("1h30m", 5400),
                                           ("1.5h", 5400), ("45", 45), (" 2H ", 7200), ("1d", 86400)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "10x", "0s", "-5m", "h"])
def test_parse_duration_rejects(text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)


def test_readme_commands_and_ci_agree():
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    main_job, tests = blocks[0].strip(), blocks[1].strip()
    assert main_job.endswith("eigen search --dataset cifar10 --gpu 0")
    ci_lines = [line for line in (ROOT / ".ci/run").read_text().splitlines() if line and not line.startswith(("#", "set ", "cd "))]
    assert ci_lines == [tests]


def test_version_flag(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert re.fullmatch(r"eigen \d+\.\d+\.\d+\n", capsys.readouterr().out)


def test_a_reader_that_goes_away_stops_the_command_quietly(monkeypatch, capsys):
    """`eigen ... | head`: the pipe closes under the command; no 'check the disk' advice, exit 141."""
    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            pass
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["search", "--print-config"]) == 141
    assert capsys.readouterr().err == ""


def test_device_errors_say_what_to_do(monkeypatch):
    import torch

    from eigen.device import resolve_device
    from eigen.errors import DeviceError
    assert resolve_device(-1).type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="no usable CUDA GPU.*use --gpu -1"):
        resolve_device(0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(DeviceError, match="--gpu 3 does not exist: this machine has 1 CUDA device"):
        resolve_device(3)


def test_user_errors_exit_2_with_one_line(monkeypatch, capsys):
    from eigen import cli
    from eigen.errors import DataError

    def fails(config):
        raise DataError("unknown dataset 'mnist': use cifar10, cifar100, imagefolder:PATH or synthetic")
    monkeypatch.setitem(cli.COMMANDS, "search", (cli.COMMANDS["search"][0], fails, "search"))
    assert cli.main(["search", "--dataset", "mnist"]) == 2
    err = capsys.readouterr().err
    assert err == "eigen search: unknown dataset 'mnist': use cifar10, cifar100, imagefolder:PATH or synthetic\n"


@pytest.mark.parametrize("args, message", [
    (["search", "--dataset", "mnist", "--gpu", "-1"], "unknown dataset 'mnist'"),
    (["search", "--strategy", "large-scale", "--population", "1", "--gpu", "-1"],
     "--population 1 is too small for --strategy large-scale"),
    (["search", "--resume", "runs/nowhere", "--gpu", "-1"], "runs/nowhere is not a folder"),
    (["search", "--dataset", "synthetic", "--teacher", "teachers/none", "--gpu", "-1"], "is not a teacher folder"),
    (["report", "runs/nowhere"], "runs/nowhere is not a folder"),
    (["duplicate", "runs/nowhere/best.json", "--gpu", "-1"], "runs/nowhere/best.json does not exist"),
    (["eval", "runs/nowhere/final", "--gpu", "-1"], "runs/nowhere/final does not exist"),
])
def test_commands_refuse_bad_input_in_one_line_writing_nothing(args, message, tmp_path):
    result = run_eigen(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_a_flag_is_its_whole_name(capsys):
    """`--max-gen` is not `--max-generations`: an abbreviation would change meaning when a flag is added."""
    with pytest.raises(SystemExit) as refused:
        main(["search", "--max-gen", "3", "--print-config"])
    assert refused.value.code == 2 and "unrecognized arguments: --max-gen 3" in capsys.readouterr().err
    assert main(["search", "--max-generations", "3", "--print-config"]) == 0
