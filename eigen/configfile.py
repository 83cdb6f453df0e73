"""`--config FILE` and `--print-config`: a command's settings kept in a file, as Ray Tune, litgpt and
timm users keep theirs.

A config file is a flat mapping whose keys are the command's flags (`schedule-scale` or
`schedule_scale`, no leading dashes), in TOML (`.toml`), YAML (`.yaml`/`.yml`, needs PyYAML) or JSON
(`.json`). A run folder's `config.json` is read too: its recorded `settings` are taken, so a run can
be reproduced elsewhere (`out` and `resume` are left out, since they name that run's own folder, and
settings another command recorded that this command lacks are skipped). Flags given on the command
line win over the file, the file over the defaults.

Every value goes through the same parser as its flag, so a file cannot hold what the command line
could not: a wrong key or value is one sentence naming the file and the key.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from .errors import EigenError, first_line

NOT_REPRODUCED = ("out", "resume")  # a recorded run's own folder: a reproduction writes elsewhere


class ConfigFileError(EigenError):
    """A config file that cannot be read or holds a setting the command does not have."""


def read_mapping(path: Path) -> tuple[dict, bool]:
    """The file's top-level mapping and whether it is a run's recorded config.json."""
    if not path.is_file():
        raise ConfigFileError(f"the config file {path} does not exist; pass a .toml, .yaml or .json file")
    suffix = path.suffix.lower()
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise ConfigFileError(f"the config file {path} is not text; pass a .toml, .yaml or .json file") from None
    if suffix == ".toml":
        data = _toml(text, path)
    elif suffix in (".yaml", ".yml"):
        data = _yaml(text, path)
    elif suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigFileError(f"the config file {path} is not valid JSON ({e})") from None
    else:
        raise ConfigFileError(f"the config file {path} is neither .toml, .yaml nor .json; rename it to say which")
    if not isinstance(data, dict):
        raise ConfigFileError(f"the config file {path} holds no mapping of settings; write one `flag = value` a line")
    recorded = isinstance(data.get("settings"), dict) and "command" in data  # written by a command: config.json
    return (data["settings"] if recorded else data), recorded


def _toml(text: str, path: Path) -> dict:
    try:
        import tomllib  # Python >= 3.11
    except ModuleNotFoundError:  # Python 3.10: the same parser, packaged (a dependency there)
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise ConfigFileError(f"reading {path} needs the tomli package on Python 3.10 (pip install tomli), "
                                  f"or write the file as JSON") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigFileError(f"the config file {path} is not valid TOML ({e})") from None


def _yaml(text: str, path: Path) -> Any:
    try:
        import yaml
    except ModuleNotFoundError:
        raise ConfigFileError(f"reading {path} needs PyYAML (pip install \"eigen[yaml]\"), or write the file "
                              f"as TOML") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        first = first_line(e) or type(e).__name__
        raise ConfigFileError(f"the config file {path} is not valid YAML ({first})") from None


def settings_from_file(config_class: type, path: str | Path, command: str) -> dict[str, Any]:
    """{field name: parsed value} for `config_class` from the file at `path`, checked like its flags."""
    path = Path(path).expanduser()
    mapping, recorded = read_mapping(path)
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    settings = {}
    for key, value in mapping.items():
        name = str(key).lstrip("-").replace("-", "_")
        if recorded and (name in NOT_REPRODUCED or name not in fields):
            continue  # that run's own folder, or a setting of another command
        if name not in fields:
            known = ", ".join(sorted(f.replace("_", "-") for f, fi in fields.items() if not fi.metadata.get("positional")))
            raise ConfigFileError(f"the config file {path} sets '{key}', which `eigen {command}` does not have "
                                  f"(its settings: {known})")
        meta = fields[name].metadata
        if meta.get("positional"):
            raise ConfigFileError(f"the config file {path} sets '{key}', which is given on the command line "
                                  f"(`eigen {command} {name.upper()}`), not in a file")
        settings[name] = parse_setting(fields[name], value, f"the config file {path} sets")
    return settings


def parse_setting(f: dataclasses.Field, value: Any, where: str, python: bool = False) -> Any:
    """`value` for the setting `f` as its flag's parser would make it (a duration's text becomes seconds,
    a number is checked against its range and choices), or a ConfigFileError saying, after `where`
    ("the config file F sets", "eigen.search() sets"), what is wrong, naming the setting as a file
    (or, `python`, a keyword argument) does. None stays None (unset)."""
    name = f.name if python else f.name.replace("_", "-")
    flag = name if python else "--" + name
    switch = "pass True or False" if python else "write true or false"
    meta = f.metadata
    if value is None:
        return None
    if f.type in (bool, "bool"):
        if not isinstance(value, bool):
            raise ConfigFileError(f"{where} {name} to {value!r}; it is a switch, {switch}")
        return value
    if isinstance(value, (dict, list, tuple, set)) or (isinstance(value, float) and not math.isfinite(value)):
        raise ConfigFileError(f"{where} {name} to {value!r}, not a single value")
    if meta.get("type") is not None:
        try:
            value = meta["type"](str(value))
        except (argparse.ArgumentTypeError, ValueError) as e:
            raise ConfigFileError(f"{where} {flag}: {e}") from None
    else:
        value = str(value)
    if meta.get("choices") and value not in meta["choices"]:
        raise ConfigFileError(f"{where} {flag} to {value!r}, not one of {', '.join(meta['choices'])}")
    return value


def to_toml(config, command: str) -> str:
    """The resolved config as a TOML file that `--config` reads back to the same settings."""
    lines = [f"# eigen {command}: the resolved settings (command line over --config file over defaults).",
             "# Save this and pass it back with --config FILE."]
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        key = f.name.replace("_", "-")
        if f.metadata.get("positional"):
            lines.append(f"# {key} = {json.dumps(value)}   (given on the command line)")
        elif value is None:
            lines.append(f"# {key} is not set{_unset(f)}")
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _unset(f) -> str:
    """What an unset setting means, from its help's '(default: ...)' when it says."""
    text = f.metadata.get("help", "")
    return f" ({text[text.index('(default:') + 1:text.rindex(')')]})" if "(default:" in text else ""


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string
