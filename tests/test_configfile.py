"""--config FILE and --print-config: flags in a file, the command line over it, a run's config.json
reproducing the run, and one sentence for every wrong key or value."""
import dataclasses
import json
import tomllib

import pytest

from eigen.cli import COMMANDS, main
from eigen.config import (DuplicateConfig, EvalConfig, ReportConfig, SearchConfig, TeacherConfig, command_line, opt,
                          switch_flags)
from eigen.configfile import settings_from_file


def printed(capsys, argv) -> dict:
    assert main(argv) == 0
    return tomllib.loads(capsys.readouterr().out)


def test_print_config_reads_back_to_the_same_settings(tmp_path, capsys):
    argv = ["search", "--dataset", "synthetic", "--gpu", "-1", "--time-budget", "30m",
            "--fitness", "acc - 2*mparams", "--elitist", "--print-config"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    first = tomllib.loads(text)
    assert first["time-budget"] == 1800.0 and first["elitist"] is True and first["fitness"] == "acc - 2*mparams"
    (tmp_path / "run.toml").write_text(text)
    assert printed(capsys, ["search", "--config", str(tmp_path / "run.toml"), "--print-config"]) == first


@pytest.mark.parametrize("suffix, text", [
    (".toml", 'dataset = "synthetic"\nschedule-scale = 0.5\npopulation = 4\nno_mimicry = true\n'),
    (".yaml", "dataset: synthetic\nschedule-scale: 0.5\npopulation: 4\nno_mimicry: true\n"),
    (".json", '{"dataset": "synthetic", "schedule-scale": 0.5, "population": 4, "no_mimicry": true}'),
])
def test_every_format_gives_the_same_settings_and_flags_win(tmp_path, capsys, suffix, text):
    if suffix == ".yaml":
        pytest.importorskip("yaml")  # the yaml extra
    path = tmp_path / f"c{suffix}"
    path.write_text(text)
    config = printed(capsys, ["search", "--config", str(path), "--population", "6", "--print-config"])
    assert (config["dataset"], config["schedule-scale"], config["no-mimicry"]) == ("synthetic", 0.5, True)
    assert config["population"] == 6  # the command line over the file
    assert config["t1"] == 5000  # the default where neither says


def test_a_runs_config_json_reproduces_its_settings_but_not_its_folder(tmp_path):
    settings = {"dataset": "synthetic", "seed": 7, "t1": 40, "out": "runs/old", "resume": None, "strategy": "random"}
    (tmp_path / "config.json").write_text(json.dumps({"command": "search", "settings": settings,
                                                      "versions": {"torch": "x"}}))
    got = settings_from_file(SearchConfig, tmp_path / "config.json", "search")
    assert got == {"dataset": "synthetic", "seed": 7, "t1": 40, "strategy": "random"}
    # Another command takes the settings it shares with the run and skips the rest.
    assert settings_from_file(DuplicateConfig, tmp_path / "config.json", "duplicate") == {"dataset": "synthetic", "seed": 7}


@pytest.mark.parametrize("command, config_class", [("search", SearchConfig), ("train-teacher", TeacherConfig),
                                                    ("duplicate", DuplicateConfig), ("eval", EvalConfig),
                                                    ("report", ReportConfig)])
def test_every_command_takes_config_and_print_config(tmp_path, capsys, command, config_class):
    path = tmp_path / "c.toml"
    path.write_text("" if command == "report" else "gpu = -1\n")
    argv = [command] + (["somewhere"] if command in ("eval", "report") else []) + ["--config", str(path), "--print-config"]
    config = printed(capsys, argv)
    if command != "report":
        assert config["gpu"] == -1


@pytest.mark.parametrize("text, expect", [
    ("bogus = 3\n", r"sets 'bogus', which `eigen search` does not have \(its settings: .*population"),
    ("population = 0\n", r"sets --population: must be at least 1, got 0"),
    ('strategy = "greedy"\n', r"sets --strategy to 'greedy', not one of eigen, large-scale, random"),
    ('elitist = "yes"\n', r"sets elitist to 'yes'; it is a switch, write true or false"),
    ("t1 = [1, 2]\n", r"sets t1 to \[1, 2\], not a single value"),
    ('time-budget = "soon"\n', r"sets --time-budget: 'soon' is not a duration"),
    ("dataset = \n", r"is not valid TOML"),
])
def test_a_wrong_file_is_one_sentence_and_exit_2(tmp_path, capsys, text, expect):
    import re
    path = tmp_path / "c.toml"
    path.write_text(text)
    assert main(["search", "--config", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("eigen search: the config file") and len(err.strip().splitlines()) == 1
    assert re.search(expect, err), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]  # nothing written


def test_a_missing_or_unknown_kind_of_file_is_one_sentence(tmp_path, capsys):
    assert main(["search", "--config", str(tmp_path / "none.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "c.ini").write_text("[x]\n")
    assert main(["search", "--config", str(tmp_path / "c.ini")]) == 2
    assert "neither .toml, .yaml nor .json" in capsys.readouterr().err


POSITIONALS = {"eval": ["final"], "report": ["run"], "show": ["genome.json"], "predict": ["final", "a.png"]}
SWITCHES = [(command, f.name) for command, (config_class, _, _) in sorted(COMMANDS.items())
            for f in dataclasses.fields(config_class) if f.type in (bool, "bool")]


def test_every_command_with_a_switch_is_checked():
    assert {command for command, _ in SWITCHES} == {"search", "train-teacher", "duplicate", "eval", "show", "predict"}
    assert ("search", "no_mimicry") in SWITCHES and ("duplicate", "onnx") in SWITCHES


@pytest.mark.parametrize("command, name", SWITCHES)
@pytest.mark.parametrize("in_file", [True, False])
def test_the_command_line_turns_a_files_switch_either_way(tmp_path, capsys, command, name, in_file):
    """A switch the file sets is turned off (or on) by the other flag of its pair; the setting keeps
    its name in the printed config (and so in a run's config.json)."""
    on, off = switch_flags(name)
    path = tmp_path / "c.toml"
    path.write_text(f"{name.replace('_', '-')} = {'true' if in_file else 'false'}\n")
    argv = [command, *POSITIONALS.get(command, []), "--config", str(path), "--print-config"]
    assert printed(capsys, argv)[name.replace("_", "-")] is in_file  # the file alone
    assert printed(capsys, [*argv, off if in_file else on])[name.replace("_", "-")] is not in_file
    assert printed(capsys, [*argv, on, off])[name.replace("_", "-")] is False  # the last one given wins


def test_a_switch_named_for_its_off_state_has_a_plain_on_form(capsys):
    assert switch_flags("elitist") == ("--elitist", "--no-elitist")
    assert switch_flags("no_mimicry") == ("--no-mimicry", "--mimicry")  # not --no-no-mimicry
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "[--no-mimicry | --mimicry]" in text and "--elitist, --no-elitist" in text
    assert "--no-no-" not in text


def test_the_reproduce_line_writes_the_off_form_where_the_default_is_on():
    @dataclasses.dataclass(kw_only=True)
    class Config:
        fast: bool = opt(True, "go fast")
        no_cache: bool = opt(False, "skip the cache")

    assert command_line("x", Config, {"fast": False, "no_cache": True}) == "eigen x --no-fast --no-cache"
    assert command_line("x", Config, {"fast": True, "no_cache": False}) == "eigen x"
